"""The access lifecycle, one module per use case.

- `policy`: who may request what, approvers needed, durations, break-glass (`config/policy.toml`);
- `states`: the request and grant states and the one `transition()` between them;
- `create_request`, `decide_request`, `cancel_request`: a request from filing to its decision;
- `break_glass`: emergency access now, reviewed afterwards;
- `grants`: a grant's life: issue, the per-grant check the broker asks, release, revoke;
- `queries`: what support and admins see of requests and grants;
- `sweep`: expiries and webhook deliveries, from the worker;
- `notify`: the webhook outbox; `events` and `locks`: what the operations share.
"""

__all__ = [
    "break_glass", "cancel_request", "create_request", "decide_request", "events", "grants",
    "locks", "notify", "policy", "queries", "states", "sweep",
]

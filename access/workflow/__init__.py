"""The access lifecycle: the `policy` (who may request what, approvers
needed, durations, break-glass), requests and their decisions (`requests`), grants and
break-glass (`grants`), webhook `notify`cations and the `worker` that sweeps expiries.
"""

__all__ = ["grants", "notify", "policy", "requests", "worker"]

"""A realistic audit log of N events, loaded fast and then sealed by the real sealer.

Events are spread evenly over the year before the run, oldest first (as appends arrive), with
the cardinalities of a mid-sized support organisation: ~170 people (support staff, admins,
auditors) and the system, 5,000 customers, a ticket per request, request and grant numbers,
sessions per person and day, and an action mix dominated by customer-data reads. They are
written with batched Core inserts (the rows exactly as `audit.log.stored_values` would make
them), then sealed with `audit.sealer.seal_pending`, so leaves, nodes, checkpoints, proofs and
verification are all real. The sealing pass is itself measured: it is the sealer's throughput
on a backlog.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from sqlalchemy import func, insert, select

from audit.engine import write_engine
from audit.events import to_micros
from audit.schema import events_table
from audit.sealer import seal_pending
from bench.common import HISTORY_ALLOWANCE_S, Env, analyze, rate

BATCH = 5_000
YEAR_US = 365 * 86_400 * 1_000_000
ISS = "https://idp.example.com"
CUSTOMERS = [f"cust-{i:04d}" for i in range(1, 5001)]
POLICIES = [hashlib.sha256(f"policy-{i}".encode()).hexdigest() for i in range(6)]
AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"]
DATA_VERB = {"data.read": "read", "data.denied": "read", "data.revealed": "reveal",
             "data.exported": "export"}
SCOPES = ["account", "contacts", "subscriptions", "billing", "telemetry", "devices", "bot_runs"]


def _people() -> list[tuple[str, str, str, str]]:
    """(sub, name, roles, kind) for everyone who acts, the system last."""
    people = [(f"support-{i:03d}", f"Support Person {i}", "requester", "support")
              for i in range(150)]
    people += [(f"admin-{i:02d}", f"Admin Person {i}", "approver", "admin") for i in range(15)]
    people += [(f"auditor-{i}", f"Auditor {i}", "auditor", "auditor") for i in range(5)]
    return people


PEOPLE = _people()
# (action, weight, who: support|admin|auditor|system|any, outcome)
MIX: list[tuple[str, float, str, str]] = [
    ("data.read", 52.0, "support", "success"),
    ("auth.login", 9.0, "any", "success"),
    ("auth.mfa.verified", 8.0, "any", "success"),
    ("auth.logout", 4.0, "any", "success"),
    ("auth.session.expired", 3.0, "any", "success"),
    ("audit.searched", 3.0, "auditor", "success"),
    ("request.created", 3.0, "support", "success"),
    ("request.approved", 2.4, "admin", "success"),
    ("grant.issued", 2.4, "system", "success"),
    ("grant.expired", 2.0, "system", "success"),
    ("data.denied", 2.0, "support", "denied"),
    ("auth.mfa.step_up", 1.5, "any", "success"),
    ("data.revealed", 1.0, "support", "success"),
    ("auth.mfa.failed", 1.0, "any", "denied"),
    ("request.denied", 0.4, "admin", "success"),
    ("grant.released", 0.8, "support", "success"),
    ("data.exported", 0.4, "support", "success"),
    ("auth.login.failed", 0.4, "any", "denied"),
    ("grant.revoked", 0.1, "admin", "success"),
    ("audit.exported", 0.1, "auditor", "success"),
    ("audit.verified", 0.05, "auditor", "success"),
    ("auth.page.denied", 0.2, "any", "denied"),
    ("notification.failed", 0.05, "system", "error"),
    ("breakglass.activated", 0.01, "support", "success"),
    ("customer.purged", 0.005, "system", "success"),
]


class EventMaker:
    """Deterministic stream of stored-row dicts, `n` of them between `start_us` and `end_us`."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.actions = [m[0] for m in MIX]
        self.weights = [m[1] for m in MIX]
        self.by_kind = {k: [p for p in PEOPLE if p[3] == k] for k in ("support", "admin",
                                                                      "auditor")}
        # a few heavy users per group: activity is skewed, as it is in real teams
        # (cumulative weights: `choices` would otherwise add them up again on every call)
        self.person_weights = {k: list(accumulate(1.0 / (i + 1) ** 0.6 for i in range(len(v))))
                               for k, v in self.by_kind.items()}
        self.customer_weights = list(accumulate(1.0 / (i + 1) ** 0.8
                                                for i in range(len(CUSTOMERS))))
        self.request = 0

    def _person(self, who: str) -> tuple[str, str, str, str] | None:
        rng = self.rng
        if who == "system":
            return None
        if who == "any":
            who = rng.choices(("support", "admin", "auditor"), (0.85, 0.1, 0.05))[0]
        return rng.choices(self.by_kind[who], cum_weights=self.person_weights[who])[0]

    def rows(self, n: int, start_us: int, end_us: int) -> Iterator[list[dict[str, Any]]]:
        rng, step = self.rng, (end_us - start_us) / max(n, 1)
        mix = list(zip(self.actions, MIX, strict=True))
        picks = rng.choices(range(len(mix)), self.weights, k=min(n, 1_000_000))
        batch: list[dict[str, Any]] = []
        for i in range(n):
            action, (_a, _w, who, outcome) = mix[picks[i % len(picks)]]
            ts = start_us + int(i * step) + rng.randrange(max(int(step), 1))
            person = self._person(who)
            if person is None:
                sub, name, roles, iss = "system", "Gatehouse", "", "gatehouse"
            else:
                sub, name, roles, _k = person
                iss = ISS
            day = ts // 86_400_000_000
            row: dict[str, Any] = {
                "ts_us": ts, "actor_iss": iss, "actor_sub": sub, "actor_name": name,
                "actor_roles": roles, "session_id": None, "source_ip": None,
                "user_agent": None, "action": action,
                "outcome": "error" if rng.random() < 0.001 else outcome,
                "target_type": None, "target_id": None, "customer_id": None,
                "request_id": None, "grant_id": None, "ticket": None, "reason": None,
                "policy_version": None, "details": {}}
            if person is not None:
                row["session_id"] = hashlib.blake2s(f"{sub}/{day}".encode(),
                                                    digest_size=12).hexdigest()
                h = zlib.crc32(sub.encode())
                row["source_ip"] = f"10.{(h >> 8) & 255}.{h & 255}.{day % 250}"
                row["user_agent"] = AGENTS[h % len(AGENTS)]
            self._fill(row, action, rng)
            batch.append(row)
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _fill_customer_event(self, row: dict[str, Any], action: str, rng: random.Random
                             ) -> None:
        """A request, grant, break-glass or data event about one customer."""
        if action == "request.created":
            self.request += 1
        req = max(1, self.request - rng.randrange(40))
        customer = rng.choices(CUSTOMERS, cum_weights=self.customer_weights)[0]
        scope = SCOPES[req % len(SCOPES)]
        row.update(target_type="customer", target_id=customer, customer_id=customer,
                   request_id=str(req), grant_id=str(req), ticket=f"SUP-{10_000 + req}",
                   policy_version=POLICIES[req % len(POLICIES)])
        if action.startswith("data."):
            row["details"] = {"environment": "production", "scope": scope,
                              "action": DATA_VERB[action],
                              "columns": [f"{scope}.id", f"{scope}.status",
                                          f"{scope}.updated_at"],
                              "row_count": rng.randrange(1, 400)}
            if action == "data.denied":
                row["details"] = {"environment": "production", "scope": scope,
                                  "action": "read", "why": "grant expired"}
            if action == "data.revealed":
                row["reason"] = "customer asked to confirm the billing contact"
        else:
            row["details"] = {"environment": "production", "scopes": [scope],
                              "actions": ["read"], "duration_s": 7200,
                              "approvals": 1, "approvals_required": 1}
            if action in ("request.created", "breakglass.activated"):
                row["reason"] = "Customer reports a failed renewal on their account"

    def _fill(self, row: dict[str, Any], action: str, rng: random.Random) -> None:
        family = action.split(".")[0]
        if family in ("data", "request", "grant", "breakglass"):
            self._fill_customer_event(row, action, rng)
        elif action.startswith("auth.mfa"):
            row["details"] = {"method": "totp", "failures": rng.randrange(3)}
        elif action in ("auth.login", "auth.no_role"):
            row["details"] = {"groups": ["support"] if row["actor_roles"] == "requester"
                              else ["admins"]}
        elif action == "auth.logout" or action == "auth.session.expired":
            row["details"] = {"session_age_s": rng.randrange(60, 43_200),
                              "idle_s": rng.randrange(0, 1800)}
        elif action == "audit.searched":
            customer = rng.choices(CUSTOMERS, cum_weights=self.customer_weights)[0]
            row["details"] = {"filters": f"customer={customer}", "row_count": 50}
        elif action == "customer.purged":
            customer = rng.choice(CUSTOMERS)
            row.update(target_type="customer", target_id=customer, customer_id=customer,
                       details={"rows_deleted": rng.randrange(100, 5000), "key_destroyed": True,
                                "tables": ["contacts", "invoices"]})
        elif action == "auth.page.denied":
            row["details"] = {"page": "audit.read"}
            row["reason"] = "role requester may not audit.read"


def load(env: Env, n: int, end: datetime | None = None) -> float:
    """Insert `n` generated events ending an hour before `end`; return seconds taken."""
    end = end or datetime.now(UTC) - timedelta(hours=1)
    end_us = to_micros(end)
    maker = EventMaker()
    start = time.perf_counter()
    done = 0
    for batch in maker.rows(n, end_us - YEAR_US, end_us):
        with write_engine(env.engine).begin() as conn:
            conn.execute(insert(events_table), batch)
        done += len(batch)
        if done % 1_000_000 == 0:
            print(f"    loaded {done:,} events ({rate(done, time.perf_counter() - start):,.0f}"
                  "/s)", flush=True)
    return time.perf_counter() - start


def build(env: Env) -> None:
    """Generate, load and seal the log of `env.mode.events` events; record the sealer's rate.
    In a kept directory that already holds this log, reuse it and the figures of its build."""
    n = env.mode.events
    built = env.workdir / f"built-{env.kind}-{n}.json"
    if built.exists():
        env.state.update(json.loads(built.read_text()))
        print(f"  [{env.kind}] reusing the {n:,}-event log kept in {env.workdir}", flush=True)
        return
    _build(env, n)
    built.write_text(json.dumps({k: env.state[k] for k in ("sealer_rate", "tree_size")}))


def _build(env: Env, n: int) -> None:
    print(f"  [{env.kind}] generating and loading {n:,} events", flush=True)
    seconds = load(env, n)
    env.add("dataset", f"bulk load of {n:,} generated events (batched Core inserts)",
            f"{rate(n, seconds):,.0f} events/s", "-", None, events=n, seconds=seconds)
    analyze(env)
    with env.engine.connect() as conn:
        pending = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
    print(f"  [{env.kind}] sealing {pending:,} events", flush=True)
    start = time.perf_counter()
    result = seal_pending(env.engine, env.key, env.checkpoint_dir,
                          backdate_allowance_us=HISTORY_ALLOWANCE_S * 1_000_000)
    seconds = time.perf_counter() - start
    env.state["sealer_rate"] = rate(result.sealed, seconds)
    env.state["tree_size"] = result.tree_size
    env.add("sealer", f"sealer throughput on a backlog of {result.sealed:,} events",
            f"{env.state['sealer_rate']:,.0f} events/s", "≥ 10× the sustained append rate "
            "(ratio under `sealer`)", None, sealed=result.sealed, seconds=seconds)
    analyze(env)

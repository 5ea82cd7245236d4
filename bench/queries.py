"""The auditor page's queries: first page and a deep page (keyset) under every filter it offers.

Through `audit.query.search` itself (the page's code path: SQL, fetch, `StoredEvent` rows), 50
rows a page. Filter values are sampled from random events, so frequent actors and customers are
picked as often as they occur, and the rarest values (auditors, rare actions, "error") are added
by hand. A deep page is the keyset page just below the middle of the log's time span (or of the
filter's own window): the page an auditor reaches after paging half-way down, without OFFSET.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from audit.events import from_micros
from audit.query import Cursor, EventFilter, search
from audit.schema import events_table
from bench.common import Env, percentile

TARGET_S = 0.050
_e = events_table.c


def _sample_values(conn: Connection, count: int, rng: random.Random) -> dict[str, list[str]]:
    low, high = conn.execute(select(func.min(_e.id), func.max(_e.id))).one()
    ids = [rng.randrange(low, high + 1) for _ in range(count * 20)]
    rows = conn.execute(select(_e.actor_sub, _e.customer_id, _e.request_id, _e.grant_id,
                               _e.ticket).where(_e.id.in_(ids))).all()
    values: dict[str, list[str]] = {}
    for i, name in enumerate(("actor", "customer", "request", "grant", "ticket")):
        seen = [r[i] for r in rows if r[i] is not None]
        values[name] = list(dict.fromkeys(seen))[:count]
    values["actor"] = list(dict.fromkeys(["auditor-4", "admin-14", *values["actor"]]))[:count]
    return values


def _filters(env: Env, conn: Connection) -> dict[str, list[EventFilter]]:
    rng = random.Random(11)
    n = env.mode.query_values
    values = _sample_values(conn, n, rng)
    newest = from_micros(conn.execute(select(func.max(_e.ts_us))).scalar_one())
    actions = ["data.read", "auth.login", "request.created", "data.denied", "data.exported",
               "breakglass.activated", "customer.purged", "audit.verified"]
    filters: dict[str, list[EventFilter]] = {
        "none (newest first)": [EventFilter()],
        "actor": [EventFilter(actor=v) for v in values["actor"]],
        "action": [EventFilter(action=a) for a in actions],
        "outcome": [EventFilter(outcome=o) for o in ("denied", "error", "success")],
        "customer": [EventFilter(customer=v) for v in values["customer"]],
        "request": [EventFilter(request=v) for v in values["request"]],
        "grant": [EventFilter(grant=v) for v in values["grant"]],
        "ticket": [EventFilter(ticket=v) for v in values["ticket"]],
        "time range (1 day, 7 days, 30 days)": [
            EventFilter(since=newest - timedelta(days=d), until=newest - timedelta(days=d) +
                        timedelta(days=span))
            for d, span in ((1, 1), (7, 7), (30, 30), (100, 1), (200, 7))],
        "actor + last 30 days": [EventFilter(actor=v, since=newest - timedelta(days=30))
                                 for v in values["actor"][: max(5, n // 4)]],
        "customer + action": [EventFilter(customer=v, action="data.read")
                              for v in values["customer"][: max(5, n // 4)]],
        "outcome + time range": [EventFilter(outcome="denied", since=newest - timedelta(days=d),
                                             until=newest - timedelta(days=d - 1))
                                 for d in (2, 40, 300)],
    }
    return filters


def _deep_cursor(conn: Connection, flt: EventFilter) -> Cursor | None:
    """The keyset position half-way down the filter's time span."""
    clauses = flt.clauses()
    low, high = conn.execute(select(func.min(_e.ts_us), func.max(_e.ts_us))).one()
    if flt.since is not None or flt.until is not None:
        span = conn.execute(select(func.min(_e.ts_us), func.max(_e.ts_us))
                            .where(*clauses)).one()
        if span[0] is None:
            return None
        low, high = span
    mid = (low + high) // 2
    row = conn.execute(select(_e.ts_us, _e.id).where(*clauses, _e.ts_us <= mid)
                       .order_by(_e.ts_us.desc(), _e.id.desc()).limit(1)).first()
    if row is None:  # every match is in the newer half: the deepest page is page 2
        return search(conn, flt).next
    return Cursor(row[0], row[1])


def _time(fn: Callable[..., Any]) -> float:  # (lambdas bind loop values as defaults)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(env: Env) -> None:
    passes = 3
    with env.engine.connect() as conn:
        filters = _filters(env, conn)
        plan = [(name, flt, _deep_cursor(conn, flt)) for name, flts in filters.items()
                for flt in flts]
        conn.rollback()
        search(conn, EventFilter())  # warm the statement cache
        first: dict[str, list[float]] = {name: [] for name in filters}
        deep: dict[str, list[float]] = {name: [] for name in filters}
        for _ in range(passes):
            for name, flt, cursor in plan:
                first[name].append(_time(lambda f=flt: search(conn, f)))
                if cursor is not None:
                    deep[name].append(_time(lambda f=flt, c=cursor: search(conn, f, after=c)))
                conn.rollback()
    worst = 0.0
    for name in filters:
        f, d = first[name], deep[name]
        p99 = max(percentile(f, 99), percentile(d, 99) if d else 0.0)
        worst = max(worst, p99)
        measured = (f"first page p50 {percentile(f, 50) * 1e3:.2f} / p99 "
                    f"{percentile(f, 99) * 1e3:.2f} ms; deep page p50 "
                    + (f"{percentile(d, 50) * 1e3:.2f} / p99 {percentile(d, 99) * 1e3:.2f} ms"
                       if d else "n/a"))
        env.add("query", f"auditor page, 50 rows, filter: {name} "
                f"({len(filters[name])} values × {passes})", measured,
                "p99 ≤ 50 ms (first and deep)", p99 <= TARGET_S,
                first_p50=percentile(f, 50), first_p99=percentile(f, 99),
                deep_p50=percentile(d, 50) if d else None,
                deep_p99=percentile(d, 99) if d else None, samples=len(f))
    env.state["query_worst_p99"] = worst

"""The anomaly rules as they were before they became aggregates (audit/anomalies.py at
d9f1a1b, verbatim apart from this docstring and the imports): the oracle the rewritten rules
and their per-actor citations are compared with, flag for flag, on seeded histories.

Also the evidence's old way of counting citations: raise every flag, then look up the actor of
each evidence event (`access/reviews/evidence.py` at d9f1a1b, `_anomaly_flags`).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, not_, or_, select

from audit.anomalies import AnomalyRules, Flag, Window
from audit.events import from_micros, to_micros
from audit.query import DATA_ACCESS, EventFilter
from audit.schema import events_table
from audit.vocabulary import Outcome

MAX_EVIDENCE = 50
STREAM = {"yield_per": 5_000}
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
EPOCH_WEEKDAY = 3
_e = events_table.c


def _in_window(window: Window) -> list[Any]:
    return [_e.ts_us >= to_micros(window.since), _e.ts_us < to_micros(window.until)]


def _ids(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(ids)[:MAX_EVIDENCE]


def reads_per_grant(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """More than `reads_per_grant` customer-data accesses (reads, reveals, exports) under one
    grant in the window: far more than a ticket usually needs."""
    served = [_e.action.in_(DATA_ACCESS), _e.grant_id.is_not(None), *_in_window(window)]
    total = func.count().label("n")
    busy = conn.execute(select(_e.grant_id, total, func.min(_e.ts_us)).where(*served)
                        .group_by(_e.grant_id).having(total > rules.reads_per_grant)).all()
    flags = []
    for grant_id, n, first in busy:
        ids = conn.execute(select(_e.id).where(*served, _e.grant_id == grant_id)
                           .order_by(_e.ts_us, _e.id).limit(MAX_EVIDENCE)).scalars()
        flags.append(Flag("reads_per_grant", f"grant {grant_id}", from_micros(first),
                          f"{n} customer-data accesses under grant {grant_id} "
                          f"(threshold {rules.reads_per_grant})", _ids(ids)))
    return flags


def customers_per_ticket(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """More than `customers_per_ticket` distinct customers accessed under one ticket within
    `ticket_window`: a ticket is about one customer, a sweep across many is not. One flag per
    ticket."""
    rows = conn.execute(
        select(_e.ticket, _e.customer_id, _e.ts_us, _e.id)
        .where(_e.action.in_(DATA_ACCESS), _e.ticket.is_not(None),
               _e.customer_id.is_not(None), *_in_window(window))
        .order_by(_e.ts_us, _e.id).execution_options(**STREAM))
    recent = _Recent(rules.ticket_window)
    flags: list[Flag] = []
    flagged: set[str] = set()
    for ticket, customer, ts_us, event_id in rows:
        if ticket in flagged:
            continue
        seen = recent.add(ticket, ts_us, event_id, customer)
        customers = {c for _, _, c in seen}
        if len(customers) > rules.customers_per_ticket:
            flagged.add(ticket)
            recent.drop(ticket)
            flags.append(Flag(
                "customers_per_ticket", f"ticket {ticket}", from_micros(seen[0][0]),
                f"{len(customers)} customers accessed under ticket {ticket} within "
                f"{_minutes(rules.ticket_window)} (threshold {rules.customers_per_ticket})",
                _ids(i for _, i, _ in seen)))
    return flags


def off_hours_access(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """Customer data accessed outside working hours: one flag per actor and UTC day."""
    hour = (_e.ts_us // HOUR_US) % 24
    weekday = (_e.ts_us // DAY_US + EPOCH_WEEKDAY) % 7
    working = and_(weekday.in_(sorted(rules.work_days)), hour >= rules.work_start_hour,
                   hour < rules.work_end_hour)
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _e.ts_us, _e.id)
        .where(_e.action.in_(DATA_ACCESS), not_(working), *_in_window(window))
        .order_by(_e.ts_us, _e.id).execution_options(**STREAM))
    flags: list[Flag] = []
    day: dict[tuple[str, str], list[int]] = {}  # (iss, sub) → [first ts, last ts, n, ids…]
    today = None
    for iss, sub, ts_us, event_id in rows:
        if ts_us // DAY_US != today:  # rows come in time order: the day before is complete
            flags += _off_hours_flags(day, rules)
            day, today = {}, ts_us // DAY_US
        seen = day.setdefault((iss, sub), [ts_us, ts_us, 0])
        seen[1], seen[2] = ts_us, seen[2] + 1
        if len(seen) < 3 + MAX_EVIDENCE:
            seen.append(event_id)
    return flags + _off_hours_flags(day, rules)


def _off_hours_flags(day: dict[tuple[str, str], list[int]], rules: AnomalyRules
                     ) -> list[Flag]:
    flags = []
    for (_, sub), (first_us, last_us, n, *ids) in day.items():
        first, last = from_micros(first_us), from_micros(last_us)
        flags.append(Flag(
            "off_hours_access", f"actor {sub}", first,
            f"{n} customer-data access(es) by {sub} on {first:%a %Y-%m-%d} between "
            f"{first:%H:%M} and {last:%H:%M} UTC, outside working hours "
            f"({rules.working_hours()})", tuple(ids)))
    return flags


def repeated_denials(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """At least `denials` refusals (outcome denied) or MFA failures by one actor within
    `denial_window`: probing, a stolen session, or a script. One flag per actor."""
    denied = EventFilter(outcome=Outcome.DENIED.value).clauses()
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _e.ts_us, _e.id)
        .where(or_(and_(*denied), _e.action == "auth.mfa.failed"), *_in_window(window))
        .order_by(_e.ts_us, _e.id).execution_options(**STREAM))
    recent = _Recent(rules.denial_window)
    burst: dict[tuple[str, str], tuple[int, tuple[int, ...]]] = {}  # actor → (first ts, ids)
    totals: Counter[tuple[str, str]] = Counter()
    for iss, sub, ts_us, event_id in rows:
        actor = (iss, sub)
        totals[actor] += 1
        if actor in burst:
            continue
        seen = recent.add(actor, ts_us, event_id)
        if len(seen) >= rules.denials:
            burst[actor] = (seen[0][0], _ids(i for _, i in seen))
            recent.drop(actor)
    return [Flag("repeated_denials", f"actor {sub}", from_micros(first),
                 f"{len(ids)} denials or MFA failures by {sub} within "
                 f"{_minutes(rules.denial_window)} (threshold {rules.denials}); "
                 f"{totals[(iss, sub)]} in the window", ids)
            for (iss, sub), (first, ids) in burst.items()]


class _Recent:
    """Per key, the events of the last `span`, for rows that arrive in time order. Keys whose
    newest event has left the span are forgotten now and then, so memory is bounded by one
    span's worth of events however long the window."""

    PRUNE_EVERY = 10_000

    def __init__(self, span: timedelta) -> None:
        self.span = int(span.total_seconds() * 1_000_000)
        self.by_key: dict[Any, deque[tuple[Any, ...]]] = {}
        self.added = 0

    def add(self, key: Any, ts_us: int, *item: Any) -> deque[tuple[Any, ...]]:
        """Record an event of `key`; return the key's events within the span ending now."""
        seen = self.by_key.setdefault(key, deque())
        seen.append((ts_us, *item))
        while seen[0][0] <= ts_us - self.span:
            seen.popleft()
        self.added += 1
        if self.added % self.PRUNE_EVERY == 0:
            for stale in [k for k, d in self.by_key.items() if d[-1][0] <= ts_us - self.span]:
                del self.by_key[stale]
        return seen

    def drop(self, key: Any) -> None:
        self.by_key.pop(key, None)


def _minutes(span: timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} min"

def citations(conn: Connection, flags: list[Flag]) -> Counter[tuple[str, str]]:
    """Per actor (issuer, subject), the flags among whose evidence events one is theirs."""
    ids = sorted({i for flag in flags for i in flag.evidence})
    actor_of = {i: (iss, sub) for i, iss, sub in conn.execute(
        select(_e.id, _e.actor_iss, _e.actor_sub).where(_e.id.in_(ids)))}
    return Counter(actor for flag in flags for actor in {actor_of[i] for i in flag.evidence})

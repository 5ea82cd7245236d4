"""Anomaly rules over the audit log: patterns an auditor should look at, each flag naming the
rule that raised it, what it is about, and the events that are its evidence.

A flag is a lead, not a verdict: every rule is a small function `rule(conn, window, rules)`
that runs one or two indexed queries over `[window.since, window.until)` and returns flags.
Thresholds and working hours come in as `AnomalyRules` (from `[anomalies]` in the console
configuration). `window.present` is "now" for rules about something that has not happened
yet (a break-glass review).

`flags_per_actor` answers "how many flags cite this person's events" (the access-review
evidence) without raising every flag: the rules whose flags are many answer it with one
aggregate grouped by actor, sharing their WHERE clause with the rule itself, so the two faces
of a rule cannot drift apart; the rest raise their (few) flags and look up their evidence's
actors.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    Connection,
    Subquery,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
    tuple_,
    union_all,
)

from audit.events import from_micros, to_micros
from audit.query import DATA_ACCESS, EventFilter
from audit.schema import events_table
from audit.settings import SEAL_LAG_WARNING_US
from audit.status import above_sealed
from audit.vocabulary import Outcome

__all__ = [
    "DAY_NAMES",
    "RULES",
    "Actor",
    "AnomalyRules",
    "Flag",
    "Rule",
    "Window",
    "activity_after_disable",
    "breakglass_unreviewed",
    "customers_per_ticket",
    "dsr_overdue",
    "find_anomalies",
    "flags_per_actor",
    "off_hours_access",
    "reads_per_grant",
    "repeated_denials",
    "seal_lag",
]

MAX_EVIDENCE = 50
LOOKUP_BATCH = 5_000  # event ids per lookup of evidence's actors (drivers cap parameters)
STREAM = {"yield_per": 5_000}  # a server-side cursor on PostgreSQL, 5,000 rows a fetch
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0, as in datetime.weekday()
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_e = events_table.c


@dataclass(frozen=True)
class AnomalyRules:
    """Thresholds of the rules. Working hours are UTC: `[work_start_hour, work_end_hour)` on
    `work_days` (Monday = 0)."""

    reads_per_grant: int = 200
    customers_per_ticket: int = 3
    ticket_window: timedelta = timedelta(minutes=60)
    work_start_hour: int = 7
    work_end_hour: int = 19
    work_days: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    breakglass_review: timedelta = timedelta(hours=24)
    denials: int = 5
    denial_window: timedelta = timedelta(minutes=15)
    seal_lag: timedelta = timedelta(microseconds=SEAL_LAG_WARNING_US)

    def working_hours(self) -> str:
        days = ", ".join(DAY_NAMES[d] for d in sorted(self.work_days)) or "no day"
        return f"{days} {self.work_start_hour:02d}:00–{self.work_end_hour:02d}:00 UTC"


@dataclass(frozen=True)
class Window:
    """The events examined, `[since, until)`, and the present, for rules about something
    that has not happened yet (default: `until`, when examining the past)."""

    since: datetime
    until: datetime
    now: datetime | None = None

    @property
    def present(self) -> datetime:
        return self.now if self.now is not None else self.until


@dataclass(frozen=True)
class Flag:
    rule: str           # the function name of the rule that raised it
    subject: str        # "grant 17", "ticket SUP-1", "actor sam.support", …
    at: datetime        # when the pattern was first seen
    detail: str         # one sentence with the numbers
    evidence: tuple[int, ...]  # event ids (at most MAX_EVIDENCE, oldest first)


Rule = Callable[[Connection, Window, AnomalyRules], list[Flag]]
Actor = tuple[str, str]  # (issuer, subject), as the log names a person
# a rule's other face: per actor, how many of the rule's flags cite the actor's events
Citations = Callable[[Connection, Window, AnomalyRules], Counter[Actor]]


def _in_window(window: Window) -> list[Any]:
    return [_e.ts_us >= to_micros(window.since), _e.ts_us < to_micros(window.until)]


def _ids(ids: Iterable[int]) -> tuple[int, ...]:
    return tuple(ids)[:MAX_EVIDENCE]


def reads_per_grant(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """More than `reads_per_grant` customer-data accesses (reads, reveals, exports) under one
    grant in the window: far more than a ticket usually needs."""
    busy = _busy_grant_events(window, rules)
    rows = conn.execute(select(busy.c.grant_id, busy.c.n, busy.c.first, busy.c.id)
                        .order_by(busy.c.first, busy.c.grant_id, busy.c.place))
    flags = []
    for grant_id, events in groupby(rows, key=lambda row: row.grant_id):
        first, *rest = events
        flags.append(Flag("reads_per_grant", f"grant {grant_id}", from_micros(first.first),
                          f"{first.n} customer-data accesses under grant {grant_id} "
                          f"(threshold {rules.reads_per_grant})",
                          (first.id, *(row.id for row in rest))))
    return flags


def _busy_grant_events(window: Window, rules: AnomalyRules) -> Subquery:
    """The evidence of `reads_per_grant`: for every grant with more than the threshold of
    accesses in the window, its first `MAX_EVIDENCE` accesses (by time; `place` from 1), each
    row with the grant's count `n`, its first time `first`, and the event's actor. One
    aggregate finds the busy grants; only their rows are ranked."""
    served = [_e.action.in_(DATA_ACCESS), _e.grant_id.is_not(None), *_in_window(window)]
    total = func.count().label("n")
    busy = (select(_e.grant_id, total, func.min(_e.ts_us).label("first")).where(*served)
            .group_by(_e.grant_id).having(total > rules.reads_per_grant).subquery("busy"))
    place = func.row_number().over(partition_by=_e.grant_id, order_by=(_e.ts_us, _e.id))
    ranked = (select(busy.c.grant_id, busy.c.n, busy.c.first, _e.id, _e.actor_iss,
                     _e.actor_sub, place.label("place"))
              .join_from(events_table, busy, busy.c.grant_id == _e.grant_id).where(*served)
              .subquery("ranked"))
    return select(ranked).where(ranked.c.place <= MAX_EVIDENCE).subquery("evidence")


def _grant_readers(conn: Connection, window: Window, rules: AnomalyRules) -> Counter[Actor]:
    """`reads_per_grant`'s citations: per actor, the busy grants among whose evidence they
    appear (one aggregate)."""
    busy = _busy_grant_events(window, rules)
    return Counter({(iss, sub): n for iss, sub, n in conn.execute(
        select(busy.c.actor_iss, busy.c.actor_sub, func.count(busy.c.grant_id.distinct()))
        .group_by(busy.c.actor_iss, busy.c.actor_sub))})


def customers_per_ticket(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """More than `customers_per_ticket` distinct customers accessed under one ticket within
    `ticket_window`: a ticket is about one customer, a sweep across many is not. One flag per
    ticket, at the first access that makes the customers too many; its evidence is that access
    and the ticket's others in the `ticket_window` up to it."""
    sweep = _sweep_evidence(window, rules)
    rows = conn.execute(select(sweep.c.ticket, sweep.c.ts_us, sweep.c.id)
                        .order_by(sweep.c.ticket, sweep.c.place))
    flags = []
    for ticket, events in groupby(rows, key=lambda row: row.ticket):
        first, *rest = events
        flags.append(Flag(
            "customers_per_ticket", f"ticket {ticket}", from_micros(first.ts_us),
            f"{rules.customers_per_ticket + 1} customers accessed under ticket {ticket} within "
            f"{_minutes(rules.ticket_window)} (threshold {rules.customers_per_ticket})",
            (first.id, *(row.id for row in rest))))
    return flags


def _ticket_access(window: Window) -> list[Any]:
    return [_e.action.in_(DATA_ACCESS), _e.ticket.is_not(None), _e.customer_id.is_not(None),
            *_in_window(window)]


def _sweep_evidence(window: Window, rules: AnomalyRules) -> Subquery:
    """The evidence of `customers_per_ticket`, computed in the database: per flagged ticket,
    the first `MAX_EVIDENCE` (by time; `place` from 1) of its accesses within the span that
    ends at the access making the customers too many, with their actors.

    A distinct count over a sliding span is not an aggregate, so it is built from ones: a
    customer is present under the ticket from each of its accesses until a span after, so
    its accesses fall into islands (a new one after a gap of a whole span), each present from
    its first access (+1) until a span after its last (-1). A running sum of those steps per
    ticket, in time order (an island that ends at an instant is gone at that instant; ties in
    time follow event ids, as the accesses are read), is the number of customers present at
    each island's first access; the first one above the threshold is where the ticket is
    flagged."""
    span = max(int(rules.ticket_window.total_seconds() * 1_000_000), 1)
    access = (select(_e.ticket, _e.customer_id, _e.ts_us, _e.id, _e.actor_iss, _e.actor_sub)
              .where(*_ticket_access(window)).cte("access"))
    before = func.lag(access.c.ts_us).over(partition_by=(access.c.ticket, access.c.customer_id),
                                           order_by=(access.c.ts_us, access.c.id))
    arrives = case((or_(before.is_(None), before <= access.c.ts_us - span), 1), else_=0)
    marked = select(access.c.ticket, access.c.customer_id, access.c.ts_us, access.c.id,
                    arrives.label("arrives")).subquery("marked")
    island = func.sum(marked.c.arrives).over(
        partition_by=(marked.c.ticket, marked.c.customer_id),
        order_by=(marked.c.ts_us, marked.c.id))
    islands = select(marked, island.label("island")).cte("islands")
    steps = union_all(
        select(islands.c.ticket, islands.c.ts_us.label("at"), literal(1).label("kind"),
               islands.c.id, literal(1).label("step")).where(islands.c.arrives == 1),
        select(islands.c.ticket, (func.max(islands.c.ts_us) + span).label("at"),
               literal(0).label("kind"), literal(0).label("id"), literal(-1).label("step"))
        .group_by(islands.c.ticket, islands.c.customer_id, islands.c.island)).subquery("steps")
    present = func.sum(steps.c.step).over(partition_by=steps.c.ticket,
                                          order_by=(steps.c.at, steps.c.kind, steps.c.id))
    counted = select(steps, present.label("present")).subquery("counted")
    nth = func.row_number().over(partition_by=counted.c.ticket,
                                 order_by=(counted.c.at, counted.c.id))
    over = (select(counted.c.ticket, counted.c.at, counted.c.id, nth.label("nth"))
            .where(counted.c.kind == 1, counted.c.present > rules.customers_per_ticket)
            .subquery("over"))
    flagged = select(over).where(over.c.nth == 1).subquery("flagged")
    place = func.row_number().over(partition_by=access.c.ticket,
                                   order_by=(access.c.ts_us, access.c.id))
    evidence = (select(access.c.ticket, access.c.ts_us, access.c.id, access.c.actor_iss,
                       access.c.actor_sub, place.label("place"))
                .join_from(access, flagged, access.c.ticket == flagged.c.ticket)
                .where(access.c.ts_us > flagged.c.at - span,
                       tuple_(access.c.ts_us, access.c.id) <= tuple_(flagged.c.at,
                                                                     flagged.c.id))
                .subquery("evidence"))
    return select(evidence).where(evidence.c.place <= MAX_EVIDENCE).subquery("sweeps")


def _sweepers(conn: Connection, window: Window, rules: AnomalyRules) -> Counter[Actor]:
    """`customers_per_ticket`'s citations: per actor, the flagged tickets among whose
    evidence they appear (one query)."""
    sweep = _sweep_evidence(window, rules)
    return Counter({(iss, sub): n for iss, sub, n in conn.execute(
        select(sweep.c.actor_iss, sweep.c.actor_sub, func.count(sweep.c.ticket.distinct()))
        .group_by(sweep.c.actor_iss, sweep.c.actor_sub))})


def off_hours_access(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """Customer data accessed outside working hours: one flag per actor and UTC day."""
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _e.ts_us, _e.id)
        .where(*_off_hours(window, rules))
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


def _off_hours(window: Window, rules: AnomalyRules) -> list[Any]:
    """Customer-data accesses in the window outside working hours (UTC, from `ts_us` alone,
    so the evidence index answers it without the table)."""
    hour = (_e.ts_us // HOUR_US) % 24
    weekday = (_e.ts_us // DAY_US + EPOCH_WEEKDAY) % 7
    working = and_(weekday.in_(sorted(rules.work_days)), hour >= rules.work_start_hour,
                   hour < rules.work_end_hour)
    return [_e.action.in_(DATA_ACCESS), not_(working), *_in_window(window)]


def _off_hours_flags(day: dict[tuple[str, str], list[int]], rules: AnomalyRules
                     ) -> list[Flag]:
    flags = []
    hours = rules.working_hours()
    for (_, sub), (first_us, last_us, n, *ids) in day.items():
        first, last = from_micros(first_us), from_micros(last_us)
        flags.append(Flag(
            "off_hours_access", f"actor {sub}", first,
            f"{n} customer-data access(es) by {sub} on {first:%a %Y-%m-%d} between "
            f"{first:%H:%M} and {last:%H:%M} UTC, outside working hours ({hours})",
            tuple(ids)))
    return flags


def _off_hours_actors(conn: Connection, window: Window, rules: AnomalyRules
                      ) -> Counter[Actor]:
    """`off_hours_access`'s citations: a flag per actor and day, citing only that actor, so
    per actor the number of distinct days (one aggregate)."""
    day = _e.ts_us // DAY_US
    return Counter({(iss, sub): n for iss, sub, n in conn.execute(
        select(_e.actor_iss, _e.actor_sub, func.count(day.distinct()))
        .where(*_off_hours(window, rules)).group_by(_e.actor_iss, _e.actor_sub))})


def breakglass_unreviewed(conn: Connection, window: Window, rules: AnomalyRules
                          ) -> list[Flag]:
    """A break-glass activation in the window whose grant got no `breakglass.reviewed` within
    `breakglass_review`: overdue at `window.present`, or reviewed late."""
    activations = conn.execute(select(_e.id, _e.ts_us, _e.grant_id, _e.actor_sub)
                               .where(_e.action == "breakglass.activated", *_in_window(window))
                               .order_by(_e.ts_us, _e.id)).all()
    grants = [g for _, _, g, _ in activations if g is not None]
    reviews: dict[str, tuple[int, int]] = {}
    for event_id, ts_us, grant_id in conn.execute(
            select(_e.id, _e.ts_us, _e.grant_id)
            .where(_e.action == "breakglass.reviewed", _e.grant_id.in_(grants),
                   _e.ts_us <= to_micros(window.present)).order_by(_e.ts_us.desc())):
        reviews[grant_id] = (ts_us, event_id)  # descending, so the earliest review remains
    limit = int(rules.breakglass_review.total_seconds() * 1_000_000)
    now = to_micros(window.present)
    flags = []
    for event_id, ts_us, grant_id, sub in activations:
        review = reviews.get(grant_id)
        if review is None and now - ts_us >= limit:
            detail = f"break-glass by {sub} under grant {grant_id} has no review after " \
                     f"{_hours(now - ts_us)} (review due within {_hours(limit)})"
            flags.append(Flag("breakglass_unreviewed", f"grant {grant_id}", from_micros(ts_us),
                              detail, (event_id,)))
        elif review is not None and review[0] - ts_us > limit:
            detail = f"break-glass by {sub} under grant {grant_id} was reviewed after " \
                     f"{_hours(review[0] - ts_us)} (due within {_hours(limit)})"
            flags.append(Flag("breakglass_unreviewed", f"grant {grant_id}", from_micros(ts_us),
                              detail, (event_id, review[1])))
    return flags


def repeated_denials(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """At least `denials` refusals (outcome denied) or MFA failures by one actor within
    `denial_window`: probing, a stolen session, or a script. One flag per actor."""
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _e.ts_us, _e.id).where(*_denials(window))
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


def _denials(window: Window) -> list[Any]:
    denied = EventFilter(outcome=Outcome.DENIED.value).clauses()
    return [or_(and_(*denied), _e.action == "auth.mfa.failed"), *_in_window(window)]


def _denied_actors(conn: Connection, window: Window, rules: AnomalyRules) -> Counter[Actor]:
    """`repeated_denials`'s citations: one flag per actor, citing only them. An actor is
    flagged when some denial of theirs has `denials` - 1 earlier ones (in the same order as
    the rule reads them) within the span, which the LAG window function sees directly."""
    span = int(rules.denial_window.total_seconds() * 1_000_000)
    earlier = func.lag(_e.ts_us, max(rules.denials, 1) - 1).over(
        partition_by=(_e.actor_iss, _e.actor_sub), order_by=(_e.ts_us, _e.id))
    lagged = (select(_e.actor_iss, _e.actor_sub, _e.ts_us, earlier.label("earlier"))
              .where(*_denials(window)).subquery())
    return Counter({(iss, sub): 1 for iss, sub in conn.execute(
        select(lagged.c.actor_iss, lagged.c.actor_sub)
        .where(lagged.c.earlier > lagged.c.ts_us - span).distinct())})


def activity_after_disable(conn: Connection, window: Window, rules: AnomalyRules
                           ) -> list[Flag]:
    """Any event by a user after an admin disabled them and before they were enabled again:
    a session that outlived the disable, or someone trying the account."""
    del rules  # no threshold: one such event is one too many
    switches = conn.execute(select(_e.id, _e.ts_us, _e.action, _e.target_id)
                            .where(_e.action.in_(("user.disabled", "user.enabled")),
                                   _e.target_id.is_not(None),
                                   _e.ts_us < to_micros(window.until))
                            .order_by(_e.ts_us, _e.id)).all()
    flags = []
    for target, (disabled_id, start, end) in _disabled_spans(switches, window):
        # target_id is "iss|sub"; issuers are URLs (no "|"), subjects may contain one.
        iss, _, sub = target.partition("|")
        ids = list(conn.execute(select(_e.id, _e.ts_us).where(
            _e.actor_sub == sub, _e.actor_iss == iss, _e.ts_us > start, _e.ts_us < end,
            _e.ts_us >= to_micros(window.since)).order_by(_e.ts_us, _e.id)))
        if ids:
            flags.append(Flag(
                "activity_after_disable", f"user {sub}", from_micros(ids[0][1]),
                f"{len(ids)} event(s) by {sub} after the account was disabled at "
                f"{from_micros(start):%Y-%m-%d %H:%M} UTC",
                _ids([disabled_id, *(i for i, _ in ids)])))
    return flags


def _disabled_spans(switches: Iterable[Any], window: Window
                    ) -> Iterator[tuple[str, tuple[int, int, int]]]:
    """(target, (disable event id, disabled at, enabled again at or window end))."""
    open_spans: dict[str, tuple[int, int]] = {}
    end = to_micros(window.until)
    for event_id, ts_us, action, target in switches:
        if action == "user.disabled":
            open_spans.setdefault(target, (event_id, ts_us))
        elif target in open_spans:
            disabled_id, start = open_spans.pop(target)
            yield target, (disabled_id, start, ts_us)
    for target, (disabled_id, start) in open_spans.items():
        yield target, (disabled_id, start, end)


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


def seal_lag(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """The oldest unsealed event has waited longer than `seal_lag` at the present: the sealer
    is down or something holds the sealing horizon (on PostgreSQL, an open transaction), and
    events committed meanwhile are covered only by the sealer's signed statements. About the
    present, so it speaks only when the window names one (`window.now`, as the Activity page
    does); a past window has nothing to say about it."""
    if window.now is None:
        return []
    present = to_micros(window.now)
    oldest = conn.execute(select(_e.id, _e.ts_us).where(above_sealed(conn))
                          .order_by(_e.ts_us, _e.id).limit(1)).first()
    limit = int(rules.seal_lag.total_seconds() * 1_000_000)
    if oldest is None or present - oldest.ts_us <= limit:
        return []
    waited = present - oldest.ts_us
    return [Flag("seal_lag", "the audit log", from_micros(oldest.ts_us),
                 f"the oldest unsealed event has waited {waited // 1_000_000} s to be sealed "
                 f"(threshold {limit // 1_000_000} s)", (oldest.id,))]


def _hours(us: int) -> str:
    return f"{us / HOUR_US:.1f} h"


def dsr_overdue(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """A data-subject request filed in the window that was still open past its due date at
    `window.present`, or was answered after it. The due date is the newest `due_at` of its
    `dsr.filed` or `dsr.extended` events; it closed with the first event whose status is
    closed (`access.dsr`)."""
    filed = conn.execute(select(_e.id, _e.ts_us, _e.target_id)
                         .where(_e.action == "dsr.filed", _e.outcome == Outcome.SUCCESS,
                                *_in_window(window)).order_by(_e.ts_us, _e.id)).all()
    steps: dict[str, list[Any]] = {}
    for step in conn.execute(select(_e.id, _e.ts_us, _e.target_id, _e.action, _e.details)
                             .where(_e.target_type == "dsr", _e.outcome == Outcome.SUCCESS,
                                    _e.target_id.in_([f.target_id for f in filed]),
                                    _e.ts_us <= to_micros(window.present))
                             .order_by(_e.ts_us, _e.id)):
        steps.setdefault(step.target_id, []).append(step)
    flags = []
    for event_id, ts_us, dsr_id in filed:
        flag = _dsr_flag(dsr_id, ts_us, event_id, steps.get(dsr_id, []), window.present)
        if flag is not None:
            flags.append(flag)
    return flags


def _dsr_flag(dsr_id: str, ts_us: int, event_id: int, steps: list[Any], present: datetime
              ) -> Flag | None:
    due = [datetime.fromisoformat(s.details["due_at"]) for s in steps
           if s.action in ("dsr.filed", "dsr.extended") and "due_at" in (s.details or {})]
    if not due:
        return None
    closed = next((s for s in steps if (s.details or {}).get("status") == "closed"), None)
    if closed is None and present > due[-1]:
        detail = f"data-subject request {dsr_id} was due {due[-1]:%Y-%m-%d %H:%M} UTC and is " \
                 f"still open ({(present - due[-1]).days} day(s) late)"
        return Flag("dsr_overdue", f"data-subject request {dsr_id}", from_micros(ts_us),
                    detail, (event_id,))
    if closed is not None and from_micros(closed.ts_us) > due[-1]:
        detail = f"data-subject request {dsr_id} was due {due[-1]:%Y-%m-%d %H:%M} UTC and " \
                 f"was answered {from_micros(closed.ts_us):%Y-%m-%d %H:%M} UTC"
        return Flag("dsr_overdue", f"data-subject request {dsr_id}", from_micros(ts_us),
                    detail, (event_id, closed.id))
    return None


RULES: tuple[Rule, ...] = (reads_per_grant, customers_per_ticket, off_hours_access,
                           breakglass_unreviewed, repeated_denials, activity_after_disable,
                           seal_lag, dsr_overdue)


def find_anomalies(conn: Connection, window: Window, rules: AnomalyRules) -> list[Flag]:
    """Every rule over the window, newest flag first."""
    flags = [flag for rule in RULES for flag in rule(conn, window, rules)]
    return sorted(flags, key=lambda f: f.at, reverse=True)


def flags_per_actor(conn: Connection, window: Window, rules: AnomalyRules) -> Counter[Actor]:
    """Per actor, how many flags of every rule over the window cite their events (a flag
    counts once for each distinct actor among its evidence events): the numbers one would get
    by counting over `find_anomalies`, computed by one aggregate grouped by actor for each
    rule whose flags are many, and from the raised flags for the others."""
    total: Counter[Actor] = Counter()
    for rule in RULES:
        total.update(_CITATIONS.get(rule, _cited_by(rule))(conn, window, rules))
    return total


def _cited_by(rule: Rule) -> Citations:
    """Citations for a rule whose flags are few: raise them, then look up their evidence's
    actors (one query per `LOOKUP_BATCH` events)."""
    def citations(conn: Connection, window: Window, rules: AnomalyRules) -> Counter[Actor]:
        flags = rule(conn, window, rules)
        ids = sorted({i for flag in flags for i in flag.evidence})
        actor_of: dict[int, Actor] = {}
        for start in range(0, len(ids), LOOKUP_BATCH):
            actor_of |= {i: (iss, sub) for i, iss, sub in conn.execute(
                select(_e.id, _e.actor_iss, _e.actor_sub)
                .where(_e.id.in_(ids[start:start + LOOKUP_BATCH])))}
        return Counter(actor for flag in flags
                       for actor in {actor_of[i] for i in flag.evidence if i in actor_of})
    return citations


_CITATIONS: dict[Rule, Citations] = {reads_per_grant: _grant_readers,
                                     customers_per_ticket: _sweepers,
                                     off_hours_access: _off_hours_actors,
                                     repeated_denials: _denied_actors}

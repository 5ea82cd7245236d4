"""What was done with one grant, and who touched one customer: read from the audit log alone.

The log is the record, so both views are built from events, not from the access tables: a
grant's timeline is its request (created, approved or denied, by whom), its issue, and every
read, reveal, export and refusal made under it, in order; a customer's view is who accessed
its data, when, and under which ticket and grant. Both run on the request, grant and customer
indexes of migration 0005.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, or_, select

from audit.events import from_micros, to_micros
from audit.query import COLUMNS, StoredEvent
from audit.schema import events_table

__all__ = ["CustomerAccess", "GrantTimeline", "customer_access", "grant_timeline"]

TIMELINE_LIMIT = 2_000
TOUCHES = ("data.read", "data.revealed", "data.exported", "data.denied")

_e = events_table.c


@dataclass(frozen=True)
class GrantTimeline:
    grant_id: str
    request_id: str | None
    events: list[StoredEvent]        # oldest first, at most `limit`
    counts: Counter[str]             # every event of the grant and its request, by action
    truncated: bool                  # more events exist than `events` holds

    def first(self, *actions: str) -> StoredEvent | None:
        return next((e for e in self.events if e.action in actions), None)

    @property
    def holder(self) -> str | None:
        """Who asked for the access (the request's or the break-glass's actor)."""
        opening = self.first("request.created", "breakglass.activated")
        return opening.actor if opening else None

    @property
    def customer_id(self) -> str | None:
        return next((e.customer_id for e in self.events if e.customer_id), None)

    @property
    def ticket(self) -> str | None:
        return next((e.ticket for e in self.events if e.ticket), None)

    @property
    def approvers(self) -> list[str]:
        return [e.actor for e in self.events
                if e.action == "request.approved" and e.outcome == "success"]


def grant_timeline(conn: Connection, grant_id: str, limit: int = TIMELINE_LIMIT
                   ) -> GrantTimeline | None:
    """The grant's request and everything done under the grant, oldest first; None if the log
    never mentions the grant."""
    request_id = conn.execute(select(_e.request_id).where(_e.grant_id == grant_id,
                                                          _e.request_id.is_not(None))
                              .limit(1)).scalar()
    mentioned = _e.grant_id == grant_id
    if request_id is not None:
        # The request's own steps (created, approved) predate the grant and carry no grant id.
        mentioned = or_(mentioned, _e.request_id == request_id)
    rows = conn.execute(select(*COLUMNS).where(mentioned).order_by(_e.ts_us, _e.id)
                        .limit(limit + 1)).all()
    if not rows:
        return None
    counts = Counter({action: int(n) for action, n in conn.execute(
        select(_e.action, func.count()).where(mentioned).group_by(_e.action))})
    events = [StoredEvent(*r) for r in rows[:limit]]
    return GrantTimeline(grant_id, request_id, events, counts, len(rows) > limit)


@dataclass
class CustomerAccess:
    """One person's accesses to a customer under one ticket and grant."""

    actor_sub: str
    actor_name: str | None
    ticket: str | None
    grant_id: str | None
    first: datetime
    last: datetime
    counts: Counter[str] = field(default_factory=Counter)  # by action (TOUCHES)


def customer_access(conn: Connection, customer_id: str, since: datetime | None = None,
                    until: datetime | None = None) -> list[CustomerAccess]:
    """Who touched `customer_id`'s data (reads, reveals, exports and refused attempts), under
    which ticket and grant, first and last time; most recent first."""
    where = [_e.customer_id == customer_id, _e.action.in_(TOUCHES)]
    if since is not None:
        where.append(_e.ts_us >= to_micros(since))
    if until is not None:
        where.append(_e.ts_us < to_micros(until))
    rows = conn.execute(select(_e.actor_iss, _e.actor_sub, func.max(_e.actor_name), _e.ticket,
                               _e.grant_id, _e.action, func.min(_e.ts_us), func.max(_e.ts_us),
                               func.count())
                        .where(*where)
                        .group_by(_e.actor_iss, _e.actor_sub, _e.ticket, _e.grant_id,
                                  _e.action)).all()
    found: dict[tuple[str, str, str | None, str | None], CustomerAccess] = {}
    for iss, sub, name, ticket, grant_id, action, first, last, n in rows:
        key = (iss, sub, ticket, grant_id)
        entry = found.setdefault(key, CustomerAccess(sub, name, ticket, grant_id,
                                                     from_micros(first), from_micros(last)))
        entry.first = min(entry.first, from_micros(first))
        entry.last = max(entry.last, from_micros(last))
        entry.counts[action] += int(n)
    return sorted(found.values(), key=lambda a: a.last, reverse=True)

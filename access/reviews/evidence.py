"""The evidence of a campaign's items, from the audit log and the workflow tables.

Contract: `gather` reads each source with ONE aggregate over the look-back window, grouped by
person (or by environment for policy items), whatever the number of people: never a query
per person. The audit aggregates filter on (action, ts_us) and read only columns that
`ix_audit_events_action_actor` (migrations 0011, 0014) carries, so on PostgreSQL each is an
index-only range scan of the window; so are the per-person counts of the anomaly rules about
customer-data accesses (`audit.anomalies.flags_per_actor`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from access.reviews.rules import Evidence
from access.schema import AccessRequest, Grant, User
from audit.anomalies import Actor, AnomalyRules, Window, flags_per_actor
from audit.events import to_micros
from audit.query import DATA_ACCESS
from audit.schema import events_table
from audit.vocabulary import Outcome

__all__ = ["DECISIONS", "Usage", "gather", "span", "usage_by_actor"]

_e = events_table.c
DECISIONS = ("request.approved", "request.denied")


@dataclass
class Usage:
    """Evidence per user id and per environment, over one window."""

    days: int
    people: dict[int, Evidence] = field(default_factory=dict)
    environments: dict[str, Evidence] = field(default_factory=dict)

    def person(self, user_id: int) -> Evidence:
        return self.people.get(user_id, Evidence(self.days))

    def environment(self, name: str) -> Evidence:
        return self.environments.get(name, Evidence(self.days))


def span(until: datetime, days: int) -> tuple[int, int]:
    """The window [until - days, until) in log microseconds."""
    return to_micros(until - timedelta(days=days)), to_micros(until)


def gather(conn: Connection, until: datetime, days: int,
           anomaly_rules: AnomalyRules) -> Usage:
    """Every person's and environment's evidence over the `days` before `until`."""
    users = {(iss, sub): uid for uid, iss, sub in conn.execute(
        select(User.id, User.iss, User.sub))}
    counts: dict[int, dict[str, Any]] = defaultdict(dict)
    for actor, values in [*_data_access(conn, until, days), *_decisions(conn, until, days),
                          *_anomaly_flags(conn, until, days, anomaly_rules)]:
        if actor in users:
            counts[users[actor]].update(values)
    for user_id, values in _grants(conn, until, days):
        counts[user_id].update(values)
    for user_id, last in conn.execute(select(User.id, User.last_login_at)):
        counts[user_id]["last_sign_in"] = last.isoformat() if last else None
    base = Evidence(days)
    return Usage(days, {uid: replace(base, **v) for uid, v in counts.items()},
                 {env: replace(base, **v) for env, v in _environments(conn, until, days)})


def usage_by_actor(conn: Connection, until: datetime,
                   days: int) -> list[tuple[Actor, dict[str, Any]]]:
    """The two audit-log aggregates of `gather` alone (data access; requests and approvals),
    per (issuer, subject): what the benchmark measures against a scan of the window."""
    return [*_data_access(conn, until, days), *_decisions(conn, until, days)]


def _window(until: datetime, days: int) -> list[Any]:
    since, end = span(until, days)
    return [_e.ts_us >= since, _e.ts_us < end, _e.outcome == str(Outcome.SUCCESS)]


def _count(action: str) -> Any:
    return func.sum(case((_e.action == action, 1), else_=0))


def _data_access(conn: Connection, until: datetime,
                 days: int) -> list[tuple[Actor, dict[str, Any]]]:
    """Aggregate 1: reads, reveals, exports, distinct customers and tickets per person."""
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _count("data.read"), _count("data.revealed"),
               _count("data.exported"), func.count(_e.customer_id.distinct()),
               func.count(_e.ticket.distinct()))
        .where(_e.action.in_(DATA_ACCESS), *_window(until, days))
        .group_by(_e.actor_iss, _e.actor_sub))
    return [((iss, sub), {"reads": int(r), "reveals": int(v), "exports": int(x),
                          "customers": c, "tickets": t})
            for iss, sub, r, v, x, c, t in rows]


def _decisions(conn: Connection, until: datetime,
               days: int) -> list[tuple[Actor, dict[str, Any]]]:
    """Aggregate 2: requests filed, and approvals decided, per person."""
    rows = conn.execute(
        select(_e.actor_iss, _e.actor_sub, _count("request.created"),
               _count("request.approved"), _count("request.denied"))
        .where(_e.action.in_(("request.created", *DECISIONS)), *_window(until, days))
        .group_by(_e.actor_iss, _e.actor_sub))
    return [((iss, sub), {"requests": int(c), "approved": int(a),
                          "approvals_decided": int(a) + int(d)})
            for iss, sub, c, a, d in rows]


def _anomaly_flags(conn: Connection, until: datetime, days: int,
                   rules: AnomalyRules) -> list[tuple[Actor, dict[str, Any]]]:
    """Per person, the anomaly flags over the window that cite their events: one aggregate
    per rule (`audit.anomalies.flags_per_actor`), never the flags' evidence event by event."""
    cited = flags_per_actor(conn, Window(until - timedelta(days=days), until), rules)
    return [(actor, {"anomaly_flags": n}) for actor, n in cited.items()]


def _grants(conn: Connection, until: datetime, days: int) -> list[tuple[int, dict[str, Any]]]:
    """Aggregate 3: grants held, break-glass uses and how many were reviewed, per person."""
    glass = case((Grant.breakglass, 1), else_=0)
    reviewed = case((Grant.breakglass & Grant.reviewed_at.is_not(None), 1), else_=0)
    rows = conn.execute(
        select(Grant.user_id, func.count(), func.sum(glass), func.sum(reviewed))
        .where(Grant.created_at >= until - timedelta(days=days), Grant.created_at < until)
        .group_by(Grant.user_id))
    return [(uid, {"grants": n, "breakglass": int(b), "breakglass_reviewed": int(r)})
            for uid, n, b, r in rows]


def _environments(conn: Connection, until: datetime,
                  days: int) -> list[tuple[str, dict[str, Any]]]:
    """Aggregate 4 (policy items): requests and break-glass uses per environment."""
    glass = case((AccessRequest.breakglass, 1), else_=0)
    rows = conn.execute(
        select(AccessRequest.environment, func.count(), func.sum(glass))
        .where(AccessRequest.created_at >= until - timedelta(days=days),
               AccessRequest.created_at < until)
        .group_by(AccessRequest.environment))
    return [(env, {"requests": n - int(b), "breakglass": int(b)}) for env, n, b in rows]

"""Recommendation rules: what the evidence of one item suggests, keep or revoke, and why in
words. Each rule is a small function named like the anomaly rules (`audit.anomalies`); its
thresholds come from `[reviews]` in the console configuration (`ReviewRules`). The first rule
that speaks decides; when none does, `in_use` recommends keeping, saying what was used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = ["RULES", "Evidence", "ItemKind", "Recommendation", "ReviewRules", "Subject",
           "anomalies_raised", "idle_approver", "in_use", "no_sign_in", "recommend",
           "unused_breakglass", "unused_data_access", "unused_request_rule", "wide_reading"]


class ItemKind(StrEnum):
    ROLE = "role"                  # a person holds a role (requester, approver, auditor)
    BREAKGLASS = "breakglass"      # the policy lets requesters break the glass in an environment
    REQUEST_RULE = "request_rule"  # the policy lets a role request data in an environment


@dataclass(frozen=True)
class ReviewRules:
    """Thresholds of the recommendation rules and campaign defaults."""

    look_back_days: int = 90            # the evidence window of a campaign, unless it says
    no_sign_in_days: int = 60           # no_sign_in: last sign-in longer ago than this
    wide_reading_customers: int = 300   # wide_reading: at least this many customers ...
    wide_reading_tickets: int = 3       # ... under fewer tickets than this
    anomaly_flags: int = 3              # anomalies_raised: at least this many flags


@dataclass(frozen=True)
class Evidence:
    """What the log says about one item over the look-back window (`days` long)."""

    days: int
    last_sign_in: str | None = None  # ISO 8601, UTC
    requests: int = 0
    grants: int = 0
    reads: int = 0
    reveals: int = 0
    exports: int = 0
    customers: int = 0
    tickets: int = 0
    approvals_decided: int = 0
    approved: int = 0
    breakglass: int = 0
    breakglass_reviewed: int = 0
    anomaly_flags: int = 0

    @property
    def data_uses(self) -> int:
        return self.reads + self.reveals + self.exports

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Subject:
    """What an item is about, as the rules see it."""

    kind: ItemKind
    role: str | None
    environment: str | None
    now: datetime


@dataclass(frozen=True)
class Recommendation:
    decision: str  # "keep" or "revoke"
    rule: str
    reason: str


Rule = Callable[[Subject, Evidence, ReviewRules], Recommendation | None]


def _revoke(rule: Rule, reason: str) -> Recommendation:
    return Recommendation("revoke", rule.__name__, reason)


def no_sign_in(subject: Subject, ev: Evidence, rules: ReviewRules) -> Recommendation | None:
    """A person who has not signed in for `no_sign_in_days` does not need the role."""
    if subject.kind != ItemKind.ROLE:
        return None
    last = datetime.fromisoformat(ev.last_sign_in) if ev.last_sign_in else None
    if last is not None and subject.now - last <= timedelta(days=rules.no_sign_in_days):
        return None
    return _revoke(no_sign_in, f"no sign-in in {rules.no_sign_in_days} days")


def unused_data_access(subject: Subject, ev: Evidence,
                       rules: ReviewRules) -> Recommendation | None:
    """A requester who read, revealed and exported nothing in the window."""
    if subject.kind != ItemKind.ROLE or subject.role != "requester" or ev.data_uses:
        return None
    return _revoke(unused_data_access, f"no customer-data access in {ev.days} days")


def idle_approver(subject: Subject, ev: Evidence, rules: ReviewRules) -> Recommendation | None:
    """An approver who decided no request in the window holds approver rights for nothing."""
    if subject.kind != ItemKind.ROLE or subject.role != "approver" or ev.approvals_decided:
        return None
    return _revoke(idle_approver, f"approved {ev.approved} requests in {ev.days} days")


def wide_reading(subject: Subject, ev: Evidence, rules: ReviewRules) -> Recommendation | None:
    """Many customers read under few tickets: access wider than the tickets explain."""
    if subject.kind != ItemKind.ROLE or ev.customers < rules.wide_reading_customers or \
            ev.tickets >= rules.wide_reading_tickets:
        return None
    return _revoke(wide_reading, f"read {ev.customers} customers under {ev.tickets} tickets")


def anomalies_raised(subject: Subject, ev: Evidence,
                     rules: ReviewRules) -> Recommendation | None:
    """At least `anomaly_flags` anomaly flags cite this person's events in the window."""
    if subject.kind != ItemKind.ROLE or ev.anomaly_flags < rules.anomaly_flags:
        return None
    return _revoke(anomalies_raised,
                   f"{ev.anomaly_flags} anomaly flags raised in {ev.days} days")


def unused_breakglass(subject: Subject, ev: Evidence,
                      rules: ReviewRules) -> Recommendation | None:
    """Break-glass allowed in an environment where nobody used it in the window."""
    if subject.kind != ItemKind.BREAKGLASS or ev.breakglass:
        return None
    return _revoke(unused_breakglass,
                   f"no break-glass use in {subject.environment} in {ev.days} days")


def unused_request_rule(subject: Subject, ev: Evidence,
                        rules: ReviewRules) -> Recommendation | None:
    """A role allowed to request data in an environment where it filed no request."""
    if subject.kind != ItemKind.REQUEST_RULE or ev.requests:
        return None
    return _revoke(unused_request_rule, f"no requests by {subject.role} in "
                                        f"{subject.environment} in {ev.days} days")


def in_use(subject: Subject, ev: Evidence, rules: ReviewRules) -> Recommendation:
    """No rule spoke: keep, saying what was used."""
    if subject.kind == ItemKind.ROLE and subject.role == "approver":
        used = f"decided {ev.approvals_decided} requests"
    elif subject.kind == ItemKind.ROLE and subject.role == "requester":
        used = f"{ev.data_uses} data accesses on {ev.customers} customers"
    elif subject.kind == ItemKind.BREAKGLASS:
        used = f"{ev.breakglass} break-glass uses ({ev.breakglass_reviewed} reviewed)"
    elif subject.kind == ItemKind.REQUEST_RULE:
        used = f"{ev.requests} requests"
    else:
        used = "signed in"
    return Recommendation("keep", "in_use", f"{used} in {ev.days} days")


RULES: tuple[Rule, ...] = (no_sign_in, wide_reading, anomalies_raised, unused_data_access,
                           idle_approver, unused_breakglass, unused_request_rule)


def recommend(subject: Subject, ev: Evidence, rules: ReviewRules) -> Recommendation:
    """The first rule of `RULES` that speaks, else `in_use`."""
    for rule in RULES:
        found = rule(subject, ev, rules)
        if found is not None:
            return found
    return in_use(subject, ev, rules)

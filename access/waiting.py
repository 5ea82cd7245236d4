"""What waits for a person: for each of their roles, the few things that need them now,
each counted from the service that already lists them (Home shows these).

Nothing here writes and nothing is logged. Opening Home is not a choice to record, so:
a service is asked only when the person's roles allow it (`authz.allowed`: a refusal would
be logged), and each service asked is a read that records nothing (`approval_queue`,
`open_reviews`, `list_users`, `my_grants`, `my_requests`, the review items, the
data-subject requests). Each still authorizes its caller as it always does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from access.authz import Action, allowed
from access.context import Gatehouse
from access.dsr import requests as dsr
from access.identity.users import list_users
from access.principal import Principal
from access.reviews.queries import my_items
from access.workflow.break_glass import open_reviews
from access.workflow.queries import approval_queue, my_grants, my_requests

__all__ = ["Waiting", "Waits", "waiting_for"]


class Waits(StrEnum):
    """A kind of thing that waits for someone, and what its `soonest` time is."""

    LIVE_GRANTS = "live grants"                # requester: held, active or scheduled; ends_at
    OWN_PENDING = "own pending requests"       # requester: no decision yet; lapses undecided
    DECISIONS = "requests to decide"           # approver: `approval_queue`; lapses undecided
    BREAKGLASS_REVIEWS = "break-glass reviews"  # approver: unreviewed break-glass; none
    LOCKED_ACCOUNTS = "locked accounts"        # approver: too many wrong codes; first unlock
    DSR_APPROVALS = "data-subject approvals"   # approver: a rectification or erasure; due date
    REVIEW_ITEMS = "review items"              # a named reviewer: undecided items; due date
    OWN_DSRS = "data-subject requests"         # privacy officer: open, assigned; due date


@dataclass(frozen=True)
class Waiting:
    what: Waits
    count: int                # at least 1: what has none is left out
    soonest: datetime | None  # the nearest time that matters for `what` (see `Waits`)


def waiting_for(gh: Gatehouse, principal: Principal) -> list[Waiting]:
    """What waits for `principal` now, in the order of `Waits`; empty when nothing does.
    Reads only; writes no audit event, not even a refusal (see the module's docstring), for
    anyone Home admits; anyone else is refused as Home's own gate refuses them."""
    gh.authorize(principal, Action.VIEW_HOME)
    found: list[Waiting] = []
    for what, action, gather in _GATHERERS:
        if allowed(principal, action):
            times = gather(gh, principal)
            if times:
                found.append(Waiting(what, len(times), min(
                    (t for t in times if t is not None), default=None)))
    return found


# Each gatherer returns one entry per thing waiting: its `soonest` candidate (or None).
_Gather = Callable[[Gatehouse, Principal], list[datetime | None]]


def _live_grants(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [g.ends_at for g in my_grants(gh, p) if g.is_live]


def _own_pending(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    # as My access shows them: pending as stored (the sweeper may not have come by)
    return [r.expires_at for r in my_requests(gh, p) if r.is_pending]


def _decisions(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [item.request.expires_at for item in approval_queue(gh, p)]


def _breakglass_reviews(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [None for _ in open_reviews(gh, p)]


def _locked_accounts(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [u.locked_until for u in list_users(gh, p) if u.locked_until is not None]


def _dsr_approvals(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [v.due_at for v in dsr.requests(gh, p) if v.status == dsr.Status.AWAITING_APPROVAL]


def _review_items(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [item.due_at for item in my_items(gh, p)]


def _own_dsrs(gh: Gatehouse, p: Principal) -> list[datetime | None]:
    return [v.due_at for v in dsr.requests(gh, p) if v.assignee_id == p.user_id]


# (what, the action that lets a person see it, how to gather it); the action is the one the
# gatherer's service authorizes, or narrower (an admin sees data-subject requests, but only
# approves; only a privacy officer works them).
_GATHERERS: tuple[tuple[Waits, Action, _Gather], ...] = (
    (Waits.LIVE_GRANTS, Action.REQUEST_CREATE, _live_grants),
    (Waits.OWN_PENDING, Action.REQUEST_CREATE, _own_pending),
    (Waits.DECISIONS, Action.APPROVALS_VIEW, _decisions),
    (Waits.BREAKGLASS_REVIEWS, Action.BREAKGLASS_REVIEW, _breakglass_reviews),
    (Waits.LOCKED_ACCOUNTS, Action.USERS_VIEW, _locked_accounts),
    (Waits.DSR_APPROVALS, Action.DSR_APPROVE, _dsr_approvals),
    (Waits.REVIEW_ITEMS, Action.VIEW_HOME, _review_items),
    (Waits.OWN_DSRS, Action.DSR_PROGRESS, _own_dsrs),
)

"""The lifecycle of an access request and of its grant: their states, and the one rule that
moves a request from one state to another.

A request (every move not drawn here is refused with `Conflict`, "already <status>"):

    pending ──approve (N-of-M distinct approvers)──▶ approved ──▶ a Grant is issued
       │──deny──▶ denied      │──cancel (requester)──▶ cancelled
       └──time-to-live passes──▶ expired

A break-glass request is born approved (it never waits for an approver). A grant's state is
not stored: it is read from its timestamps against the clock (`access.workflow.grants.state`),
so a grant is dead at `ends_at` to the microsecond whether or not the sweeper has come by.

The stored values are the enum values: `status` columns hold "pending", "approved", ..., and a
`StrEnum` member compares equal to its value.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from access.errors import Conflict
from access.schema import AccessRequest

__all__ = ["LIVE", "GrantState", "RequestStatus", "refusal", "transition",
           "unless_live"]


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class GrantState(StrEnum):
    SCHEDULED = "scheduled"  # approved, starts later
    ACTIVE = "active"        # usable now
    EXPIRED = "expired"      # ran out (`ends_at` has passed)
    REVOKED = "revoked"      # ended early by an admin
    RELEASED = "released"    # given back early by its holder


LIVE = frozenset({GrantState.ACTIVE, GrantState.SCHEDULED})  # a grant that can still be ended

_MOVES: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset({RequestStatus.APPROVED, RequestStatus.DENIED,
                                      RequestStatus.CANCELLED, RequestStatus.EXPIRED}),
    RequestStatus.APPROVED: frozenset(),
    RequestStatus.DENIED: frozenset(),
    RequestStatus.CANCELLED: frozenset(),
    RequestStatus.EXPIRED: frozenset(),
}


def refusal(request: AccessRequest, to: RequestStatus) -> Conflict | None:
    """The `Conflict` that refuses moving `request` to `to`, or None if the diagram allows it.
    For operations that record something before they raise (see `cancel_request.cancel`)."""
    if to in _MOVES[RequestStatus(request.status)]:
        return None
    return Conflict(f"request {request.id} is already {request.status}")


def transition(request: AccessRequest, to: RequestStatus, at: datetime) -> None:
    """Move `request` to `to` at `at` (its `decided_at`), or raise the `Conflict` of `refusal`.
    The only place a request's status changes after it is filed."""
    conflict = refusal(request, to)
    if conflict is not None:
        raise conflict
    request.status, request.decided_at = to, at


def unless_live(grant_id: int, current: GrantState) -> None:
    """Raise `Conflict` unless a grant in state `current` can still be ended (released or
    revoked)."""
    if current not in LIVE:
        raise Conflict(f"grant {grant_id} is already {current}")

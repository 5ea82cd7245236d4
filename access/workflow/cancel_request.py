"""Cancelling a request: the requester withdraws their own request while it is pending."""

from __future__ import annotations

from access.authz import Action
from access.context import Gatehouse
from access.errors import InvalidInput
from access.principal import Principal
from access.workflow import locks
from access.workflow.events import request_event
from access.workflow.states import RequestStatus, refusal, transition
from access.workflow.sweep import expire_if_due

__all__ = ["cancel"]


def cancel(gh: Gatehouse, principal: Principal, request_id: int) -> None:
    """The requester withdraws their own pending request. One past its time-to-live is
    recorded as expired (and that is committed) before the `Conflict` is raised."""
    gh.authorize(principal, Action.REQUEST_CANCEL)
    with gh.write() as db:
        request = locks.request(db, request_id)
        if request.requester_id != principal.user_id:
            raise InvalidInput("request", f"there is no request {request_id} of yours")
        expire_if_due(gh, db, request)
        conflict = refusal(request, RequestStatus.CANCELLED)
        if conflict is None:
            transition(request, RequestStatus.CANCELLED, gh.now())
            gh.audit(db, request_event(principal, "request.cancelled", request))
    if conflict is not None:
        raise conflict

"""Filing an access request: the narrowest access one ticket needs, checked field by field
against the policy, then pending until approvers decide (`decide_request`).

Production customer data always needs a human approver (the policy loader refuses anything
else). `validate` and `new_request` are shared with `break_glass`, which files a request that is
approved at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.data.servable import check_customer_id, check_exists, refuse_unservable
from access.errors import Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest
from access.text import UNSTORABLE_RULE, storable
from access.workflow import notify
from access.workflow.events import request_event, words
from access.workflow.policy import Requirements
from access.workflow.states import RequestStatus

__all__ = ["MAX_START_DELAY", "MAX_TICKET", "MIN_DURATION", "RequestDraft", "create", "new_request",
           "validate"]

MIN_DURATION = timedelta(minutes=15)
MAX_START_DELAY = timedelta(days=7)
MAX_TICKET = 64  # the audit log's ticket filter accepts no longer id


@dataclass(frozen=True)
class RequestDraft:
    customer_id: str
    environment: str
    scopes: Sequence[str]
    actions: Sequence[str]
    duration: timedelta
    justification: str
    ticket: str | None = None
    starts_at: datetime | None = None  # None: as soon as it is approved


def validate(gh: Gatehouse, principal: Principal, draft: RequestDraft) -> Requirements:
    """Check `draft` field by field against the policy; return what it will need."""
    check_customer_id(draft.customer_id)
    policy = gh.policy
    needs = policy.requirements(draft.environment, draft.scopes, draft.actions)
    if not principal.roles & needs.request_roles:
        raise Denied(f"your role may not request {draft.environment} access to "
                     f"{words(draft.scopes)}")
    if not isinstance(draft.duration, timedelta) or \
            not MIN_DURATION <= draft.duration <= needs.max_duration:
        raise InvalidInput("duration", f"must be between {MIN_DURATION} and "
                                       f"{needs.max_duration} for these scopes")
    _check_start(gh, draft.starts_at)
    justification = draft.justification if isinstance(draft.justification, str) else ""
    if len(justification) > 2 * policy.justification_max:  # bounded before it is copied
        justification = justification[:2 * policy.justification_max]
    justification = justification.strip()
    if not 10 <= len(justification) <= policy.justification_max:
        raise InvalidInput("justification", f"is required: 10 to {policy.justification_max} "
                                            "characters saying why the ticket needs this")
    if not storable(justification):
        raise InvalidInput("justification", UNSTORABLE_RULE)
    _check_ticket(gh, draft)
    with gh.read() as db:
        refuse_unservable(db, draft.environment, draft.customer_id)
    check_exists(gh, draft.environment, draft.customer_id)
    return needs


def _check_start(gh: Gatehouse, starts_at: datetime | None) -> None:
    if starts_at is None:
        return
    if not isinstance(starts_at, datetime) or starts_at.utcoffset() is None:
        raise InvalidInput("starts_at", "must be a date and time with a time zone")
    if not gh.now() - timedelta(minutes=1) <= starts_at <= gh.now() + MAX_START_DELAY:
        raise InvalidInput("starts_at", "must be now or within the next 7 days")


def _check_ticket(gh: Gatehouse, draft: RequestDraft) -> None:
    if draft.ticket is not None and (not isinstance(draft.ticket, str)
                                     or len(draft.ticket) > MAX_TICKET):
        raise InvalidInput("ticket", f"must be a ticket reference of at most {MAX_TICKET} "
                                     "characters")
    ticket = draft.ticket.strip() if draft.ticket else ""
    environment = gh.policy.environments[draft.environment]
    if not ticket:
        if environment.ticket_required:
            raise InvalidInput("ticket", f"is required for {draft.environment}")
        return
    if not gh.policy.ticket_pattern.fullmatch(ticket):
        raise InvalidInput("ticket", f"must match {gh.policy.ticket_pattern.pattern}")


def new_request(gh: Gatehouse, db: Session, requester_id: int, draft: RequestDraft,
                needs: Requirements, status: RequestStatus, now: datetime,
                starts_at: datetime | None, expires_at: datetime,
                **breakglass: object) -> AccessRequest:
    """Store the request of a validated `draft` (flushed, so it has its id). `breakglass`
    holds the columns only a break-glass request sets at birth."""
    request = AccessRequest(
        requester_id=requester_id, customer_id=draft.customer_id,
        environment=draft.environment, scopes=words(draft.scopes),
        actions=words(draft.actions), duration_s=int(draft.duration.total_seconds()),
        starts_at=starts_at, justification=draft.justification.strip(),
        ticket=(draft.ticket or "").strip() or None, status=status,
        approvals_required=needs.approvals, policy_version=gh.policy.version,
        created_at=now, expires_at=expires_at, **breakglass)
    db.add(request)
    db.flush()
    return request


def create(gh: Gatehouse, principal: Principal, draft: RequestDraft) -> int:
    """File a pending request; return its id."""
    gh.authorize(principal, Action.REQUEST_CREATE)
    needs = validate(gh, principal, draft)
    now = gh.now()
    with gh.write() as db:
        request = new_request(gh, db, principal.user_id, draft, needs, RequestStatus.PENDING,
                              now, starts_at=draft.starts_at,
                              expires_at=now + gh.policy.pending_ttl)
        gh.audit(db, request_event(principal, "request.created", request))
        notify.enqueue(gh, db, notify.Kind.REQUEST_CREATED,
                       f"{principal.name} requests {request.environment} access to customer "
                       f"{request.customer_id} ({request.scopes}) for {request.ticket or '-'}",
                       {"request_id": str(request.id), "ticket": request.ticket or ""})
    return request.id

"""Access requests and their decisions: one use case per function.

State machine (every other transition is refused with `Conflict`):

    pending ──approve (N-of-M distinct approvers)──▶ approved ──▶ a Grant is issued
       │──deny──▶ denied      │──cancel (requester)──▶ cancelled
       └──time-to-live passes──▶ expired

Production customer data always needs a human approver (the policy loader refuses anything
else); nobody decides their own request, and one approver never counts twice (a unique
(request, approver) row). Decisions re-read the request under a lock (FOR UPDATE on
PostgreSQL, BEGIN IMMEDIATE on SQLite), so two approvers or a double click give one outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for, system_event
from access.data.servable import check_customer_id, check_exists, refuse_unservable
from access.errors import Conflict, Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Approval, Grant, User
from access.text import UNSTORABLE_RULE, storable
from access.workflow import notify
from access.workflow.policy import Requirements
from audit.events import AuditEvent
from audit.vocabulary import Outcome

MIN_DURATION = timedelta(minutes=15)
MAX_START_DELAY = timedelta(days=7)
MAX_COMMENT = 1000


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


@dataclass(frozen=True)
class Decision:
    status: str
    approvals: int
    approvals_required: int
    grant_id: int | None


def words(values: Sequence[str]) -> str:
    return " ".join(sorted(values))


def validate(gh: Gatehouse, principal: Principal, draft: RequestDraft) -> Requirements:
    """Check `draft` field by field against the policy; return what it will need."""
    check_customer_id(draft.customer_id)
    policy = gh.policy
    needs = policy.requirements(draft.environment, list(draft.scopes), list(draft.actions))
    if not principal.roles & needs.request_roles:
        raise Denied(f"your role may not request {draft.environment} access to "
                     f"{words(draft.scopes)}")
    if not isinstance(draft.duration, timedelta) or \
            not MIN_DURATION <= draft.duration <= needs.max_duration:
        raise InvalidInput("duration", f"must be between {MIN_DURATION} and "
                                       f"{needs.max_duration} for these scopes")
    _check_start(gh, draft.starts_at)
    justification = (draft.justification or "").strip()
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
    ticket = (draft.ticket or "").strip()
    environment = gh.policy.environments[draft.environment]
    if not ticket:
        if environment.ticket_required:
            raise InvalidInput("ticket", f"is required for {draft.environment}")
        return
    if not gh.policy.ticket_pattern.fullmatch(ticket):
        raise InvalidInput("ticket", f"must match {gh.policy.ticket_pattern.pattern}")


def create(gh: Gatehouse, principal: Principal, draft: RequestDraft) -> int:
    """File a pending request; return its id."""
    gh.authorize(principal, Action.REQUEST_CREATE)
    needs = validate(gh, principal, draft)
    now = gh.now()
    with gh.write() as db:
        request = AccessRequest(
            requester_id=principal.user_id, customer_id=draft.customer_id,
            environment=draft.environment, scopes=words(draft.scopes),
            actions=words(draft.actions), duration_s=int(draft.duration.total_seconds()),
            starts_at=draft.starts_at, justification=draft.justification.strip(),
            ticket=(draft.ticket or "").strip() or None, status="pending",
            approvals_required=needs.approvals, policy_version=gh.policy.version,
            created_at=now, expires_at=now + gh.policy.pending_ttl)
        db.add(request)
        db.flush()
        gh.audit(db, request_event(principal, "request.created", request))
        notify.enqueue(gh, db, notify.Kind.REQUEST_CREATED,
                       f"{principal.name} requests {request.environment} access to customer "
                       f"{request.customer_id} ({request.scopes}) for {request.ticket or '-'}",
                       {"request_id": str(request.id), "ticket": request.ticket or ""})
    return request.id


def request_event(principal: Principal | None, action: str, request: AccessRequest,
                  outcome: Outcome = Outcome.SUCCESS, reason: str | None = None,
                  grant: Grant | None = None, **details: object) -> AuditEvent:
    """The audit event of a step on `request`, by `principal` (or the system)."""
    fields = {"target_type": "access_request", "target_id": str(request.id),
              "customer_id": request.customer_id, "request_id": str(request.id),
              "grant_id": None if grant is None else str(grant.id),
              "ticket": request.ticket, "policy_version": request.policy_version,
              "reason": reason if reason is not None else request.justification,
              "details": {"environment": request.environment,
                          "scopes": request.scopes.split(), "actions": request.actions.split(),
                          "duration_s": request.duration_s, **details}}
    if principal is None:
        return system_event(action, outcome=outcome, **fields)
    return event_for(principal, action, outcome, **fields)


def _locked(db: Session, request_id: int) -> AccessRequest:
    request = db.execute(select(AccessRequest).where(AccessRequest.id == request_id)
                         .with_for_update()).scalar_one_or_none()
    if request is None:
        raise InvalidInput("request", f"there is no request {request_id}")
    return request


def not_pending(gh: Gatehouse, db: Session, request: AccessRequest) -> Conflict | None:
    """Why `request` can no longer change, or None. A request past its time-to-live is expired
    here and now (and that is committed), whether or not the sweeper has come by: the caller
    raises the returned error after its transaction."""
    if request.status == "pending" and gh.now() >= request.expires_at:
        expire(gh, db, request)
    if request.status != "pending":
        return Conflict(f"request {request.id} is already {request.status}")
    return None


def expire(gh: Gatehouse, db: Session, request: AccessRequest) -> None:
    request.status, request.decided_at = "expired", gh.now()
    gh.audit(db, request_event(None, "request.expired", request))


def cancel(gh: Gatehouse, principal: Principal, request_id: int) -> None:
    """The requester withdraws their own pending request."""
    gh.authorize(principal, Action.REQUEST_CANCEL)
    with gh.write() as db:
        request = _locked(db, request_id)
        if request.requester_id != principal.user_id:
            raise InvalidInput("request", f"there is no request {request_id} of yours")
        conflict = not_pending(gh, db, request)
        if conflict is None:
            request.status, request.decided_at = "cancelled", gh.now()
            gh.audit(db, request_event(principal, "request.cancelled", request))
    if conflict is not None:
        raise conflict


def decide(gh: Gatehouse, approver: Principal, request_id: int, approve: bool,
           comment: str = "") -> Decision:
    """Approve or deny. Needs step-up; never one's own request; one vote per approver."""
    gh.authorize(approver, Action.REQUEST_DECIDE)
    note = _comment(comment, required=not approve)
    refused: Denied | Conflict | None = None
    with gh.write() as db:
        request = _locked(db, request_id)
        if request.requester_id == approver.user_id:
            refused = Denied("nobody approves or denies their own request")
            gh.audit(db, request_event(approver, _verb(approve), request, Outcome.DENIED,
                                       reason=str(refused)))
        else:
            refused = not_pending(gh, db, request)
            if refused is None:
                refuse_unservable(db, request.environment, request.customer_id)
                decision = _vote(gh, db, approver, request, approve, note)
    if refused is not None:
        raise refused
    return decision


def _verb(approve: bool) -> str:
    return "request.approved" if approve else "request.denied"


def _comment(comment: str, required: bool) -> str | None:
    text = (comment or "").strip()
    if required and len(text) < 3:
        raise InvalidInput("comment", "is required when denying: say why (3+ characters)")
    if len(text) > MAX_COMMENT:
        raise InvalidInput("comment", f"must be at most {MAX_COMMENT} characters")
    if not storable(text):
        raise InvalidInput("comment", UNSTORABLE_RULE)
    return text or None


def _vote(gh: Gatehouse, db: Session, approver: Principal, request: AccessRequest,
          approve: bool, comment: str | None) -> Decision:
    already = db.execute(select(Approval.id).where(
        Approval.request_id == request.id, Approval.approver_id == approver.user_id)).first()
    if already is not None:
        raise Conflict(f"you already decided on request {request.id}")
    db.add(Approval(request_id=request.id, approver_id=approver.user_id,
                    decision="approve" if approve else "deny", comment=comment,
                    created_at=gh.now(), policy_version=gh.policy.version))
    db.flush()
    approvals = db.execute(select(func.count()).select_from(Approval).where(
        Approval.request_id == request.id, Approval.decision == "approve")).scalar_one()
    final = not approve or approvals >= request.approvals_required
    grant = None
    if final:
        request.status = "approved" if approve else "denied"
        request.decided_at, request.decided_by = gh.now(), approver.user_id
        request.decision_comment = comment
    gh.audit(db, request_event(approver, _verb(approve), request, reason=comment or "",
                               approvals=approvals,
                               approvals_required=request.approvals_required))
    if final and approve:
        grant = issue_grant(gh, db, approver, request)
    if final:
        notify.enqueue(gh, db, notify.Kind.REQUEST_DECIDED,
                       f"Request {request.id} ({request.customer_id}) was {request.status}",
                       {"request_id": str(request.id), "status": request.status})
    return Decision(request.status, approvals, request.approvals_required,
                    grant.id if grant else None)


def issue_grant(gh: Gatehouse, db: Session, actor: Principal, request: AccessRequest) -> Grant:
    """Issue the grant of an approved request: from its start (or now) for its duration."""
    starts = max(request.starts_at or gh.now(), gh.now())
    grant = Grant(request_id=request.id, user_id=request.requester_id,
                  customer_id=request.customer_id, environment=request.environment,
                  scopes=request.scopes, actions=request.actions, starts_at=starts,
                  ends_at=starts + timedelta(seconds=request.duration_s), created_at=gh.now(),
                  breakglass=request.breakglass)
    db.add(grant)
    db.flush()
    gh.audit(db, request_event(actor, "grant.issued", request, grant=grant,
                               starts_at=starts.isoformat()))
    return grant


def requester_name(db: Session, user_id: int) -> str:
    user = db.get_one(User, user_id)
    return user.display_name or user.sub


@dataclass(frozen=True)
class RequestView:
    id: int
    requester: str
    customer_id: str
    environment: str
    scopes: list[str]
    actions: list[str]
    duration: timedelta
    starts_at: datetime | None
    justification: str
    ticket: str | None
    status: str
    approvals: int
    approvals_required: int
    created_at: datetime
    expires_at: datetime
    breakglass: bool
    policy_version: str


@dataclass(frozen=True)
class QueueItem:
    request: RequestView
    history: list[RequestView]  # the requester's earlier requests for the same customer


HISTORY = 10


def _views(db: Session, where: object, limit: int = 200) -> list[RequestView]:
    approvals = (select(func.count()).select_from(Approval)
                 .where(Approval.request_id == AccessRequest.id, Approval.decision == "approve")
                 .scalar_subquery())
    rows = db.execute(select(AccessRequest, User, approvals)
                      .join(User, User.id == AccessRequest.requester_id)
                      .where(where)  # type: ignore[arg-type]
                      .order_by(AccessRequest.created_at.desc(), AccessRequest.id.desc())
                      .limit(limit)).all()
    return [RequestView(r.id, u.display_name or u.sub, r.customer_id, r.environment,
                        r.scopes.split(), r.actions.split(), timedelta(seconds=r.duration_s),
                        r.starts_at, r.justification, r.ticket, r.status, n,
                        r.approvals_required, r.created_at, r.expires_at, r.breakglass,
                        r.policy_version) for r, u, n in rows]


def my_requests(gh: Gatehouse, principal: Principal) -> list[RequestView]:
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        return _views(db, AccessRequest.requester_id == principal.user_id)


def approval_queue(gh: Gatehouse, approver: Principal) -> list[QueueItem]:
    """Pending requests this approver may still decide (not their own, not yet voted on),
    oldest first, each with the requester's recent history with that customer."""
    gh.authorize(approver, Action.APPROVALS_VIEW)  # viewing needs no fresh code; deciding does
    voted = select(Approval.request_id).where(Approval.approver_id == approver.user_id)
    with gh.read() as db:
        pending = _views(db, (AccessRequest.status == "pending")
                         & (AccessRequest.expires_at > gh.now())
                         & (AccessRequest.requester_id != approver.user_id)
                         & AccessRequest.id.not_in(voted))
        items = []
        for view in reversed(pending):
            requester_id = db.get_one(AccessRequest, view.id).requester_id
            history = _views(db, (AccessRequest.requester_id == requester_id)
                             & (AccessRequest.customer_id == view.customer_id)
                             & (AccessRequest.id != view.id), limit=HISTORY)
            items.append(QueueItem(view, history))
    return items


def expire_pending(gh: Gatehouse) -> int:
    """Sweeper: expire pending requests whose time-to-live has passed; return how many.

    The rows are locked as they are read (FOR UPDATE, as decisions lock them): a request a
    decision is changing right now is re-read once that decision commits and skipped if it is
    no longer pending, so an approval is never overwritten and no expiry is recorded twice."""
    with gh.write() as db:
        due = db.execute(select(AccessRequest).where(
            AccessRequest.status == "pending", AccessRequest.expires_at <= gh.now())
            .order_by(AccessRequest.id).with_for_update()).scalars().all()
        for request in due:
            expire(gh, db, request)
    return len(due)

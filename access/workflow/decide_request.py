"""Deciding a pending request: approve or deny, by N-of-M distinct approvers.

Nobody decides their own request (the refusal is recorded as an audit event before it is
raised), and one approver never counts twice (a unique (request, approver) row). The request is
re-read under a lock (`locks.request`), so two approvers or a double click give one outcome.
The last approval needed issues the grant; a denial is final at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.data.servable import refuse_unservable
from access.errors import Conflict, Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Approval
from access.text import UNSTORABLE_RULE, storable
from access.workflow import locks, notify
from access.workflow.events import request_event
from access.workflow.grants import issue_grant
from access.workflow.states import RequestStatus, refusal, transition
from access.workflow.sweep import expire_if_due
from audit.vocabulary import Outcome

__all__ = ["MAX_COMMENT", "Decision", "checked_comment", "decide"]

MAX_COMMENT = 1000


@dataclass(frozen=True)
class Decision:
    status: RequestStatus
    approvals: int
    approvals_required: int
    grant_id: int | None


def decide(gh: Gatehouse, approver: Principal, request_id: int, approve: bool,
           comment: str = "") -> Decision:
    """Approve or deny. Needs step-up; never one's own request; one vote per approver."""
    gh.authorize(approver, Action.REQUEST_DECIDE)
    note = checked_comment(comment, approve)
    refused: Denied | Conflict | None = None
    with gh.write() as db:
        request = locks.request(db, request_id)
        if request.requester_id == approver.user_id:
            refused = Denied("nobody approves or denies their own request")
            gh.audit(db, request_event(approver, _verb(approve), request, Outcome.DENIED,
                                       reason=str(refused)))
        else:
            expire_if_due(gh, db, request)  # committed, then refused below
            refused = refusal(request, _outcome(approve))
            if refused is None:
                refuse_unservable(db, request.environment, request.customer_id)
                decision = _vote(gh, db, approver, request, approve, note)
    if refused is not None:
        raise refused
    return decision


def _outcome(approve: bool) -> RequestStatus:
    return RequestStatus.APPROVED if approve else RequestStatus.DENIED


def _verb(approve: bool) -> str:
    return "request.approved" if approve else "request.denied"


def checked_comment(comment: str, approve: bool) -> str | None:
    """The decision's comment, trimmed (None when empty), or `InvalidInput` naming the field
    and the rule: a denial says why; no comment is longer than `MAX_COMMENT` or unstorable.
    `decide` checks this first; a page runs it on the click, before asking for a code."""
    text = (comment or "").strip()
    if not approve and len(text) < 3:
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
        transition(request, _outcome(approve), gh.now())
        request.decided_by, request.decision_comment = approver.user_id, comment
    gh.audit(db, request_event(approver, _verb(approve), request, reason=comment or "",
                               approvals=approvals,
                               approvals_required=request.approvals_required))
    if final and approve:
        grant = issue_grant(gh, db, approver, request)
    if final:
        notify.enqueue(gh, db, notify.Kind.REQUEST_DECIDED,
                       f"Request {request.id} ({request.customer_id}) was {request.status}",
                       {"request_id": str(request.id), "status": request.status})
    return Decision(RequestStatus(request.status), approvals, request.approvals_required,
                    grant.id if grant else None)

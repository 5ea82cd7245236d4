"""Break-glass: emergency access without waiting for an approver, where policy allows it.

`activate` files a request that is approved at once and issues a short grant; every approver is
notified. An admin who is not the holder must `review` it afterwards; until then the grant stays
flagged (`GrantView.needs_review`).
"""

from __future__ import annotations

from access.authz import Action
from access.context import Gatehouse
from access.errors import Conflict, Denied, InvalidInput
from access.principal import Principal
from access.text import checked_reason
from access.workflow import locks, notify
from access.workflow.create_request import RequestDraft, new_request, validate
from access.workflow.events import request_event, words
from access.workflow.grants import issue_grant
from access.workflow.states import RequestStatus
from audit.vocabulary import Outcome

__all__ = ["activate", "review"]


def activate(gh: Gatehouse, principal: Principal, draft: RequestDraft, reason: str) -> int:
    """Open a short grant at once, where policy allows, without waiting for an approver. Needs
    step-up and a reason; every approver is notified and an admin must review it afterwards.
    Returns the grant id."""
    gh.authorize(principal, Action.BREAKGLASS_ACTIVATE)
    needs = validate(gh, principal, draft)
    if not needs.breakglass:
        raise Denied(f"policy allows no break-glass for {draft.environment} "
                     f"{words(draft.scopes)}")
    if draft.duration > needs.breakglass_duration:
        raise InvalidInput("duration", f"break-glass lasts at most {needs.breakglass_duration}")
    reason = checked_reason(reason)
    now = gh.now()
    with gh.write() as db:
        request = new_request(gh, db, principal.user_id, draft, needs, RequestStatus.APPROVED,
                              now, starts_at=now, expires_at=now, breakglass=True,
                              decided_at=now, decision_comment=reason)
        grant = issue_grant(gh, db, principal, request)
        gh.audit(db, request_event(principal, "breakglass.activated", request, reason=reason,
                                   grant=grant))
        notify.enqueue(gh, db, notify.Kind.BREAKGLASS,
                       f"BREAK-GLASS: {principal.name} opened {request.environment} access to "
                       f"customer {request.customer_id} ({request.scopes}); review required",
                       {"grant_id": str(grant.id), "ticket": request.ticket or ""})
    return grant.id


def review(gh: Gatehouse, admin: Principal, grant_id: int, note: str) -> None:
    """An admin (never the one who broke the glass) records their review."""
    gh.authorize(admin, Action.BREAKGLASS_REVIEW)
    note = checked_reason(note)
    with gh.deciding() as (db, refuse):
        grant, request = locks.grant_with_request(db, grant_id)
        if not grant.breakglass:
            raise InvalidInput("grant", f"grant {grant_id} is not a break-glass grant")
        if grant.user_id == admin.user_id:
            refusal = "nobody reviews their own break-glass access"
            refuse(Denied(refusal), request_event(admin, "breakglass.reviewed", request,
                                                  Outcome.DENIED, reason=refusal, grant=grant))
        if grant.reviewed_at is not None:
            raise Conflict(f"grant {grant_id} was already reviewed")
        grant.reviewed_at, grant.reviewed_by, grant.review_note = gh.now(), admin.user_id, note
        gh.audit(db, request_event(admin, "breakglass.reviewed", request, reason=note,
                                   grant=grant))

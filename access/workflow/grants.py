"""Grants: time-bound access to one customer's data, checked against the clock on every use.

Safety never depends on a background job: `usable_grant()` compares with the clock at the
moment of access, so a grant is dead at `ends_at` to the microsecond, and a revocation is
effective on the very next read. The sweeper only records what already happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.errors import Conflict, Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Grant, User
from access.text import checked_reason
from access.workflow import notify
from access.workflow.requests import RequestDraft, issue_grant, request_event, validate, words


@dataclass(frozen=True)
class GrantView:
    id: int
    request_id: int
    holder: str
    customer_id: str
    environment: str
    scopes: list[str]
    actions: list[str]
    starts_at: datetime
    ends_at: datetime
    ticket: str | None
    breakglass: bool
    state: str  # active, scheduled, expired, revoked, released
    needs_review: bool


def state(grant: Grant, now: datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.released_at is not None:
        return "released"
    if now >= grant.ends_at:
        return "expired"
    return "active" if now >= grant.starts_at else "scheduled"


def usable_grant(gh: Gatehouse, db: Session, principal: Principal, grant_id: int,
                 customer_id: str, environment: str, scope: str, action: str) -> Grant:
    """The grant that lets `principal` do `action` on `scope` of `customer_id` now, or Denied
    saying why. Every customer-data read goes through this, inside its own transaction."""
    grant = db.get(Grant, grant_id)
    if grant is None or grant.user_id != principal.user_id:
        raise Denied("no grant: you hold no such grant")
    current = state(grant, gh.now())
    if current != "active":
        raise Denied(f"grant {grant_id} is {current}")
    if grant.customer_id != customer_id or grant.environment != environment:
        raise Denied(f"grant {grant_id} covers another customer or environment")
    if scope not in grant.scopes.split():
        raise Denied(f"grant {grant_id} does not cover the scope {scope!r}")
    if action not in grant.actions.split():
        raise Denied(f"grant {grant_id} does not allow {action!r}")
    return grant


def _view(grant: Grant, request: AccessRequest, holder: User, now: datetime) -> GrantView:
    return GrantView(grant.id, grant.request_id, holder.display_name or holder.sub,
                     grant.customer_id, grant.environment, grant.scopes.split(),
                     grant.actions.split(), grant.starts_at, grant.ends_at, request.ticket,
                     grant.breakglass, state(grant, now),
                     grant.breakglass and grant.reviewed_at is None)


def views(gh: Gatehouse, db: Session, where: object) -> list[GrantView]:
    rows = db.execute(select(Grant, AccessRequest, User)
                      .join(AccessRequest, AccessRequest.id == Grant.request_id)
                      .join(User, User.id == Grant.user_id)
                      .where(where).order_by(Grant.ends_at.desc())).all()  # type: ignore[arg-type]
    return [_view(g, r, u, gh.now()) for g, r, u in rows]


def my_grants(gh: Gatehouse, principal: Principal) -> list[GrantView]:
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        return views(gh, db, Grant.user_id == principal.user_id)


def all_grants(gh: Gatehouse, admin: Principal, live_only: bool = True) -> list[GrantView]:
    """Grants for admins; by default those still live or awaiting a break-glass review."""
    gh.authorize(admin, Action.GRANTS_VIEW_ALL)
    with gh.read() as db:
        where = (Grant.revoked_at.is_(None) & Grant.released_at.is_(None)
                 & (Grant.ends_at > gh.now())) | (Grant.breakglass & Grant.reviewed_at.is_(None))
        return views(gh, db, where if live_only else Grant.id.is_not(None))


def _grant_with_request(db: Session, grant_id: int) -> tuple[Grant, AccessRequest]:
    row = db.execute(select(Grant, AccessRequest)
                     .join(AccessRequest, AccessRequest.id == Grant.request_id)
                     .where(Grant.id == grant_id).with_for_update()).first()
    if row is None:
        raise InvalidInput("grant", f"there is no grant {grant_id}")
    return row[0], row[1]


def release(gh: Gatehouse, principal: Principal, grant_id: int) -> None:
    """The holder gives a grant back early."""
    gh.authorize(principal, Action.GRANT_RELEASE)
    with gh.write() as db:
        grant, request = _grant_with_request(db, grant_id)
        if grant.user_id != principal.user_id:
            raise InvalidInput("grant", f"there is no grant {grant_id} of yours")
        if state(grant, gh.now()) not in ("active", "scheduled"):
            raise Conflict(f"grant {grant_id} is already {state(grant, gh.now())}")
        grant.released_at = gh.now()
        gh.audit(db, request_event(principal, "grant.released", request, grant=grant))


def revoke(gh: Gatehouse, admin: Principal, grant_id: int, reason: str) -> None:
    """An admin ends a grant now, with a reason; the next read under it is refused."""
    gh.authorize(admin, Action.GRANT_REVOKE)
    reason = checked_reason(reason)
    with gh.write() as db:
        grant, request = _grant_with_request(db, grant_id)
        if state(grant, gh.now()) not in ("active", "scheduled"):
            raise Conflict(f"grant {grant_id} is already {state(grant, gh.now())}")
        grant.revoked_at, grant.revoked_by, grant.revoke_reason = gh.now(), admin.user_id, reason
        gh.audit(db, request_event(admin, "grant.revoked", request, reason=reason, grant=grant))


def breakglass(gh: Gatehouse, principal: Principal, draft: RequestDraft, reason: str) -> int:
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
        request = AccessRequest(
            requester_id=principal.user_id, customer_id=draft.customer_id,
            environment=draft.environment, scopes=words(draft.scopes),
            actions=words(draft.actions), duration_s=int(draft.duration.total_seconds()),
            starts_at=now, justification=draft.justification.strip(),
            ticket=(draft.ticket or "").strip() or None, status="approved",
            approvals_required=needs.approvals, breakglass=True,
            policy_version=gh.policy.version, created_at=now, expires_at=now, decided_at=now,
            decision_comment=reason)
        db.add(request)
        db.flush()
        grant = issue_grant(gh, db, principal, request)
        gh.audit(db, request_event(principal, "breakglass.activated", request, reason=reason,
                                   grant=grant))
        notify.enqueue(gh, db, notify.Kind.BREAKGLASS,
                       f"BREAK-GLASS: {principal.name} opened {request.environment} access to "
                       f"customer {request.customer_id} ({request.scopes}); review required",
                       {"grant_id": str(grant.id), "ticket": request.ticket or ""})
    return grant.id


def review_breakglass(gh: Gatehouse, admin: Principal, grant_id: int, note: str) -> None:
    """An admin (never the one who broke the glass) records their review."""
    gh.authorize(admin, Action.BREAKGLASS_REVIEW)
    note = checked_reason(note)
    with gh.write() as db:
        grant, request = _grant_with_request(db, grant_id)
        if not grant.breakglass:
            raise InvalidInput("grant", f"grant {grant_id} is not a break-glass grant")
        if grant.user_id == admin.user_id:
            raise Denied("nobody reviews their own break-glass access")
        if grant.reviewed_at is not None:
            raise Conflict(f"grant {grant_id} was already reviewed")
        grant.reviewed_at, grant.reviewed_by, grant.review_note = gh.now(), admin.user_id, note
        gh.audit(db, request_event(admin, "breakglass.reviewed", request, reason=note,
                                   grant=grant))


def record_expiries(gh: Gatehouse, warn_before: timedelta = timedelta(minutes=15)) -> int:
    """Sweeper: record `grant.expired` for grants that ran out, and announce those about to.
    Records what the clock already enforces; returns how many expiries it recorded.

    Grant rows are locked as they are read, as revoke() and release() lock them: a grant
    being revoked or released right now, or swept by another sweeper, is re-read once that
    transaction commits and skipped, so every grant gets exactly one ending event. (In id
    order, so two sweepers always lock in the same order and never deadlock.)"""
    now = gh.now()
    with gh.write() as db:
        ended = db.execute(select(Grant, AccessRequest)
                           .join(AccessRequest, AccessRequest.id == Grant.request_id)
                           .where(Grant.ends_at <= now, Grant.expiry_recorded_at.is_(None),
                                  Grant.revoked_at.is_(None), Grant.released_at.is_(None))
                           .order_by(Grant.id).with_for_update(of=Grant)).all()
        for grant, request in ended:
            grant.expiry_recorded_at = now
            gh.audit(db, request_event(None, "grant.expired", request, grant=grant))
        soon = db.execute(select(Grant).where(
            Grant.ends_at > now, Grant.ends_at <= now + warn_before,
            Grant.expiring_notified_at.is_(None), Grant.revoked_at.is_(None),
            Grant.released_at.is_(None)).order_by(Grant.id).with_for_update()).scalars().all()
        for grant in soon:
            grant.expiring_notified_at = now
            notify.enqueue(gh, db, notify.Kind.GRANT_EXPIRING,
                           f"Grant {grant.id} on customer {grant.customer_id} ends at "
                           f"{grant.ends_at:%H:%M} UTC", {"grant_id": str(grant.id)})
    return len(ended)

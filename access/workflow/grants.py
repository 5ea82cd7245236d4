"""Grants: time-bound access to one customer's data, checked against the clock on every use.

Safety never depends on a background job: `usable_grant()` compares with the clock at the
moment of access, so a grant is dead at `ends_at` to the microsecond, and a revocation is
effective on the very next read. The sweeper only records what already happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.errors import Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Grant
from access.text import checked_reason
from access.workflow import locks
from access.workflow.events import request_event
from access.workflow.states import GrantState, unless_live

__all__ = ["issue_grant", "release", "revoke", "state", "usable_grant"]


def state(grant: Grant, now: datetime) -> GrantState:
    """What `grant` is at `now`, read from its timestamps."""
    if grant.revoked_at is not None:
        return GrantState.REVOKED
    if grant.released_at is not None:
        return GrantState.RELEASED
    if now >= grant.ends_at:
        return GrantState.EXPIRED
    return GrantState.ACTIVE if now >= grant.starts_at else GrantState.SCHEDULED


def usable_grant(gh: Gatehouse, db: Session, principal: Principal, grant_id: int,
                 customer_id: str, environment: str, scope: str, action: str) -> Grant:
    """The grant that lets `principal` do `action` on `scope` of `customer_id` now, or Denied
    saying why. Every customer-data read goes through this, inside its own transaction."""
    grant = db.get(Grant, grant_id)
    if grant is None or grant.user_id != principal.user_id:
        raise Denied("no grant: you hold no such grant")
    current = state(grant, gh.now())
    if current != GrantState.ACTIVE:
        raise Denied(f"grant {grant_id} is {current}")
    if grant.customer_id != customer_id or grant.environment != environment:
        raise Denied(f"grant {grant_id} covers another customer or environment")
    if scope not in grant.scopes.split():
        raise Denied(f"grant {grant_id} does not cover the scope {scope!r}")
    if action not in grant.actions.split():
        raise Denied(f"grant {grant_id} does not allow {action!r}")
    return grant


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


def release(gh: Gatehouse, principal: Principal, grant_id: int) -> None:
    """The holder gives a grant back early."""
    gh.authorize(principal, Action.GRANT_RELEASE)
    with gh.write() as db:
        grant, request = locks.grant_with_request(db, grant_id)
        if grant.user_id != principal.user_id:
            raise InvalidInput("grant", f"there is no grant {grant_id} of yours")
        unless_live(grant_id, state(grant, gh.now()))
        grant.released_at = gh.now()
        gh.audit(db, request_event(principal, "grant.released", request, grant=grant))


def revoke(gh: Gatehouse, admin: Principal, grant_id: int, reason: str) -> None:
    """An admin ends a grant now, with a reason; the next read under it is refused."""
    gh.authorize(admin, Action.GRANT_REVOKE)
    reason = checked_reason(reason)
    with gh.write() as db:
        grant, request = locks.grant_with_request(db, grant_id)
        unless_live(grant_id, state(grant, gh.now()))
        grant.revoked_at, grant.revoked_by, grant.revoke_reason = gh.now(), admin.user_id, reason
        gh.audit(db, request_event(admin, "grant.revoked", request, reason=reason, grant=grant))

"""Admin use cases on users: list, disable (ending every session at once), enable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import Conflict, Denied, InvalidInput
from access.identity.sessions import USER_DISABLED, end_user_sessions
from access.principal import Principal
from access.schema import ConsoleSession, MfaCredential, User
from access.text import checked_reason
from audit.vocabulary import Outcome


@dataclass(frozen=True)
class UserView:
    id: int
    iss: str
    sub: str
    name: str | None
    email: str | None
    last_login_at: datetime | None  # the last sign-in at the provider, code or no code
    disabled_at: datetime | None
    mfa: str                        # "active" or "not enrolled"
    # The last sign-in that was completed: the provider, then the second factor.
    signed_in_at: datetime | None = None
    # Too many wrong codes: no code is taken until then (None: not locked now).
    locked_until: datetime | None = None
    # What the provider's groups granted at the latest sign-in (the latest session, as
    # access reviews count a role's holders), sorted; empty before any sign-in.
    roles: tuple[str, ...] = ()


def user_ref(user: User) -> str:
    """How audit events name a user: (issuer, subject), never an email."""
    return f"{user.iss}|{user.sub}"


def existing_user(db: Session, user_id: int) -> User:
    """The user `user_id`; `InvalidInput` naming the field if there is none."""
    user = db.get(User, user_id)
    if user is None:
        raise InvalidInput("user", "no such user")
    return user


def refuse_own(gh: Gatehouse, admin: Principal, action: str, user_id: int,
               refusal: str) -> None:
    """An admin's `action` on their own account is refused (`Denied`, with an audit event
    naming them); on anyone else's, nothing happens. One home for the rule that nobody
    disables, or resets the authenticator of, themselves."""
    if user_id == admin.user_id:
        gh.refuse(Denied(refusal), event_for(admin, action, Outcome.DENIED, target_type="user",
                                             target_id=f"{admin.iss}|{admin.sub}",
                                             reason=refusal))


def list_users(gh: Gatehouse, admin: Principal) -> list[UserView]:
    """Everyone who ever signed in, by name: their authenticator and whether it is locked
    now, their last completed sign-in and the roles of their latest one. Three queries,
    whatever the number of people."""
    gh.authorize(admin, Action.USERS_VIEW)
    now = gh.now()
    with gh.read() as db:
        rows = db.execute(select(User, MfaCredential.activated_at, MfaCredential.locked_until)
                          .outerjoin(MfaCredential, MfaCredential.user_id == User.id)
                          .order_by(User.display_name, User.id)).all()
        completed: dict[int, datetime | None] = {user_id: at for user_id, at in db.execute(
            select(ConsoleSession.user_id, func.max(ConsoleSession.mfa_verified_at))
            .group_by(ConsoleSession.user_id))}
        roles = _latest_roles(db)
    return [UserView(u.id, u.iss, u.sub, u.display_name, u.email, u.last_login_at,
                     u.disabled_at, "active" if activated else "not enrolled",
                     completed.get(u.id),
                     locked if locked is not None and locked > now else None,
                     roles.get(u.id, ()))
            for u, activated, locked in rows]


def _latest_roles(db: Session) -> dict[int, tuple[str, ...]]:
    """Per user, the roles of their latest session (the rule of
    `access.reviews.scope.holders`, without its suspension filter: a suspended role is not
    in a session opened after the suspension anyway)."""
    latest = (select(ConsoleSession.user_id, func.max(ConsoleSession.created_at).label("at"))
              .group_by(ConsoleSession.user_id).subquery())
    rows = db.execute(select(ConsoleSession.user_id, ConsoleSession.roles).join(
        latest, and_(latest.c.user_id == ConsoleSession.user_id,
                     latest.c.at == ConsoleSession.created_at)))
    return {user_id: tuple(sorted(roles.split())) for user_id, roles in rows}


def disable(gh: Gatehouse, admin: Principal, user_id: int, reason: str) -> int:
    """Disable a user and end all their sessions at once; return how many were ended."""
    gh.authorize(admin, Action.USERS_DISABLE)
    refuse_own(gh, admin, "user.disabled", user_id, "you cannot disable your own account")
    reason = checked_reason(reason)
    with gh.write() as db:
        user = existing_user(db, user_id)
        if user.disabled_at is not None:
            raise Conflict("this user is already disabled")
        user.disabled_at, user.disabled_by, user.disabled_reason = gh.now(), admin.user_id, reason
        ended = end_user_sessions(gh, db, user_id, USER_DISABLED)
        gh.audit(db, event_for(admin, "user.disabled", target_type="user",
                               target_id=user_ref(user), reason=reason,
                               details={"sessions_revoked": ended}))
    return ended


def enable(gh: Gatehouse, admin: Principal, user_id: int, reason: str) -> None:
    gh.authorize(admin, Action.USERS_ENABLE)
    reason = checked_reason(reason)
    with gh.write() as db:
        user = existing_user(db, user_id)
        if user.disabled_at is None:
            raise Conflict("this user is not disabled")
        user.disabled_at = user.disabled_by = user.disabled_reason = None
        gh.audit(db, event_for(admin, "user.enabled", target_type="user",
                               target_id=user_ref(user), reason=reason))

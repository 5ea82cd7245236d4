"""Admin use cases on users: list, disable (ending every session at once), enable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import Conflict, Denied, InvalidInput
from access.identity.sessions import end_user_sessions
from access.principal import Principal
from access.schema import MfaCredential, User
from access.text import checked_reason
from audit.vocabulary import Outcome


@dataclass(frozen=True)
class UserView:
    id: int
    iss: str
    sub: str
    name: str | None
    email: str | None
    last_login_at: datetime | None
    disabled_at: datetime | None
    mfa: str


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
    gh.authorize(admin, Action.USERS_VIEW)
    with gh.read() as db:
        rows = db.execute(select(User, MfaCredential.activated_at)
                          .outerjoin(MfaCredential, MfaCredential.user_id == User.id)
                          .order_by(User.display_name, User.id)).all()
    return [UserView(u.id, u.iss, u.sub, u.display_name, u.email, u.last_login_at,
                     u.disabled_at, "active" if activated else "not enrolled")
            for u, activated in rows]


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
        ended = end_user_sessions(gh, db, user_id, "user disabled")
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

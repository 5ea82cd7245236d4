"""Sign-in and server-side sessions.

Streamlit's login cookie lasts 30 days, carries ID-token claims only, and logout merely deletes
it in one browser. So every page run calls `resume()` with the raw ID token from that cookie:

- the first time a token is seen, it is validated strictly (access.identity.oidc), the user
  is found or created by (issuer, subject), roles come from the `groups` claim, and a session
  bound to that token is created (ASVS 7.2.4: a new session for every authentication);
- later runs find the session by the token's SHA-256 and enforce what Streamlit does not:
  absolute lifetime, idle timeout, logout, and disabled users (ASVS 7.3.1-2, 7.4.1-2). A copy
  of the cookie is therefore useless once the session has ended.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access.context import Gatehouse, event_for
from access.errors import AuthenticationFailed, Denied, GatehouseError
from access.identity.oidc import InvalidIdToken
from access.principal import Principal, Role
from access.reviews.suspensions import at_sign_in
from access.schema import ConsoleSession, User
from access.text import as_logged
from audit.events import Actor, AuditEvent
from audit.vocabulary import Outcome

USER_DISABLED = "user disabled"  # why the sessions of a disabled user ended
TOUCH_EVERY_SECONDS = 30  # idle tracking granularity: spare a write on every rerun
MAX_CLAIM = 256   # characters of a name, email or group name kept from the ID token
MAX_AGENT = 512   # characters of a user agent kept


class SessionEnded(AuthenticationFailed):
    """This login's session is over (signed out, expired, revoked); sign in again. `why` is
    the recorded reason ("idle timeout", "mfa reset", "user disabled", …), when known."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why


class NoRole(Denied):
    """Signed in, but no group of the user maps to a Gatehouse role."""


class UserDisabled(Denied):
    """An admin disabled this user."""


def login_key(id_token: str) -> str:
    return hashlib.sha256(id_token.encode()).hexdigest()


def resume(gh: Gatehouse, id_token: str, source_ip: str | None = None,
           user_agent: str | None = None) -> Principal:
    """The principal of this login, creating its session on first sight; raises otherwise."""
    ip, agent = _loggable(source_ip, 64), _loggable(user_agent, MAX_AGENT)
    try:
        return _resume(gh, id_token, ip, agent)
    except IntegrityError:
        # Two reruns of the same new login raced to create its session: the other one won.
        return _resume(gh, id_token, ip, agent)


def _loggable(value: object, limit: int) -> str | None:
    """Text from outside (an ID-token claim, a browser header) as it can be stored and
    logged (`as_logged`), or None when it is not text at all. Anything else would make the
    sign-in fail inside its own audit event."""
    return as_logged(value, limit) if isinstance(value, str) else None


def _resume(gh: Gatehouse, id_token: str, ip: str | None, agent: str | None) -> Principal:
    key = login_key(id_token)
    with gh.write() as db:
        found = db.execute(select(ConsoleSession, User).join(User)
                           .where(ConsoleSession.login_key == key)).first()
        if found is not None:
            session, user = found
            principal = _principal(session, user, ip, agent)
            why = _why_over(gh, session, user)
            if why is not None:
                _end(gh, db, session, principal, why)
            elif (gh.now() - session.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS:
                session.last_seen_at = gh.now()
    if found is None:
        return _start(gh, id_token, key, ip, agent)
    if why is not None:
        raise SessionEnded(f"your session has ended ({why}); sign in again", why)
    return principal


def _why_over(gh: Gatehouse, session: ConsoleSession, user: User) -> str | None:
    now = gh.now()
    if session.ended_at is not None:
        return session.end_reason or "ended"
    if user.disabled_at is not None:
        return USER_DISABLED
    if now >= session.expires_at:
        return "absolute lifetime reached"
    if now - session.last_seen_at >= gh.config.sessions.idle:
        return "idle timeout"
    return None


def _end(gh: Gatehouse, db: Session, session: ConsoleSession, principal: Principal,
         why: str) -> None:
    if session.ended_at is not None:
        return  # already ended and recorded: a replayed cookie changes nothing
    session.ended_at, session.end_reason = gh.now(), why
    action = "auth.session.revoked" if why == USER_DISABLED else "auth.session.expired"
    gh.audit(db, event_for(principal, action, details=_ages(gh, session, why)))


def _ages(gh: Gatehouse, session: ConsoleSession, why: str) -> dict[str, object]:
    now = gh.now()
    return {"session_age_s": int((now - session.created_at).total_seconds()),
            "idle_s": int((now - session.last_seen_at).total_seconds()), "why": why}


class _Refusals:
    """Sign-ins already refused and recorded, by (database, login key), newest last.

    Every rerun and reload of a page presents the same refused token again; this makes the
    second and later sightings raise the same refusal without another event, so one attempt
    leaves one event. Bounded (oldest forgotten first) and per process: a restart may record
    a still-presented refused token once more. A provider outage is not remembered, because
    the same token may pass once the provider answers.
    """

    def __init__(self, size: int = 4096) -> None:
        self._seen: OrderedDict[tuple[str, str], GatehouseError] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, gh: Gatehouse, key: str) -> GatehouseError | None:
        with self._lock:
            refusal = self._seen.get((_database(gh), key))
        return None if refusal is None else type(refusal)(*refusal.args)

    def remember(self, gh: Gatehouse, key: str, refusal: GatehouseError) -> GatehouseError:
        if not str(refusal).startswith("provider "):
            with self._lock:
                self._seen[(_database(gh), key)] = refusal
                while len(self._seen) > self._size:
                    self._seen.popitem(last=False)
        return refusal


def _database(gh: Gatehouse) -> str:
    return gh.engine.url.render_as_string(hide_password=True)


_REFUSED = _Refusals()


def _start(gh: Gatehouse, id_token: str, key: str, ip: str | None,
           agent: str | None) -> Principal:
    """Validate a token seen for the first time and open its session.

    A refusal is recorded and committed before it is raised: failed sign-ins are evidence,
    and one refused attempt is one event however often its token comes back (`_Refusals`).
    """
    if (known := _REFUSED.get(gh, key)) is not None:
        raise known
    try:
        claims = gh.verify_id_token(id_token, gh.now().timestamp())
    except InvalidIdToken as exc:
        with gh.write() as db:
            gh.audit(db, AuditEvent("auth.login.failed", Actor("unverified", "unverified"),
                                    Outcome.DENIED, source_ip=ip, user_agent=agent,
                                    details={"why": str(exc)}))
        raise _REFUSED.remember(gh, key, exc) from None
    refusal: Denied | None = None
    with gh.write() as db:
        user = _user(gh, db, claims)
        # a role an access review revoked stays withheld while the IdP still grants it
        roles = at_sign_in(db, user.id, gh.config.roles_for(claims.get("groups")), gh.now())
        actor = Actor(user.iss, user.sub, user.display_name, tuple(sorted(roles)))
        if user.disabled_at is not None:
            refusal = UserDisabled("this account is disabled; ask an admin")
            gh.audit(db, AuditEvent("auth.login.failed", actor, Outcome.DENIED, source_ip=ip,
                                    user_agent=agent, details={"why": USER_DISABLED}))
        elif not roles:
            refusal = NoRole("you are signed in, but none of your groups grants a Gatehouse "
                             "role")
            gh.audit(db, AuditEvent("auth.no_role", actor, Outcome.DENIED, source_ip=ip,
                                    user_agent=agent, details={"groups": _groups(claims)}))
        else:
            principal = _open(gh, db, user, roles, key, ip, agent)
            gh.audit(db, event_for(principal, "auth.login",
                                   details={"groups": _groups(claims)}))
    if refusal is not None:
        raise _REFUSED.remember(gh, key, refusal)
    return principal


def _open(gh: Gatehouse, db: Session, user: User, roles: frozenset[Role], key: str,
          ip: str | None, agent: str | None) -> Principal:
    now = gh.now()
    session = ConsoleSession(id=secrets.token_urlsafe(16), user_id=user.id, login_key=key,
                             roles=" ".join(sorted(roles)), created_at=now, last_seen_at=now,
                             expires_at=now + gh.config.sessions.absolute)
    db.add(session)
    user.last_login_at = now
    db.flush()
    return _principal(session, user, ip, agent)


def _groups(claims: dict[str, object]) -> list[str]:
    groups = claims.get("groups")
    if not isinstance(groups, list):
        return []
    texts = [_loggable(g, MAX_CLAIM) for g in groups if isinstance(g, str)]
    return [t for t in texts if t is not None][:50]


def _user(gh: Gatehouse, db: Session, claims: dict[str, object]) -> User:
    iss, sub = str(claims["iss"]), str(claims["sub"])
    user = db.execute(select(User).where(User.iss == iss, User.sub == sub)).scalar_one_or_none()
    if user is None:
        user = User(iss=iss, sub=sub, created_at=gh.now())
        db.add(user)
    user.email = _loggable(claims.get("email"), MAX_CLAIM)
    user.display_name = _loggable(claims.get("name"), MAX_CLAIM) or sub
    db.flush()
    return user


def _principal(session: ConsoleSession, user: User, ip: str | None,
               agent: str | None) -> Principal:
    return Principal(user.id, user.iss, user.sub, user.display_name,
                     frozenset(Role(r) for r in session.roles.split()), session.id,
                     session.expires_at, session.mfa_verified_at, session.step_up_at, ip, agent)


def logout(gh: Gatehouse, principal: Principal) -> None:
    """End this session; the browser cookie, even if copied elsewhere, no longer signs in."""
    with gh.write() as db:
        session = db.get(ConsoleSession, principal.session_id)
        if session is None or session.ended_at is not None:
            return
        session.ended_at, session.end_reason = gh.now(), "signed out"
        gh.audit(db, event_for(principal, "auth.logout",
                               details=_ages(gh, session, "signed out")))


def end_user_sessions(gh: Gatehouse, db: Session, user_id: int, why: str) -> int:
    """End every open session of `user_id` in the caller's transaction; return how many."""
    result = db.execute(update(ConsoleSession)
                        .where(ConsoleSession.user_id == user_id,
                               ConsoleSession.ended_at.is_(None))
                        .values(ended_at=gh.now(), end_reason=why))
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_mfa(gh: Gatehouse, db: Session, principal: Principal, at: datetime) -> Principal:
    """Record a successful code on this session: it completes sign-in and refreshes step-up."""
    session = db.get(ConsoleSession, principal.session_id)
    if session is None or session.ended_at is not None or session.user_id != principal.user_id:
        raise SessionEnded("your session has ended; sign in again")
    session.mfa_verified_at = session.mfa_verified_at or at
    session.step_up_at = at
    return Principal(principal.user_id, principal.iss, principal.sub, principal.name,
                     principal.roles, principal.session_id, principal.session_expires_at,
                     session.mfa_verified_at, at, principal.source_ip, principal.user_agent)

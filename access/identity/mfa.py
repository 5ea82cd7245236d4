"""TOTP multi-factor authentication: enrollment, verification, recovery codes, step-up, reset,
unlock.

Rules (NIST 800-63B 5.1.4, 5.2.2; ASVS 6.5.1):
- the secret is sealed with AES-GCM, its associated data binding it to the user, under a key
  from configuration (never the database or the session);
- a time step is accepted at most once per user: the step is stored with a conditional UPDATE,
  so two sessions racing with the same code cannot both pass;
- consecutive failures are counted per user in the database, not per session, and lock the
  account for a while once they reach the configured limit; sign-in codes, step-up codes,
  enrollment codes and recovery codes share the one counter, and a refusal says how many wrong
  codes are left when few are (`AuthenticationFailed.attempts_left`);
- recovery codes are shown once, stored as scrypt hashes, and burned on use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import AuthenticationFailed, Conflict, Denied, InvalidInput
from access.identity import totp
from access.identity.sessions import end_user_sessions, mark_mfa
from access.identity.users import existing_user, refuse_own, user_ref
from access.principal import Principal
from access.schema import MfaCredential, RecoveryCode, User
from access.text import checked_reason
from access.workflow.policy import human_duration
from audit.vocabulary import Outcome


class MfaLocked(Denied):
    """Too many wrong codes: this account is locked for a while."""


@dataclass(frozen=True)
class Enrollment:
    secret: str
    uri: str
    qr_png: bytes


def status(gh: Gatehouse, user_id: int) -> str:
    """'none', 'pending' (enrollment started, not confirmed) or 'active'."""
    with gh.read() as db:
        credential = db.get(MfaCredential, user_id)
    if credential is None:
        return "none"
    return "active" if credential.activated_at else "pending"


def _aad(user_id: int) -> bytes:
    return f"gatehouse:totp:user:{user_id}".encode()


def begin_enrollment(gh: Gatehouse, principal: Principal) -> Enrollment:
    """The pending secret of this user, created on first call, the same one on a reload."""
    with gh.write() as db:
        credential = db.get(MfaCredential, principal.user_id)
        if credential is not None and credential.activated_at is not None:
            raise Conflict("an authenticator is already enrolled")
        if credential is None:
            secret = totp.new_secret()
            db.add(MfaCredential(user_id=principal.user_id, created_at=gh.now(), failures=0,
                                 secret_sealed=gh.mfa_box.seal(secret.encode(),
                                                               _aad(principal.user_id))))
        else:
            secret = _secret(gh, credential)
        user = db.get_one(User, principal.user_id)
    uri = totp.provisioning_uri(secret, user.email or user.sub, gh.config.mfa.issuer_label)
    return Enrollment(secret, uri, totp.qr_png(uri))


def _secret(gh: Gatehouse, credential: MfaCredential) -> str:
    return gh.mfa_box.open(credential.secret_sealed, _aad(credential.user_id)).decode()


def activate(gh: Gatehouse, principal: Principal, raw_code: object) -> tuple[Principal, list[str]]:
    """Confirm enrollment with a first valid code; return the signed-in principal and the
    recovery codes, which are never shown again."""
    code = totp.parse_code(raw_code)
    codes = totp.new_recovery_codes()
    hashes = [totp.hash_recovery_code(c) for c in codes]  # slow on purpose: outside the lock
    with gh.write() as db:
        if _accept(gh, db, principal, code, enrolling=True):
            db.execute(update(MfaCredential).where(MfaCredential.user_id == principal.user_id)
                       .values(activated_at=gh.now()))
            db.add_all(RecoveryCode(user_id=principal.user_id, code_hash=h) for h in hashes)
            gh.audit(db, event_for(principal, "auth.mfa.enrolled", details={
                "method": "totp", "remaining_recovery_codes": len(codes)}))
            return _passed(gh, db, principal, "totp"), codes
        refusal = _fail(gh, db, principal, "totp", _WRONG_CODE, _NEXT_CODE)
    raise refusal  # after the commit: the failure stays counted


def verify_code(gh: Gatehouse, principal: Principal, raw_code: object) -> Principal:
    """Accept a TOTP code for this session (sign-in or step-up) or raise, counting failures:
    `AuthenticationFailed` with its `attempts_left` for a wrong code, `MfaLocked` while locked."""
    code = totp.parse_code(raw_code)
    with gh.write() as db:
        if _accept(gh, db, principal, code, enrolling=False):
            return _passed(gh, db, principal, "totp")
        refusal = _fail(gh, db, principal, "totp", _WRONG_CODE, _NEXT_CODE)
    raise refusal  # after the commit: the failure stays counted


_WRONG_CODE = "that code is not valid (or was already used)"
_NEXT_CODE = "; wait for the next one"
_WRONG_RECOVERY_CODE = "that recovery code is not valid or was already used"


def _accept(gh: Gatehouse, db: Session, principal: Principal, code: str, enrolling: bool) -> bool:
    """Whether `code` matches a time step not used before, claiming that step atomically."""
    credential = _credential(db, principal.user_id, enrolling)
    _refuse_if_locked(gh, credential)
    step = totp.matching_step(_secret(gh, credential), code, gh.now().timestamp(),
                              credential.last_step)
    if step is None:
        return False
    # Conditional UPDATE: of two sessions racing with one code, exactly one gets rowcount 1.
    claimed = db.execute(update(MfaCredential).where(
        MfaCredential.user_id == principal.user_id,
        MfaCredential.last_step.is_(None) | (MfaCredential.last_step < step))
        .values(last_step=step, failures=0, locked_until=None))
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def use_recovery_code(gh: Gatehouse, principal: Principal, raw_code: object) -> Principal:
    """Accept one unused recovery code in place of a TOTP code, burning it."""
    if not isinstance(raw_code, str) or not raw_code.strip():
        raise InvalidInput("recovery_code", "must be one of the codes shown at enrollment")
    with gh.write() as db:
        credential = _credential(db, principal.user_id, enrolling=False)
        _refuse_if_locked(gh, credential)
        unused = db.execute(select(RecoveryCode).where(
            RecoveryCode.user_id == principal.user_id, RecoveryCode.used_at.is_(None))).scalars()
        match = next((r for r in unused if totp.recovery_code_matches(raw_code, r.code_hash)),
                     None)
        burned = match is not None and db.execute(
            update(RecoveryCode).where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
            .values(used_at=gh.now())).rowcount == 1  # type: ignore[attr-defined]
        if burned:
            db.execute(update(MfaCredential).where(MfaCredential.user_id == principal.user_id)
                       .values(failures=0, locked_until=None))
            return _passed(gh, db, principal, "recovery_code")
        refusal = _fail(gh, db, principal, "recovery_code", _WRONG_RECOVERY_CODE)
    raise refusal  # after the commit: the failure stays counted


def _credential(db: Session, user_id: int, enrolling: bool) -> MfaCredential:
    """The user's credential, row-locked until the caller's transaction ends: the lock check,
    the code check and the failure count of one attempt are then one atomic step, so parallel
    guesses queue up and meet the lock (SQLite's BEGIN IMMEDIATE serialises them anyway)."""
    credential = db.get(MfaCredential, user_id, with_for_update=True)
    if credential is None or (credential.activated_at is None) != enrolling:
        raise Conflict("enroll an authenticator first" if not enrolling
                       else "there is no enrollment waiting for confirmation")
    return credential


def _refuse_if_locked(gh: Gatehouse, credential: MfaCredential) -> None:
    if credential.locked_until is not None and gh.now() < credential.locked_until:
        raise MfaLocked(_locked_until(credential.locked_until))


def _locked_until(until: datetime) -> str:
    return f"too many wrong codes: locked until {until:%H:%M} UTC"


def _passed(gh: Gatehouse, db: Session, principal: Principal, method: str) -> Principal:
    action = "auth.mfa.step_up" if principal.mfa_verified else "auth.mfa.verified"
    if method == "recovery_code":
        action = "auth.mfa.recovery_used"
    remaining = db.execute(select(RecoveryCode.id).where(
        RecoveryCode.user_id == principal.user_id, RecoveryCode.used_at.is_(None))).all()
    updated = mark_mfa(gh, db, principal, gh.now())
    gh.audit(db, event_for(updated, action, details={
        "method": method, "remaining_recovery_codes": len(remaining)}))
    return updated


def _fail(gh: Gatehouse, db: Session, principal: Principal, method: str, wrong: str,
          retry: str = "") -> AuthenticationFailed:
    """Count a failure, locking at the limit, in the attempt's own transaction (which holds
    the credential's row lock); return the refusal, which the caller raises once that
    transaction has committed. Its message is `wrong`, then `retry` (what to do next) unless
    this failure locked the account, then the lock or, when few are left, the wrong codes
    left; its `attempts_left` is always set."""
    limit = gh.config.mfa.max_failures
    failures = db.execute(update(MfaCredential)
                          .where(MfaCredential.user_id == principal.user_id)
                          .values(failures=MfaCredential.failures + 1)
                          .returning(MfaCredential.failures)).scalar_one()
    details = {"method": method, "failures": failures}
    gh.audit(db, event_for(principal, "auth.mfa.failed", Outcome.DENIED, details=details))
    if failures >= limit:
        until = gh.now() + gh.config.mfa.lockout
        db.execute(update(MfaCredential).where(MfaCredential.user_id == principal.user_id)
                   .values(locked_until=until, failures=0))
        gh.audit(db, event_for(principal, "auth.mfa.locked", Outcome.DENIED, details={
            **details, "locked_until": until.isoformat(timespec="seconds")}))
        return AuthenticationFailed(f"{wrong}; {_locked_until(until)}", attempts_left=0)
    left = limit - failures
    return AuthenticationFailed(f"{wrong}{retry}{_warning(gh, left)}", attempts_left=left)


# Warn only when few wrong codes are left, not on every failure: a single typo (the usual
# wrong code) then gets no alarm to learn to ignore, and with the shipped limit of 5 the
# warning still comes from the second wrong code in a row, in time to stop and check the
# phone's clock or the account before a lock only the clock or an admin can lift. Three also
# keeps a large configured limit (up to 100) from counting down on every typo. The count is
# no secret: the limit is in the shipped configuration and docs/security.md.
WARN_WHEN_LEFT = 3


def _warning(gh: Gatehouse, left: int) -> str:
    """". 2 more wrong codes lock the account for 15 min.", or "" while more than
    `WARN_WHEN_LEFT` are left."""
    if left > WARN_WHEN_LEFT:
        return ""
    codes = "1 more wrong code locks" if left == 1 else f"{left} more wrong codes lock"
    return f". {codes} the account for {human_duration(gh.config.mfa.lockout)}."


def reset(gh: Gatehouse, admin: Principal, user_id: int, reason: str) -> None:
    """Remove a user's authenticator and recovery codes and end their sessions; they enroll
    again at their next sign-in. Needs step-up; nobody resets their own."""
    gh.authorize(admin, Action.MFA_RESET)
    refuse_own(gh, admin, "auth.mfa.reset", user_id,
               "you cannot reset your own authenticator; ask another admin")
    reason = checked_reason(reason)
    with gh.write() as db:
        user = existing_user(db, user_id)
        db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        removed = db.execute(delete(MfaCredential).where(MfaCredential.user_id == user_id))
        end_user_sessions(gh, db, user_id, "mfa reset")
        method = "totp" if removed.rowcount else "none"  # type: ignore[attr-defined]
        gh.audit(db, event_for(admin, "auth.mfa.reset", target_type="user",
                               target_id=user_ref(user), reason=reason,
                               details={"method": method}))


def unlock(gh: Gatehouse, admin: Principal, user_id: int, reason: str) -> None:
    """Lift a lockout before it runs out: the person may enter codes again at once, and wrong
    ones count from zero. The authenticator stays as it is (resetting it is `reset`).

    Needs step-up: it is administration of an authenticator, the same right as `reset`
    (`Action.MFA_RESET`). Nobody unlocks their own account: an admin locked out while still
    signed in may be watching a password thief guess codes. `Conflict` if not locked."""
    gh.authorize(admin, Action.MFA_RESET)
    refuse_own(gh, admin, "auth.mfa.unlocked", user_id,
               "you cannot unlock your own account; ask another admin")
    reason = checked_reason(reason)
    with gh.write() as db:
        user = existing_user(db, user_id)
        credential = db.get(MfaCredential, user_id, with_for_update=True)
        if credential is None or credential.locked_until is None \
                or credential.locked_until <= gh.now():
            raise Conflict("this account is not locked")
        until = credential.locked_until
        credential.locked_until, credential.failures = None, 0
        gh.audit(db, event_for(admin, "auth.mfa.unlocked", target_type="user",
                               target_id=user_ref(user), reason=reason,
                               details={"locked_until": until.isoformat(timespec="seconds")}))


def demo_code(gh: Gatehouse, iss: str, sub: str) -> str:
    """The current code of a demo persona. Refuses any issuer that is not on localhost: this
    exists so a newcomer can finish the demo sign-in without a phone, not to bypass MFA."""
    if not iss.startswith(("http://localhost:", "http://127.0.0.1:")):
        raise Denied("demo codes exist only for the local demo identity provider")
    with gh.read() as db:
        user = db.execute(select(User).where(User.iss == iss, User.sub == sub)).scalar_one_or_none()
        credential = None if user is None else db.get(MfaCredential, user.id)
    if credential is None:
        raise InvalidInput("persona", f"{sub} has not started enrolling an authenticator yet")
    return totp.current_code(_secret(gh, credential), gh.now().timestamp())

"""TOTP MFA through the real services: enrollment, replay, races, lockout, recovery, reset."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from access.context import Gatehouse
from access.errors import AuthenticationFailed, Conflict, Denied, InvalidInput, StepUpRequired
from access.identity import mfa, users
from access.identity.sessions import SessionEnded, resume
from access.keys.secretbox import SealedDataInvalid
from access.schema import MfaCredential
from audit.schema import events_table
from tests.support.identity_helpers import FakeClock, LocalIdP, sign_in
from tests.support.mfa_helpers import code_now, enroll, signed_in_with_mfa


def test_enrollment_is_pending_until_a_valid_code_and_survives_a_reload(
        gh: Gatehouse, idp: LocalIdP) -> None:
    sam = sign_in(gh, idp, "sam")
    first = mfa.begin_enrollment(gh, sam)
    assert mfa.begin_enrollment(gh, sam).secret == first.secret  # a reload shows the same QR
    assert first.qr_png.startswith(b"\x89PNG") and first.secret in first.uri
    assert mfa.status(gh, sam.user_id) == "pending"
    with pytest.raises(AuthenticationFailed):
        mfa.activate(gh, sam, "000000" if code_now(gh, first.secret) != "000000" else "111111")
    verified, codes = mfa.activate(gh, sam, code_now(gh, first.secret))
    assert verified.mfa_verified and len(set(codes)) == 10
    assert mfa.status(gh, sam.user_id) == "active"


def test_the_secret_is_sealed_and_bound_to_its_user(gh: Gatehouse, idp: LocalIdP) -> None:
    sam, ada = sign_in(gh, idp, "sam"), sign_in(gh, idp, "ada", "approver")
    secret = mfa.begin_enrollment(gh, sam).secret
    mfa.begin_enrollment(gh, ada)
    with gh.read() as db:
        sealed = db.get_one(MfaCredential, sam.user_id).secret_sealed
    assert secret.encode() not in sealed
    with pytest.raises(SealedDataInvalid):
        gh.mfa_box.open(sealed, f"gatehouse:totp:user:{ada.user_id}".encode())


def test_a_code_is_accepted_once_per_time_step(gh: Gatehouse, idp: LocalIdP) -> None:
    sam, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    with pytest.raises(AuthenticationFailed):
        mfa.verify_code(gh, sam, code_now(gh, secret))  # the enrollment code, replayed


def test_an_older_step_is_refused_once_a_later_one_was_used(gh: Gatehouse, idp: LocalIdP,
                                                           clock: FakeClock) -> None:
    sam, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    mfa.verify_code(gh, sam, code_now(gh, secret, steps_ahead=1))  # the window's newest step
    clock.advance(seconds=30)
    with pytest.raises(AuthenticationFailed):
        mfa.verify_code(gh, sam, code_now(gh, secret, steps_ahead=-1))  # still in the window


def test_two_sessions_racing_with_one_code_cannot_both_pass(gh_any: Gatehouse,
                                                            idp: LocalIdP) -> None:
    gh = gh_any
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    sessions = [sign_in(gh, idp, "sam") for _ in range(4)]
    code = code_now(gh, secret, steps_ahead=1)
    outcomes: list[str] = []
    barrier = threading.Barrier(len(sessions))

    def attempt(principal: object) -> None:
        barrier.wait()
        try:
            mfa.verify_code(gh, principal, code)  # type: ignore[arg-type]
            outcomes.append("passed")
        except AuthenticationFailed:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["passed", "refused", "refused", "refused"]


def test_failures_lock_the_account_across_sessions(gh: Gatehouse, idp: LocalIdP,
                                                  clock: FakeClock) -> None:
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    wrong = "000000" if code_now(gh, secret, 1) != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            mfa.verify_code(gh, sign_in(gh, idp, "sam"), wrong)  # a fresh session each time
    fresh = sign_in(gh, idp, "sam")
    with pytest.raises(mfa.MfaLocked):
        mfa.verify_code(gh, fresh, code_now(gh, secret, 1))  # even the right code
    clock.advance(minutes=15)
    assert mfa.verify_code(gh, fresh, code_now(gh, secret, 1)).mfa_verified
    with gh.engine.connect() as conn:
        acts = conn.execute(select(events_table.c.action)).scalars().all()
    assert acts.count("auth.mfa.failed") == 5 and acts.count("auth.mfa.locked") == 1


def _wrong(gh: Gatehouse, secret: str) -> str:
    """A six-digit code that matches no step of the current window."""
    return next(c for c in ("000000", "111111", "222222")
                if c not in {code_now(gh, secret, k) for k in (-1, 0, 1, 2)})


def _refusal(attempt: Callable[[], object]) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as refused:
        attempt()
    return refused.value


def test_each_wrong_code_says_how_many_are_left_once_few_are(
        gh_any: Gatehouse, idp: LocalIdP) -> None:
    """Sign-in, step-up and recovery codes count against one limit (5, then 15 min locked):
    each refusal carries the wrong codes left; its message says so from 3 left, and the
    fifth says the account is now locked."""
    gh = gh_any
    verified, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    wrong = _wrong(gh, secret)
    signing_in = sign_in(gh, idp, "sam")
    attempts = [lambda: mfa.verify_code(gh, signing_in, wrong),
                lambda: mfa.verify_code(gh, verified, wrong),  # a step-up code
                lambda: mfa.use_recovery_code(gh, signing_in, "zzzz-zzzz-zzzz"),
                lambda: mfa.verify_code(gh, verified, wrong),
                lambda: mfa.verify_code(gh, signing_in, wrong)]
    refusals = [_refusal(a) for a in attempts]

    code = "that code is not valid (or was already used)"
    until = f"{gh.now() + gh.config.mfa.lockout:%H:%M} UTC"
    assert [(r.attempts_left, str(r)) for r in refusals] == [
        (4, f"{code}; wait for the next one"),
        (3, f"{code}; wait for the next one. 3 more wrong codes lock the account for 15 min."),
        (2, "that recovery code is not valid or was already used. 2 more wrong codes lock the "
            "account for 15 min."),
        (1, f"{code}; wait for the next one. 1 more wrong code locks the account for 15 min."),
        (0, f"{code}; too many wrong codes: locked until {until}")]
    with pytest.raises(mfa.MfaLocked, match=f"^too many wrong codes: locked until {until}$"):
        mfa.verify_code(gh, signing_in, code_now(gh, secret, 1))  # even the right code


def test_the_warning_follows_the_configured_limit_and_lock(gh: Gatehouse,
                                                           idp: LocalIdP) -> None:
    gh = replace(gh, config=replace(gh.config, mfa=replace(
        gh.config.mfa, max_failures=2, lockout=timedelta(minutes=90))))
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    sam = sign_in(gh, idp, "sam")
    first = _refusal(lambda: mfa.verify_code(gh, sam, _wrong(gh, secret)))
    assert first.attempts_left == 1
    assert str(first).endswith("; wait for the next one. 1 more wrong code locks the account "
                               "for 1 h 30 min.")
    assert _refusal(lambda: mfa.verify_code(gh, sam, _wrong(gh, secret))).attempts_left == 0
    with pytest.raises(mfa.MfaLocked):
        mfa.verify_code(gh, sam, code_now(gh, secret, 1))


def test_a_good_code_starts_the_count_again(gh: Gatehouse, idp: LocalIdP) -> None:
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    sam = sign_in(gh, idp, "sam")
    for left in (4, 3):
        assert _refusal(lambda: mfa.verify_code(gh, sam, _wrong(gh, secret))).attempts_left \
            == left
    mfa.verify_code(gh, sam, code_now(gh, secret, 1))
    refusal = _refusal(lambda: mfa.verify_code(gh, sam, _wrong(gh, secret)))
    assert refusal.attempts_left == 4 and "more wrong code" not in str(refusal)


@pytest.mark.parametrize("raw", [None, 123456, "", " 123456", "1234567", "12a456",
                                 "١٢٣٤٥٦", "１２３４５６", "123456\n"])
def test_malformed_codes_are_refused_before_any_check(gh: Gatehouse, idp: LocalIdP,
                                                      raw: object) -> None:
    sam, _, _ = enroll(gh, sign_in(gh, idp, "sam"))
    with pytest.raises(InvalidInput, match="code"):
        mfa.verify_code(gh, sam, raw)


def test_recovery_codes_work_once_each(gh: Gatehouse, idp: LocalIdP) -> None:
    _, _, codes = enroll(gh, sign_in(gh, idp, "sam"))
    lost_phone = sign_in(gh, idp, "sam")
    assert mfa.use_recovery_code(gh, lost_phone, codes[3].upper()).mfa_verified
    with pytest.raises(AuthenticationFailed):
        mfa.use_recovery_code(gh, sign_in(gh, idp, "sam"), codes[3])
    with gh.engine.connect() as conn:
        details = conn.execute(select(events_table.c.details).where(
            events_table.c.action == "auth.mfa.recovery_used")).scalar_one()
    assert details == {"method": "recovery_code", "remaining_recovery_codes": 9}


def test_mfa_reset_needs_a_fresh_code_and_ends_the_users_sessions(
        gh: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    admin_token = idp.token("ada", ["admins"])
    admin, admin_secret, _ = enroll(gh, resume(gh, admin_token))
    sam_token = idp.token("sam", ["support"])
    sam = enroll(gh, resume(gh, sam_token))[0]
    clock.advance(minutes=6)
    admin = resume(gh, admin_token)
    with pytest.raises(StepUpRequired):
        mfa.reset(gh, admin, sam.user_id, "lost phone")
    admin = mfa.verify_code(gh, admin, code_now(gh, admin_secret))
    with pytest.raises(Denied):
        mfa.reset(gh, admin, admin.user_id, "my own")
    mfa.reset(gh, admin, sam.user_id, "lost phone, ticket SUP-9")
    assert mfa.status(gh, sam.user_id) == "none"
    with pytest.raises(SessionEnded):
        resume(gh, sam_token)


def test_enrolling_twice_is_a_conflict(gh: Gatehouse, idp: LocalIdP) -> None:
    sam = signed_in_with_mfa(gh, idp, "sam", "requester")
    with pytest.raises(Conflict):
        mfa.begin_enrollment(gh, sam)


def test_no_secret_or_code_reaches_the_audit_log(gh: Gatehouse, idp: LocalIdP) -> None:
    sam, secret, codes = enroll(gh, sign_in(gh, idp, "sam"))
    used = [code_now(gh, secret), code_now(gh, secret, 1)]
    mfa.verify_code(gh, sam, used[1])
    with pytest.raises(AuthenticationFailed):
        mfa.verify_code(gh, sam, used[1])
    mfa.use_recovery_code(gh, sam, codes[0])
    with gh.engine.connect() as conn:
        dump = repr(conn.execute(select(events_table)).all())
    for needle in [secret, *used, *codes, *(c.replace("-", "") for c in codes)]:
        assert needle not in dump


def test_demo_codes_exist_only_for_the_local_demo_provider(gh: Gatehouse, idp: LocalIdP) -> None:
    sam = sign_in(gh, idp, "sam")
    mfa.begin_enrollment(gh, sam)
    with pytest.raises(Denied):
        mfa.demo_code(gh, sam.iss, sam.sub)  # https://idp.test is not the demo provider


def _locked(gh: Gatehouse, idp: LocalIdP, sub: str, secret: str | None = None) -> str:
    """Lock `sub` out with five wrong codes, enrolling them first unless `secret` (theirs) is
    given; return their authenticator's secret."""
    if secret is None:
        _, secret, _ = enroll(gh, sign_in(gh, idp, sub))
    wrong = "000000" if code_now(gh, secret, 1) != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            mfa.verify_code(gh, sign_in(gh, idp, sub), wrong)
    return secret


def test_an_admin_unlocks_a_locked_account_with_a_fresh_code_never_their_own(
        gh_any: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    gh = gh_any
    secret = _locked(gh, idp, "sky")
    sky = sign_in(gh, idp, "sky")
    admin_token = idp.token("ada", ["admins"])
    admin, admin_secret, _ = enroll(gh, resume(gh, admin_token))
    clock.advance(minutes=6)  # the enrollment's code is no longer fresh
    admin = resume(gh, admin_token)
    with pytest.raises(StepUpRequired):
        mfa.unlock(gh, admin, sky.user_id, "typed the old phone's codes, SUP-77")
    admin = mfa.verify_code(gh, admin, code_now(gh, admin_secret))
    with pytest.raises(Denied):
        mfa.unlock(gh, admin, admin.user_id, "my own")
    with pytest.raises(InvalidInput, match="reason"):
        mfa.unlock(gh, admin, sky.user_id, "")
    with pytest.raises(mfa.MfaLocked):  # still locked: none of that changed anything
        mfa.verify_code(gh, sky, code_now(gh, secret, 1))

    mfa.unlock(gh, admin, sky.user_id, "typed the old phone's codes, SUP-77")
    assert mfa.verify_code(gh, sky, code_now(gh, secret, 1)).mfa_verified  # at once
    with pytest.raises(Conflict, match="not locked"):
        mfa.unlock(gh, admin, sky.user_id, "again")
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table).where(
            events_table.c.action == "auth.mfa.unlocked")
            .order_by(events_table.c.id)).mappings().all()
    assert [(r["outcome"], r["actor_sub"], r["target_id"]) for r in rows] == [
        ("denied", "ada", f"{admin.iss}|ada"), ("success", "ada", f"{sky.iss}|sky")]
    assert rows[1]["reason"] == "typed the old phone's codes, SUP-77"
    assert set(rows[1]["details"]) == {"locked_until"}


def test_after_an_unlock_wrong_codes_count_from_zero(gh: Gatehouse, idp: LocalIdP) -> None:
    secret = _locked(gh, idp, "sky")
    admin = signed_in_with_mfa(gh, idp, "ada", "approver")
    sky = sign_in(gh, idp, "sky")
    mfa.unlock(gh, admin, sky.user_id, "typos")
    wrong = "000000" if code_now(gh, secret, 1) != "000000" else "111111"
    for _ in range(4):  # one short of the limit: not locked again
        with pytest.raises(AuthenticationFailed):
            mfa.verify_code(gh, sky, wrong)
    assert mfa.verify_code(gh, sky, code_now(gh, secret, 1)).mfa_verified


def test_the_users_list_shows_a_lock_the_last_completed_sign_in_and_the_latest_roles(
        gh_any: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    gh = gh_any
    admin = signed_in_with_mfa(gh, idp, "ada", "approver")
    _, sky_secret, _ = enroll(gh, sign_in(gh, idp, "sky"))
    completed = gh.now()  # ada's and sky's sign-ins with a code
    clock.advance(hours=1)
    _locked(gh, idp, "sky", sky_secret)  # at the provider again, then five wrong codes
    sign_in(gh, idp, "nell")  # at the provider only: never got past the code screen
    sign_in(gh, idp, "ada", "auditor")  # the provider now says auditor; no code entered

    people = {u.sub: u for u in users.list_users(gh, admin)}
    sky, nell, ada = people["sky"], people["nell"], people["ada"]
    assert sky.locked_until == gh.now() + gh.config.mfa.lockout
    assert (sky.signed_in_at, sky.last_login_at) == (completed, gh.now())
    assert (nell.signed_in_at, nell.mfa, nell.locked_until) == (None, "not enrolled", None)
    assert nell.last_login_at == gh.now()  # the provider's half: not a sign-in
    assert (ada.signed_in_at, ada.roles) == (completed, ("auditor",))
    clock.advance(minutes=15)  # the lock runs out by itself
    assert {u.sub: u.locked_until for u in users.list_users(gh, admin)}["sky"] is None

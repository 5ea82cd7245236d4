"""TOTP under attack: guessing at scale, guessing in parallel, and racing one enrollment.

Already covered elsewhere, not repeated: RFC 6238 vectors, window and replay rules, malformed
codes (tests/access/identity/test_totp.py); a code replayed in its step, an older window step,
two sessions racing with one code, lockout across sessions, single-use recovery codes, reset,
and no secret in the audit log (tests/access/identity/test_mfa.py)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from access.context import Gatehouse
from access.errors import AuthenticationFailed, GatehouseError
from access.identity import mfa
from access.principal import Principal
from access.schema import RecoveryCode
from tests.support.identity_helpers import FakeClock, LocalIdP, sign_in
from tests.support.mfa_helpers import code_now, enroll
from tests.support.workflow_helpers import events

NIST_MAX_FAILURES_PER_HOUR = 100  # 800-63B 5.2.2; ASVS 4.0.3 2.2.1


def wrong_code(gh: Gatehouse, secret: str) -> str:
    """A six-digit code that matches no step of the current window."""
    window = {code_now(gh, secret, k) for k in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444")
                if c not in window)


def attempt(gh: Gatehouse, principal: Principal, code: str, recovery: bool = False) -> str:
    """What the service said: 'passed', or the name of the error it raised."""
    try:
        if recovery:
            mfa.use_recovery_code(gh, principal, code)
        else:
            mfa.verify_code(gh, principal, code)
    except GatehouseError as exc:
        return type(exc).__name__
    return "passed"


def test_parallel_guesses_cannot_exceed_the_failure_limit(gh_any: Gatehouse,
                                                         idp: LocalIdP) -> None:
    """Thirty sessions of one user (the attacker knows the password, not the authenticator)
    guess at the same instant: exactly `max_failures` guesses are evaluated, the rest meet
    the lock. Check, count and lock must be one atomic step."""
    gh = gh_any
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    guess = wrong_code(gh, secret)
    sessions = [sign_in(gh, idp, "sam") for _ in range(30)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(sessions))

    def guess_at_once(principal: Principal) -> None:
        barrier.wait()
        outcomes.append(attempt(gh, principal, guess))

    threads = [threading.Thread(target=guess_at_once, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    limit = gh.config.mfa.max_failures
    assert Counter(outcomes) == {"AuthenticationFailed": limit, "MfaLocked": 30 - limit}
    assert len(events(gh, "auth.mfa.failed")) == limit
    assert len(events(gh, "auth.mfa.locked")) == 1


def test_an_hour_of_guessing_evaluates_far_fewer_than_a_hundred_codes(
        gh: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    """A guess every 10 s for an hour, TOTP and recovery codes mixed, fresh sessions mixed
    in: the account never evaluates more than NIST's 100 failures an hour."""
    _, secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    outcomes: Counter[str] = Counter()
    principal = sign_in(gh, idp, "sam")
    for n in range(360):
        if n % 50 == 0:
            principal = sign_in(gh, idp, "sam")  # a new login does not reset the counter
        recovery = n % 4 == 3
        guess = "zzzz-zzzz-zzzz" if recovery else wrong_code(gh, secret)
        outcomes[attempt(gh, principal, guess, recovery)] += 1
        clock.advance(seconds=10)
    evaluated = outcomes["AuthenticationFailed"]
    assert outcomes["passed"] == 0
    assert 0 < evaluated <= NIST_MAX_FAILURES_PER_HOUR
    # With the shipped settings (5 failures, then 15 minutes locked): at most 4 rounds.
    limit, lockout = gh.config.mfa.max_failures, gh.config.mfa.lockout
    assert evaluated <= limit * (timedelta(hours=1) // lockout + 1)


def test_a_locked_account_refuses_recovery_codes_without_burning_them(
        gh: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    _, secret, codes = enroll(gh, sign_in(gh, idp, "sam"))
    principal = sign_in(gh, idp, "sam")
    for _ in range(gh.config.mfa.max_failures):
        assert attempt(gh, principal, wrong_code(gh, secret)) == "AuthenticationFailed"
    assert attempt(gh, principal, codes[0], recovery=True) == "MfaLocked"
    assert attempt(gh, principal, code_now(gh, secret, 1)) == "MfaLocked"
    clock.advance(minutes=15)
    assert attempt(gh, principal, codes[0], recovery=True) == "passed"  # it was not burned
    assert events(gh, "auth.mfa.recovery_used")[-1]["details"]["remaining_recovery_codes"] == 9


def test_two_sessions_confirming_one_enrollment_at_once_make_one_set_of_recovery_codes(
        gh_any: Gatehouse, idp: LocalIdP) -> None:
    gh = gh_any
    first = sign_in(gh, idp, "sam")
    secret = mfa.begin_enrollment(gh, first).secret
    second = sign_in(gh, idp, "sam")
    assert mfa.begin_enrollment(gh, second).secret == secret
    code = code_now(gh, secret)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def confirm(principal: Principal) -> None:
        barrier.wait()
        try:
            mfa.activate(gh, principal, code)
            outcomes.append("activated")
        except GatehouseError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=confirm, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("activated") == 1
    with gh.read() as db:
        stored = db.execute(select(func.count()).select_from(RecoveryCode)).scalar_one()
    assert stored == 10
    assert len(events(gh, "auth.mfa.enrolled")) == 1


def test_guessing_at_one_account_never_locks_another(gh: Gatehouse, idp: LocalIdP) -> None:
    """Failures are counted per user: hammering sam's account leaves sky's untouched."""
    _, sam_secret, _ = enroll(gh, sign_in(gh, idp, "sam"))
    sky, sky_secret, _ = enroll(gh, sign_in(gh, idp, "sky"))
    sam = sign_in(gh, idp, "sam")
    for _ in range(gh.config.mfa.max_failures + 3):
        attempt(gh, sam, wrong_code(gh, sam_secret))
    assert attempt(gh, sam, code_now(gh, sam_secret, 1)) == "MfaLocked"
    with pytest.raises(AuthenticationFailed):  # sky's own wrong code: counted, not locked
        mfa.verify_code(gh, sky, wrong_code(gh, sky_secret))
    assert mfa.verify_code(gh, sky, code_now(gh, sky_secret, 1)).mfa_verified

"""Drive the real enrollment and verification services to get MFA-verified principals."""

from __future__ import annotations

from access.context import Gatehouse
from access.identity import mfa, totp
from access.principal import Principal
from tests.support.identity_helpers import LocalIdP, sign_in


def enroll(gh: Gatehouse, principal: Principal) -> tuple[Principal, str, list[str]]:
    """Enroll `principal`'s authenticator; return them verified, the secret and recovery codes."""
    secret = mfa.begin_enrollment(gh, principal).secret
    verified, codes = mfa.activate(gh, principal, code_now(gh, secret))
    return verified, secret, codes


def code_now(gh: Gatehouse, secret: str, steps_ahead: int = 0) -> str:
    return totp.code_at_step(secret, totp.time_step(gh.now().timestamp()) + steps_ahead)


def signed_in_with_mfa(gh: Gatehouse, idp: LocalIdP, sub: str, role: str) -> Principal:
    return enroll(gh, sign_in(gh, idp, sub, role))[0]

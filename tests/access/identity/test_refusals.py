"""Sign-ins refused at the provider callback: the reason named from the error Authlib raised
(its JOSE code and claim, never its text), and one event without token content."""

from __future__ import annotations

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.jose import errors as authlib_jose  # what Authlib's own claim checks raise
from joserfc import errors as joserfc
from sqlalchemy import select

from access.context import Gatehouse
from access.identity.refusals import REASONS, callback_refusal, record_callback_refusal
from access.text import as_logged
from audit.schema import events_table


@pytest.mark.parametrize(("error", "slug"), [
    (joserfc.ExpiredTokenError("exp"), "expired"),
    (authlib_jose.ExpiredTokenError(), "expired"),
    (joserfc.MissingClaimError("azp"), "audience"),  # how Authlib reports a foreign `aud`
    (joserfc.InvalidClaimError("aud"), "audience"),
    (joserfc.InvalidClaimError("iss"), "issuer"),
    (joserfc.InvalidClaimError("nonce"), "nonce"),
    (joserfc.InvalidClaimError("auth_time"), "claims"),
    (joserfc.InvalidKeyIdError(), "key"),
    (joserfc.BadSignatureError(), "signature"),
    (OAuthError(error="invalid_grant"), "exchange"),
    (ValueError("eyJhbGciOi... the token itself"), "rejected"),
])
def test_the_reason_comes_from_the_error_code_and_claim(error: BaseException, slug: str) -> None:
    assert callback_refusal(error, provider_error=False, state_known=True) == slug


def test_a_provider_error_and_an_unknown_state_are_named() -> None:
    assert callback_refusal(None, provider_error=True, state_known=False) == "provider"
    assert callback_refusal(None, provider_error=False, state_known=False) == "replayed"


def test_a_refusal_is_one_unverified_denied_event_naming_the_reason(gh_any: Gatehouse) -> None:
    gh = gh_any
    record_callback_refusal(gh, "audience", "198.51.100.7", "Mozilla/5.0\r\nX-Evil: 1")
    record_callback_refusal(gh, "not-a-reason", None, None)  # a crafted slug: generic text
    e = events_table.c
    with gh.engine.connect() as conn:
        rows = conn.execute(select(e.action, e.outcome, e.actor_sub, e.details, e.source_ip,
                                   e.user_agent).order_by(e.id)).all()
    assert [tuple(r[:5]) for r in rows] == [
        ("auth.login.failed", "denied", "unverified",
         {"why": "provider callback: audience not allowed"}, "198.51.100.7"),
        ("auth.login.failed", "denied", "unverified",
         {"why": f"provider callback: {REASONS['rejected']}"}, None)]
    # Kept as the house keeps outside text (access.text.as_logged); views escape it.
    assert rows[0][5] == as_logged("Mozilla/5.0\r\nX-Evil: 1", 512)

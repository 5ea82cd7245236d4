"""Sign-ins refused before Gatehouse saw a token: at the provider callback, by Streamlit's
st.login (Authlib), which then sends the browser back to Sign in with no message.

The console's server watches that callback (console/signin_watch.py) and hands what it saw
here: `callback_refusal` names the reason from the rejection Authlib raised (or the provider's
OAuth error), as one of a closed set, and `record_callback_refusal` writes the one
`auth.login.failed` event of the attempt. Neither ever sees or stores token content: the
reason comes from the error's class and the claim it names, never its message or values.
"""

from __future__ import annotations

from access.context import Gatehouse
from access.text import as_logged
from audit.events import Actor, AuditEvent
from audit.vocabulary import Outcome

__all__ = ["REASONS", "callback_refusal", "record_callback_refusal"]

# slug (what the browser is told) -> why (what the log says). A closed set: a crafted URL can
# only ever pick one of these texts.
REASONS: dict[str, str] = {
    "audience": "audience not allowed",
    "issuer": "issuer mismatch",
    "expired": "token expired",
    "key": "unknown signing key",
    "signature": "signature invalid",
    "nonce": "nonce mismatch",
    "claims": "invalid or missing claim",
    "provider": "the identity provider returned an error",
    "replayed": "unknown or already used sign-in state",
    "exchange": "the code exchange with the identity provider failed",
    "rejected": "token rejected",
}
_CLAIMS = {"aud": "audience", "azp": "audience", "iss": "issuer", "nonce": "nonce"}
_ERRORS = {"expired_token": "expired", "invalid_key_id": "key", "bad_signature": "signature"}


def callback_refusal(error: BaseException | None, provider_error: bool,
                     state_known: bool) -> str:
    """The slug (a key of REASONS) of a refused callback.

    `error` is what Authlib raised during the code exchange, if anything; `provider_error`
    whether the provider answered with an OAuth `error`; `state_known` whether the callback's
    `state` matched a sign-in this browser started. Classified by the JOSE error code and the
    claim name (joserfc and authlib.jose both carry them), never by message text.
    """
    if provider_error:
        return "provider"
    if error is None:
        return "rejected" if state_known else "replayed"
    code = getattr(error, "error", None)
    claim = getattr(error, "claim", None)
    if code in _ERRORS:
        return _ERRORS[str(code)]
    if isinstance(claim, str) and claim in _CLAIMS:
        # Authlib reports an audience that is not ours as a missing or wrong `azp`.
        return _CLAIMS[claim]
    if code in ("invalid_claim", "missing_claim"):
        return "claims"
    if code in ("invalid_grant", "invalid_client", "invalid_request", "unauthorized_client"):
        return "exchange"
    return "rejected"


def record_callback_refusal(gh: Gatehouse, slug: str, source_ip: str | None,
                            user_agent: str | None) -> None:
    """The one `auth.login.failed` event of a sign-in refused at the provider callback. The
    actor is unverified: a refused token says nothing trustworthy about who sent it."""
    why = f"provider callback: {REASONS.get(slug, REASONS['rejected'])}"
    agent = as_logged(user_agent, 512) if isinstance(user_agent, str) else None
    with gh.write() as db:
        gh.audit(db, AuditEvent("auth.login.failed", Actor("unverified", "unverified"),
                                Outcome.DENIED, source_ip=source_ip, user_agent=agent,
                                details={"why": why}))

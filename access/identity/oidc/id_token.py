"""OIDC Core 3.1.3.7: our own validation of the ID token, on top of what st.login (Authlib)
already did.

Contract: `validate_id_token` returns the claims only for a token that passes every check of
OIDC Core 3.1.3.7 that does not need the login transaction (nonce, state and code stay with
st.login). Anything else raises `InvalidIdToken`. Its message names the failed check and never
contains token content. The checks:

- the header `alg` is on a pinned allowlist that can never hold `none` or HS*
  (RFC 8725 2.1 and 3.1, ASVS 9.1.2);
- the signature verifies with the issuer's key for the header `kid`, and keys come only from the
  issuer's JWKS (ASVS 9.1.1, 9.1.3);
- `iss` equals the configured issuer exactly (ASVS 10.5.3);
- `aud` is exactly our client_id, and `azp`, when present, is our client_id (ASVS 10.5.4);
- `exp`, `iat` and `nbf` are checked against an injected clock with at most 60 s leeway
  (ASVS 9.2.1);
- `sub` is a non-empty string (ASVS 10.5.2).

Why we do not rely on Authlib's client defaults (read in its source, 1.x): it checks `iss`
only when the provider metadata has `issuer`; it checks `aud` only when `claims_options` are
passed, which st.login does not do, and its `azp` fallback accepts `aud=["other"]` with our
`azp`; it allows every algorithm, `none` included, when the metadata lists none; its leeway is
120 s; and every unknown `kid` makes it fetch the JWKS again.

JOSE comes from `joserfc` (an Authlib dependency). Authlib 1.9 deprecates `authlib.jose` in
favour of it. Claim checks are plain code here, because joserfc's audience rule
("contains ours") and its `exp` boundary are not the rules above.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError, KeyParameterError

from access.errors import InvalidIdToken
from access.identity.oidc.jwks import JwksCache

MAX_LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class IdTokenPolicy:
    """What a valid ID token must say. Construction refuses an unsafe policy (ValueError).

    - issuer: compared exactly. "https://idp/" and "https://idp" are different issuers
      (OIDC Core 3.1.3.7 item 2).
    - client_id: `aud` must be this string or a list holding only it. Extra audiences are
      rejected, and `azp`, when present, must be this (items 3 to 5).
    - algorithms: pinned (item 6, RFC 8725 3.1). `none` and HS* are refused even if
      configured: an HMAC key would be the client secret or, in the classic confusion
      attack, the IdP's public key.
    - leeway_seconds: clock skew allowed on exp, iat and nbf, from 0 to 60.
    """

    issuer: str
    client_id: str
    algorithms: tuple[str, ...] = ("RS256",)
    leeway_seconds: int = 60

    def __post_init__(self) -> None:
        if not self.issuer or not self.client_id:
            raise ValueError("issuer and client_id are required")
        if not self.algorithms:
            raise ValueError("at least one signing algorithm is required")
        for alg in self.algorithms:
            if alg.lower() == "none" or alg.upper().startswith("HS"):
                raise ValueError(f"algorithm {alg!r} is never allowed for ID tokens")
            if alg not in jws.JWSRegistry.algorithms:
                raise ValueError(f"unknown signing algorithm {alg!r}")
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway_seconds must be between 0 and {MAX_LEEWAY_SECONDS}")


def validate_id_token(
    token: str, policy: IdTokenPolicy, keys: JwksCache, now: float
) -> dict[str, Any]:
    """Verify an ID token's signature and claims (OIDC Core 3.1.3.7, RFC 8725, ASVS 9.1.1-9.1.3,
    9.2.1, 10.5.2-10.5.4) and return its claims. `now` is the current Unix time, injected so
    tests can fix the clock. Raises InvalidIdToken for any failure, malformed input included.
    """
    header = _header(token)
    # Check alg before looking up a key. joserfc would refuse these too, but the allowlist is
    # the policy, and an attacker's alg must never choose how the key is used (RFC 8725 2.1).
    if header.get("alg") not in policy.algorithms:
        raise InvalidIdToken("algorithm not allowed")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidIdToken("malformed token")
    key = keys.key(kid)
    # `from None` everywhere below: the joserfc errors may quote token content, so we do not
    # chain them into tracebacks or logs.
    try:
        claims = jwt.decode(token, key, algorithms=list(policy.algorithms)).claims
    except BadSignatureError:
        raise InvalidIdToken("signature invalid") from None
    except KeyParameterError:  # e.g. an EC key under an RS256 header
        raise InvalidIdToken("signing key does not fit algorithm") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidIdToken("malformed token") from None
    _check_claims(claims, policy, now)
    return claims


def _header(token: object) -> dict[str, Any]:
    if not isinstance(token, str):
        raise InvalidIdToken("malformed token")
    try:
        return dict(jws.extract_compact(token.encode("ascii")).headers())
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise InvalidIdToken("malformed token") from None


def _check_claims(claims: dict[str, Any], policy: IdTokenPolicy, now: float) -> None:
    for name in ("iss", "aud", "exp", "iat", "sub"):
        if claims.get(name) is None:
            raise InvalidIdToken(f"missing claim: {name}")

    if claims["iss"] != policy.issuer:  # exact: no case folding, no trailing-slash repair
        raise InvalidIdToken("issuer mismatch")
    if claims["aud"] not in (policy.client_id, [policy.client_id]):
        raise InvalidIdToken("audience not allowed")
    if "azp" in claims and claims["azp"] != policy.client_id:
        raise InvalidIdToken("authorized party mismatch")

    leeway = policy.leeway_seconds
    if now > _numeric_date(claims, "exp") + leeway:
        raise InvalidIdToken("token expired")
    if _numeric_date(claims, "iat") > now + leeway:
        raise InvalidIdToken("token issued in the future")
    if "nbf" in claims and _numeric_date(claims, "nbf") > now + leeway:
        raise InvalidIdToken("token not yet valid")

    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise InvalidIdToken("invalid claim: sub")


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    # A JSON number and not a bool. A float must be finite: every comparison with NaN is False,
    # so an `exp` of NaN would never expire. An int is always finite (math.isfinite would
    # overflow on a huge one).
    value = claims[name]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidIdToken(f"invalid claim: {name}")

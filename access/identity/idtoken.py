"""Our own validation of the OIDC ID token, on top of what st.login (Authlib) already did.

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

Why we do not rely on Authlib's client defaults (security-requirements.md A3): it checks `iss`
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
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError, KeyParameterError
from joserfc.jwk import JWKRegistry, Key

from access.errors import AuthenticationFailed

MAX_LEEWAY_SECONDS = 60
HTTP_TIMEOUT = httpx.Timeout(5.0)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class InvalidIdToken(AuthenticationFailed):
    """The ID token (or the provider data used to check it) was rejected.

    The message names the check that failed, such as "issuer mismatch" or "missing claim: sub",
    and never quotes the token (ASVS 16.2.5).
    """


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


class JwksCache:
    """Keys of the issuer, fetched lazily and cached (ASVS 9.1.3: trusted keys only).

    A `kid` not in the cache triggers a fetch only if the last fetch is at least
    `min_refetch_seconds` old. Anyone can put a made-up `kid` in a token, so without this limit
    every forged token would cost the IdP a request. A failed fetch counts too, so an IdP outage
    is not hammered either. After `max_age_seconds` the keys are fetched again even for a known
    `kid`, so a key the IdP withdrew stops being trusted.

    `fetch` returns the JWKS document and raises `InvalidIdToken` when it cannot.
    `fetch_count` counts fetch attempts, for tests and metrics. Thread-safe: Streamlit
    sessions share one cache.
    """

    def __init__(
        self,
        fetch: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,  # rate limit must not jump with wall time
        min_refetch_seconds: float = 60.0,
        max_age_seconds: float = 3600.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._min_refetch = min_refetch_seconds
        self._max_age = max_age_seconds
        self._keys: list[tuple[str | None, Key]] = []
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetch_count = 0

    def key(self, kid: str | None) -> Key:
        """The verification key for `kid`. If `kid` is None, the JWKS must hold exactly one key
        (OIDC Core 10.1). Raises InvalidIdToken("unknown signing key") when no key is found,
        even after the one refetch that is allowed."""
        with self._lock:
            if self._fetched_at is not None and self._age() >= self._max_age:
                self._refresh()
            found = self._lookup(kid)
            if found is None and (self._fetched_at is None or self._age() >= self._min_refetch):
                self._refresh()
                found = self._lookup(kid)
            if found is None:
                raise InvalidIdToken("unknown signing key")
            return found

    def _age(self) -> float:
        assert self._fetched_at is not None
        return self._clock() - self._fetched_at

    def _lookup(self, kid: str | None) -> Key | None:
        if kid is None:
            return self._keys[0][1] if len(self._keys) == 1 else None
        return next((key for key_id, key in self._keys if key_id == kid), None)

    def _refresh(self) -> None:
        self._fetched_at = self._clock()  # set before fetching: failures are rate-limited too
        self.fetch_count += 1
        self._keys = _parse_jwks(self._fetch())


def _parse_jwks(document: dict[str, Any]) -> list[tuple[str | None, Key]]:
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidIdToken("provider jwks malformed")
    keys: list[tuple[str | None, Key]] = []
    for entry in entries:
        # A symmetric key is never a trusted issuer key, and an encryption key never signs.
        # A key we cannot read is skipped (RFC 7517 section 5), not fatal for the whole set.
        if not isinstance(entry, dict) or entry.get("kty") == "oct" or entry.get("use") == "enc":
            continue
        try:
            key = JWKRegistry.import_key(entry)
        except (JoseError, ValueError, TypeError):
            continue
        kid = entry.get("kid")
        keys.append((kid if isinstance(kid, str) else None, key))
    return keys


def discover_jwks_fetcher(
    issuer: str, client: httpx.Client | None = None
) -> Callable[[], dict[str, Any]]:
    """Read the issuer's discovery document now and return a function that fetches its JWKS.

    The document's `issuer` must equal `issuer` exactly (OIDC Discovery 4.3), or an attacker
    who controls the document could name another issuer's keys. Both URLs must be https, except
    on loopback for local tests. Redirects are not followed. Every request has a timeout,
    including on a caller's `client`. Failures raise InvalidIdToken("provider ...").
    """
    _require_https(issuer, "issuer")
    # OIDC Discovery 4: a trailing "/" of the issuer is dropped before appending the path.
    discovery_url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    metadata = _get_json(discovery_url, client, "metadata")
    if metadata.get("issuer") != issuer:
        raise InvalidIdToken("provider metadata issuer mismatch")
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise InvalidIdToken("provider metadata has no jwks_uri")
    _require_https(jwks_uri, "jwks_uri")

    def fetch() -> dict[str, Any]:
        return _get_json(jwks_uri, client, "jwks")

    return fetch


def _require_https(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    ):
        raise InvalidIdToken(f"provider {what} is not https")


def _get_json(url: str, client: httpx.Client | None, what: str) -> dict[str, Any]:
    try:
        if client is None:
            response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
        else:
            response = client.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise InvalidIdToken(f"provider {what} unavailable") from exc
    if response.status_code != httpx.codes.OK:
        raise InvalidIdToken(f"provider {what} unavailable")
    try:
        document = response.json()
    except ValueError as exc:
        raise InvalidIdToken(f"provider {what} malformed") from exc
    if not isinstance(document, dict):
        raise InvalidIdToken(f"provider {what} malformed")
    return document


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

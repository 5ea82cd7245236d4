"""OIDC Discovery 1.0 section 4: read the issuer's metadata and find its JWKS, over https
(loopback excepted, for local tests), without following redirects, always with a timeout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from access.errors import InvalidIdToken

HTTP_TIMEOUT = httpx.Timeout(5.0)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


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

"""The issuer's signing keys (RFC 7517 JWK sets): fetched lazily, cached, refetched at a
limited rate, so a forged `kid` cannot make every token cost the provider a request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from access.errors import InvalidIdToken


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

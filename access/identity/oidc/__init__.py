"""OpenID Connect, one specification a module: `discovery` (OIDC Discovery 4), `jwks` (the
issuer's RFC 7517 key set, cached and rate-limited) and `id_token` (OIDC Core 3.1.3.7 ID-token
validation, on top of what st.login already checked)."""

from access.errors import InvalidIdToken
from access.identity.oidc.discovery import discover_jwks_fetcher
from access.identity.oidc.id_token import IdTokenPolicy, validate_id_token
from access.identity.oidc.jwks import JwksCache

__all__ = [
    "IdTokenPolicy", "InvalidIdToken", "JwksCache", "discover_jwks_fetcher", "discovery",
    "id_token", "jwks", "validate_id_token",
]

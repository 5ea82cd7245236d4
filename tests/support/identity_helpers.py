"""A test identity provider (a real RSA key, real JWS tokens, real validation) and a clock
that tests move by hand, to build `Gatehouse` services over a real database."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from access.context import Gatehouse
from access.identity.oidc import IdTokenPolicy, JwksCache, validate_id_token
from access.identity.sessions import resume
from access.keys.secretbox import SecretBox
from access.principal import Principal
from access.settings.config import load_config
from access.workflow.policy import load_policy
from tests.support.databases import Database

ISSUER = "https://idp.test"
CLIENT_ID = "gatehouse-test"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
# The key sealing TOTP secrets, one per test process like the provider key: a key is fixed
# configuration, and what an enrollment sealed under it can be copied between databases
# (`tests.support.workflow_helpers.team`).
MFA_BOX = SecretBox(secrets.token_bytes(32))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class LocalIdP:
    """Mints ID tokens signed with the provider key; `jwks()` is its key endpoint."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def jwks(self) -> dict[str, Any]:
        numbers = _KEY.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "n": _b64(n),
                          "e": _b64(numbers.e.to_bytes(3, "big"))}]}

    def token(self, sub: str, groups: list[str] | None = None, **claims: Any) -> str:
        now = int(self.clock().timestamp())
        payload = {"iss": ISSUER, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300,
                   "nonce": secrets.token_urlsafe(8), "name": sub.title(),
                   "email": f"{sub}@example.com", "groups": groups or [], **claims}
        header = {"alg": "RS256", "kid": "k1", "typ": "JWT"}
        signing_input = (f"{_b64(json.dumps(header).encode())}."
                         f"{_b64(json.dumps(payload).encode())}").encode()
        signature = _KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{_b64(signature)}"


def gatehouse(db: Database, clock: FakeClock, idp: LocalIdP) -> Gatehouse:
    policy = IdTokenPolicy(issuer=ISSUER, client_id=CLIENT_ID)
    keys = JwksCache(idp.jwks)
    return Gatehouse(db.engine, load_config(), MFA_BOX,
                     lambda token, now: validate_id_token(token, policy, keys, now),
                     load_policy(), clock)


GROUPS = {"requester": ["support"], "approver": ["admins"], "auditor": ["auditors"],
          "privacy_officer": ["privacy"]}


def sign_in(gh: Gatehouse, idp: LocalIdP, sub: str, role: str = "requester") -> Principal:
    """A fresh login of `sub` (no MFA yet)."""
    return resume(gh, idp.token(sub, GROUPS[role]), "10.0.0.1", "pytest")

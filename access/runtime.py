"""Build the services from the environment: what the console and the CLI run with."""

from __future__ import annotations

import functools
from pathlib import Path

from access.context import Gatehouse, IdTokenVerifier
from access.data.sources import customer_data_from_env
from access.errors import InvalidInput
from access.identity.oidc import (
    IdTokenPolicy,
    InvalidIdToken,
    JwksCache,
    discover_jwks_fetcher,
    validate_id_token,
)
from access.keys.files import KeyFile, private_dir, private_sqlite
from access.keys.secretbox import SecretBox
from access.oversight import export_root
from access.settings.config import load_config
from access.workflow.policy import load_policy
from audit.engine import make_engine
from audit.settings import database_url

__all__ = [
    "MFA_KEY", "build", "build_for_cli", "check_private_files", "create_mfa_key", "database_url",
    "issuer_from_metadata_url", "mfa_box", "mfa_key_path", "oidc_verifier",
]

MFA_KEY = KeyFile("GATEHOUSE_MFA_KEY", "GATEHOUSE_MFA_KEY_FILE", "mfa.key")
MFA_KEY_ENV = MFA_KEY.env


def mfa_key_path() -> Path:
    return MFA_KEY.path()


def mfa_box() -> SecretBox:
    """The key sealing TOTP secrets: `GATEHOUSE_MFA_KEY` (base64 of 32 bytes), else the file
    `GATEHOUSE_MFA_KEY_FILE`. Never the database: a stolen database must not yield secrets."""
    return SecretBox(MFA_KEY.load())


def create_mfa_key() -> Path | None:
    """Write a new MFA key file (owner-only) unless one exists; return its path if created."""
    return MFA_KEY.create()


def issuer_from_metadata_url(url: str) -> str:
    suffix = "/.well-known/openid-configuration"
    if not url.endswith(suffix):
        raise InvalidInput("auth.server_metadata_url", f"must end with {suffix}")
    return url.removesuffix(suffix)


def oidc_verifier(issuer: str, client_id: str) -> IdTokenVerifier:
    """Validates ID tokens of `issuer` for `client_id`; the provider's keys are fetched on
    first use (the provider may start after the console) and cached."""
    policy = IdTokenPolicy(issuer=issuer, client_id=client_id)

    @functools.cache
    def keys() -> JwksCache:
        return JwksCache(discover_jwks_fetcher(issuer))

    def verify(token: str, now: float) -> dict[str, object]:
        return validate_id_token(token, policy, keys(), now)

    return verify


def build(issuer: str, client_id: str) -> Gatehouse:
    return _build(oidc_verifier(issuer, client_id))


def check_private_files(urls: list[str]) -> None:
    """Refuse to start (`InvalidInput` naming the path and the rule) unless the export folder
    and every SQLite database file are private to this process's user (`access.keys.files`)."""
    private_dir(export_root())
    for url in urls:
        private_sqlite(url)


def _build(verifier: IdTokenVerifier) -> Gatehouse:
    policy = load_policy()
    data = customer_data_from_env(list(policy.environments))
    check_private_files([database_url(), *data.urls.values()])
    return Gatehouse(make_engine(database_url()), load_config(), mfa_box(), verifier,
                     policy, data=data)


def build_for_cli() -> Gatehouse:
    """Services for operator commands, which never sign anyone in."""

    def no_sign_in(token: str, now: float) -> dict[str, object]:
        raise InvalidIdToken("operator commands do not accept sign-ins")

    return _build(no_sign_in)

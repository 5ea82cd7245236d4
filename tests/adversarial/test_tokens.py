"""ID tokens under attack, where they open sessions (`access.identity.sessions.resume`).

tests/access/identity/test_idtoken.py already proves, check by check, that the validator refuses
forgeries (A6 1-6: attacker key under the real kid, `alg: none`, HS256 keyed with the public
PEM, issuer variants, foreign or extra audiences, `azp`, clock limits, malformed tokens, JWKS
abuse). What is added here is what those unit tests cannot show: that a refused token leaves no
user, no session and no trace of itself, only an `auth.login.failed` event; that it cannot take
over an existing user's session; and that roles come from exact group names only (A6 9)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import func, select

from access.context import Gatehouse
from access.identity.oidc import InvalidIdToken
from access.identity.sessions import NoRole, resume
from access.schema import ConsoleSession, User
from tests.support.identity_helpers import CLIENT_ID, ISSUER, LocalIdP
from tests.support.workflow_helpers import events

ATTACKER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return (json.loads(base64.urlsafe_b64decode(header + "==")),
            json.loads(base64.urlsafe_b64decode(payload + "==")))


def resigned(token: str, alg: str, sign: Callable[[bytes], bytes]) -> str:
    """The same claims (and kid) under another algorithm and signer."""
    header, payload = segments(token)
    signing_input = f"{b64(json.dumps({**header, 'alg': alg}).encode())}." \
                    f"{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def idp_public_pem(idp: LocalIdP) -> bytes:
    jwk = idp.jwks()["keys"][0]
    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=="), "big")

    key = rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _hs256(secret: bytes) -> Callable[[bytes], bytes]:
    def sign(data: bytes) -> bytes:
        mac = hmac.HMAC(secret, hashes.SHA256())
        mac.update(data)
        return mac.finalize()
    return sign


FORGERIES: dict[str, Callable[[LocalIdP, str], str]] = {
    "attacker key under the provider's kid": lambda idp, t: resigned(
        t, "RS256", lambda d: ATTACKER.sign(d, padding.PKCS1v15(), hashes.SHA256())),
    "alg none": lambda idp, t: resigned(t, "none", lambda d: b""),
    "HS256 keyed with the provider's public PEM": lambda idp, t: resigned(
        t, "HS256", _hs256(idp_public_pem(idp))),
    "issuer with a trailing slash": lambda idp, t: idp.token("ada", ["admins"],
                                                              iss=ISSUER + "/"),
    "another client's audience": lambda idp, t: idp.token("ada", ["admins"], aud="other"),
    "our audience plus an untrusted one": lambda idp, t: idp.token(
        "ada", ["admins"], aud=[CLIENT_ID, "untrusted"], azp=CLIENT_ID),
    "expired 61 s ago": lambda idp, t: idp.token(
        "ada", ["admins"], exp=int(idp.clock().timestamp()) - 61),
    "issued an hour from now": lambda idp, t: idp.token(
        "ada", ["admins"], iat=int(idp.clock().timestamp()) + 3600),
}


def users_and_sessions(gh: Gatehouse) -> tuple[int, int]:
    with gh.read() as db:
        return (db.execute(select(func.count()).select_from(User)).scalar_one(),
                db.execute(select(func.count()).select_from(ConsoleSession)).scalar_one())


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_token_opens_nothing_and_leaves_only_a_failed_sign_in(
        gh: Gatehouse, idp: LocalIdP, forgery: str) -> None:
    genuine = idp.token("ada", ["admins"])
    forged = FORGERIES[forgery](idp, genuine)
    before = users_and_sessions(gh)
    with pytest.raises(InvalidIdToken) as refused:
        resume(gh, forged, "203.0.113.9", "curl/8")
    assert users_and_sessions(gh) == before
    [failed] = events(gh)
    assert (failed["action"], failed["outcome"]) == ("auth.login.failed", "denied")
    assert (failed["actor_iss"], failed["actor_sub"]) == ("unverified", "unverified")
    assert (failed["source_ip"], failed["user_agent"]) == ("203.0.113.9", "curl/8")
    assert failed["details"]["why"] == str(refused.value)
    recorded = repr(failed)
    assert not any(part and part in recorded for part in forged.split("."))


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_forged_token_for_a_signed_in_admin_does_not_reach_their_session(
        gh: Gatehouse, idp: LocalIdP, forgery: str) -> None:
    genuine = idp.token("ada", ["admins"])
    admin = resume(gh, genuine)
    with pytest.raises(InvalidIdToken):
        resume(gh, FORGERIES[forgery](idp, genuine))
    assert resume(gh, genuine).session_id == admin.session_id  # the real one still works
    assert users_and_sessions(gh) == (1, 1)


@pytest.mark.parametrize("claims", [
    pytest.param({"groups": ["Admins"]}, id="other case"),
    pytest.param({"groups": ["admins "]}, id="trailing space"),
    pytest.param({"groups": ["\u0430dmins"]}, id="Cyrillic a"),
    pytest.param({"groups": ["admins\u200b"]}, id="zero-width space"),
    pytest.param({"groups": "admins"}, id="a string, not a list"),
    pytest.param({"groups": [["admins"]]}, id="nested list"),
    pytest.param({"groups": {"admins": True}}, id="an object"),
    pytest.param({"groups": [], "email": "ada@example.com"}, id="an admin's email"),
    pytest.param({"groups": [], "roles": ["approver"]}, id="a roles claim"),
    pytest.param({"groups": ["marketing"], "email_verified": True}, id="unmapped group"),
])
def test_roles_come_only_from_exact_group_names(gh: Gatehouse, idp: LocalIdP,
                                                claims: dict[str, Any]) -> None:
    resume(gh, idp.token("ada", ["admins"]))  # the real admin exists
    with pytest.raises(NoRole):
        resume(gh, idp.token("mallory", **claims))
    assert users_and_sessions(gh)[1] == 1
    assert [e["action"] for e in events(gh)] == ["auth.login", "auth.no_role"]

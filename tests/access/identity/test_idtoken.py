"""ID token re-validation: the forged-token matrix (docs/security.md, the outsider with a
forged or altered ID token).

Tokens are minted here with `cryptography` and the standard library, not with the JOSE library
under test, so a bug there cannot make a forged token and its check agree. The JWKS comes from
a plain function over a dict (a fake IdP), and the clock is fixed. One test runs the real
authorization-code flow against oidc-provider-mock.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from access.identity.oidc import (
    IdTokenPolicy,
    InvalidIdToken,
    JwksCache,
    discover_jwks_fetcher,
    validate_id_token,
)

ISSUER = "https://idp.example.test"
CLIENT_ID = "gatehouse"
NOW = 1_800_000_000
KID = "signing-1"
POLICY = IdTokenPolicy(issuer=ISSUER, client_id=CLIENT_ID)
DROP = object()  # claim value meaning "leave this claim out"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(value: object) -> str:
    return _b64(json.dumps(value).encode())


def _jwk(key: rsa.RSAPrivateKey, kid: str | None, **extra: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    jwk = {"kty": "RSA", "n": _b64(n), "e": _b64(e), **extra}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def claims(**changes: object) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "alice",
        "iat": NOW - 10,
        "exp": NOW + 300,
        "nonce": "n-0S6_WzA2Mj",
    }
    for name, value in changes.items():
        if value is DROP:
            base.pop(name)
        else:
            base[name] = value
    return base


def mint(
    payload: dict[str, Any] | list[Any],
    sign: Callable[[bytes], bytes],
    alg: str = "RS256",
    kid: object = KID,
) -> str:
    header = {"alg": alg, "typ": "JWT"} | ({"kid": kid} if kid is not None else {})
    signing_input = f"{_b64json(header)}.{_b64json(payload)}".encode()
    return f"{signing_input.decode()}.{_b64(sign(signing_input))}"


def rs256(key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class Keys:
    idp: rsa.RSAPrivateKey  # the issuer's real signing key
    attacker: rsa.RSAPrivateKey

    def sign(self, payload: dict[str, Any] | list[Any], kid: object = KID) -> str:
        return mint(payload, rs256(self.idp), kid=kid)


class FakeIdP:
    """The issuer's JWKS endpoint as a plain function over a mutable document."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.jwks: dict[str, Any] = {"keys": list(jwks)}

    def fetch(self) -> dict[str, Any]:
        return copy.deepcopy(self.jwks)  # a fresh copy each time, as over the network


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        idp=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        attacker=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture
def cache(keys: Keys) -> JwksCache:
    return JwksCache(FakeIdP(_jwk(keys.idp, KID)).fetch, clock=Clock())


def _hs256_with_public_pem(keys: Keys) -> str:
    # The classic key-confusion attack: HMAC "keyed" with the IdP's public key, which anyone has.
    pem = keys.idp.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return mint(claims(), lambda data: hmac.new(pem, data, hashlib.sha256).digest(), "HS256")


def _tampered_payload(keys: Keys) -> str:
    header, _, signature = keys.sign(claims()).split(".")
    return f"{header}.{_b64json(claims(sub='mallory'))}.{signature}"


def _rs512(keys: Keys) -> str:
    return mint(claims(), lambda d: keys.idp.sign(d, padding.PKCS1v15(), hashes.SHA512()), "RS512")


def _unsigned(keys: Keys) -> str:
    return mint(claims(), lambda _: b"", "none")


FORGERIES = [
    pytest.param(
        lambda k: mint(claims(), rs256(k.attacker)),
        "signature invalid",
        id="attacker key reusing the real kid",
    ),
    pytest.param(_tampered_payload, "signature invalid", id="payload swapped under a signature"),
    pytest.param(_unsigned, "algorithm not allowed", id="alg none"),
    pytest.param(
        lambda k: mint(claims(), lambda _: b"", "None", kid=None),
        "algorithm not allowed",
        id="alg None without kid",
    ),
    pytest.param(_hs256_with_public_pem, "algorithm not allowed", id="HS256 keyed with public PEM"),
    pytest.param(_rs512, "algorithm not allowed", id="RS512 not on the allowlist"),
    pytest.param(lambda k: k.sign(claims(), kid="forged"), "unknown signing key", id="unknown kid"),
    pytest.param(lambda k: k.sign(claims(), kid=1), "malformed token", id="kid a number"),
    pytest.param(lambda k: k.sign(["not", "claims"]), "malformed token", id="payload a list"),
    pytest.param(lambda k: "", "malformed token", id="empty string"),
    pytest.param(lambda k: "a.b", "malformed token", id="two segments"),
    pytest.param(lambda k: "garbage", "malformed token", id="garbage"),
    pytest.param(lambda k: "a.b.c", "malformed token", id="three garbage segments"),
    pytest.param(lambda k: "é.é.é", "malformed token", id="non-ASCII"),
    pytest.param(
        lambda k: ".".join([_b64json({"alg": "RS256"})] * 5), "malformed token", id="JWE-shaped"
    ),
    pytest.param(
        lambda k: f"{_b64json(['alg'])}.e30.", "malformed token", id="header not an object"
    ),
]

# Signed with the IdP's real key: only the claims are wrong.
BAD_CLAIMS = [
    pytest.param({"iss": "https://evil.example.test"}, "issuer mismatch", id="wrong issuer"),
    pytest.param({"iss": ISSUER + "/"}, "issuer mismatch", id="issuer trailing slash"),
    pytest.param({"iss": ISSUER.upper()}, "issuer mismatch", id="issuer other case"),
    pytest.param({"aud": "other"}, "audience not allowed", id="wrong audience"),
    pytest.param({"aud": [CLIENT_ID, "untrusted"]}, "audience not allowed", id="extra audience"),
    pytest.param(
        {"aud": "other", "azp": CLIENT_ID}, "audience not allowed", id="other audience with our azp"
    ),
    pytest.param(
        {"aud": ["other"], "azp": CLIENT_ID},
        "audience not allowed",
        id="other audience list with our azp",
    ),
    pytest.param({"aud": []}, "audience not allowed", id="empty audience list"),
    pytest.param({"azp": "other"}, "authorized party mismatch", id="our audience, other azp"),
    pytest.param({"exp": NOW - 61}, "token expired", id="expired 61 s ago"),
    pytest.param({"iat": NOW + 3600}, "token issued in the future", id="issued an hour ahead"),
    pytest.param({"nbf": NOW + 61}, "token not yet valid", id="not valid for 61 s"),
    pytest.param({"exp": str(NOW + 300)}, "invalid claim: exp", id="exp as text"),
    pytest.param({"exp": float("nan")}, "invalid claim: exp", id="exp NaN"),
    pytest.param({"iat": True}, "invalid claim: iat", id="iat a bool"),
    pytest.param({"sub": DROP}, "missing claim: sub", id="missing sub"),
    pytest.param({"exp": DROP}, "missing claim: exp", id="missing exp"),
    pytest.param({"iat": DROP}, "missing claim: iat", id="missing iat"),
    pytest.param({"iss": DROP}, "missing claim: iss", id="missing iss"),
    pytest.param({"aud": DROP}, "missing claim: aud", id="missing aud"),
    pytest.param({"sub": ""}, "invalid claim: sub", id="empty sub"),
    pytest.param({"sub": 42}, "invalid claim: sub", id="sub a number"),
]


def _assert_rejected(token: str, cache: JwksCache, message: str) -> None:
    with pytest.raises(InvalidIdToken) as caught:
        validate_id_token(token, POLICY, cache, now=NOW)
    assert str(caught.value) == message
    # Nothing from the JOSE library (which may quote the token) is chained into a traceback.
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(("make", "message"), FORGERIES)
def test_forged_token_is_rejected(
    keys: Keys, cache: JwksCache, make: Callable[[Keys], str], message: str
) -> None:
    _assert_rejected(make(keys), cache, message)


@pytest.mark.parametrize(("changes", "message"), BAD_CLAIMS)
def test_token_with_bad_claims_is_rejected(
    keys: Keys, cache: JwksCache, changes: dict[str, Any], message: str
) -> None:
    _assert_rejected(keys.sign(claims(**changes)), cache, message)


def test_key_that_does_not_fit_the_algorithm_is_rejected(keys: Keys, cache: JwksCache) -> None:
    # ES256 is allowed here, but the kid names an RSA key: the header must not pick the key type.
    policy = IdTokenPolicy(issuer=ISSUER, client_id=CLIENT_ID, algorithms=("RS256", "ES256"))
    token = mint(claims(), lambda _: b"\x00" * 64, "ES256")
    with pytest.raises(InvalidIdToken, match=r"^signing key does not fit algorithm$"):
        validate_id_token(token, policy, cache, now=NOW)


def test_valid_token_returns_its_claims(keys: Keys, cache: JwksCache) -> None:
    sent = claims(groups=["approvers"], aud=[CLIENT_ID], azp=CLIENT_ID, nbf=NOW - 10)
    assert validate_id_token(keys.sign(sent), POLICY, cache, now=NOW) == sent


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": NOW - 59},
        {"exp": NOW - 60},
        {"iat": NOW + 59},
        {"nbf": NOW + 60},
        {"exp": NOW + 300.5},
        {"exp": 10**400},
    ],
    ids=[
        "exp 59 s ago",
        "exp 60 s ago",
        "iat 59 s ahead",
        "nbf 60 s ahead",
        "float exp",
        "huge int exp",
    ],
)
def test_clock_skew_within_leeway_is_accepted(
    keys: Keys, cache: JwksCache, changes: dict[str, Any]
) -> None:
    assert validate_id_token(keys.sign(claims(**changes)), POLICY, cache, now=NOW)["sub"] == "alice"


def test_token_without_kid_is_accepted_when_the_jwks_has_one_key(
    keys: Keys, cache: JwksCache
) -> None:
    # OIDC Core 10.1 lets the IdP omit kid when it publishes one key (oidc-provider-mock does).
    assert validate_id_token(keys.sign(claims(), kid=None), POLICY, cache, now=NOW)["sub"]


def test_token_without_kid_is_rejected_when_the_jwks_has_several_keys(keys: Keys) -> None:
    idp = FakeIdP(_jwk(keys.idp, KID), _jwk(keys.attacker, "other"))
    cache = JwksCache(idp.fetch, clock=Clock())
    with pytest.raises(InvalidIdToken, match=r"^unknown signing key$"):
        validate_id_token(keys.sign(claims(), kid=None), POLICY, cache, now=NOW)


@pytest.mark.parametrize(
    "algorithms", [("none",), ("HS256",), ("RS256", "HS512"), ("hs256",), (), ("RS1024",)]
)
def test_policy_refuses_unsafe_algorithms(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="algorithm"):
        IdTokenPolicy(issuer=ISSUER, client_id=CLIENT_ID, algorithms=algorithms)


@pytest.mark.parametrize("leeway", [61, 120, -1])
def test_policy_refuses_leeway_outside_0_to_60(leeway: int) -> None:
    with pytest.raises(ValueError, match="leeway_seconds must be between 0 and 60"):
        IdTokenPolicy(issuer=ISSUER, client_id=CLIENT_ID, leeway_seconds=leeway)


def test_unknown_kid_refetches_once_then_is_rate_limited(keys: Keys) -> None:
    clock = Clock()
    cache = JwksCache(FakeIdP(_jwk(keys.idp, KID)).fetch, clock=clock, min_refetch_seconds=60)
    validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)
    assert cache.fetch_count == 1  # fetched lazily, on first use

    def forged(kid: str) -> None:
        with pytest.raises(InvalidIdToken, match=r"^unknown signing key$"):
            validate_id_token(mint(claims(), rs256(keys.attacker), kid=kid), POLICY, cache, NOW)

    clock.t = 100.0
    forged("forged-1")
    assert cache.fetch_count == 2  # one refetch, in case the IdP rotated its keys
    clock.t = 159.0
    forged("forged-2")
    forged("forged-3")
    assert cache.fetch_count == 2  # inside the window: no request to the IdP
    validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)
    assert cache.fetch_count == 2  # known keys keep working from the cache
    clock.t = 160.0
    forged("forged-4")
    assert cache.fetch_count == 3  # the window has passed


def test_key_rotation_is_picked_up_by_a_refetch(keys: Keys) -> None:
    clock = Clock()
    idp = FakeIdP(_jwk(keys.idp, KID))
    cache = JwksCache(idp.fetch, clock=clock)
    validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.jwks["keys"].append(_jwk(new_key, "signing-2"))

    clock.t = 61.0
    token = mint(claims(sub="bob"), rs256(new_key), kid="signing-2")
    assert validate_id_token(token, POLICY, cache, now=NOW)["sub"] == "bob"
    assert cache.fetch_count == 2


def test_withdrawn_key_stops_being_trusted_after_max_age(keys: Keys) -> None:
    clock = Clock()
    idp = FakeIdP(_jwk(keys.idp, KID))
    cache = JwksCache(idp.fetch, clock=clock, max_age_seconds=3600)
    validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)
    idp.jwks["keys"] = [_jwk(keys.attacker, "signing-2")]
    clock.t = 3599.0
    validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)  # still cached
    clock.t = 3600.0
    with pytest.raises(InvalidIdToken, match=r"^unknown signing key$"):
        validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)


def test_failed_fetch_is_rate_limited_too() -> None:
    calls: list[float] = []
    clock = Clock()

    def unavailable() -> dict[str, Any]:
        calls.append(clock())
        raise InvalidIdToken("provider jwks unavailable")

    cache = JwksCache(unavailable, clock=clock)
    with pytest.raises(InvalidIdToken, match=r"^provider jwks unavailable$"):
        cache.key(KID)
    with pytest.raises(InvalidIdToken, match=r"^unknown signing key$"):
        cache.key(KID)
    assert calls == [0.0]


def test_jwks_symmetric_and_encryption_keys_are_never_trusted(keys: Keys) -> None:
    idp = FakeIdP(
        {"kty": "oct", "kid": "shared", "k": _b64(b"s" * 32)},
        _jwk(keys.attacker, "enc-key", use="enc"),
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        _jwk(keys.idp, KID),
    )
    cache = JwksCache(idp.fetch, clock=Clock())
    for kid in ("shared", "enc-key", "broken"):
        with pytest.raises(InvalidIdToken, match=r"^unknown signing key$"):
            cache.key(kid)
    assert validate_id_token(keys.sign(claims()), POLICY, cache, now=NOW)["sub"] == "alice"


@pytest.mark.parametrize("document", [{}, {"keys": "none"}, []])
def test_malformed_jwks_is_rejected(document: Any) -> None:
    cache = JwksCache(lambda: document, clock=Clock())
    with pytest.raises(InvalidIdToken, match=r"^provider jwks malformed$"):
        cache.key(KID)


def _metadata_client(metadata: object, status: int = 200) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/.well-known/openid-configuration"
        return httpx.Response(status, json=metadata)

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("metadata", "status", "message"),
    [
        (
            {"issuer": "https://evil.example.test", "jwks_uri": f"{ISSUER}/jwks"},
            200,
            "provider metadata issuer mismatch",
        ),
        (
            {"issuer": ISSUER + "/", "jwks_uri": f"{ISSUER}/jwks"},
            200,
            "provider metadata issuer mismatch",
        ),
        ({"issuer": ISSUER}, 200, "provider metadata has no jwks_uri"),
        (
            {"issuer": ISSUER, "jwks_uri": "http://idp.example.test/jwks"},
            200,
            "provider jwks_uri is not https",
        ),
        (["not", "an", "object"], 200, "provider metadata malformed"),
        ({"error": "down"}, 503, "provider metadata unavailable"),
    ],
    ids=[
        "other issuer",
        "issuer trailing slash",
        "no jwks_uri",
        "http jwks_uri",
        "not an object",
        "HTTP 503",
    ],
)
def test_discovery_rejects_bad_provider_metadata(
    metadata: object, status: int, message: str
) -> None:
    with _metadata_client(metadata, status) as client, pytest.raises(InvalidIdToken) as caught:
        discover_jwks_fetcher(ISSUER, client)
    assert str(caught.value) == message


def test_discovery_refuses_plain_http_issuer_off_loopback() -> None:
    with pytest.raises(InvalidIdToken, match=r"^provider issuer is not https$"):
        discover_jwks_fetcher("http://idp.example.test")


# The mock's token endpoint calls an Authlib API that Authlib 1.9 deprecates; not our code.
@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_real_id_token_from_local_openid_provider() -> None:
    with warnings.catch_warnings(record=True):  # the mock imports authlib.jose (deprecated)
        import oidc_provider_mock

    redirect_uri = "http://127.0.0.1:9/oauth2callback"  # never contacted: we stop at the 302
    with oidc_provider_mock.run_server_in_thread() as server, httpx.Client(timeout=5) as http:
        idp = f"http://localhost:{server.server_port}"
        authorize = http.post(
            f"{idp}/oauth2/authorize",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": "openid email",
                "state": "state-1",
                "nonce": "nonce-1",
            },
            data={"sub": "carol"},
        )
        assert authorize.status_code == 302
        query = parse_qs(urlsplit(authorize.headers["location"]).query)
        assert query["state"] == ["state-1"]
        token_response = http.post(
            f"{idp}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": redirect_uri,
            },
            auth=(CLIENT_ID, "any-secret"),
        )
        assert token_response.status_code == 200
        id_token = token_response.json()["id_token"]

        cache = JwksCache(discover_jwks_fetcher(idp, http))
        policy = IdTokenPolicy(issuer=idp, client_id=CLIENT_ID)
        got = validate_id_token(id_token, policy, cache, now=time.time())
        assert (got["iss"], got["sub"], got["nonce"]) == (idp, "carol", "nonce-1")
        assert cache.fetch_count == 1

        other_client = IdTokenPolicy(issuer=idp, client_id="another-app")
        with pytest.raises(InvalidIdToken, match=r"^audience not allowed$"):
            validate_id_token(id_token, other_client, cache, now=time.time())
        with pytest.raises(InvalidIdToken, match=r"^provider metadata issuer mismatch$"):
            discover_jwks_fetcher(idp + "/", http)

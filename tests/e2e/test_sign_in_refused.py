"""Refused sign-ins in a real browser against the real demo provider: each kind of bad ID token
shows the person a message and leaves exactly one `auth.login.failed` event naming the reason,
with no token content.

oidc-provider-mock merges a user's claims into the ID token after its own (Authlib's
`encode_id_token`), so a persona registered with `aud`, `exp` or `iss` gets a properly signed
token that says so. A token signed by a key the provider does not publish comes from pointing
the console at a discovery document that names another key set (`foreign_keys`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from playwright.sync_api import Page, expect
from sqlalchemy import select

from audit.schema import events_table
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import (
    ROOT,
    free_port,
    screenshot,
    sign_in_at_idp,
    wait_for_app,
)
from tests.e2e.flows import sign_in

CLIENT_ID = "gatehouse-demo"  # scripts/demo_secrets.py
SUPPORT: dict[str, object] = {"name": "Rex Refused", "email": "rex@example.test",
                              "groups": ["support"]}
OWN_CHECK = "check of the sign-in failed: audience not allowed"


@dataclass
class Scene:
    url: str
    stage: Backstage
    start: int = 0  # the last event before the test: its events come after

    def refused(self) -> list[dict[str, Any]]:
        """The test's `auth.login.failed` events."""
        e = events_table.c
        with self.stage.gh.engine.connect() as conn:
            rows = conn.execute(select(e.actor_sub, e.outcome, e.details, e.source_ip)
                                .where(e.action == "auth.login.failed", e.id > self.start)
                                .order_by(e.id)).all()
        return [dict(row._mapping) for row in rows]


@pytest.fixture(scope="module")
def console(module_consoles: tuple[Callable[..., str], Path], idp: str) -> Iterator[Scene]:
    """One console for the module: each test uses its own persona and its own events."""
    start, root = module_consoles
    url = start(ROOT / "streamlit_app.py")
    with pytest.MonkeyPatch.context() as patch:
        yield Scene(url, backstage_for(url, root, idp, patch))


@pytest.fixture
def scene(console: Scene) -> Scene:
    console.start = console.stage.last_event_id()
    return console


def attempt(page: Page, url: str, sub: str, claims: Mapping[str, object], idp: str) -> None:
    """`sub`, with `claims` merged into its ID token, signs in at the provider."""
    assert httpx.put(f"{idp}/users/{sub}", json=claims, timeout=5).status_code == 204
    page.goto(url)
    page.get_by_role("button", name="Sign in", exact=True).click()
    sign_in_at_idp(page, sub)
    page.wait_for_url(f"{url}/**")
    wait_for_app(page)


def assert_one_refusal(page: Page, scene: Scene, why: str, message: str, shot: str) -> None:
    expect(page.get_by_text("Sign-in refused.")).to_be_visible()
    expect(page.get_by_text(message)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, shot)
    page.reload()  # a reload is not a second attempt
    wait_for_app(page)
    events = scene.refused()
    assert [(e["actor_sub"], e["outcome"], e["details"]) for e in events] == [
        ("unverified", "denied", {"why": why})]
    assert events[0]["source_ip"] == "127.0.0.1"
    assert "?signin" not in page.url  # the message is not in a URL someone could share


def test_a_token_for_another_audience_is_refused_with_a_message_and_one_event(
        page: Page, scene: Scene, idp: str) -> None:
    attempt(page, scene.url, "rex.audience", {**SUPPORT, "aud": "another-app"}, idp)
    assert_one_refusal(page, scene, "provider callback: audience not allowed",
                       "issued this sign-in for another application", "refused-1-audience")


def test_an_expired_token_is_refused_with_a_message_and_one_event(
        page: Page, scene: Scene, idp: str) -> None:
    attempt(page, scene.url, "rex.expired", {**SUPPORT, "exp": 1_000_000_000}, idp)
    assert_one_refusal(page, scene, "provider callback: token expired",
                       "had already expired", "refused-2-expired")


def test_a_token_from_another_issuer_is_refused_with_a_message_and_one_event(
        page: Page, scene: Scene, idp: str) -> None:
    attempt(page, scene.url, "rex.issuer", {**SUPPORT, "iss": "http://localhost:1"}, idp)
    assert_one_refusal(page, scene, "provider callback: issuer mismatch",
                       "identity provider Gatehouse does not trust", "refused-3-issuer")


@pytest.fixture
def foreign_keys(idp: str) -> Iterator[str]:
    """The provider's discovery document with `jwks_uri` naming a key set of another key: every
    token the provider signs then carries a key it does not publish, as far as the console
    can tell. Yields the discovery URL."""
    port = free_port()
    other = RSAKey.generate_key(2048, {"kid": "someone-elses-key", "use": "sig"})
    metadata = httpx.get(f"{idp}/.well-known/openid-configuration", timeout=5).json()
    documents = {"/.well-known/openid-configuration":
                 {**metadata, "jwks_uri": f"http://localhost:{port}/jwks"},
                 "/jwks": {"keys": [other.as_dict(private=False)]}}

    class Serve(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/.well-known/openid-configuration"
    finally:
        server.shutdown()
        thread.join()


def test_a_token_signed_with_a_foreign_key_is_refused_with_a_message_and_one_event(
        page: Page, start_console: Callable[..., str], foreign_keys: str, idp: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = start_console(ROOT / "streamlit_app.py", metadata_url=foreign_keys)
    scene = Scene(url, backstage_for(url, tmp_path, idp, monkeypatch))
    attempt(page, url, "rex.foreign", SUPPORT, idp)
    # The provider's tokens carry no `kid`, so the one published key is tried and fails.
    assert_one_refusal(page, scene, "provider callback: signature invalid",
                       "signature does not match Gatehouse's identity provider",
                       "refused-4-foreign-key")


def test_a_token_only_gatehouse_refuses_is_recorded_once_however_often_it_returns(
        page: Page, scene: Scene, idp: str) -> None:
    # Authlib accepts an extra audience when `azp` is ours; Gatehouse's own check does not.
    attempt(page, scene.url, "rex.extra",
            {**SUPPORT, "aud": [CLIENT_ID, "another-app"], "azp": CLIENT_ID}, idp)
    expect(page.get_by_text(OWN_CHECK)).to_be_visible()
    screenshot(page, "refused-5-gatehouse-check")
    for _ in range(2):
        page.reload()
        wait_for_app(page)
        expect(page.get_by_text(OWN_CHECK)).to_be_visible()
    events = scene.refused()
    assert [(e["actor_sub"], e["details"]) for e in events] == [
        ("unverified", {"why": "audience not allowed"})]
    assert events[0]["source_ip"] == "127.0.0.1"


def test_a_denied_authorization_at_the_provider_is_one_event(page: Page, scene: Scene) -> None:
    page.goto(scene.url)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Deny", exact=True).click()
    wait_for_app(page)
    assert_one_refusal(page, scene, "provider callback: the identity provider returned an error",
                       "The identity provider did not sign you in.", "refused-6-denied")


def test_a_good_sign_in_leaves_no_refusal(page: Page, scene: Scene) -> None:
    sign_in(page, scene.url, "sam.support")
    assert scene.refused() == []

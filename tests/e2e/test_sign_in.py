"""The sign-in path in a real browser: the demo OpenID provider, TOTP enrollment, sign out,
and a second sign-in with a fresh code. Screenshots of each step are kept as artifacts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from access.identity import mfa, totp
from audit.schema import events_table
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import ROOT, screenshot, sign_in_at_idp, wait_for_app
from tests.e2e.flows import download, enter_code, sign_in, sign_out


def test_the_newcomer_enrolls_reaches_home_signs_out_and_signs_in_again_with_a_fresh_code(
        page: Page, console_url: str, tmp_path: Path,
        module_consoles: tuple[Callable[..., str], Path]) -> None:
    page.goto(console_url)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in-1-signed-out")

    sign_in(page, console_url, "nell.newcomer")
    expect(page.get_by_role("img")).to_have_count(1)  # the QR code
    secret = page.get_by_test_id("stCode").first.inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    screenshot(page, "sign-in-2-enroll")
    enrolled_at = totp.time_step(time.time())
    enter_code(page, secret, enrolled_at, "Activate")
    expect(page.get_by_text("Your authenticator is active.")).to_be_visible()
    codes = page.get_by_test_id("stCode").first.inner_text().split()
    assert len(codes) == 10 and all(RECOVERY_CODE.fullmatch(c) for c in codes)
    _, saved = download(page, "Download recovery codes", tmp_path)
    assert re.fullmatch(r"gatehouse-recovery-codes-nell\.newcomer-\d{8}T\d{6}Z\.txt", saved.name)
    text = saved.read_text()
    assert "Account: Nell Newcomer (nell.newcomer)" in text.splitlines()
    assert [line for line in text.splitlines() if RECOVERY_CODE.fullmatch(line)] == codes
    assert text.endswith("\n\n" + "\n".join(codes) + "\n")  # one a line, and nothing else
    # The download does not rerun the page: the codes stay on screen, unchanged.
    expect(page.get_by_test_id("stCode").first).to_have_text("\n".join(codes))
    screenshot(page, "sign-in-3-recovery-codes")
    assert never_stored(codes, module_consoles[1]) == []
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_role("heading", name="Welcome, Nell Newcomer")).to_be_visible()
    screenshot(page, "sign-in-4-home")

    sign_out(page)
    page.goto(console_url)
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in-5-signed-out-again")

    sign_in(page, console_url, "nell.newcomer")
    expect(page.get_by_label("6-digit code")).to_be_visible()
    enter_code(page, secret, enrolled_at, "Verify")  # the step used at enrollment: refused
    expect(page.get_by_text("not valid (or was already used)")).to_be_visible()
    # a later step, inside the window however long the run took (a loaded machine)
    enter_code(page, secret, max(totp.time_step(time.time()), enrolled_at + 1), "Verify")
    expect(page.get_by_role("heading", name="Welcome, Nell Newcomer")).to_be_visible()
    screenshot(page, "sign-in-6-home-again")


RECOVERY_CODE = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")


def never_stored(codes: list[str], root: Path) -> list[str]:
    """The files under the consoles' folder (data, database, keys, console log) holding any
    of `codes` as typed or without dashes: the database keeps hashes only."""
    needles = [c.encode() for c in codes] + [c.replace("-", "").encode() for c in codes]
    return [str(path) for path in root.rglob("*") if path.is_file()
            and any(n in path.read_bytes() for n in needles)]


@pytest.fixture(scope="module")
def shared(module_consoles: tuple[Callable[..., str], Path],
           idp: str) -> Iterator[tuple[str, Backstage]]:
    """One console for the module; each test signs in its own personas in a fresh browser."""
    start, root = module_consoles
    url = start(ROOT / "streamlit_app.py")
    with pytest.MonkeyPatch.context() as patch:
        yield url, backstage_for(url, root, idp, patch)


@pytest.fixture
def console_url(shared: tuple[str, Backstage]) -> str:
    return shared[0]


@pytest.fixture
def stage(shared: tuple[str, Backstage]) -> Backstage:
    return shared[1]


def ready(stage: Backstage, *subs: str) -> None:
    """`subs` have an authenticator (tests of the module share one database)."""
    for sub in subs:
        if sub not in stage.people:
            stage.enroll(sub)


def test_the_code_screen_names_the_person_and_signs_the_wrong_persona_out(
        page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "sky.support", "sam.support")
    sign_in(page, console_url, "sky.support")  # meant to be Sam
    expect(page.get_by_text("Signing in as Sky Support (sky.support)")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_be_visible()
    screenshot(page, "sign-in-7-code-screen-names-the-person")
    before = stage.last_event_id()
    sign_out(page)
    page.wait_for_url(f"{console_url}/**")
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in-8-signed-out-from-the-code-screen")
    assert stage.actions(after=before) == ["auth.logout"]

    stage.sign_in(page, console_url, "sam.support")  # no cookie to clear by hand
    expect(page.get_by_role("heading", name="Welcome, Sam Support")).to_be_visible()


def test_an_enrolled_persona_signs_in_with_a_code_and_no_enrollment(
        page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "audrey.auditor")
    sign_in(page, console_url, "audrey.auditor")
    expect(page.get_by_role("img")).to_have_count(0)  # no QR code: already enrolled
    expect(page.get_by_label("6-digit code")).to_be_visible()
    screenshot(page, "sign-in-9-code-only")
    before = stage.last_event_id()
    stage.enter_code(page, "audrey.auditor", "Verify")
    expect(page.get_by_role("heading", name="Welcome, Audrey Auditor")).to_be_visible()
    assert stage.actions(after=before) == ["auth.mfa.verified"]
    e = events_table.c
    with stage.gh.engine.connect() as conn:
        ip = conn.execute(select(e.source_ip).where(e.id > before)).scalar_one()
    assert ip == "127.0.0.1"  # the browser's real peer, from a browser action


def test_page_urls_work_after_sign_in(page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "ada.admin")
    stage.sign_in(page, console_url, "ada.admin")
    assert page.url.rstrip("/") == console_url  # "/" shows Home in place
    expect(page.get_by_role("heading", name="Welcome, Ada Admin")).to_be_visible()
    page.goto(f"{console_url}/approvals")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    page.goto(f"{console_url}/home")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Welcome, Ada Admin")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    screenshot(page, "url-1-home-by-url")


def test_a_typed_url_naming_no_page_or_a_page_the_role_lacks_lands_on_home(
        page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "sam.support")
    stage.sign_in(page, console_url, "sam.support")
    before = stage.last_event_id()
    page.goto(f"{console_url}/approvals")  # typed while signed in
    expect(page.get_by_text("Your role does not include the page Approvals")).to_be_visible()
    page.wait_for_url(f"{console_url}/home")
    assert stage.actions("auth.page.denied", after=before) == ["auth.page.denied"]
    page.goto(f"{console_url}/no-such-page")
    expect(page.get_by_text("There is no page /no-such-page, so you are on Home.")) \
        .to_be_visible()
    page.wait_for_url(f"{console_url}/home")
    expect(page.get_by_role("heading", name="Welcome, Sam Support")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)  # not Streamlit's dialog
    screenshot(page, "url-4-unknown-url-home")


def test_after_an_mfa_reset_sign_in_again_leads_to_enrolling_anew(
        page: Page, console_url: str, stage: Backstage) -> None:
    # not nell: the newcomer test above enrolled her in this module's shared database
    ready(stage, "pia.privacy", "alan.admin")
    stage.sign_in(page, console_url, "pia.privacy")
    mfa.reset(stage.gh, mfa.verify_code(stage.gh, stage.principal("alan.admin"),
                                        stage.code("alan.admin")),
              stage.people["pia.privacy"].principal.user_id, "lost her phone, SUP-31")
    page.reload()
    expect(page.get_by_text("your session has ended (mfa reset); sign in again")) \
        .to_be_visible()
    screenshot(page, "sign-in-10-after-reset")
    page.get_by_role("button", name="Sign in again", exact=True).click()
    sign_in_at_idp(page, "pia.privacy")
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    expect(page.get_by_role("img")).to_have_count(1)  # the QR code of a new enrollment
    screenshot(page, "sign-in-11-enroll-again")


def sign_in_from(page: Page, stage: Backstage, url: str, sub: str) -> None:
    """Open `url` signed out, sign in as `sub` and enter a code."""
    page.goto(url)
    page.get_by_role("button", name="Sign in", exact=True).click()
    sign_in_at_idp(page, sub)
    page.wait_for_url(url)  # back where the person started, not at "/"
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    stage.enter_code(page, sub, "Verify")
    expect(page.get_by_role("heading", name="Two-step verification")).to_have_count(0)
    wait_for_app(page)


def test_a_deep_link_lands_on_its_page_after_sign_in(
        page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "alan.admin")
    sign_in_from(page, stage, f"{console_url}/approvals", "alan.admin")
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    assert page.url == f"{console_url}/approvals"
    screenshot(page, "url-2-deep-link-after-sign-in")


def test_a_deep_link_the_role_does_not_allow_lands_on_home_with_a_message(
        page: Page, console_url: str, stage: Backstage) -> None:
    ready(stage, "sam.support")
    before = stage.last_event_id()
    sign_in_from(page, stage, f"{console_url}/approvals", "sam.support")
    expect(page.get_by_role("heading", name="Welcome, Sam Support")).to_be_visible()
    expect(page.get_by_text("Your role does not include the page Approvals")).to_be_visible()
    assert page.url == f"{console_url}/home"
    assert stage.actions("auth.page.denied", after=before) == ["auth.page.denied"]
    screenshot(page, "url-3-deep-link-not-allowed")


def verified_from(stage: Backstage, page: Page, url: str, sub: str) -> str | None:
    """Sign `sub` in; the source IP of its `auth.mfa.verified` event."""
    ready(stage, sub)
    before = stage.last_event_id()
    stage.sign_in(page, url, sub)
    e = events_table.c
    with stage.gh.engine.connect() as conn:
        ip: str | None = conn.execute(select(e.source_ip).where(
            e.id > before, e.action == "auth.mfa.verified")).scalar_one()
    return ip


FORGED = {"X-Forwarded-For": "198.51.100.23", "X-Gatehouse-Peer": "198.51.100.24"}


def test_an_untrusted_peer_cannot_choose_its_logged_address(
        browser: Browser, console_url: str, stage: Backstage) -> None:
    context = browser.new_context(extra_http_headers=FORGED)
    try:
        assert verified_from(stage, context.new_page(), console_url, "sky.support") \
            == "127.0.0.1"
    finally:
        context.close()


def test_behind_a_trusted_proxy_the_forwarded_address_is_logged(
        browser: Browser, start_console: Callable[..., str], idp: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The browser plays the proxy's client: loopback is trusted, so its header counts (and
    # the forged peer stamp still does not).
    url = start_console(ROOT / "streamlit_app.py", env={"GATEHOUSE_TRUSTED_PROXIES": "127.0.0.1"})
    stage = backstage_for(url, tmp_path, idp, monkeypatch)
    context = browser.new_context(extra_http_headers=FORGED)
    try:
        assert verified_from(stage, context.new_page(), url, "sky.support") == "198.51.100.23"
    finally:
        context.close()

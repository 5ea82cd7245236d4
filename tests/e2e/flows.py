"""Steps a person takes in the browser, shared by the end-to-end tests."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from access.identity import totp
from tests.e2e.conftest import sign_in_at_idp, wait_for_app


def enter_code(page: Page, secret: str, step: int, button: str) -> None:
    page.get_by_label("6-digit code").fill(totp.code_at_step(secret, step))
    page.get_by_role("button", name=button, exact=True).click()


def sign_in(page: Page, console_url: str, sub: str) -> None:
    """OIDC at the demo provider, up to the second factor."""
    page.goto(console_url)
    page.get_by_role("button", name="Sign in", exact=True).click()
    sign_in_at_idp(page, sub)
    page.wait_for_url(f"{console_url}/**")
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()


def enroll(page: Page) -> tuple[str, int]:
    """Enroll the authenticator shown; return its key and the time step used."""
    secret = page.get_by_test_id("stCode").first.inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    step = totp.time_step(time.time())
    enter_code(page, secret, step, "Activate")
    expect(page.get_by_text("Your authenticator is active.")).to_be_visible()
    page.get_by_role("button", name="Continue", exact=True).click()
    wait_for_app(page)
    return secret, step


def open_page(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_for_app(page)

"""The sign-in path in a real browser: the demo OpenID provider, TOTP enrollment, sign out,
and a second sign-in with a fresh code. Screenshots of each step are kept as artifacts."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from access.identity import totp
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import enter_code, sign_in


def test_persona_enrolls_signs_out_and_signs_in_again_with_a_fresh_code(
        page: Page, console_url: str) -> None:
    page.goto(console_url)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in-1-signed-out")

    sign_in(page, console_url, "sam.support")
    expect(page.get_by_role("img")).to_have_count(1)  # the QR code
    secret = page.get_by_test_id("stCode").first.inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    screenshot(page, "sign-in-2-enroll")
    enrolled_at = totp.time_step(time.time())
    enter_code(page, secret, enrolled_at, "Activate")
    expect(page.get_by_text("Your authenticator is active.")).to_be_visible()
    screenshot(page, "sign-in-3-recovery-codes")
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page.get_by_role("heading", name="Welcome, Sam Support")).to_be_visible()
    screenshot(page, "sign-in-4-home")

    page.get_by_role("button", name="Sign out", exact=True).click()
    # Streamlit clears its cookie, then sends the browser to the provider's end_session
    # endpoint, which asks before ending its own session.
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name=re.compile("End session")).click()
    page.goto(console_url)
    wait_for_app(page)
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    screenshot(page, "sign-in-5-signed-out-again")

    sign_in(page, console_url, "sam.support")
    expect(page.get_by_label("6-digit code")).to_be_visible()
    enter_code(page, secret, enrolled_at, "Verify")  # the step used at enrollment: refused
    expect(page.get_by_text("not valid (or was already used)")).to_be_visible()
    enter_code(page, secret, enrolled_at + 1, "Verify")  # a later step, inside the window
    expect(page.get_by_role("heading", name="Welcome, Sam Support")).to_be_visible()
    screenshot(page, "sign-in-6-home-again")

"""Smoke: sign in to the real console through the demo OpenID provider, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot, sign_in_at_idp


def test_sign_in_reaches_the_second_factor(page: Page, console_url: str) -> None:
    page.goto(console_url)
    sign_in = page.get_by_role("button", name="Sign in", exact=True)
    expect(sign_in).to_be_visible()
    screenshot(page, "smoke-1-signed-out")
    sign_in.click()
    sign_in_at_idp(page, "sam.support")
    page.wait_for_url(f"{console_url}/**")
    # A first sign-in passes OIDC and stops at MFA enrollment: OIDC alone is never enough.
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    expect(sign_in).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "smoke-2-second-factor")

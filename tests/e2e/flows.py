"""Steps a person takes in the browser, shared by the end-to-end tests."""

from __future__ import annotations

import re
import time
from contextlib import suppress
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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


def download(page: Page, label: str, into: Path) -> tuple[str, Path]:
    """Click the download button whose label starts with `label`; return its label and the
    saved file (by the name the browser was given)."""
    button = page.get_by_role("button", name=re.compile("^" + re.escape(label)))
    expect(button).to_have_count(1)
    wait_for_app(page)  # a click on the button of a run still drawing can go unanswered
    text = button.inner_text().strip()
    # A button that reads its file on the click (a deferred download, as the audit export's)
    # can exceed the 20 s action timeout on a loaded machine, as it did once in a clean-clone
    # CI run.
    with page.expect_download(timeout=60_000) as done:
        button.click()
    saved = into / done.value.suggested_filename
    done.value.save_as(saved)
    return text, saved


def confirm(page: Page, names: str) -> None:
    """Confirm the consequential action just asked for (approve, deny, revoke, restrict,
    lift, a user change, an export in clear, break-glass): every one shows a confirmation
    naming what will happen, `names` being part of it, even with a fresh code. Clicks its
    Confirm once it is the only one on screen (a rerun can leave a stale twin for a moment)."""
    expect(page.get_by_text(f"Confirm: {names}")).to_be_visible()
    button = page.get_by_role("button", name="Confirm", exact=True)
    expect(button).to_have_count(1)
    button.click()
    wait_for_app(page)


def shown(locator: Locator) -> Locator:
    """The one match on screen (another tab's twin is hidden)."""
    return locator.filter(visible=True)


def choose(page: Page, label: str, option: str, exact: bool = True) -> None:
    """Pick `option` (its whole name, or a part of it when not `exact`) in the visible select
    or multiselect `label`, leaving the list shut. Retried: a click that lands while the page
    reruns, or while an expander around the list is still opening, leaves the list shut."""
    combo = shown(page.get_by_role("combobox", name=label, exact=True))
    item = page.get_by_role("option", name=option, exact=exact)
    for _ in range(3):
        combo.click()
        try:
            item.click(timeout=3_000)
            # a multiselect's list stays open; Escape on a shut single select clears it
            if page.get_by_role("listbox").count():
                page.keyboard.press("Escape")
            settled(page)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"{label}: {option} never showed")


def settled(page: Page, start_within_ms: int = 1_500) -> None:
    """After a change that may rerun the script (a widget outside a form): wait for that run
    to start, briefly, then to end. `wait_for_app` alone can return before the run starts,
    and a click landing in the run that follows is lost (seen in a CI run: Export clicked
    right after a column was chosen did nothing)."""
    running = page.locator("[data-testid=stApp][data-test-script-state=running]")
    # no run may start (a widget inside a form), or it may end before we look
    with suppress(PlaywrightTimeout):
        running.wait_for(timeout=start_within_ms)
    wait_for_app(page)


def expand(scope: Page | Locator, label: str) -> None:
    """Open the expander headed `label` and wait until its body has stopped growing. A click
    or a fill landing while the body still slides open can miss its control; in full runs
    every lost click but one came right after an expander opened."""
    header = scope.get_by_text(label)
    header.click()
    body = header.locator("xpath=ancestor::*[@data-testid='stExpander'][1]") \
        .get_by_test_id("stExpanderDetails").first
    last = None
    for _ in range(60):
        box = body.bounding_box() if body.evaluate("e => !e.hasAttribute('inert')") else None
        if box is not None and box == last:
            return
        last = box
        time.sleep(0.1)
    raise AssertionError(f"the expander {label!r} never settled open")


def sign_out(page: Page) -> None:
    """Press the one Sign out button and end the session at the provider too.

    Waits for exactly one button first: while a rerun replaces a screen, Streamlit keeps the
    last screen's elements until the new run reaches them, so the code screen's Sign out can
    stand beside the sidebar's for a moment (a clean-clone CI run clicked into that moment)."""
    button = page.get_by_role("button", name="Sign out", exact=True)
    expect(button).to_have_count(1)
    button.click()
    # Streamlit clears its cookie, then sends the browser to the provider's end_session
    # endpoint, which asks before ending its own session.
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name=re.compile("End session")).click()


def open_page(page: Page, title: str) -> None:
    """Click the sidebar link `title` and wait until the app has settled on that page.

    One click is what a person makes. In one full-suite run on a loaded machine the app settled
    on Home after a click right after sign-in and it could not be reproduced (the sign-in
    landing switches from "/" to Home); so the test checks where it landed and, if the app is
    elsewhere, clicks once more rather than failing later on a missing element. A second
    miss fails here, naming the page."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title)
    href = link.get_attribute("href") or ""
    for _ in range(2):
        link.click()
        try:  # the URL changes when the new page's run starts; then wait for it to finish
            page.wait_for_url(lambda url: _same_page(url, href), timeout=10_000)
        except PlaywrightTimeout:
            continue
        wait_for_app(page)
        if _same_page(page.url, href):
            return
    raise AssertionError(f"the sidebar link {title!r} did not open {href} (at {page.url})")


def _same_page(url: str, href: str) -> bool:
    return url.split("?")[0].rstrip("/") == href.split("?")[0].rstrip("/")


def drawn(page: Page) -> None:
    """The script has finished and every table has replaced its loading skeleton."""
    wait_for_app(page)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)
    page.wait_for_timeout(500)  # the grid draws just after its element appears


def fits(page: Page) -> None:
    """Every table on the page shows all its columns: none scrolls sideways."""
    tables = page.get_by_test_id("stDataFrame")
    expect(tables.first).to_be_visible()
    for i in range(tables.count()):
        scroller = tables.nth(i).locator(".dvn-scroller")
        widths = scroller.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert widths[0] <= widths[1], f"table {i} is cut: {widths}"

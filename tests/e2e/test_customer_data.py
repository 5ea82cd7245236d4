"""Support works with customer data in a real browser: reveal, read, export, and what the log
recorded of it (exactly the deliberate acts, once each)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from access.workflow import grants
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import open_page

CUSTOMER = "cust-0053"


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam (support) holds a live grant on CUSTOMER's contacts and account: read, reveal,
    export; the admins approved it."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    grant_id = backstage.grant("sam.support", ["ada.admin", "alan.admin"], customer_id=CUSTOMER,
                    environment="production", scopes=["contacts", "account"],
                    actions=["read", "reveal", "export"], duration=timedelta(hours=4),
                    justification="SUP-3001: the customer cannot sign in", ticket="SUP-3001")
    backstage.grant_id = grant_id
    yield backstage
    backstage.gh.engine.dispose()


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in a multiselect. A click that lands while the expander around it is
    still opening leaves the list shut, so the list is opened again until the option shows."""
    combo, item = page.get_by_role("combobox", name=label), page.get_by_role("option", name=option)
    for _ in range(3):
        combo.click()
        try:
            item.click(timeout=3_000)
            return
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    raise AssertionError(f"{label}: {option} never showed")


def test_support_reveals_a_masked_column_and_sees_it(page: Page, console_url: str,
                                                     stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    wait_for_app(page)
    before = stage.last_event_id()
    page.get_by_text("Reveal masked columns").click()
    expect(page.get_by_role("combobox", name="Columns")).to_be_visible()
    choose(page, "Columns", "contacts.email")
    page.keyboard.press("Escape")
    page.get_by_label("Reason").fill("SUP-3001: confirm the sign-in address")
    page.get_by_role("button", name="Reveal", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Revealed contacts.email")).to_be_visible()
    expect(page.get_by_text("This app has encountered an error")).to_have_count(0)
    expect(page.get_by_test_id("stTable").first).to_contain_text("@")  # an email in clear
    page.get_by_test_id("stTable").first.scroll_into_view_if_needed()
    screenshot(page, "customer-data-1-revealed")
    assert stage.actions("data.revealed", after=before) == ["data.revealed"]


def test_a_read_happens_only_on_click_and_is_logged_once(page: Page, console_url: str,
                                                        stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    start = stage.last_event_id()
    open_page(page, "Customer data")
    expect(page.get_by_text("Click Read to see")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    assert stage.actions("data.", after=start) == []  # opening the page reads nothing

    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="contacts")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    screenshot(page, "customer-data-2-read")

    page.get_by_text("Reveal masked columns").click()  # other widgets: no read
    page.get_by_label("Reason").fill("just typing")
    page.get_by_text("account", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)  # not read for this scope
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)  # still on screen, not re-read
    assert stage.actions("data.", after=start) == ["data.read"]

    page.get_by_role("button", name="Export CSV", exact=True).click()
    wait_for_app(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV", exact=True).click()
    assert download.value.suggested_filename == f"{CUSTOMER}-contacts.csv"
    wait_for_app(page)
    screenshot(page, "customer-data-3-exported")
    assert stage.actions("data.", after=start) == ["data.read", "data.exported"]

    open_page(page, "My access")  # leaving the page drops what was read
    open_page(page, "Customer data")
    expect(page.get_by_text("Click Read to see")).to_be_visible()
    assert stage.actions("data.", after=start) == ["data.read", "data.exported"]


def test_a_revoked_grant_takes_its_data_off_the_open_page(page: Page, console_url: str,
                                                         stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    start = stage.last_event_id()
    page.get_by_role("button", name="Read", exact=True).click()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)

    grants.revoke(stage.gh, stage.principal("ada.admin"), stage.grant_id,
                  "Ticket SUP-3001 closed")  # as an admin would, from another browser
    revoked = page.get_by_text(f"Grant {stage.grant_id} ({CUSTOMER}) was revoked by Ada Admin")
    expect(revoked).to_be_visible(timeout=20_000)  # the page re-checks every 5 s
    expect(page.get_by_text("Ticket SUP-3001 closed")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_text("You hold no active grant")).to_be_visible()
    expect(page.get_by_text("min left")).to_have_count(0)
    screenshot(page, "customer-data-4-revoked")
    assert stage.actions(after=start) == ["data.read", "grant.revoked"]

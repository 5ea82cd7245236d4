"""Paging past the broker's row cap in a real browser: the person is told the view is cut
off, and each further page is a deliberate read, logged once; going back reads again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from access.data.customer_db.schema import Contact
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import open_page
from tests.e2e.paged_console import ROWS, launcher
from tests.e2e.test_customer_data import read_contacts, table_rows

CUSTOMER = "cust-0003"  # four contacts whatever the day (generate_customers)


@pytest.fixture
def console_script(tmp_path: Path) -> Path:
    """The console with `max_rows` = ROWS."""
    return launcher(tmp_path / "paged")


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam holds a live grant to read CUSTOMER's contacts."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin"):
        backstage.enroll(sub)
    backstage.grant_id = backstage.grant(
        "sam.support", ["ada.admin"], customer_id=CUSTOMER, environment="production",
        scopes=["contacts"], actions=["read"], duration=timedelta(hours=2),
        justification="SUP-3003: check every contact of the customer", ticket="SUP-3003")
    yield backstage
    backstage.gh.engine.dispose()


def contact_count(stage: Backstage) -> int:
    with stage.gh.data.engine("production").connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Contact)
                                .where(Contact.customer_id == CUSTOMER)).scalar_one())


def settled_rows(page: Page, done: Callable[[list[dict[str, str]]], bool]
                 ) -> list[dict[str, str]]:
    """The table's rows once `done` holds for them (for at most 10 s). Both pages hold as
    many rows, and a run draws the banner before it replaces the table, so neither the
    banner nor the row count says that the table shown is already the new page."""
    for _ in range(50):
        if done(rows := table_rows(page)):
            return rows
        time.sleep(0.2)
    return table_rows(page)


def test_support_pages_past_the_row_cap_one_logged_read_a_page(page: Page, console_url: str,
                                                               stage: Backstage) -> None:
    total = contact_count(stage)
    assert ROWS < total <= 2 * ROWS  # the scene: exactly two pages
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    start = stage.last_event_id()
    read_contacts(page)
    banner = page.get_by_text(f"Truncated: showing rows 1–{ROWS} of {total} (page 1 of 2)")
    expect(banner).to_be_visible()
    expect(page.get_by_text(f"One read serves at most {ROWS} rows")).to_be_visible()
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    expect(page.get_by_test_id("stTable").locator("tbody tr")).to_have_count(ROWS)
    first = table_rows(page)
    screenshot(page, "customer-data-paging-1-truncated")
    assert stage.actions(after=start) == ["data.read"]

    page.get_by_role("button", name="Next page").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Truncated: showing rows {ROWS + 1}–{total} of {total} "
                            "(page 2 of 2)")).to_be_visible()
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    expect(page.get_by_test_id("stTable").locator("tbody tr")).to_have_count(total - ROWS)
    second = settled_rows(page, lambda rows: rows != first)
    assert not {tuple(r.values()) for r in first} & {tuple(r.values()) for r in second}
    assert all(r["email"].startswith("•••@") for r in first + second)  # masked on every page
    screenshot(page, "customer-data-paging-2-next-page")
    assert stage.actions(after=start) == ["data.read", "data.read"]

    page.get_by_role("button", name="Previous page").click()  # back: a read again, logged
    wait_for_app(page)
    expect(banner).to_be_visible()
    expect(page.get_by_test_id("stTable").locator("tbody tr")).to_have_count(ROWS)
    assert settled_rows(page, lambda rows: rows == first) == first
    assert stage.actions(after=start) == ["data.read"] * 3

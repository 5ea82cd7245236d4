"""The auditor in a real browser, over the seeded demo: filter the log, export what matches,
verify the log and one event. The same run photographs each role's main pages for the
README's tour into test-artifacts/e2e/tour/; `make screenshots` copies them into docs/screenshots/
(a test run never changes tracked files)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from audit.engine import make_engine
from audit.query import DATA_ACCESS
from audit.schema import events_table
from tests.e2e.conftest import ARTIFACTS, ROOT, hermetic_env, wait_for_app
from tests.e2e.flows import open_page, sign_in

SCREENSHOTS = ARTIFACTS / "tour"  # `make screenshots` copies them into docs/screenshots/
CUSTOMER = "cust-0042"  # the seeded demo's live grant


def cli(data: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, env=hermetic_env(GATEHOUSE_DATA_DIR=str(data)))
    if done.returncode:
        pytest.fail(f"python -m {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture
def demo(start_console: Callable[[Path], str], idp: str, tmp_path: Path) -> tuple[str, Path]:
    """A console over the seeded demo history (sealed), and its data directory."""
    url = start_console(ROOT / "streamlit_app.py")
    data = tmp_path / f"console-{url.rsplit(':', 1)[1]}" / "data"
    cli(data, "access", "--issuer", idp, "seed-demo")
    cli(data, "audit", "seal")
    return url, data


def sign_in_seeded(page: Page, url: str, sub: str, data: Path, idp: str) -> None:
    """Sign a seeded persona in: OIDC, then the current code of their enrolled authenticator."""
    sign_in(page, url, sub)
    code = cli(data, "access", "--issuer", idp, "demo-code", sub).strip()
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    expect(page.get_by_role("heading", name="Two-step verification")).to_have_count(0)
    wait_for_app(page)


def settled(page: Page) -> None:
    """The script has finished and every element has replaced its loading skeleton."""
    wait_for_app(page)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0)


def tour(page: Page, name: str) -> None:
    """A README screenshot: the 1280x800 viewport as the person sees it, small PNG."""
    settled(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring
    page.mouse.move(0, 799)  # no hover highlight in the picture
    page.wait_for_timeout(500)  # charts and tables draw just after their element appears
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def busiest(data: Path, column: str, fallback: str) -> str:
    """The grant or customer with the most customer-data accesses in the demo (the most to
    show), else `fallback`."""
    e = events_table.c
    engine = make_engine(f"sqlite:///{data / 'gatehouse.db'}")
    with engine.connect() as conn:
        found = conn.execute(select(e[column]).where(e.action.in_(DATA_ACCESS),
                                                     e[column].is_not(None))
                             .group_by(e[column]).order_by(func.count().desc())
                             .limit(1)).scalar()
    engine.dispose()
    return str(found or fallback)


def test_the_auditor_filters_exports_and_verifies(page: Page, demo: tuple[str, Path],
                                                  idp: str, tmp_path: Path) -> None:
    url, data = demo
    sign_in_seeded(page, url, "audrey.auditor", data, idp)
    open_page(page, "Audit log")
    expect(page.get_by_text("Page 1 · all events · newest first")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    tour(page, "auditor-1-audit-log")

    page.get_by_label("Customer", exact=True).fill(CUSTOMER)
    page.get_by_test_id("stForm").get_by_role("button", name="Search").click()
    expect(page.get_by_text(f"Page 1 · customer={CUSTOMER} · newest first")).to_be_visible()

    page.get_by_text("Export every event that matches, oldest first").click()
    page.get_by_role("button", name="Export", exact=True).click()
    exported = page.get_by_text("events exported (CSV, 1 file(s))")
    expect(exported).to_be_visible()
    count = int(exported.inner_text().split(" events")[0].replace(",", ""))
    with page.expect_download() as download:
        page.get_by_role("button", name="Download gatehouse-audit-events.csv").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    with saved.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == count > 0
    assert {r["customer_id"] for r in rows} == {CUSTOMER}

    open_page(page, "Verify")
    page.get_by_role("button", name="Verify now", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess").get_by_text("Intact:")).to_be_visible(
        timeout=60_000)
    page.get_by_label("Event id").fill("1")
    page.get_by_role("button", name="Check inclusion proof", exact=True).click()
    expect(page.get_by_text("Event 1 is leaf 0 of the signed checkpoint")).to_be_visible()
    tour(page, "auditor-5-verify")

    open_page(page, "Activity")
    expect(page.get_by_role("heading", name="Anomaly flags")).to_be_visible()
    page.wait_for_timeout(1_000)  # charts draw after the script has finished
    tour(page, "auditor-2-activity")

    page.goto(f"{url}/audit-grant?grant={busiest(data, 'grant_id', '1')}")
    expect(page.get_by_text("requested by")).to_be_visible()
    tour(page, "auditor-3-grant-timeline")

    page.goto(f"{url}/audit-customer?customer={busiest(data, 'customer_id', CUSTOMER)}")
    expect(page.get_by_role("heading", name="Customer access")).to_be_visible()
    tour(page, "auditor-4-customer-access")


def test_the_tour_of_the_support_and_admin_pages(page: Page, browser: Browser,
                                                 demo: tuple[str, Path], idp: str) -> None:
    url, data = demo
    sign_in_seeded(page, url, "sam.support", data, idp)
    open_page(page, "Request access")
    page.get_by_label("Customer id").fill(CUSTOMER)
    page.get_by_label("Ticket").fill("SUP-2001")
    page.get_by_label("Justification").fill("SUP-2001: the renewal failed; check the subscription")
    tour(page, "support-1-request-access")
    open_page(page, "My access")
    expect(page.get_by_text(CUSTOMER).first).to_be_visible()
    tour(page, "support-2-my-access")
    open_page(page, "Customer data")
    expect(page.get_by_text("Every read is logged")).to_be_visible()
    tour(page, "support-3-customer-data")

    admin_context = browser.new_context(viewport={"width": 1280, "height": 800})
    admin = admin_context.new_page()
    sign_in_seeded(admin, url, "ada.admin", data, idp)
    open_page(admin, "Approvals")
    expect(admin.get_by_text("Review required")).to_be_visible()
    tour(admin, "admin-1-approvals")
    open_page(admin, "Grants")
    tour(admin, "admin-2-grants")
    open_page(admin, "Users")
    tour(admin, "admin-3-users")
    open_page(admin, "Restrictions")
    expect(admin.get_by_text("No customer is restricted")).to_be_visible()
    tour(admin, "admin-4-restrictions")
    admin_context.close()

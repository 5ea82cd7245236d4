"""The auditor in a real browser, over the seeded demo: filter the log, open one event, export
what matches (fresh code, confirmation, download), verify the log and one event, download the
bundle, follow activity, a grant and a customer; what the log recorded of each step, and that
no export file is left on the server once downloaded. The same run photographs each role's
main pages for the README's tour into test-artifacts/e2e/tour/; `make screenshots` copies them
into docs/screenshots/ (a test run never changes tracked files)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from audit.engine import make_engine
from audit.query import DATA_ACCESS
from audit.schema import events_table
from console.audit_widgets import ROW_PX, human_size
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import ARTIFACTS, ROOT, hermetic_env, screenshot, wait_for_app
from tests.e2e.flows import download, drawn, expand, fits, open_page, sign_in

SCREENSHOTS = ARTIFACTS / "tour"  # `make screenshots` copies them into docs/screenshots/
CUSTOMER = "cust-0042"  # the seeded demo's live grant
BUILT = re.compile(r"^Bundle of [\d,]+ events")  # not the page's "The bundle of …" caption


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
    page.mouse.move(1279, 799)  # beside the content: no hover highlight in the picture
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


@pytest.fixture
def stage(demo: tuple[str, Path], tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """The services behind the demo console: what the log recorded, and the step-up clock."""
    backstage = backstage_for(demo[0], tmp_path, idp, monkeypatch)
    yield backstage
    backstage.gh.engine.dispose()


def fresh_code(stage: Backstage, data: Path, idp: str, sub: str) -> str:
    """A code the console accepts now for a seeded persona (its last step forgotten)."""
    stage.forget_last_code(sub)
    return cli(data, "access", "--issuer", idp, "demo-code", sub).strip()


def newest_with_a_reason(data: Path, customer: str) -> tuple[int, int, str]:
    """(row on the first page, event id, reason) of the newest event of `customer` that
    carries a reason: the log page lists the same events in the same order."""
    e = events_table.c
    engine = make_engine(f"sqlite:///{data / 'gatehouse.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(e.id, e.reason).where(e.customer_id == customer)
                            .order_by(e.ts_us.desc(), e.id.desc()).limit(25)).all()
    engine.dispose()
    return next((i, int(r.id), str(r.reason)) for i, r in enumerate(rows) if r.reason)


def click_row(page: Page, row: int) -> None:
    """Select a row of the page's table by its row marker (the grid is a canvas)."""
    box = page.get_by_test_id("stDataFrame").first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)


def assert_labelled(label: str, saved: Path, pattern: str) -> None:
    """The button named the file as it arrived, with its real size."""
    assert re.fullmatch(pattern, saved.name), saved.name
    assert label.endswith(f"Download {saved.name} ({human_size(saved.stat().st_size)})"), label


def left_on_server(data: Path) -> list[Path]:
    return sorted((data / "exports").iterdir())


def test_the_auditor_opens_an_event_exports_and_downloads_the_bundle(
        page: Page, demo: tuple[str, Path], stage: Backstage, idp: str, tmp_path: Path) -> None:
    url, data = demo
    sign_in_seeded(page, url, "audrey.auditor", data, idp)
    start = stage.last_event_id()
    open_page(page, "Audit log")
    expect(page.get_by_text("Page 1 · all events · newest first")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    tour(page, "auditor-1-audit-log")
    screenshot(page, "auditor-1-log")
    fits(page)  # "review.campaign.scheduled" and the date boxes whole, at 1280 px
    assert stage.actions(after=start) == ["audit.searched"]

    step = stage.last_event_id()
    page.get_by_label("Customer", exact=True).fill(CUSTOMER)
    page.get_by_test_id("stForm").get_by_role("button", name="Search").click()
    expect(page.get_by_text(f"Page 1 · customer={CUSTOMER} · newest first")).to_be_visible()
    settled(page)
    screenshot(page, "auditor-2-log-filtered")
    assert stage.actions(after=step) == ["audit.searched"]

    step = stage.last_event_id()  # one event, opened from its row: the reason in full
    row, event_id, reason = newest_with_a_reason(data, CUSTOMER)
    click_row(page, row)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Event {event_id}")).to_be_visible()
    expect(dialog.get_by_text(reason, exact=True)).to_be_visible()
    screenshot(page, "auditor-3-event-opened")
    assert stage.actions(after=step) == []  # looking at a row it already showed reads nothing
    dialog.get_by_role("button", name="Check its inclusion proof").click()
    expect(dialog.get_by_text(f"Event {event_id} is leaf")).to_be_visible()
    screenshot(page, "auditor-3b-event-proof")
    assert stage.actions(after=step) == ["audit.proof"]
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    settled(page)
    step = stage.last_event_id()  # the export needs a fresh code, then a confirmation
    stage.age_step_up("audrey.auditor")
    expand(page, "Export every event that matches, oldest first")
    page.get_by_role("button", name="Export", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"Export every event that matches (customer={CUSTOMER}) as CSV: "
                            "this needs a fresh code")).to_be_visible()
    screenshot(page, "auditor-4-export-asks-for-a-code")
    page.get_by_label("6-digit code").fill(fresh_code(stage, data, idp, "audrey.auditor"))
    page.get_by_role("button", name="Confirm with code", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"Confirm: Export every event that matches (customer={CUSTOMER}) "
                            "as CSV")).to_be_visible()
    assert stage.actions(after=step) == ["auth.mfa.step_up"]
    page.get_by_role("button", name="Confirm", exact=True).click()
    exported = page.get_by_text("events exported (CSV, 1 file(s))")
    expect(exported).to_be_visible()
    count = int(exported.inner_text().split(" events")[0].replace(",", ""))
    assert stage.actions(after=step) == ["auth.mfa.step_up", "audit.exported"]
    assert len(left_on_server(data)) == 1  # the export waits for its download ...
    screenshot(page, "auditor-5-exported")
    label, saved = download(page, "Download gatehouse-audit-export-", tmp_path)
    assert_labelled(label, saved, rf"gatehouse-audit-export-{CUSTOMER}-\d{{8}}T\d{{6}}Z\.csv")
    with saved.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == count > 0
    assert {r["customer_id"] for r in rows} == {CUSTOMER}
    assert left_on_server(data) == []  # ... and is gone from the server once served
    # (the click does not rerun the page: the line "Downloaded …" comes with the next run)
    screenshot(page, "auditor-6-downloaded")
    assert stage.actions(after=step) == ["auth.mfa.step_up", "audit.exported"]

    step = stage.last_event_id()
    open_page(page, "Verify")
    page.get_by_role("button", name="Verify now", exact=True).click()
    expect(page.get_by_test_id("stAlertContentSuccess").get_by_text("Intact:")).to_be_visible(
        timeout=60_000)
    expect(page.get_by_text(re.compile("^intact: "))).to_have_count(0)  # said once, above
    page.get_by_label("Event id").fill("999999")
    page.get_by_role("button", name="Check inclusion proof", exact=True).click()
    expect(page.get_by_text("event: no event 999999")).to_be_visible()
    screenshot(page, "auditor-7a-no-such-event")
    page.get_by_label("Event id").fill("1")
    page.get_by_role("button", name="Check inclusion proof", exact=True).click()
    expect(page.get_by_text("Event 1 is leaf 0 of the signed checkpoint")).to_be_visible()
    tour(page, "auditor-5-verify")
    screenshot(page, "auditor-7-verified")
    assert stage.actions(after=step) == ["audit.verified", "audit.proof", "audit.proof"]

    open_page(page, "Audit log")  # back: the boxes show the filter still in force
    expect(page.get_by_text(f"Page 1 · customer={CUSTOMER} · newest first")).to_be_visible()
    expect(page.get_by_label("Customer", exact=True)).to_have_value(CUSTOMER)
    open_page(page, "Verify")

    step = stage.last_event_id()  # still within the code's window: the bundle builds at once
    page.get_by_role("button", name="Build the verifiable bundle", exact=True).click()
    expect(page.get_by_text(BUILT)).to_be_visible(timeout=60_000)
    label, saved = download(page, "Download gatehouse-audit-bundle-", tmp_path)
    assert_labelled(label, saved, r"gatehouse-audit-bundle-\d{8}T\d{6}Z\.zip")
    with zipfile.ZipFile(saved) as bundle:
        assert bundle.testzip() is None and bundle.namelist()
    assert left_on_server(data) == []
    screenshot(page, "auditor-8-bundle-downloaded")
    assert stage.actions(after=step) == ["audit.exported"]


def test_the_auditor_leaves_a_bundle_and_follows_activity_a_grant_and_a_customer(
        page: Page, demo: tuple[str, Path], stage: Backstage, idp: str) -> None:
    url, data = demo
    sign_in_seeded(page, url, "audrey.auditor", data, idp)
    step = stage.last_event_id()  # a bundle built (the sign-in code is fresh) and left behind
    open_page(page, "Verify")
    page.get_by_role("button", name="Build the verifiable bundle", exact=True).click()
    expect(page.get_by_text(BUILT)).to_be_visible(timeout=60_000)
    assert len(left_on_server(data)) == 1
    assert stage.actions(after=step) == ["audit.exported"]

    step = stage.last_event_id()
    open_page(page, "Activity")  # leaving the page takes the undownloaded bundle away
    assert left_on_server(data) == []
    expect(page.get_by_role("heading", name="Anomaly flags")).to_be_visible()
    # To is empty: now, at each run
    expect(page.get_by_role("spinbutton", name="year, To (UTC), empty: now")).to_have_attribute(
        "aria-valuetext", "Empty")
    page.wait_for_timeout(1_000)  # charts draw after the script has finished
    tour(page, "auditor-2-activity")
    screenshot(page, "auditor-9-activity")
    page.get_by_test_id("stVegaLiteChart").last.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    screenshot(page, "auditor-9c-activity-charts")  # every legend entry shown whole
    assert stage.actions(after=step) == ["audit.searched", "audit.searched"]  # counts, flags

    open_page(page, "Audit log")  # an outcome filter, then away and back
    page.get_by_label("Outcome").click()
    page.get_by_role("option", name="denied", exact=True).click()
    page.get_by_test_id("stForm").get_by_role("button", name="Search").click()
    expect(page.get_by_text("Page 1 · outcome=denied · newest first")).to_be_visible()
    open_page(page, "Activity")
    open_page(page, "Audit log")
    expect(page.get_by_text("Page 1 · outcome=denied · newest first")).to_be_visible()
    expect(page.get_by_role("combobox", name="Outcome")).to_have_value("denied")
    drawn(page)
    screenshot(page, "auditor-9b-log-filter-kept")

    step = stage.last_event_id()
    grant = busiest(data, "grant_id", "1")
    page.goto(f"{url}/audit-grant?grant={grant}")
    expect(page.get_by_text("requested by")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Grant {grant}")).to_be_visible()
    tour(page, "auditor-3-grant-timeline")
    screenshot(page, "auditor-10-grant-timeline")
    click_row(page, 0)  # the request that started it, with its justification in full
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("request.created")).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"^SUP-\d+: "))).to_be_visible()
    screenshot(page, "auditor-10b-grant-timeline-request")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert stage.actions("audit.", after=step) == ["audit.searched"]

    step = stage.last_event_id()
    customer = busiest(data, "customer_id", CUSTOMER)
    page.goto(f"{url}/audit-customer?customer={customer}")
    expect(page.get_by_role("heading", name="Customer access")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    tour(page, "auditor-4-customer-access")
    screenshot(page, "auditor-11-customer-access")
    assert stage.actions("audit.", after=step) == ["audit.searched"]


def test_the_tour_of_the_support_and_admin_pages(page: Page, browser: Browser,
                                                 demo: tuple[str, Path], idp: str) -> None:
    url, data = demo
    sign_in_seeded(page, url, "sam.support", data, idp)
    open_page(page, "Request access")
    # the Break-glass tab has fields of the same names, hidden while Request is shown
    page.get_by_label("Customer id").filter(visible=True).fill(CUSTOMER)
    page.get_by_label("Ticket", exact=True).filter(visible=True).fill("SUP-2001")
    page.get_by_label("Data scopes").filter(visible=True).click()  # the tour shows scopes
    page.get_by_role("option", name="subscriptions").click()
    page.keyboard.press("Escape")
    page.get_by_label("Justification").fill("SUP-2001: the renewal failed; check the subscription")
    tour(page, "support-1-request-access")
    open_page(page, "My access")
    expect(page.get_by_text(CUSTOMER).first).to_be_visible()
    tour(page, "support-2-my-access")
    open_page(page, "Customer data")
    expect(page.get_by_text("Every read is logged")).to_be_visible()
    page.get_by_role("button", name="Read", exact=True).click()  # the tour shows the data
    expect(page.get_by_test_id("stTable")).to_have_count(1)  # one customer row: a plain table
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

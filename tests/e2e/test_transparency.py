"""The auditor, and the privacy officer, generate a customer's access-transparency report in
a real browser over the seeded demo, download it, and the downloaded file verifies with the
CLI and only the public key; the log holds exactly one report event. The privacy officer's
navigation holds no other audit page."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from audit.engine import make_engine
from audit.query import DATA_ACCESS
from audit.schema import events_table
from tests.e2e.conftest import ROOT, hermetic_env, screenshot, wait_for_app
from tests.e2e.flows import open_page, sign_in


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, env=hermetic_env(GATEHOUSE_DATA_DIR=str(data)),
                          check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode:
        pytest.fail(f"{done.args} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture
def demo(start_console: Callable[[Path], str], idp: str, tmp_path: Path) -> tuple[str, Path]:
    """A console over the seeded demo history (sealed), and its data directory."""
    url = start_console(ROOT / "streamlit_app.py")
    data = tmp_path / f"console-{url.rsplit(':', 1)[1]}" / "data"
    ok(cli(data, "access", "--issuer", idp, "seed-demo"))
    ok(cli(data, "audit", "seal"))
    return url, data


def query(data: Path, statement: object) -> object:
    engine = make_engine(f"sqlite:///{data / 'gatehouse.db'}")
    with engine.connect() as conn:
        found = conn.execute(statement).scalar()  # type: ignore[call-overload]
    engine.dispose()
    return found


def busiest_customer(data: Path) -> str:
    e = events_table.c
    return str(query(data, select(e.customer_id).where(e.action.in_(DATA_ACCESS),
                                                       e.customer_id.is_not(None))
                     .group_by(e.customer_id).order_by(func.count().desc()).limit(1)))


def reports_logged(data: Path) -> int:
    e = events_table.c
    return int(str(query(data, select(func.count()).where(
        e.action == "transparency.reported"))))


@pytest.mark.parametrize("sub", ["audrey.auditor", "pia.privacy"])
def test_a_report_is_downloaded_that_verifies_offline(
        page: Page, demo: tuple[str, Path], idp: str, tmp_path: Path, sub: str) -> None:
    url, data = demo
    customer = busiest_customer(data)
    sign_in(page, url, sub)
    code = ok(cli(data, "access", "--issuer", idp, "demo-code", sub)).strip()
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Verify", exact=True).click()
    wait_for_app(page)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_contain_text("Transparency report")
    if sub == "pia.privacy":
        for other in ("Audit log", "Activity", "Verify", "Customer access", "Review evidence"):
            expect(nav).not_to_contain_text(other)
    open_page(page, "Transparency report")
    page.get_by_label("Customer").fill(customer)
    page.get_by_role("button", name="Generate", exact=True).click()
    verdict = page.get_by_test_id("stAlertContentSuccess")
    expect(verdict).to_contain_text("consultation(s), cut against the signed checkpoint")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    page.wait_for_timeout(500)  # the table draws just after its element appears
    screenshot(page, f"transparency-report-{sub}")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download report (JSON)").click()
    saved = tmp_path / "customer" / download.value.suggested_filename
    saved.parent.mkdir()
    download.value.save_as(saved)
    assert saved.name.startswith(f"transparency-{customer}-") and saved.suffix == ".json"
    with page.expect_download() as html:
        page.get_by_role("button", name="Download report (HTML)").click()
    readable = tmp_path / "report.html"
    html.value.save_as(readable)
    assert "Staff A" in readable.read_text()

    pub = saved.parent / "gatehouse-audit.pub"  # what the customer holds: the key, the file
    pub.write_bytes((data / "keys" / "audit-signing.pub").read_bytes())
    checked = subprocess.run([sys.executable, "-m", "audit", "verify-report", saved.name,
                              "--public-key", pub.name], cwd=saved.parent, capture_output=True,
                             text=True, env=hermetic_env(), check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "report intact" in checked.stdout
    assert reports_logged(data) == 1  # two downloads, one report, one event
    page.goto(readable.as_uri())  # the readable document, as the customer opens it
    expect(page.get_by_role("heading", name="Access-transparency report")).to_be_visible()
    screenshot(page, f"transparency-report-html-{sub}")

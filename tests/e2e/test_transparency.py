"""The auditor, and the privacy officer, generate a customer's access-transparency report in
a real browser over the seeded demo and download its three files: the JSON verifies with the
CLI and only the public key, the HTML is the same report readable and names no staff, the
opening names staff and, with the report, lets the CLI check every displayed field. The log
holds one report event and one `audit.exported` event per file handed out. The privacy
officer's navigation holds no other audit page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from audit.engine import make_engine
from audit.query import DATA_ACCESS
from audit.schema import events_table
from tests.e2e.conftest import ROOT, hermetic_env, screenshot, wait_for_app
from tests.e2e.flows import download, open_page, sign_in


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


def exported(data: Path) -> list[dict[str, Any]]:
    """The `audit.exported` events, oldest first (each file handed out is one)."""
    e = events_table.c
    engine = make_engine(f"sqlite:///{data / 'gatehouse.db'}")
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(events_table).where(
            e.action == "audit.exported").order_by(e.id)).mappings()]
    engine.dispose()
    return rows


def saved_file(page: Page, label: str, into: Path) -> Path:
    """`flows.download` of the button `label` into the folder `into` (made if absent)."""
    into.mkdir(exist_ok=True)
    return download(page, label, into)[1]


def verify_report(report: Path, key: Path, *opening: str) -> str:
    """`python -m audit verify-report` on the files as saved, run where they are."""
    checked = subprocess.run([sys.executable, "-m", "audit", "verify-report", report.name,
                              "--public-key", str(key), *opening], cwd=report.parent,
                             capture_output=True, text=True, env=hermetic_env(), check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


STAFF = re.compile(r"\b(sam|sky|nell)\.support\b|\b(Sam|Sky|Nell) Support\b")


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
    assert exported(data) == []  # generating hands nothing out

    saved = saved_file(page, "Download report (JSON)", tmp_path / "customer")
    readable = saved_file(page, "Download report (HTML)", tmp_path / "customer")
    opening = saved_file(page, "Download opening (names staff)", tmp_path / "auditor")
    # named by the period the page states, both days inclusive
    stated = re.search(r"(\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)", verdict.inner_text())
    assert stated is not None
    first, last = stated.groups()
    assert saved.name == f"transparency-{customer}-{first.replace('-', '')}-" \
                         f"{last.replace('-', '')}.json"
    assert readable.name == saved.with_suffix(".html").name
    assert opening.name == saved.name.replace(".json", "-opening.json")

    pub = tmp_path / "gatehouse-audit.pub"  # what the customer holds: the key, the file
    pub.write_bytes((data / "keys" / "audit-signing.pub").read_bytes())
    alone = verify_report(saved, pub)
    assert "report intact" in alone and "no opening given" in alone
    opening.parent.joinpath(saved.name).write_bytes(saved.read_bytes())  # the auditor's copy
    opened = verify_report(opening.parent / saved.name, pub, "--opening", opening.name)
    assert "report intact" in opened and "opening checked" in opened

    html = readable.read_text()
    assert "Staff A" in html and customer in html
    assert STAFF.search(html) is None and STAFF.search(saved.read_text()) is None
    assert STAFF.search(opening.read_text())  # the opening names staff: for auditors only
    body = json.loads(saved.read_text())["body"]
    assert len(json.loads(opening.read_text())["records"]) >= len(body["rows"]) > 0

    assert reports_logged(data) == 1  # one report generated, one event
    generated = int(str(query(data, select(func.max(events_table.c.id)).where(
        events_table.c.action == "transparency.reported"))))
    handed = exported(data)  # and each file handed out, one event each
    assert [(e["actor_sub"], e["customer_id"], e["details"]) for e in handed] == [
        (sub, customer, {"format": f"transparency-{part}", "row_count": len(body["rows"]),
                         "tree_size": body_tree_size(saved), "event_id": generated})
        for part in ("json", "html", "opening")]
    page.goto(readable.as_uri())  # the readable document, as the customer opens it
    expect(page.get_by_role("heading", name="Access-transparency report")).to_be_visible()
    screenshot(page, f"transparency-report-html-{sub}")


def body_tree_size(report: Path) -> int:
    return int(json.loads(report.read_text())["tree_size"])

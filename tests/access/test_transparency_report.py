"""The access-transparency report service, on both engines: real broker reads, reveals and
exports under tickets, listed exactly, staff pseudonymised, one event per report, refusals
recorded, and the downloaded JSON verified offline by the CLI with only the public key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from access.context import Gatehouse
from access.data import broker
from access.errors import Denied, InvalidInput
from access.transparency_report import TransparencyReport, generate, handed_out
from access.workflow import create_request, decide_request
from audit.checkpoint import load_public_key
from audit.proved import verify
from audit.settings import AuditSettings, load_settings
from tests.support.audit_helpers import seal_with_settings
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gh(gh_any: Gatehouse, audit_keys: AuditSettings, tmp_path: Path,
       clock: FakeClock) -> Gatehouse:
    return attach_customer_data(gh_any, tmp_path, clock, customers=5)


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def seal(gh: Gatehouse) -> int:
    return seal_with_settings(gh.engine)


def grant(gh: Gatehouse, people: Team, who: str, ticket: str, customer: str = "cust-0001",
          actions: tuple[str, ...] = ("read",)) -> int:
    request_id = create_request.create(gh, getattr(people, who), draft(
        customer_id=customer, scopes=["contacts"], actions=list(actions), ticket=ticket,
        justification=f"Customer case {ticket} needs a look"))
    for admin in (people.ada, people.alan):
        decided = decide_request.decide(gh, admin, request_id, approve=True)
        if decided.grant_id is not None:
            return decided.grant_id
    raise AssertionError("not granted")


def consult(gh: Gatehouse, people: Team) -> None:
    """sam reads, reveals and exports cust-0001 under SUP-1; sky reads it under SUP-2; sam
    reads cust-0002 (not cust-0001's); a refused read of cust-0001 (not a consultation)."""
    sams = grant(gh, people, "sam", "SUP-1", actions=("read", "reveal", "export"))
    broker.read(gh, people.sam, sams, "cust-0001", "contacts")
    sam = people.sam  # the clock stands still: the code of sign-in is fresh for step-up
    broker.reveal(gh, sam, sams, "cust-0001", "contacts", ["contacts.email"],
                  "customer asked to confirm the address")
    broker.export_csv(gh, sam, sams, "cust-0001", "contacts")
    skys = grant(gh, people, "sky", "SUP-2")
    broker.read(gh, people.sky, skys, "cust-0001", "contacts")
    broker.read(gh, people.sam, grant(gh, people, "sam", "SUP-3", "cust-0002"), "cust-0002",
                "contacts")
    with pytest.raises(Denied):
        broker.read(gh, people.sky, skys, "cust-0001", "billing")


def period(clock: FakeClock) -> tuple[datetime, datetime]:
    return clock.now - timedelta(days=1), clock.now + timedelta(days=1)


def test_the_report_lists_every_consultation_pseudonymised_and_is_logged_once(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    consult(gh, people)
    size = seal(gh)
    since, until = period(clock)
    before = len(events(gh, "transparency."))
    report = generate(gh, people.audrey, "cust-0001", since, until)
    document = json.loads(report.document)
    rows = document["body"]["rows"]
    assert [(r["action"], r["ticket"], r["staff"], r["actor_roles"]) for r in rows] == [
        ("data.read", "SUP-1", "Staff A", "requester"),
        ("data.revealed", "SUP-1", "Staff A", "requester"),
        ("data.exported", "SUP-1", "Staff A", "requester"),
        ("data.read", "SUP-2", "Staff B", "requester")]
    assert rows[1]["reason"] == "customer asked to confirm the address"
    assert rows[1]["details.columns"] == ["contacts.email"]
    assert rows[3]["justification"]["reason"] == "Customer case SUP-2 needs a look"
    assert (report.rows, report.unsealed, report.tree_size) == (4, 0, size)
    for shown in (report.document, report.html):  # no staff subject or name anywhere
        assert re.search(rb"\b(sam|sky)\b", shown, re.IGNORECASE) is None
    assert re.search(rb"\bsam\b", report.opening)  # the opening names them
    assert b"Staff B" in report.html and b"SUP-2" in report.html
    public = load_public_key(load_settings().public_key_path)
    verdict = verify(document, public, json.loads(report.opening))
    assert verdict.ok and verdict.opened, verdict.problems
    logged = events(gh, "transparency.")[before:]
    assert len(logged) == 1
    assert (logged[0]["actor_sub"], logged[0]["customer_id"], logged[0]["outcome"]) == (
        "audrey", "cust-0001", "success")
    assert logged[0]["details"] == {
        "period": f"{since:%Y-%m-%dT%H:%M:%S.%fZ}/{until:%Y-%m-%dT%H:%M:%S.%fZ}",
        "row_count": 4, "tree_size": size, "unsealed": 0}


def test_consultations_after_the_checkpoint_are_counted_not_listed(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    consult(gh, people)
    seal(gh)
    broker.read(gh, people.sam, grant(gh, people, "sam", "SUP-4"), "cust-0001", "contacts")
    report = generate(gh, people.audrey, "cust-0001", *period(clock))
    assert (report.rows, report.unsealed) == (4, 1)
    assert b"Too recent to prove" in report.html


def test_only_auditors_generate_and_bad_input_is_refused_and_recorded(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    since, until = period(clock)
    with pytest.raises(Denied):
        generate(gh, people.sam, "cust-0001", since, until)
    assert events(gh, "auth.page.denied")[-1]["details"] == {"page": "transparency.report"}
    with pytest.raises(InvalidInput, match="checkpoint"):
        generate(gh, people.audrey, "cust-0001", since, until)  # nothing sealed yet
    seal(gh)
    with pytest.raises(InvalidInput, match="customer"):
        generate(gh, people.audrey, "cust 1; drop", since, until)
    with pytest.raises(InvalidInput, match="until"):
        generate(gh, people.audrey, "cust-0001", until, since)
    with pytest.raises(InvalidInput, match="since"):
        generate(gh, people.audrey, "cust-0001", datetime(2026, 1, 1), until)
    outcomes = [(e["outcome"], e["customer_id"]) for e in events(gh, "transparency.")]
    assert outcomes == [("error", "cust-0001"), ("denied", "cust 1; drop"),
                        ("denied", "cust-0001"), ("denied", "cust-0001")]


def test_the_downloaded_report_verifies_with_the_cli_and_only_the_public_key(
        gh: Gatehouse, people: Team, clock: FakeClock, tmp_path: Path) -> None:
    consult(gh, people)
    seal(gh)
    report = generate(gh, people.audrey, "cust-0001", *period(clock))
    customer = tmp_path / "customer"
    customer.mkdir()
    (customer / "report.json").write_bytes(report.document)
    (customer / "key.pub").write_bytes(load_settings().public_key_path.read_bytes())
    done = subprocess.run([sys.executable, "-m", "audit", "verify-report", "report.json",
                           "--public-key", "key.pub"], capture_output=True, text=True,
                          cwd=customer, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    # four consultations and the two requests whose justifications they show
    assert "report intact" in done.stdout
    assert "6 cited event(s); 6 inclusion proof(s) checked" in done.stdout


def test_each_file_handed_out_is_one_event_citing_the_generation(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    consult(gh, people)
    size = seal(gh)
    report = generate(gh, people.audrey, "cust-0001", *period(clock))
    generated = events(gh, "transparency.reported")[-1]["id"]
    assert report.event_id == generated
    assert handed_out(gh, people.audrey, report, "opening") == report.opening
    assert handed_out(gh, people.audrey, report, "html") == report.html
    with pytest.raises(InvalidInput, match="part"):
        handed_out(gh, people.audrey, report, "signing-key")
    with pytest.raises(Denied):
        handed_out(gh, people.sam, report, "opening")  # a requester: no file, no event
    exported = events(gh, "audit.exported")
    assert [(e["actor_sub"], e["customer_id"], e["target_type"], e["details"])
            for e in exported] == [
        ("audrey", "cust-0001", "customer", {"format": f"transparency-{part}", "row_count": 4,
                                             "tree_size": size, "event_id": generated})
        for part in ("opening", "html")]


def test_the_file_name_names_the_period_by_its_inclusive_last_day() -> None:
    # the page asks for days; `until` is the midnight after the last one (exclusive)
    report = TransparencyReport("cust-0001", datetime(2026, 11, 7, tzinfo=UTC),
                                datetime(2026, 12, 7, tzinfo=UTC), b"", b"", b"", 0, 0, 0, 0)
    assert report.stem == "transparency-cust-0001-20261107-20261206"
    assert f"{report.last_day:%Y-%m-%d}" == "2026-12-06"

"""The auditor services: only auditors get in, exports need a fresh code, every search, export,
verification and proof is itself an audit event with allow-listed details, and auditors
change nothing."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from access import oversight
from access.context import Gatehouse, event_for
from access.errors import Denied, InvalidInput, StepUpRequired
from access.identity import users
from access.workflow import break_glass, cancel_request, create_request, decide_request, grants
from audit.anomalies import AnomalyRules
from audit.bundle import verify_bundle
from audit.export_stream import ExportFormat
from audit.query import EventFilter
from audit.settings import AuditSettings
from audit.vocabulary import Outcome
from tests.support.audit_helpers import seal_with_settings, tamper
from tests.support.databases import Database
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP, audit_keys: AuditSettings) -> Team:
    """The team, with the audit keys and checkpoint directory under a fresh data dir."""
    return team(gh, idp)


def seal(gh: Gatehouse) -> None:
    seal_with_settings(gh.engine)


def used_grant(gh: Gatehouse, people: Team) -> int:
    """Sam's approved grant on cust-001, read twice, refused once, then revoked by Ada."""
    request_id = create_request.create(gh, people.sam, draft())
    grant_id = decide_request.decide(gh, people.ada, request_id, approve=True).grant_id
    assert grant_id is not None
    fields: dict[str, Any] = {"customer_id": "cust-001", "request_id": str(request_id),
                              "grant_id": str(grant_id), "ticket": "SUP-1234",
                              "target_type": "customer", "target_id": "cust-001"}
    with gh.write() as db:
        for action, outcome in (("data.read", Outcome.SUCCESS), ("data.read", Outcome.SUCCESS),
                                ("data.denied", Outcome.DENIED)):
            gh.audit(db, event_for(people.sam, action, outcome, details={
                "scope": "subscriptions", "row_count": 2}, **fields))
    grants.revoke(gh, people.ada, grant_id, "ticket closed")
    return grant_id


def last(gh: Gatehouse, prefix: str = "audit.") -> dict[str, Any]:
    return events(gh, prefix)[-1]


def test_a_search_is_recorded_with_a_summary_of_ids_and_a_row_count(
        gh: Gatehouse, people: Team) -> None:
    used_grant(gh, people)
    flt = oversight.event_filter(customer="cust-001", action="data.read")
    page = oversight.search(gh, people.audrey, flt, limit=1)
    assert len(page.events) == 1 and page.next is not None
    oversight.search(gh, people.audrey, flt, page.next, limit=1)
    recorded = events(gh, "audit.searched")
    assert [e["details"] for e in recorded] == [
        {"filters": "log: action=data.read customer=cust-001", "row_count": 1},
        {"filters": f"log: action=data.read customer=cust-001 below "
                    f"{page.next.ts_us}/{page.next.id}", "row_count": 1}]
    assert recorded[0]["actor_sub"] == "audrey" and recorded[0]["customer_id"] is None


def test_bad_filter_input_names_the_box_and_records_nothing(gh: Gatehouse,
                                                            people: Team) -> None:
    before = len(events(gh))
    with pytest.raises(InvalidInput) as caught:
        oversight.event_filter(customer="cust-1' OR '1'='1")
    assert caught.value.field == "customer"
    with pytest.raises(InvalidInput, match="rows per page"):
        oversight.search(gh, people.audrey, EventFilter(), limit=0)
    assert len(events(gh)) == before


AUDITOR_SERVICES: dict[str, Callable[[Gatehouse, Any, Path], object]] = {
    "search": lambda gh, p, d: oversight.search(gh, p, EventFilter()),
    "activity": lambda gh, p, d: oversight.activity(gh, p, EventFilter()),
    "anomalies": lambda gh, p, d: oversight.anomalies(gh, p, gh.now() - timedelta(days=1),
                                                     gh.now()),
    "grant timeline": lambda gh, p, d: oversight.grant_timeline(gh, p, "1"),
    "customer access": lambda gh, p, d: oversight.customer_access(gh, p, "cust-001"),
    "export": lambda gh, p, d: oversight.export_events(gh, p, EventFilter(), ExportFormat.CSV,
                                                      d),
    "bundle": lambda gh, p, d: oversight.export_verifiable_bundle(gh, p, d),
    "verify": lambda gh, p, d: oversight.verify(gh, p),
    "overview": lambda gh, p, d: oversight.overview(gh, p),
    "prove": lambda gh, p, d: oversight.prove(gh, p, 1),
}


@pytest.mark.parametrize("who", ["sam", "ada"])
@pytest.mark.parametrize("service", sorted(AUDITOR_SERVICES))
def test_requesters_and_approvers_cannot_use_any_auditor_service(
        gh: Gatehouse, people: Team, tmp_path: Path, who: str, service: str) -> None:
    before = len(events(gh))
    with pytest.raises(Denied, match="your role does not allow") as caught:
        AUDITOR_SERVICES[service](gh, getattr(people, who), tmp_path / "out")
    assert not isinstance(caught.value, StepUpRequired)
    refusal = events(gh)[before:]
    assert [(e["action"], e["actor_sub"]) for e in refusal] == [("auth.page.denied", who)]
    assert not (tmp_path / "out").exists()


def test_auditors_change_nothing(gh: Gatehouse, people: Team) -> None:
    request_id = create_request.create(gh, people.sam, draft())
    audrey = people.audrey
    attempts: list[Callable[[], object]] = [
        lambda: create_request.create(gh, audrey, draft()),
        lambda: decide_request.decide(gh, audrey, request_id, approve=True),
        lambda: cancel_request.cancel(gh, audrey, request_id),
        lambda: break_glass.activate(gh, audrey, draft(), "outage"),
        lambda: users.disable(gh, audrey, people.sam.user_id, "curious"),
        lambda: users.list_users(gh, audrey),
    ]
    for attempt in attempts:
        with pytest.raises(Denied):
            attempt()
    assert events(gh)[-1]["action"] == "auth.page.denied"
    assert not [e for e in events(gh) if e["actor_sub"] == "audrey"
                and not e["action"].startswith(("auth.", "audit."))]


def test_an_export_needs_a_fresh_code_and_is_recorded(gh: Gatehouse, people: Team,
                                                      clock: FakeClock, tmp_path: Path) -> None:
    used_grant(gh, people)
    clock.advance(minutes=6)
    oversight.search(gh, people.audrey, EventFilter())  # browsing needs no fresh code ...
    oversight.verify(gh, people.audrey)
    with pytest.raises(StepUpRequired):  # ... taking the data away does
        oversight.export_events(gh, people.audrey, EventFilter(), ExportFormat.CSV, tmp_path)
    audrey = people.step_up(gh, "audrey")
    progress: list[tuple[int, int]] = []
    flt = EventFilter(grant="1")
    written = oversight.export_events(gh, audrey, flt, ExportFormat.JSONL, tmp_path / "x",
                                     lambda done, total: progress.append((done, total)))
    assert written.rows == 5 and progress == [(5, 5)]  # issued, 2 reads, refused, revoked
    # named for what it is, the grant it concerns and when (the injected clock, UTC)
    assert [p.name for p in written.parts] == [
        f"gatehouse-audit-export-grant-1-{gh.now():%Y%m%dT%H%M%SZ}.jsonl"]
    recorded = last(gh)
    assert (recorded["action"], recorded["details"]) == ("audit.exported", {
        "filters": "grant=1", "format": "jsonl", "row_count": 5})


def test_export_files_are_removed_when_the_export_cannot_be_recorded(
        gh: Gatehouse, people: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(Gatehouse, "audit", broken)
    with pytest.raises(RuntimeError):
        oversight.export_events(gh, people.audrey, EventFilter(), ExportFormat.CSV,
                               tmp_path / "x")
    assert not (tmp_path / "x").exists()  # fail closed: no event, no file


def test_verification_reports_progress_and_is_recorded_intact_or_not(
        gh: Gatehouse, people: Team, sqlite_db: Database) -> None:
    used_grant(gh, people)
    seal(gh)
    progress: list[tuple[int, int]] = []
    report = oversight.verify(gh, people.audrey, lambda d, t: progress.append((d, t)))
    assert report.ok and progress[-1] == (report.tree_size, report.tree_size)
    assert last(gh)["details"] == {"tree_size": report.tree_size, "intact": True}
    tamper(sqlite_db, ["UPDATE audit_events SET reason = 'nothing to see' WHERE id = 3"])
    report = oversight.verify(gh, people.audrey)
    recorded = last(gh)
    assert not report.ok and recorded["outcome"] == "error"
    assert recorded["details"]["intact"] is False and recorded["reason"] == "leaf 2: modified"


def test_a_proof_of_a_sealed_event_holds_and_is_recorded(gh: Gatehouse, people: Team) -> None:
    used_grant(gh, people)
    seal(gh)
    check = oversight.prove(gh, people.audrey, 5)
    assert check.holds and check.proof.event_id == 5
    assert last(gh)["details"] == {"event_id": 5, "tree_size": check.proof.checkpoint.size,
                                   "intact": True}
    unsealed = int(last(gh)["id"])  # that proof's own event, after the seal
    with pytest.raises(InvalidInput, match=f"event {unsealed} is not sealed: the sealer has "
                                           "not covered it with a checkpoint yet$"):
        oversight.prove(gh, people.audrey, unsealed)
    with pytest.raises(InvalidInput, match=r"^event: no event 10000$"):  # not "not sealed … or"
        oversight.prove(gh, people.audrey, 10_000)
    assert (last(gh)["action"], last(gh)["outcome"]) == ("audit.proof", "error")


def test_the_overview_opens_the_newest_checkpoint_under_the_pinned_key(
        gh: Gatehouse, people: Team) -> None:
    assert oversight.overview(gh, people.audrey).checkpoint is None
    seal(gh)
    seen = oversight.overview(gh, people.audrey)
    assert seen.checkpoint is not None and seen.checkpoint.size == seen.status.sealed
    assert seen.checkpoint_error is None and seen.key_fingerprint.startswith("SHA256:")


def test_the_bundle_downloads_as_a_zip_that_verifies_offline(gh: Gatehouse, people: Team,
                                                            tmp_path: Path) -> None:
    used_grant(gh, people)
    seal(gh)
    bundle = oversight.export_verifiable_bundle(gh, people.audrey, tmp_path / "dl")
    [archive] = bundle.pieces
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    assert verify_bundle(tmp_path / "unzipped").ok
    assert last(gh)["details"] == {"filters": "verifiable bundle: all sealed events",
                                   "format": "bundle", "row_count": bundle.events,
                                   "tree_size": bundle.tree_size}


def test_the_grant_timeline_tells_the_story_of_one_grant(gh: Gatehouse, people: Team) -> None:
    grant_id = used_grant(gh, people)
    used_grant(gh, people)  # another grant: not in this timeline
    found = oversight.grant_timeline(gh, people.audrey, str(grant_id))
    assert found is not None
    assert [e.action for e in found.events] == [
        "request.created", "request.approved", "grant.issued", "data.read", "data.read",
        "data.denied", "grant.revoked"]
    assert (found.holder, found.approvers, found.customer_id, found.ticket) == (
        "Sam", ["Ada"], "cust-001", "SUP-1234")
    assert found.counts["data.read"] == 2 and not found.truncated
    assert oversight.grant_timeline(gh, people.audrey, "999") is None
    assert last(gh)["details"] == {"filters": "grant timeline: grant=999", "row_count": 0}


def test_customer_access_names_who_when_and_under_which_ticket(gh: Gatehouse,
                                                               people: Team) -> None:
    grant_id = used_grant(gh, people)
    [access] = oversight.customer_access(gh, people.audrey, "cust-001")
    assert (access.actor_sub, access.ticket, access.grant_id) == ("sam", "SUP-1234",
                                                                  str(grant_id))
    assert access.counts == {"data.read": 2, "data.denied": 1}
    assert oversight.customer_access(gh, people.audrey, "cust-002") == []


def test_anomalies_use_the_configured_thresholds(gh: Gatehouse, people: Team) -> None:
    used_grant(gh, people)
    window = (gh.now() - timedelta(hours=1), gh.now() + timedelta(hours=1))
    every_day = AnomalyRules(work_days=frozenset(range(7)))  # the test clock says Sunday
    gh = replace(gh, config=replace(gh.config, anomalies=every_day))
    assert oversight.anomalies(gh, people.audrey, *window) == []
    gh = replace(gh, config=replace(gh.config, anomalies=replace(every_day, reads_per_grant=1)))
    [flag] = oversight.anomalies(gh, people.audrey, *window)
    assert flag.rule == "reads_per_grant"
    assert last(gh)["details"]["row_count"] == 1


def test_charts_count_in_the_database(gh: Gatehouse, people: Team) -> None:
    used_grant(gh, people)
    found = oversight.activity(gh, people.audrey, EventFilter())
    assert sum(d.events for d in found.daily if d.action == "data.read") == 2
    assert [(a.actor_sub, a.action, a.events) for a in found.actors] == [("sam", "data.read",
                                                                          2)]


def test_an_unreadable_public_key_is_a_clear_error(gh: Gatehouse, people: Team,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("GATEHOUSE_AUDIT_PUBLIC_KEY", str(tmp_path / "missing.pub"))
    with pytest.raises(InvalidInput, match="GATEHOUSE_AUDIT_PUBLIC_KEY"):
        oversight.verify(gh, people.audrey)


def test_a_forged_newest_checkpoint_shows_as_an_error(gh: Gatehouse, people: Team,
                                                      sqlite_db: Database) -> None:
    seal(gh)
    # A note whose signature line no longer matches the pinned key must not open.
    tamper(sqlite_db, ["UPDATE audit_checkpoints SET note = replace(note, 'gatehouse-audit ',"
                       " 'gatehouse-audit X')"])
    seen = oversight.overview(gh, people.audrey)
    assert seen.checkpoint is None and seen.checkpoint_error

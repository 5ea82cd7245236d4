"""The six data-subject rights end to end, on both engines (issue 16): filing keeps only the
blind index, every refusal is evidence, the access package lists consultations and honours
redactions, rectification and erasure wait for a second person, restriction and objection hold
the subject's rows in the broker, portability gives JSON and CSV with a schema."""

from __future__ import annotations

import argparse
import csv
import io
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from access import oversight
from access.data import broker
from access.data.customer_db.schema import Contact
from access.dsr import package, rights, subject
from access.dsr import requests as dsr
from access.dsr.clock import ClockState, add_months
from access.dsr.holds import SubjectRestricted
from access.dsr.reminders import announce_due_soon
from access.errors import (
    AuthenticationFailed,
    Conflict,
    Denied,
    InvalidInput,
    StepUpRequired,
)
from access.identity import mfa
from access.ops import dsr_cli
from access.principal import Role
from access.schema import DataSubjectRequest, Notification, SubjectRestriction
from tests.access.dsr.support import admin, dsr_world, filed, officer, subject_of
from tests.adversarial.support import World, events_after, fresh, granted, last_event_id
from tests.support.identity_helpers import sign_in
from tests.support.mfa_helpers import code_now

__all__ = ["dsr_world"]  # the fixture, imported for pytest


def new_events(w: World, since: int, prefix: str = "") -> list[dict[str, Any]]:
    return [e for e in events_after(w.gh.engine, since) if e["action"].startswith(prefix)]


def row(w: World, dsr_id: int) -> DataSubjectRequest:
    with w.gh.read() as db:
        return db.get_one(DataSubjectRequest, dsr_id)


def test_filing_keeps_the_blind_index_and_a_hint_never_the_email(dsr_world: World) -> None:
    w = dsr_world
    before = last_event_id(w.gh.engine)
    dsr_id, person = filed(w, "access", "cust-0003", verified=False)
    stored = row(w, dsr_id)
    assert stored.subject_index == w.gh.data.blind_index().of_email(person.email)
    assert stored.subject_hint == f"{person.email[0]}•••@{person.email.split('@')[1]}"
    assert person.email not in repr([getattr(stored, c.name) for c in
                                     DataSubjectRequest.__table__.columns])
    assert stored.due_at == add_months(stored.received_at, 1)
    assert (stored.status, stored.identity_state) == ("open", "unverified")
    events = new_events(w, before, "dsr.")
    assert [e["action"] for e in events] == ["dsr.filed"]
    assert person.email not in json.dumps(events, default=str)


def test_an_unknown_subject_is_no_such_subject_and_evidence(dsr_world: World) -> None:
    w = dsr_world
    before = last_event_id(w.gh.engine)
    with pytest.raises(InvalidInput) as caught:
        dsr.file(w.gh, officer(w), "access", "gdpr", "nobody.at.all@nowhere.example")
    assert (caught.value.field, caught.value.rule) == ("subject", "no such subject")
    events = new_events(w, before)
    refusal = [e for e in events if e["action"] == "dsr.refused"]
    assert len(refusal) == 1 and refusal[0]["outcome"] == "denied"
    assert "cust-" not in json.dumps(refusal, default=str)  # nothing about any customer
    with w.gh.read() as db:
        assert db.scalar(select(DataSubjectRequest.id).where(
            DataSubjectRequest.subject_hint.like("n•••%"))) is None


@pytest.mark.parametrize(("field", "args"), [
    ("kind", {"kind": "deletion"}), ("jurisdiction", {"jurisdiction": "lgpd"}),
    ("email", {"email": "not-an-email"}), ("reason", {"kind": "objection"}),
])
def test_bad_filings_name_the_field_and_leave_an_event(dsr_world: World, field: str,
                                                       args: dict[str, str]) -> None:
    w = dsr_world
    asked = {"kind": "access", "jurisdiction": "gdpr",
             "email": subject_of(w.gh, "cust-0004").email} | args
    before = last_event_id(w.gh.engine)
    with pytest.raises(InvalidInput) as caught:
        dsr.file(w.gh, officer(w), asked["kind"], asked["jurisdiction"], asked["email"])
    assert caught.value.field == field
    assert [e["action"] for e in new_events(w, before, "dsr.")] == ["dsr.refused"]


def test_the_access_package_lists_consultations_redacts_and_releases(dsr_world: World) -> None:
    w = dsr_world
    # support reads the subject's customer's contacts: a consultation
    grant_id = granted(w.gh, fresh(w.gh, w.people, w.clock), customer="cust-0005")
    broker.read(w.gh, w.people.sam, grant_id, "cust-0005", "contacts")
    dsr_id, person = filed(w, "access", "cust-0005", verified=False)
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied, match="not verified"):
        package.release(w.gh, officer(w), dsr_id)
    assert [e["action"] for e in new_events(w, before, "dsr.")] == ["dsr.refused"]
    dsr.verify_identity(w.gh, officer(w), dsr_id, "replied from the address on file")

    review = package.prepare(w.gh, officer(w), dsr_id)
    emails = [r["fields"]["email"] for r in review["personal_data"]]
    assert person.email in emails
    consulted = review["consultations"]
    assert consulted and consulted[0]["staff"] == "Staff A"
    assert consulted[0]["role"] == "requester" and consulted[0]["ticket"] == "SUP-1234"
    assert "sam" not in json.dumps(consulted)  # staff are pseudonyms, never identities
    assert {c["field"] for c in review["categories"]} >= {"email", "phone", "full_name"}

    phone = f"record:cust-0005:{person.contact_id}:phone"
    package.redact(w.gh, officer(w), dsr_id, phone, "shared company switchboard, not theirs")
    package.redact(w.gh, officer(w), dsr_id, consulted[0]["item"], "ongoing fraud inquiry")
    with pytest.raises(InvalidInput) as bad:
        package.redact(w.gh, officer(w), dsr_id, "record:cust-0005:1:password", "why not")
    assert bad.value.field == "item"

    before = last_event_id(w.gh.engine)
    released = package.release(w.gh, officer(w), dsr_id)
    content = json.loads(released.json)
    mine = next(r for r in content["personal_data"]
                if f"record:cust-0005:{person.contact_id}:phone" in r["items"])
    assert mine["fields"]["phone"] == "[withheld]" and mine["fields"]["email"] == person.email
    assert consulted[0]["item"] not in json.dumps(content["consultations"])
    assert {w_["reason"] for w_ in content["withheld"]} == {
        "shared company switchboard, not theirs", "ongoing fraud inquiry"}
    assert b"<h1>Your personal data</h1>" in released.html
    events = new_events(w, before, "dsr.")
    assert [e["action"] for e in events] == ["dsr.subject_read", "dsr.released"]
    assert events[0]["customer_id"] == "cust-0005"
    assert events[1]["details"]["sha256"] == released.sha256
    assert dsr.detail(w.gh, officer(w), dsr_id).clock is ClockState.MET


def test_rectification_needs_a_second_person_and_moves_the_index(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, person = filed(w, "rectification", "cust-0006")
    new_email = "corrected.person@fixed.example"
    rights.propose_rectification(w.gh, officer(w), dsr_id,
                                 {"email": new_email, "job_title": "Chief Pilot"})
    stored = row(w, dsr_id)
    assert stored.status == "awaiting_approval" and new_email not in str(stored.pending_sealed)
    waiting = dsr.detail(w.gh, admin(w), dsr_id)  # what the approver reads: names, no values
    assert (waiting.pending_fields, waiting.pending_by) == (("email", "job_title"), "Priya")
    with pytest.raises(Denied, match="role"):  # the privacy officer does not approve
        rights.approve(w.gh, officer(w), dsr_id)
    before = last_event_id(w.gh.engine)
    rights.approve(w.gh, admin(w), dsr_id)
    events = new_events(w, before, "dsr.")
    assert [e["action"] for e in events] == ["dsr.approved", "dsr.rectified"]
    assert events[1]["details"]["fields"] == ["email", "job_title"]
    assert new_email not in json.dumps(events, default=str)
    index = w.gh.data.blind_index()
    assert subject.locate(w.gh, "production", index.of_email(person.email)) == []
    moved = subject.locate(w.gh, "production", index.of_email(new_email.upper()))
    assert [(r.customer_id, r.contact_id) for r in moved] == [("cust-0006", person.contact_id)]
    values = subject.read(w.gh, "production", moved)[0].values
    assert (values["email"], values["job_title"]) == (new_email, "Chief Pilot")
    assert row(w, dsr_id).subject_index == index.of_email(new_email)  # follows the subject
    assert dsr.detail(w.gh, admin(w), dsr_id).pending_fields == ()  # nothing waits now


def test_an_unknown_request_is_refused_and_recorded(dsr_world: World) -> None:
    w = dsr_world
    before = last_event_id(w.gh.engine)
    for call in (lambda: dsr.detail(w.gh, officer(w), 99_999),
                 lambda: dsr.verify_identity(w.gh, officer(w), 99_999, "letter checked"),
                 lambda: rights.approve(w.gh, admin(w), 99_999)):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.field == "dsr"
    refusals = new_events(w, before, "dsr.")
    assert [e["action"] for e in refusals] == ["dsr.refused"] * 3


def test_erasure_deletes_the_rows_and_keeps_the_evidence(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, person = filed(w, "erasure", "cust-0007")
    rights.propose_erasure(w.gh, officer(w), dsr_id)
    rights.approve(w.gh, admin(w, "alan"), dsr_id)
    with w.gh.data.engine("production").connect() as conn:
        assert conn.execute(select(Contact.id).where(
            Contact.customer_id == "cust-0007", Contact.id == person.contact_id)).first() is None
    kept = dsr.detail(w.gh, officer(w), dsr_id)  # the request outlives the erasure
    assert kept.outcome == "erased" and kept.evidence is not None
    assert kept.evidence["approved_by"] == "alan"
    assert kept.evidence["tables"]["contacts"] == 1
    assert len(kept.evidence["event_ids"]) >= 4  # filed, verified, proposed, approved
    with pytest.raises(InvalidInput, match="no such subject"):
        dsr.file(w.gh, officer(w), "access", "gdpr", person.email)


def test_nobody_approves_a_step_they_filed(dsr_world: World) -> None:
    """An admin who is also a privacy officer filed it: the second-person rule refuses."""
    w = dsr_world
    dsr_id, _ = filed(w, "erasure", "cust-0008")
    rights.propose_erasure(w.gh, officer(w), dsr_id)
    both = replace(officer(w), roles=frozenset({Role.PRIVACY_OFFICER, Role.APPROVER}))
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied, match="second person"):
        rights.approve(w.gh, both, dsr_id)
    assert [e["action"] for e in new_events(w, before, "dsr.")] == ["dsr.refused"]
    assert row(w, dsr_id).status == "awaiting_approval"


def test_restriction_masks_the_subject_and_refuses_reveal_and_export(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, person = filed(w, "restriction", "cust-0009")
    rights.restrict(w.gh, officer(w), dsr_id, "subject contests accuracy")
    grant_id = granted(w.gh, fresh(w.gh, w.people, w.clock), customer="cust-0009",
                       actions=("read", "reveal", "export"))
    view = broker.read(w.gh, w.people.sam, grant_id, "cust-0009", "contacts")
    held = view.tables["contacts"].set_index("id").loc[person.contact_id]
    assert held["job_title"] == broker.MASK and held["customer_id"] == "cust-0009"
    # the read names what the hold masked and why, for the page to say so
    assert (view.held, view.held_by) == ((person.contact_id,), (dsr_id,))
    sam = fresh(w.gh, w.people, w.clock).sam
    before = last_event_id(w.gh.engine)
    with pytest.raises(SubjectRestricted, match="restricted"):
        broker.reveal(w.gh, sam, grant_id, "cust-0009", "contacts", ["contacts.email"],
                      "customer asked to confirm")
    with pytest.raises(SubjectRestricted):
        broker.export_csv(w.gh, sam, grant_id, "cust-0009", "contacts")
    denials = new_events(w, before, "data.denied")
    assert len(denials) == 2 and "Art. 18" in denials[0]["details"]["why"]
    assert dsr.detail(w.gh, officer(w), dsr_id).held
    rights.lift_restriction(w.gh, officer(w), dsr_id, "accuracy confirmed")
    assert not dsr.detail(w.gh, officer(w), dsr_id).held  # the page offers no second lift
    lifted = broker.read(w.gh, w.people.sam, grant_id, "cust-0009", "contacts")
    assert (lifted.held, lifted.held_by) == ((), ())  # nothing held, nothing said
    shown = broker.reveal(w.gh, sam, grant_id, "cust-0009", "contacts", ["contacts.email"],
                          "customer asked to confirm")
    assert person.email in list(shown.tables["contacts"]["email"])


def test_an_open_objection_restricts_until_it_is_decided(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, _ = filed(w, "objection", "cust-0010",
                      grounds="objects to processing for product improvement")
    with w.gh.read() as db:
        assert db.scalars(select(SubjectRestriction).where(
            SubjectRestriction.dsr_id == dsr_id)).all()
    rights.decide_objection(w.gh, officer(w), dsr_id, upheld=False,
                            reason="compelling grounds: billing records are a legal duty")
    with w.gh.read() as db:
        assert not db.scalars(select(SubjectRestriction).where(
            SubjectRestriction.dsr_id == dsr_id)).all()
    assert dsr.detail(w.gh, officer(w), dsr_id).outcome == "overridden"


def test_portability_gives_json_and_csv_with_a_schema(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, person = filed(w, "portability", "cust-0011")
    portable = rights.portability(w.gh, officer(w), dsr_id)
    document = json.loads(portable.json)
    item = portable.schema["properties"]["records"]["items"]
    assert all(set(r) == set(item["required"]) for r in document["records"])
    assert person.email in [r["email"] for r in document["records"]]
    rows = list(csv.DictReader(io.StringIO(portable.csv.decode("utf-8"))))
    assert rows[0].keys() == set(item["required"]) and rows[0]["email"] == person.email


def test_the_one_extension_only_while_the_first_month_runs(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, _ = filed(w, "access", "cust-0012")
    received = row(w, dsr_id).received_at
    due = dsr.extend(w.gh, officer(w), dsr_id, "complex request across three customers")
    assert due == add_months(add_months(received, 1), 2)
    with pytest.raises(Conflict, match="already extended"):
        dsr.extend(w.gh, officer(w), dsr_id, "once more")
    # received 32 days ago (filed late, as a letter can be): the first month is over
    late = dsr.file(w.gh, officer(w), "access", "gdpr", subject_of(w.gh, "cust-0013").email,
                    received_at=w.clock.now - timedelta(days=32))
    before = last_event_id(w.gh.engine)
    with pytest.raises(InvalidInput, match=r"Art\. 12\(3\)") as caught:
        dsr.extend(w.gh, officer(w), late, "too late")
    assert caught.value.field == "extension"
    assert [e["action"] for e in new_events(w, before, "dsr.")] == ["dsr.refused"]
    assert dsr.detail(w.gh, officer(w), late).clock is ClockState.OVERDUE


def test_the_privacy_officer_lists_open_requests_by_due_date(dsr_world: World) -> None:
    w = dsr_world
    listed = dsr.requests(w.gh, officer(w))
    assert [v.due_at for v in listed] == sorted(v.due_at for v in listed)
    assert all(v.status != "closed" for v in listed)
    assert w.people.priya is not None
    with pytest.raises(Denied, match="role"):
        broker.read(w.gh, w.people.priya, 1, "cust-0001", "contacts")


def test_releasing_data_wants_a_fresh_code(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, _ = filed(w, "portability", "cust-0014")
    stale = replace(officer(w), step_up_at=w.clock.now - timedelta(minutes=6))
    with pytest.raises(StepUpRequired):
        rights.portability(w.gh, stale, dsr_id)
    assert row(w, dsr_id).status == "open"


def test_a_request_near_its_due_date_is_announced_once(dsr_world: World) -> None:
    w = dsr_world
    email = subject_of(w.gh, "cust-0015").email
    near = dsr.file(w.gh, officer(w), "access", "gdpr", email,
                    received_at=w.clock.now - timedelta(days=27))  # due in 3 or 4 days
    far = dsr.file(w.gh, officer(w), "access", "ccpa", email)  # due in 45 days

    def sent(dsr_id: int) -> list[str]:
        with w.gh.read() as db:
            return [n.payload for n in db.scalars(select(Notification))
                    if f'"dsr": "{dsr_id}"' in n.payload]

    announce_due_soon(w.gh)
    assert len(sent(near)) == 1 and sent(far) == []
    assert email not in sent(near)[0] and "Data-subject request due" in sent(near)[0]
    announce_due_soon(w.gh)
    assert len(sent(near)) == 1  # once per request


def test_an_overdue_request_is_an_anomaly_on_the_activity_page(dsr_world: World) -> None:
    w = dsr_world
    overdue = dsr.file(w.gh, officer(w), "erasure", "gdpr", subject_of(w.gh, "cust-0016").email,
                       received_at=w.clock.now - timedelta(days=40))
    flags = oversight.anomalies(w.gh, w.people.audrey, w.clock.now - timedelta(days=1),
                                w.clock.now + timedelta(minutes=1))
    mine = [f for f in flags if f.subject == f"data-subject request {overdue}"]
    assert [f.rule for f in mine] == ["dsr_overdue"] and "still open" in mine[0].detail


def test_the_cli_acts_as_the_signed_in_officer_with_a_fresh_code(dsr_world: World,
                                                                  tmp_path: Path) -> None:
    w = dsr_world
    session = sign_in(w.gh, w.idp, "priya", "privacy_officer")  # a console sign-in ...
    w.clock.advance(seconds=30)
    mfa.verify_code(w.gh, session, code_now(w.gh, w.people.secrets["priya"], 1))  # ... done
    parser = argparse.ArgumentParser()
    dsr_cli.add_parser(parser.add_subparsers(dest="command"))

    def cli(*argv: str, who: str = "priya") -> str:
        w.clock.advance(seconds=30)
        code = code_now(w.gh, w.people.secrets[who], 1)
        return dsr_cli.run(w.gh, parser.parse_args(["dsr", "--as", who, "--code", code, *argv]))

    email = subject_of(w.gh, "cust-0017").email
    filed_line = cli("file", "--kind", "portability", "--jurisdiction", "ccpa", "--email", email)
    dsr_id = int(filed_line.split()[2].rstrip(","))
    assert email not in cli("list") and f"{dsr_id}\tportability\tccpa" in cli("list")
    cli("verify", str(dsr_id), "--method", "account PIN confirmed by phone")
    assert cli("export", str(dsr_id), "--out", str(tmp_path / "out")).startswith("wrote")
    assert email in (tmp_path / "out" / f"dsr-{dsr_id}.csv").read_text()
    assert (tmp_path / "out" / f"dsr-{dsr_id}.csv").stat().st_mode & 0o777 == 0o600
    with pytest.raises(AuthenticationFailed):
        dsr_cli.run(w.gh, parser.parse_args(["dsr", "--as", "priya", "--code", "000000",
                                             "list"]))
    with pytest.raises(AuthenticationFailed, match="no live console session"):
        dsr_cli.run(w.gh, parser.parse_args(["dsr", "--as", "nobody", "--code", "123456",
                                             "list"]))


def test_a_hold_is_one_event_and_an_upheld_objection_keeps_it(dsr_world: World) -> None:
    w = dsr_world
    before = last_event_id(w.gh.engine)
    restriction, _ = filed(w, "restriction", "cust-0018", verified=False)
    rights.restrict(w.gh, officer(w), restriction, "subject contests accuracy")
    objection, person = filed(w, "objection", "cust-0019", verified=False,
                              grounds="objects to direct marketing")
    steps = [(e["action"], e["target_id"], e["details"].get("outcome"))
             for e in new_events(w, before, "dsr.")]
    assert steps == [("dsr.filed", str(restriction), None),
                     ("dsr.restricted", str(restriction), "restricted"),
                     ("dsr.filed", str(objection), None),
                     ("dsr.restricted", str(objection), None)]
    rights.decide_objection(w.gh, officer(w), objection, upheld=True,
                            reason="no compelling grounds against direct marketing")
    with w.gh.read() as db:
        held = db.scalars(select(SubjectRestriction.contact_id).where(
            SubjectRestriction.dsr_id == objection)).all()
    assert held == [person.contact_id]
    decided = dsr.detail(w.gh, officer(w), objection)
    assert (decided.outcome, decided.outcome_reason) == (
        "upheld", "no compelling grounds against direct marketing")

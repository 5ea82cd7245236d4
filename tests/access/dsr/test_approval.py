"""The second person's decision on a proposed rectification or erasure, on both engines: it
is proposed only for a verified requester, the approver reads what waits (fields, customers,
tables and row counts, never a value), and may approve (told what was applied) or reject with
a reason the officer then reads, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from access.data.customer_db.schema import Contact
from access.dsr import requests as dsr
from access.dsr import rights, subject
from access.errors import Conflict, Denied, InvalidInput
from tests.access.dsr.support import admin, dsr_world, filed, officer
from tests.adversarial.support import World, events_after, last_event_id

__all__ = ["dsr_world"]  # the fixture, imported for pytest


def dsr_events(w: World, since: int) -> list[dict[str, Any]]:
    return [e for e in events_after(w.gh.engine, since) if e["action"].startswith("dsr.")]


def contact_exists(w: World, customer_id: str, contact_id: int) -> bool:
    with w.gh.data.engine("production").connect() as conn:
        return conn.execute(select(Contact.id).where(
            Contact.customer_id == customer_id, Contact.id == contact_id)).first() is not None


@pytest.mark.parametrize(("kind", "propose"), [
    ("rectification", lambda w, i: rights.propose_rectification(
        w.gh, officer(w), i, {"job_title": "Chief Pilot"})),
    ("erasure", lambda w, i: rights.propose_erasure(w.gh, officer(w), i)),
])
def test_nothing_is_proposed_for_an_unverified_requester(dsr_world: World, kind: str,
                                                         propose: Any) -> None:
    w = dsr_world
    dsr_id, _ = filed(w, kind, "cust-0011", verified=False)
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied, match=dsr.IDENTITY_RULE):
        propose(w, dsr_id)
    events = dsr_events(w, before)
    assert [(e["action"], e["outcome"]) for e in events] == [("dsr.refused", "denied")]
    assert dsr.IDENTITY_RULE in events[0]["details"]["why"]
    view = dsr.detail(w.gh, officer(w), dsr_id)
    assert (view.status, view.pending_action) == ("open", None)
    dsr.verify_identity(w.gh, officer(w), dsr_id, "replied from the address on file")
    propose(w, dsr_id)  # once verified, the same proposal waits for a second person
    assert dsr.detail(w.gh, officer(w), dsr_id).status == "awaiting_approval"


def test_a_rejected_erasure_erases_nothing_and_the_officer_reads_why(dsr_world: World) -> None:
    w = dsr_world
    dsr_id, person = filed(w, "erasure", "cust-0012")
    rights.propose_erasure(w.gh, officer(w), dsr_id)
    waits = rights.waiting(w.gh, admin(w), dsr_id)
    rows = len(subject.locate(w.gh, "production",
                              w.gh.data.blind_index().of_email(person.email)))
    assert (waits.action, waits.proposed_by, waits.fields) == ("erase", "Priya", ())
    assert waits.customers == ("cust-0012",)
    assert waits.tables == {"contacts": rows, "contact_email_index": rows} and rows >= 1

    before = last_event_id(w.gh.engine)
    with pytest.raises(InvalidInput) as empty:
        rights.reject(w.gh, admin(w), dsr_id, "  ")
    assert empty.value.field == "reason"
    why = "tax records: retention under the commercial code until 2031"
    rights.reject(w.gh, admin(w), dsr_id, why)
    events = dsr_events(w, before)
    assert [e["action"] for e in events] == ["dsr.refused", dsr.REJECTED]
    assert (events[1]["reason"], events[1]["details"]["outcome"]) == (why, "erase")
    assert contact_exists(w, "cust-0012", person.contact_id)
    back = dsr.detail(w.gh, officer(w), dsr_id)
    assert (back.status, back.pending_action, back.pending_by) == ("open", None, None)
    assert back.rejection is not None and back.rejection.endswith(f": {why}")
    assert back.rejection.split(":")[0] == events[1]["actor_name"]

    before = last_event_id(w.gh.engine)
    with pytest.raises(Conflict, match="nothing waiting"):  # a rejection is not undone
        rights.approve(w.gh, admin(w), dsr_id)
    with pytest.raises(Conflict, match="nothing waiting"):
        rights.reject(w.gh, admin(w), dsr_id, why)
    with pytest.raises(Conflict, match="nothing waiting"):
        rights.waiting(w.gh, admin(w), dsr_id)
    assert [e["action"] for e in dsr_events(w, before)] == ["dsr.refused"] * 3

    rights.propose_erasure(w.gh, officer(w), dsr_id)  # proposed again: the rejection is past
    assert dsr.detail(w.gh, officer(w), dsr_id).rejection is None
    done = rights.approve(w.gh, admin(w, "alan"), dsr_id)
    assert done == rights.Applied("erased", (), ("cust-0012",), waits.tables)
    assert not contact_exists(w, "cust-0012", person.contact_id)


def test_the_rectification_approver_reads_the_fields_and_learns_what_was_applied(
        dsr_world: World) -> None:
    w = dsr_world
    dsr_id, _ = filed(w, "rectification", "cust-0013")
    rights.propose_rectification(w.gh, officer(w), dsr_id,
                                 {"job_title": "Chief Pilot", "phone": "+33 1 00 00 00 00"})
    waits = rights.waiting(w.gh, admin(w), dsr_id)
    assert (waits.action, waits.fields, waits.customers) == (
        "rectify", ("job_title", "phone"), ("cust-0013",))
    assert "Chief Pilot" not in repr(waits)  # names, never values
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied, match="role"):  # the officer neither approves nor rejects
        rights.reject(w.gh, officer(w), dsr_id, "changed my mind")
    rights.reject(w.gh, admin(w), dsr_id, "the phone is the switchboard's")
    rejected = dsr_events(w, before)[-1]
    assert rejected["details"]["fields"] == ["job_title", "phone"]
    assert "Chief Pilot" not in str(rejected)
    rights.propose_rectification(w.gh, officer(w), dsr_id, {"job_title": "Chief Pilot"})
    done = rights.approve(w.gh, admin(w), dsr_id)
    assert (done.outcome, done.fields, done.customers) == (
        "rectified", ("job_title",), ("cust-0013",))

"""Restriction of processing (GDPR Art. 18): while a customer is restricted nothing is served,
requested, approved or activated for them, every refusal says so and is logged; lifting the
restriction restores exactly what was there. On both engines."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from access.context import Gatehouse
from access.data import broker, restrictions
from access.data.servable import CustomerRestricted
from access.errors import Conflict, InvalidInput
from access.workflow import break_glass, create_request, decide_request, queries
from access.workflow.create_request import RequestDraft
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team

WHY = "data subject contests accuracy, DPO-77"


@pytest.fixture
def gh_any(gh_any: Gatehouse, tmp_path: Path, clock: FakeClock) -> Gatehouse:
    return attach_customer_data(gh_any, tmp_path, clock)


@pytest.fixture
def people(gh_any: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh_any, idp)


def granted(gh: Gatehouse, people: Team, customer: str = "cust-0001") -> int:
    request_id = create_request.create(gh, people.sam, draft(customer_id=customer,
                                                             scopes=["contacts"]))
    for admin in (people.ada, people.alan):
        decision = decide_request.decide(gh, admin, request_id, approve=True)
        if decision.grant_id is not None:
            return decision.grant_id
    raise AssertionError("not granted")


def test_a_restricted_customer_is_refused_on_the_next_read_and_the_refusal_is_logged(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    grant_id = granted(gh, people)
    broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    restrictions.restrict(gh, people.ada, "production", "cust-0001", WHY)
    with pytest.raises(CustomerRestricted, match="cust-0001 is restricted"):
        broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    denied = events(gh, "data.denied")[-1]
    assert (denied["customer_id"], denied["grant_id"]) == ("cust-0001", str(grant_id))
    assert "restricted" in denied["details"]["why"]
    assert [e["action"] for e in events(gh, "data.read")] == ["data.read"]  # only the first
    restrictions.lift(gh, people.alan, "production", "cust-0001", "accuracy confirmed")
    assert len(broker.read(gh, people.sam, grant_id, "cust-0001", "contacts").tables) == 1


def test_a_restricted_customer_can_be_neither_requested_nor_approved_nor_broken_glass(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    pending = create_request.create(gh, people.sam, draft(customer_id="cust-0002"))
    restrictions.restrict(gh, people.ada, "production", "cust-0002", WHY)
    with pytest.raises(CustomerRestricted):
        create_request.create(gh, people.sam, draft(customer_id="cust-0002"))
    with pytest.raises(CustomerRestricted):
        decide_request.decide(gh, people.alan, pending, approve=True)
    with pytest.raises(CustomerRestricted):
        break_glass.activate(gh, people.sam, _breakglass("cust-0002"), "production outage INC-9")
    assert [r.status for r in queries.my_requests(gh, people.sam) if r.id == pending] == \
        ["pending"]  # the refused approval left the request as it was
    assert queries.my_grants(gh, people.sam) == []
    create_request.create(gh, people.sam, draft(customer_id="cust-0003"))  # others are untouched


def test_restrict_and_lift_are_logged_with_who_why_and_which_customer(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    restrictions.restrict(gh, people.ada, "production", "cust-0004", WHY)
    [view] = restrictions.restrictions(gh, people.alan)
    assert (view.customer_id, view.environment, view.reason) == ("cust-0004", "production", WHY)
    assert view.restricted_by.endswith("|ada")
    restrictions.lift(gh, people.alan, "production", "cust-0004", "accuracy confirmed")
    assert restrictions.restrictions(gh, people.alan) == []
    logged = [(e["action"], e["customer_id"], e["reason"], e["actor_sub"])
              for e in events(gh, "customer.restrict")]
    assert logged == [("customer.restricted", "cust-0004", WHY, "ada"),
                      ("customer.restriction_lifted", "cust-0004", "accuracy confirmed", "alan")]


def test_restricting_twice_or_lifting_nothing_is_a_conflict_that_changes_nothing(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    restrictions.restrict(gh, people.ada, "production", "cust-0005", WHY)
    with pytest.raises(Conflict, match="already restricted"):
        restrictions.restrict(gh, people.alan, "production", "cust-0005", "again")
    with pytest.raises(Conflict, match="not restricted"):
        restrictions.lift(gh, people.alan, "production", "cust-0006", "nothing to lift")
    assert [v.customer_id for v in restrictions.restrictions(gh, people.ada)] == ["cust-0005"]
    assert len(events(gh, "customer.restrict")) == 1


@pytest.mark.parametrize(("environment", "customer", "reason", "field"), [
    ("production", "cust-9999", WHY, "customer"),          # no such customer
    ("production", "cust-0001' OR '1'='1", WHY, "customer"),
    ("production", "%", WHY, "customer"),
    ("moon", "cust-0001", WHY, "environment"),
    ("production", "cust-0001", "  ", "reason"),
    ("production", "cust-0001", "x" * 501, "reason"),
    ("production", "cust-0001", "nul\x00byte", "reason"),
])
def test_bad_input_names_the_field_and_restricts_nothing(
        gh_any: Gatehouse, people: Team, environment: str, customer: str, reason: str,
        field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        restrictions.restrict(gh_any, people.ada, environment, customer, reason)
    assert refused.value.field == field
    assert restrictions.restrictions(gh_any, people.ada) == []


def _breakglass(customer: str) -> RequestDraft:
    return draft(customer_id=customer, scopes=["contacts"], duration=timedelta(minutes=30))

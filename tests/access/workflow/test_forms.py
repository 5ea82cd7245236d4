"""What the request and break-glass forms and the review card rely on, on both engines: every
bad field is named at once and the refusal is logged once; a break-glass review shows the
emergency reason, ticket, times, bypassed rules and every use of the grant."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access.context import Gatehouse
from access.data import broker
from access.errors import InvalidFields
from access.schema import AccessRequest, Grant
from access.workflow import break_glass, create_request
from access.workflow.policy import human_duration
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team


@pytest.fixture
def people(gh_any: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh_any, idp)


def rows(gh: Gatehouse, table: type[AccessRequest] | type[Grant]) -> int:
    with gh.read() as db:
        return int(db.execute(select(func.count()).select_from(table)).scalar_one())


def test_every_bad_field_is_named_at_once_and_the_refusal_is_logged_once(
        gh_any: Gatehouse, people: Team) -> None:
    before = len(events(gh_any))
    bad = draft(customer_id="cust 1;", duration=timedelta(minutes=5), justification="pls",
                ticket="JIRA-1")
    with pytest.raises(InvalidFields) as caught:
        create_request.create(gh_any, people.sam, bad)
    assert [p.field for p in caught.value.problems] == ["customer", "duration",
                                                        "justification", "ticket"]
    assert "between 15 min and 8 h" in str(caught.value)  # durations as people read them
    refusal, = events(gh_any)[before:]
    assert (refusal["action"], refusal["outcome"]) == ("request.created", "denied")
    assert [part.split(":")[0] for part in refusal["reason"].split("; ")] == [
        "customer", "duration", "justification", "ticket"]
    assert refusal["customer_id"] is None  # a malformed id stays in the bounded reason only
    assert rows(gh_any, AccessRequest) == 0


def test_a_break_glass_form_names_its_reason_with_the_other_fields(
        gh_any: Gatehouse, people: Team) -> None:
    """The emergency reason is the request's justification: one text, one rule, one message
    (never the justification's rule and an admin reason's rule side by side)."""
    before = len(events(gh_any))
    with pytest.raises(InvalidFields) as caught:
        break_glass.activate(gh_any, people.sam, draft(duration=timedelta(minutes=1)), "")
    assert [p.field for p in caught.value.problems] == ["duration", "justification"]
    assert caught.value.problems[1].rule == ("is required: 10 to 1000 characters saying why "
                                             "the ticket needs this")
    refusal, = events(gh_any)[before:]
    assert (refusal["action"], refusal["outcome"]) == ("breakglass.activated", "denied")
    assert refusal["customer_id"] == "cust-001" and refusal["ticket"] == "SUP-1234"
    assert rows(gh_any, Grant) == 0


def test_human_durations() -> None:
    assert [human_duration(timedelta(seconds=s)) for s in (0, 45, 900, 3600, 5400, 90_000)] == [
        "0 s", "45 s", "15 min", "1 h", "1 h 30 min", "1 d 1 h"]
    assert human_duration(timedelta(hours=1, seconds=30)) == "1 h"  # a gap ends the phrase
    assert human_duration(-timedelta(minutes=5)) == "-5 min"


def test_the_review_case_holds_what_the_reviewer_judges(
        gh_any: Gatehouse, people: Team, tmp_path: Path, clock: FakeClock) -> None:
    gh = attach_customer_data(gh_any, tmp_path, clock)
    grant_id = break_glass.activate(gh, people.sam, draft(
        customer_id="cust-0001", scopes=["contacts"], duration=timedelta(minutes=30)),
        "production outage INC-7, customer cannot sign in")
    clock.advance(minutes=2)
    broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    case, = break_glass.open_reviews(gh, people.ada)
    assert case.grant.id == grant_id and case.grant.holder and case.grant.ticket == "SUP-1234"
    assert case.reason == "production outage INC-7, customer cannot sign in"
    assert case.activated_at == case.grant.starts_at
    assert case.grant.ends_at - case.grant.starts_at == timedelta(minutes=30)
    assert case.grant.bypassed and case.grant.bypassed[0].startswith("approvals: 1 distinct")
    use, = case.uses
    assert (use.action, use.scope, use.outcome) == ("data.read", "contacts", "success")
    assert use.at == case.activated_at + timedelta(minutes=2) and case.uses_total == 1
    assert use.row_count is not None and "contacts.email" in use.columns
    break_glass.review(gh, people.ada, grant_id, "outage confirmed in INC-7")
    assert break_glass.open_reviews(gh, people.ada) == []

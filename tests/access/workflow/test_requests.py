"""Requests, approvals and grants through the real services on a real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from access.context import Gatehouse
from access.errors import Conflict, Denied, GatehouseError, InvalidInput, StepUpRequired
from access.identity.sessions import resume
from access.schema import AccessRequest, Grant
from access.workflow import (
    break_glass,
    cancel_request,
    create_request,
    decide_request,
    grants,
    queries,
    sweep,
)
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.mfa_helpers import enroll
from tests.support.workflow_helpers import Team, draft, events, team


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def approved_grant(gh: Gatehouse, people: Team, **changes: object) -> int:
    request_id = create_request.create(gh, people.sam, draft(**changes))
    decision = decide_request.decide(gh, people.ada, request_id, approve=True)
    assert decision.grant_id is not None
    return decision.grant_id


def test_an_approved_request_issues_a_grant_for_exactly_its_window(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    grant_id = approved_grant(gh, people)
    with gh.read() as db:
        grant = db.get_one(Grant, grant_id)
        assert grant.ends_at - grant.starts_at == timedelta(hours=2)
    check = (people.sam, grant_id, "cust-001", "production", "subscriptions", "read")
    clock.advance(hours=2, seconds=-1)
    with gh.read() as db:
        grants.usable_grant(gh, db, *check)
    clock.advance(seconds=1)  # ends_at itself is outside [start, end)
    with gh.read() as db, pytest.raises(Denied, match="expired"):
        grants.usable_grant(gh, db, *check)


@pytest.mark.parametrize(("other", "why"), [
    (("cust-002", "production", "subscriptions", "read"), "another customer"),
    (("cust-001", "staging", "subscriptions", "read"), "another customer or environment"),
    (("cust-001", "production", "billing", "read"), "does not cover the scope"),
    (("cust-001", "production", "subscriptions", "export"), "does not allow"),
])
def test_a_grant_covers_nothing_beyond_its_customer_scope_and_action(
        gh: Gatehouse, people: Team, other: tuple[str, str, str, str], why: str) -> None:
    grant_id = approved_grant(gh, people)
    with gh.read() as db, pytest.raises(Denied, match=why):
        grants.usable_grant(gh, db, people.sam, grant_id, *other)


def test_a_grant_serves_only_its_holder(gh: Gatehouse, people: Team) -> None:
    grant_id = approved_grant(gh, people)
    with gh.read() as db, pytest.raises(Denied, match="no grant"):
        grants.usable_grant(gh, db, people.sky, grant_id, "cust-001", "production",
                            "subscriptions", "read")


def test_revocation_is_effective_on_the_next_check(gh: Gatehouse, people: Team) -> None:
    grant_id = approved_grant(gh, people)
    with pytest.raises(InvalidInput, match="reason"):
        grants.revoke(gh, people.ada, grant_id, "")
    grants.revoke(gh, people.alan, grant_id, "ticket closed")
    with gh.read() as db, pytest.raises(Denied, match="revoked"):
        grants.usable_grant(gh, db, people.sam, grant_id, "cust-001", "production",
                            "subscriptions", "read")
    with pytest.raises(Conflict):
        grants.release(gh, people.sam, grant_id)


def test_nobody_approves_their_own_request(gh: Gatehouse, idp: LocalIdP) -> None:
    # A person in both groups holds both roles: requester and approver.
    dual = enroll(gh, resume(gh, idp.token("dual", ["support", "admins"])))[0]
    request_id = create_request.create(gh, dual, draft())
    with pytest.raises(Denied, match="their own request"):
        decide_request.decide(gh, dual, request_id, approve=True)
    with gh.read() as db:
        assert db.get_one(AccessRequest, request_id).status == "pending"
        assert db.execute(select(func.count()).select_from(Grant)).scalar() == 0
    refused = events(gh, "request.approved")[-1]
    assert refused["outcome"] == "denied" and refused["request_id"] == str(request_id)


def test_billing_needs_two_distinct_approvers(gh: Gatehouse, people: Team) -> None:
    request_id = create_request.create(gh, people.sam, draft(scopes=["billing"],
                                                             duration=timedelta(hours=1)))
    first = decide_request.decide(gh, people.ada, request_id, approve=True)
    assert (first.status, first.approvals, first.approvals_required) == ("pending", 1, 2)
    with pytest.raises(Conflict, match="already decided"):
        decide_request.decide(gh, people.ada, request_id, approve=True)  # one person, one vote
    second = decide_request.decide(gh, people.alan, request_id, approve=True)
    assert second.status == "approved" and second.grant_id is not None


def test_export_raises_the_number_of_approvers(gh: Gatehouse, people: Team) -> None:
    request_id = create_request.create(gh, people.sam, draft(actions=["read", "export"]))
    assert decide_request.decide(gh, people.ada, request_id, approve=True).status == "pending"


TRANSITIONS = {  # (state the request is in, what is tried) -> expected outcome
    ("approved", "approve"): Conflict, ("approved", "deny"): Conflict,
    ("approved", "cancel"): Conflict, ("denied", "approve"): Conflict,
    ("denied", "cancel"): Conflict, ("cancelled", "approve"): Conflict,
    ("cancelled", "deny"): Conflict, ("cancelled", "cancel"): Conflict,
    ("expired", "approve"): Conflict, ("expired", "cancel"): Conflict,
    ("pending", "approve"): None, ("pending", "deny"): None, ("pending", "cancel"): None,
}


def _put_in(gh: Gatehouse, people: Team, clock: FakeClock, status: str) -> int:
    request_id = create_request.create(gh, people.sam, draft())
    if status == "approved":
        decide_request.decide(gh, people.alan, request_id, approve=True)
    elif status == "denied":
        decide_request.decide(gh, people.alan, request_id, approve=False, comment="not needed")
    elif status == "cancelled":
        cancel_request.cancel(gh, people.sam, request_id)
    elif status == "expired":
        clock.advance(hours=25)
    return request_id


@pytest.mark.parametrize(("status", "attempt"), sorted(TRANSITIONS))
def test_the_request_state_machine_refuses_every_illegal_transition(
        gh: Gatehouse, idp: LocalIdP, clock: FakeClock, status: str, attempt: str) -> None:
    people = team(gh, idp)
    request_id = _put_in(gh, people, clock, status)
    people.step_up(gh, "ada")  # the clock may have moved past the step-up window
    expected = TRANSITIONS[(status, attempt)]

    def act() -> None:
        if attempt == "cancel":
            cancel_request.cancel(gh, people.sam, request_id)
        else:
            decide_request.decide(gh, people.ada, request_id, approve=attempt == "approve",
                                  comment="checked the ticket")

    if expected is None:
        act()
    else:
        with pytest.raises(expected):
            act()
        with gh.read() as db:
            assert db.get_one(AccessRequest, request_id).status == status


def test_pending_requests_expire_after_their_time_to_live(gh: Gatehouse, people: Team,
                                                          clock: FakeClock) -> None:
    request_id = create_request.create(gh, people.sam, draft())
    clock.advance(hours=23, minutes=59)
    assert sweep.expire_pending(gh) == 0
    clock.advance(minutes=1)
    assert sweep.expire_pending(gh) == 1
    with gh.read() as db:
        assert db.get_one(AccessRequest, request_id).status == "expired"
    assert [e["actor_sub"] for e in events(gh, "request.expired")] == ["system"]


def test_the_sweeper_records_each_expiry_once(gh: Gatehouse, people: Team,
                                              clock: FakeClock) -> None:
    approved_grant(gh, people)
    clock.advance(hours=2)
    assert sweep.record_expiries(gh) == 1
    assert sweep.record_expiries(gh) == 0
    assert len(events(gh, "grant.expired")) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"customer_id": "cust 001; DROP TABLE grants"}, "customer"),
    ({"customer_id": ""}, "customer"),
    ({"environment": "prod"}, "environment"),
    ({"scopes": []}, "scopes"),
    ({"scopes": ["subscriptions", "subscriptions"]}, "scopes"),
    ({"scopes": ["everything"]}, "scopes"),
    ({"actions": ["delete"]}, "actions"),
    ({"duration": timedelta(hours=9)}, "duration"),
    ({"duration": timedelta(minutes=5)}, "duration"),
    ({"justification": "pls"}, "justification"),
    ({"justification": "x" * 5000}, "justification"),
    ({"ticket": None}, "ticket"),
    ({"ticket": "SUP-12; rm -rf"}, "ticket"),
    ({"starts_at": "tomorrow"}, "starts_at"),
])
def test_bad_input_names_the_field_and_changes_nothing(gh: Gatehouse, people: Team,
                                                       changes: dict[str, object],
                                                       field: str) -> None:
    before = len(events(gh))
    with pytest.raises(InvalidInput) as caught:
        create_request.create(gh, people.sam, draft(**changes))
    assert caught.value.field == field
    refusal, = events(gh)[before:]  # a refusal is evidence: one denied event naming the field
    assert (refusal["action"], refusal["outcome"]) == ("request.created", "denied")
    assert refusal["reason"].startswith(f"{field}: ")
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(AccessRequest)).scalar() == 0


def test_start_times_must_be_aware_and_near(gh: Gatehouse, people: Team,
                                           clock: FakeClock) -> None:
    for when in (clock.now.replace(tzinfo=None), clock.now - timedelta(hours=1),
                 clock.now + timedelta(days=8)):
        with pytest.raises(InvalidInput, match="starts_at"):
            create_request.create(gh, people.sam, draft(starts_at=when))


def test_only_requesters_request_and_only_approvers_decide(gh: Gatehouse, people: Team) -> None:
    for who in (people.ada, people.audrey):
        with pytest.raises(Denied):
            create_request.create(gh, who, draft())
    request_id = create_request.create(gh, people.sam, draft())
    for who in (people.sky, people.audrey):
        with pytest.raises(Denied):
            decide_request.decide(gh, who, request_id, approve=True)


def test_deciding_needs_a_fresh_code(gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    request_id = create_request.create(gh, people.sam, draft())
    clock.advance(minutes=6)
    with pytest.raises(StepUpRequired):
        decide_request.decide(gh, people.ada, request_id, approve=True)


def test_denying_needs_a_comment(gh: Gatehouse, people: Team) -> None:
    request_id = create_request.create(gh, people.sam, draft())
    with pytest.raises(InvalidInput, match="comment"):
        decide_request.decide(gh, people.ada, request_id, approve=False)


def test_a_request_repeating_a_pending_one_is_refused_naming_it(gh_any: Gatehouse,
                                                               idp: LocalIdP,
                                                               clock: FakeClock) -> None:
    """A second click on Submit, or a second tab: the same person, customer, environment and
    ticket with a scope in common is refused while the first is pending, and the refusal is
    one denied `request.created` event pointing at it."""
    gh = gh_any
    people = team(gh, idp)
    first = create_request.create(gh, people.sam, draft())
    before = len(events(gh))
    for repeat in (draft(), draft(scopes=["billing", "subscriptions"], actions=["read", "export"],
                                  duration=timedelta(hours=1)), draft(ticket=" SUP-1234 ")):
        with pytest.raises(Conflict, match=rf"your request {first} for customer cust-001 in "
                                           r"production under ticket SUP-1234 \(subscriptions\)"
                                           " is still pending"):
            create_request.create(gh, people.sam, repeat)
    refusals = events(gh)[before:]
    assert [(e["action"], e["outcome"], e["request_id"], e["customer_id"], e["ticket"])
            for e in refusals] == [("request.created", "denied", str(first), "cust-001",
                                    "SUP-1234")] * 3
    assert all("still pending" in e["reason"] for e in refusals)
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(AccessRequest)).scalar() == 1

    # Not a repeat: no scope in common, another ticket, customer or environment, another person.
    others = [draft(scopes=["account"]), draft(ticket="SUP-99"), draft(customer_id="cust-002"),
              draft(environment="staging", ticket=None)]
    filed = [create_request.create(gh, people.sam, d) for d in others]
    filed.append(create_request.create(gh, people.sky, draft()))
    assert len(set(filed)) == 5 and first not in filed

    # Once the first is no longer pending (decided, expired), the same request may be filed.
    decide_request.decide(gh, people.ada, first, approve=False, comment="wrong customer")
    again = create_request.create(gh, people.sam, draft())
    clock.advance(hours=25)  # past the pending time-to-live, before any sweeper came by
    assert create_request.create(gh, people.sam, draft()) > again


def test_two_submits_at_once_file_one_request(gh_any: Gatehouse, idp: LocalIdP) -> None:
    gh = gh_any
    people = team(gh, idp)
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def submit() -> None:
        barrier.wait()
        try:
            create_request.create(gh, people.sam, draft())
            outcomes.append("filed")
        except GatehouseError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Conflict", "Conflict", "filed"]
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(AccessRequest)).scalar() == 1
    assert [e["outcome"] for e in events(gh, "request.created")] == \
        ["success", "denied", "denied"]


def test_the_queue_shows_history_and_hides_own_and_decided(gh: Gatehouse, people: Team) -> None:
    earlier = create_request.create(gh, people.sam, draft())
    decide_request.decide(gh, people.alan, earlier, approve=False, comment="wrong customer")
    current = create_request.create(gh, people.sam, draft())
    queue = queries.approval_queue(gh, people.ada)
    assert [item.request.id for item in queue] == [current]
    assert [h.id for h in queue[0].history] == [earlier]
    decide_request.decide(gh, people.ada, current, approve=True)
    assert queries.approval_queue(gh, people.ada) == []


def test_a_request_gone_from_the_queue_says_who_decided_it_and_when(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    """What the Approvals page says of a card decided meanwhile (in another tab, or by another
    approver): one's own vote while the request waits, its decision and by whom, or its
    expiry; reading it leaves no event."""
    billing = create_request.create(gh, people.sam, draft(scopes=["billing"],
                                                          duration=timedelta(hours=1)))
    decide_request.decide(gh, people.ada, billing, approve=True, comment="ticket checked")
    voted_at = gh.now()
    waiting = queries.request_standing(gh, people.ada, billing)
    assert (waiting.id, waiting.status, waiting.decided_by, waiting.decided_at) == (
        billing, "pending", None, None)
    assert waiting.my_vote == queries.Remark("Ada", "approved", voted_at, "ticket checked")
    clock.advance(minutes=5)
    decide_request.decide(gh, people.step_up(gh, "alan"), billing, approve=False,
                          comment="no ticket link")
    before = len(events(gh))
    decided = queries.request_standing(gh, people.ada, billing)
    assert (decided.status, decided.decided_by, decided.decided_at) == (
        "denied", "Alan", gh.now())
    assert queries.request_standing(gh, people.alan, billing).my_vote == queries.Remark(
        "Alan", "denied", gh.now(), "no ticket link")

    lapsed = create_request.create(gh, people.sam, draft())
    filed_at = gh.now()
    clock.advance(hours=24)  # past its time to live; the sweep has not come by
    expired = queries.request_standing(gh, people.ada, lapsed)
    assert (expired.status, expired.decided_by, expired.my_vote) == ("expired", None, None)
    assert expired.decided_at == filed_at + timedelta(hours=24)
    assert len(events(gh)) == before + 1  # the second request's filing, nothing read
    with pytest.raises(InvalidInput, match="no request 999"):
        queries.request_standing(gh, people.ada, 999)


def test_every_step_is_audited_with_request_grant_ticket_and_policy(gh: Gatehouse,
                                                                    people: Team) -> None:
    grant_id = approved_grant(gh, people)
    grants.release(gh, people.sam, grant_id)
    steps = events(gh, "request.") + events(gh, "grant.")
    assert [e["action"] for e in steps] == ["request.created", "request.approved",
                                            "grant.issued", "grant.released"]
    for event in steps:
        assert event["ticket"] == "SUP-1234" and event["customer_id"] == "cust-001"
        assert event["policy_version"] == gh.policy.version
        assert event["request_id"] is not None
    assert {e["grant_id"] for e in steps[2:]} == {str(grant_id)}


def test_break_glass_opens_at_once_and_stays_flagged_until_reviewed(gh: Gatehouse,
                                                                    people: Team) -> None:
    grant_id = break_glass.activate(gh, people.sam, draft(duration=timedelta(minutes=30)),
                                    "production outage INC-7, customer down")
    with gh.read() as db:
        grants.usable_grant(gh, db, people.sam, grant_id, "cust-001", "production",
                            "subscriptions", "read")
    flagged = [g for g in queries.all_grants(gh, people.ada) if g.needs_review]
    assert [g.id for g in flagged] == [grant_id]
    break_glass.review(gh, people.ada, grant_id, "outage confirmed in INC-7")
    assert not any(g.needs_review for g in queries.all_grants(gh, people.ada))
    assert [e["action"] for e in events(gh, "breakglass.")] == ["breakglass.activated",
                                                                 "breakglass.reviewed"]


def test_break_glass_is_bounded_by_policy(gh: Gatehouse, people: Team) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        break_glass.activate(gh, people.sam, draft(duration=timedelta(hours=2)), "outage now")
    with pytest.raises(Denied, match="no break-glass"):
        break_glass.activate(gh, people.sam, draft(environment="staging", ticket=None,
                                                   duration=timedelta(minutes=30)), "outage now")


def breakglass_refusals(gh: Gatehouse) -> list[str]:
    """The reasons of the refused break-glass events, oldest first."""
    return [e["reason"] for e in events(gh, "breakglass.activated") if e["outcome"] == "denied"]


def test_break_glass_with_export_is_refused_and_the_refusal_names_the_rule(
        gh: Gatehouse, people: Team) -> None:
    with pytest.raises(InvalidInput, match="may carry only read, not export"):
        break_glass.activate(gh, people.sam, draft(actions=["read", "export"],
                                                   duration=timedelta(minutes=30)), "outage now")
    with pytest.raises(InvalidInput, match="may carry only read, not reveal"):
        break_glass.activate(gh, people.sam, draft(actions=["reveal"],
                                                   duration=timedelta(minutes=30)), "outage now")
    assert [r.split(":")[0] for r in breakglass_refusals(gh)] == ["breakglass_actions"] * 2
    with gh.read() as db:
        assert db.scalar(select(func.count()).select_from(Grant)) == 0


def test_a_second_break_glass_while_one_is_unreviewed_is_refused(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    first = break_glass.activate(gh, people.sam, draft(duration=timedelta(minutes=30)),
                                 "production outage INC-7")
    clock.advance(hours=1)  # the first has expired, but nobody has reviewed it
    with pytest.raises(Denied, match=f"grant {first} in production has not been reviewed"):
        break_glass.activate(gh, people.step_up(gh, "sam"),
                             draft(customer_id="cust-002", duration=timedelta(minutes=30)),
                             "another outage")
    assert [r.split(":")[0] for r in breakglass_refusals(gh)] == ["breakglass_one_open"]
    refused = [e for e in events(gh, "breakglass.") if e["outcome"] == "denied"]
    assert refused[0]["customer_id"] == "cust-002" and refused[0]["ticket"] == "SUP-1234"


def test_break_glass_is_limited_per_person_per_day(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    first = break_glass.activate(gh, people.sam, draft(duration=timedelta(minutes=30)),
                                 "production outage INC-7")
    break_glass.review(gh, people.ada, first, "outage confirmed")
    clock.advance(hours=23)
    with pytest.raises(Denied, match="at most 1 break-glass grant"):
        break_glass.activate(gh, people.step_up(gh, "sam"),
                             draft(ticket="SUP-99", duration=timedelta(minutes=30)),
                             "a fresh ticket does not help")
    assert [r.split(":")[0] for r in breakglass_refusals(gh)] == ["breakglass_per_day"]
    break_glass.activate(gh, people.step_up(gh, "sky"), draft(duration=timedelta(minutes=30)),
                         "sky's own outage, INC-8")
    clock.advance(hours=1, seconds=1)
    break_glass.activate(gh, people.step_up(gh, "sam"), draft(duration=timedelta(minutes=30)),
                         "a day later")


def test_break_glass_cannot_sweep_customers_under_one_ticket(
        gh: Gatehouse, people: Team) -> None:
    for n in (1, 2, 3):  # three approved requests under SUP-1234 (the threshold is 3)
        approved_grant(gh, people, customer_id=f"cust-00{n}")
    with pytest.raises(Denied, match="ticket SUP-1234 already opened 3 customers"):
        break_glass.activate(gh, people.sky, draft(customer_id="cust-004",
                                                   duration=timedelta(minutes=30)),
                              "outage, and the same ticket")
    assert [r.split(":")[0] for r in breakglass_refusals(gh)] == ["customers_per_ticket"]


def test_a_break_glass_grant_shows_the_approvals_it_bypassed(
        gh: Gatehouse, people: Team) -> None:
    grant_id = break_glass.activate(gh, people.sam, draft(scopes=["billing"],
                                                          duration=timedelta(minutes=30)),
                                    "billing outage INC-8")
    [view] = [g for g in queries.all_grants(gh, people.ada) if g.id == grant_id]
    assert view.bypassed == ("approvals: 2 distinct human approvers for production billing "
                             "with read",)
    assert [g.bypassed for g in queries.my_grants(gh, people.sam)] == [view.bypassed]
    [activated] = events(gh, "breakglass.activated")
    assert activated["details"]["approvals_required"] == 2
    approved = approved_grant(gh, people)
    assert [g.bypassed for g in queries.my_grants(gh, people.sam) if g.id == approved] == [()]


def test_two_approvers_at_once_give_exactly_one_outcome(gh_any: Gatehouse,
                                                        idp: LocalIdP) -> None:
    gh = gh_any
    people = team(gh, idp)
    request_id = create_request.create(gh, people.sam, draft())
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def decide(who: object, approve: bool) -> None:
        barrier.wait()
        try:
            decide_request.decide(gh, who, request_id, approve=approve,  # type: ignore[arg-type]
                                  comment="race")
            outcomes.append("decided")
        except GatehouseError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=decide, args=args) for args in
               [(people.ada, True), (people.alan, False), (people.ada, True)]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["Conflict", "Conflict", "decided"]
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(Grant)).scalar() in (0, 1)
        status = db.get_one(AccessRequest, request_id).status
    assert status in ("approved", "denied")
    assert len(events(gh, "grant.issued")) == (1 if status == "approved" else 0)


def test_my_requests_say_what_became_of_each_and_in_whose_words(
        gh_any: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    gh, people = gh_any, team(gh_any, idp)
    denied = create_request.create(gh, people.sam, draft())
    decide_request.decide(gh, people.ada, denied, approve=False, comment="no ticket link")
    revoked = approved_grant(gh, people)
    grants.revoke(gh, people.alan, revoked, "Ticket SUP-1234 closed")
    released = approved_grant(gh, people)
    grants.release(gh, people.sam, released)
    glass = break_glass.activate(gh, people.sam, draft(duration=timedelta(minutes=30)),
                                 "production outage INC-7")
    break_glass.review(gh, people.ada, glass, "outage confirmed in INC-7")
    cancelled = create_request.create(gh, people.sam, draft())
    cancel_request.cancel(gh, people.sam, cancelled)
    pending = create_request.create(gh, people.sam, draft(ticket="SUP-9999"))
    create_request.create(gh, people.sky, draft())  # not sam's: never in his list
    ran_out = approved_grant(gh, people, duration=timedelta(hours=1))
    clock.advance(hours=1)

    found = {o.request.id: o for o in queries.my_request_outcomes(gh, people.sam)}
    by_grant = {o.grant_id: o for o in found.values() if o.grant_id is not None}
    assert {o.request.requester_id for o in found.values()} == {people.sam.user_id}
    assert len(found) == 7

    said = found[denied].remarks
    assert [(m.who, m.did, m.words) for m in said] == [("Ada", "denied", "no ticket link")]
    assert (found[denied].request.status, found[denied].grant_id) == ("denied", None)
    out = by_grant[revoked]
    assert out.grant_state == "revoked" and out.grant_ended_at is not None
    assert [(m.who, m.did, m.words) for m in out.remarks] == [
        ("Ada", "approved", None), ("Alan", "revoked", "Ticket SUP-1234 closed")]
    assert by_grant[released].grant_state == "released"
    assert [m.did for m in by_grant[released].remarks] == ["approved"]
    glassed = by_grant[glass]
    assert glassed.request.breakglass and glassed.grant_state == "expired"  # 30 min
    assert [(m.who, m.did, m.words) for m in glassed.remarks] == [
        ("Ada", "reviewed", "outage confirmed in INC-7")]
    assert by_grant[ran_out].grant_state == "expired"
    assert by_grant[ran_out].grant_ended_at == clock.now  # its end, not when it was seen
    assert (found[cancelled].request.status, found[cancelled].remarks) == ("cancelled", ())
    assert (found[pending].request.status, found[pending].grant_state) == ("pending", None)

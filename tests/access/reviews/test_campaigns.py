"""Access-review campaigns through the real services on both engines, with a hand-moved clock:
lifecycle, refusals, default decisions at the due date, suspension, recurrence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from access.context import Gatehouse
from access.errors import Conflict, Denied, InvalidInput, StepUpRequired
from access.identity.sessions import resume
from access.reviews import campaigns, closing, decisions
from access.reviews import queries as review_queries
from access.reviews.applying import idp_changes
from access.schema import ConsoleSession, Notification, ReviewCampaign, RoleSuspension
from access.workflow import notify, sweep
from access.workflow.queries import my_requests
from tests.support.identity_helpers import GROUPS, FakeClock, LocalIdP
from tests.support.review_helpers import draft, items, reads, seed
from tests.support.workflow_helpers import Team, events, team


@pytest.fixture
def people(gh_any: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh_any, idp)


def test_a_campaign_runs_from_start_to_close_with_every_decision_an_event(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    reads(gh, people.sam, customers=4, tickets=2)
    seed(gh, people.alan, "request.approved", 10, request_id="1")
    campaign_id = campaigns.start(gh, people.ada, draft(gh))
    found = items(gh, campaign_id)
    assert sorted(found) == ["Ada: approver", "Alan: approver", "Sam: requester",
                             "Sky: requester"]
    sam, sky = found["Sam: requester"], found["Sky: requester"]
    assert (sam.recommendation, sam.rule) == ("keep", "in_use")
    assert (sky.recommendation, sky.rule, sky.reason) == (
        "revoke", "unused_data_access", "no customer-data access in 90 days")
    assert found["Ada: approver"].reason == "approved 0 requests in 90 days"

    ada = people.step_up(gh, "ada")
    with pytest.raises(Denied, match="own access"):
        decisions.keep(gh, ada, found["Ada: approver"].id, "I still approve")
    with pytest.raises(InvalidInput, match="comment"):
        decisions.keep(gh, ada, sky.id)  # against a revoke recommendation: say why
    decisions.keep(gh, ada, sky.id, "starts on the billing queue next week")
    decisions.revoke(gh, ada, sam.id, "moved to engineering")
    alan = people.step_up(gh, "alan")
    decisions.revoke(gh, alan, found["Ada: approver"].id, "no approvals this quarter")
    with pytest.raises(Conflict, match="already revoked"):
        decisions.keep(gh, alan, sam.id, "second thoughts")

    counts = closing.close_campaign(gh, ada, campaign_id)
    assert counts == {"items": 4, "kept": 2, "revoked": 2, "defaulted": 1, "applied": 2}
    with pytest.raises(Conflict, match="already closed"):
        decisions.keep(gh, alan, found["Ada: approver"].id, "late")
    decided = events(gh, "review.decided")
    assert [(e["outcome"], e["details"]["decision"]) for e in decided] == [
        ("denied", "keep"), ("denied", "keep"), ("success", "keep"), ("success", "revoke"),
        ("success", "revoke"), ("denied", "keep"), ("success", "keep"), ("denied", "keep")]
    assert decided[-2]["actor_sub"] == "system" and decided[-2]["details"]["default"]
    assert len(events(gh, "review.applied")) == 2
    assert events(gh, "review.campaign.closed")[0]["details"]["defaulted"] == 1


def test_bad_campaigns_are_refused_naming_the_field_and_leave_an_event(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    cases = [(draft(gh, due_at=gh.now() - timedelta(days=1)), "due_at"),
             (draft(gh, reviewers="  "), "reviewers"),
             (draft(gh, reviewers="sam"), "reviewers"),  # Sam is under review, alone
             (draft(gh, default_decision="maybe"), "default_decision"),
             (draft(gh, scopes=[]), "scopes"),
             (draft(gh, starts_at=gh.now() + timedelta(days=15)), "starts_at"),  # after due
             (draft(gh, default_decision="revoke"), "confirm_people")]
    for bad, field in cases:
        with pytest.raises(InvalidInput) as refused:
            campaigns.start(gh, people.ada, bad)
        assert refused.value.field == field
    denied = events(gh, "review.campaign.started")
    assert [e["details"]["field"] for e in denied] == [f for _, f in cases]
    assert "4 people" in str(denied[-1]["reason"])
    with gh.read() as db:
        assert db.execute(select(ReviewCampaign)).first() is None
    with pytest.raises(Denied):
        campaigns.start(gh, people.sam, draft(gh))


def test_default_revoke_at_the_due_date_suspends_the_role_everywhere(
        gh_any: Gatehouse, people: Team, clock: FakeClock, idp: LocalIdP) -> None:
    gh = gh_any
    reads(gh, people.sam, customers=2, tickets=1)
    plan = draft(gh, scopes=["role:requester"], default_decision="revoke", remind_days=[1])
    assert campaigns.preview(gh, people.ada, plan) == campaigns.Preview(items=2, people=2)
    campaign_id = campaigns.start(gh, people.ada, plan, confirm_people=2)
    sam = items(gh, campaign_id)["Sam: requester"]
    decisions.keep(gh, people.step_up(gh, "ada"), sam.id)  # recommended keep: no comment
    clock.advance(days=13, hours=1)
    assert sweep.sweep(gh, None).reviews_reminded == 1
    clock.advance(days=1)
    report = sweep.sweep(gh, None)
    assert report.reviews_closed == 1
    assert [e["details"]["default"] for e in events(gh, "review.decided")] == [False, True]

    # Sky's sessions ended; the IdP still sends the group, Gatehouse withholds the role
    with gh.read() as db:
        ended = db.get_one(ConsoleSession, people.sky.session_id)
    assert ended.end_reason == "role requester revoked by access review"
    with pytest.raises(Denied, match="role"):
        my_requests(gh, people.sky)  # a principal already in hand: authorize() drops it
    with pytest.raises(Denied, match="none of your groups"):
        resume(gh, idp.token("sky", GROUPS["requester"]))
    with gh.read() as db:
        assert idp_changes(gh, db) == ["remove sky from IdP group(s) support"]
    assert my_requests(gh, people.sam) == []  # kept: untouched
    resume(gh, idp.token("sky", GROUPS["auditor"]))  # the IdP change has been made
    with gh.read() as db:
        assert idp_changes(gh, db) == []
        assert db.execute(select(RoleSuspension.role)).scalars().all() == ["requester"]


def test_a_quarterly_campaign_closed_at_its_due_date_schedules_the_next_a_quarter_after_its_start(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any  # the clock reads 2026-11-22 09:00 UTC
    campaign_id = campaigns.start(gh, people.ada, draft(gh, recur_months=3))
    clock.advance(days=15)
    assert closing.close_due(gh) == 1
    with gh.read() as db:
        rows = db.execute(select(ReviewCampaign).order_by(ReviewCampaign.id)).scalars().all()
    assert [(c.status, c.previous_id) for c in rows] == [("closed", None),
                                                         ("scheduled", campaign_id)]
    assert (rows[1].starts_at, rows[1].due_at) == (datetime(2027, 2, 22, 9, 0, tzinfo=UTC),
                                                   datetime(2027, 3, 8, 9, 0, tzinfo=UTC))
    assert items(gh, rows[1].id) == {}  # its items are taken when it opens
    assert [(e["actor_sub"], e["details"]["starts_at"])
            for e in events(gh, "review.campaign.scheduled")] == [
        ("system", "2027-02-22T09:00:00+00:00")]
    clock.now = datetime(2027, 2, 22, 9, 0, tzinfo=UTC)
    assert sweep.sweep(gh, None).reviews_opened == 1
    assert len(items(gh, rows[1].id)) == 4


def test_closing_early_neither_stretches_nor_shifts_the_cadence(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any
    first_start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # the 30th: clamped in February
    first = campaigns.start(gh, people.ada, draft(
        gh, recur_months=3, starts_at=first_start, due_at=first_start + timedelta(days=14)))
    clock.now = first_start
    assert sweep.sweep(gh, None).reviews_opened == 1
    clock.advance(days=1)  # closed 13 days early, by an admin
    closing.close_campaign(gh, people.step_up(gh, "ada"), first)
    second = _dates(gh, first + 1)
    assert second == ("scheduled", datetime(2027, 2, 28, 10, 0, tzinfo=UTC),
                      datetime(2027, 3, 14, 10, 0, tzinfo=UTC))
    clock.now = second[1]
    assert sweep.sweep(gh, None).reviews_opened == 1
    clock.now = second[2] + timedelta(hours=1)  # closed by the sweep at its due date
    assert sweep.sweep(gh, None).reviews_closed == 1
    # from the series' first start: May 30, not February's clamped 28th again
    assert _dates(gh, first + 2) == ("scheduled", datetime(2027, 5, 30, 10, 0, tzinfo=UTC),
                                     datetime(2027, 6, 13, 10, 0, tzinfo=UTC))


def test_a_campaign_closed_after_its_successor_would_be_due_skips_to_the_next_period(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any  # the worker was down for two months
    campaign_id = campaigns.start(gh, people.ada, draft(gh, recur_months=1))
    clock.advance(days=61)  # 2027-01-22 09:00: December's occurrence was due 2027-01-05
    assert closing.close_due(gh) == 1
    assert _dates(gh, campaign_id + 1) == ("open", datetime(2027, 1, 22, 9, 0, tzinfo=UTC),
                                           datetime(2027, 2, 5, 9, 0, tzinfo=UTC))


def test_closing_now_says_what_the_default_does_and_needs_a_fresh_code(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(gh, default_decision="revoke"),
                                  confirm_people=4)
    found = items(gh, campaign_id)
    decisions.keep(gh, people.step_up(gh, "alan"), found["Sam: requester"].id, "on the rota")
    stale = replace(people.ada, step_up_at=gh.now() - timedelta(hours=1))
    seen = closing.check(gh, stale, campaign_id)  # no code needed to see what it does
    assert (seen.undecided, seen.people) == (3, 3)
    assert seen.summary == (f"Close campaign {campaign_id} (Q4 access review) now: 3 items "
                            "nobody reviewed get the default revoke: 3 people lose access at "
                            "once")
    with pytest.raises(StepUpRequired):
        closing.close_campaign(gh, stale, campaign_id)
    assert _dates(gh, campaign_id)[0] == "open"  # nothing happened
    counts = closing.close_campaign(gh, people.step_up(gh, "ada"), campaign_id)
    assert (counts["defaulted"], counts["applied"]) == (3, 3)  # ada's own approver role too


@pytest.mark.parametrize(("default", "said"), [
    ("keep", "5 items: 5 kept (1 of them by default), 0 revoked, 0 applied"),
    ("revoke", "5 items: 4 kept, 1 revoked (1 of them by default), 0 applied")])
def test_closed_counts_say_which_way_the_defaults_went(default: str, said: str) -> None:
    counts = {"items": 5, "kept": 5 if default == "keep" else 4, "defaulted": 1,
              "revoked": 0 if default == "keep" else 1, "applied": 0}
    assert closing.in_words(counts, default) == said
    assert closing.in_words({**counts, "defaulted": 0}, default).count("default") == 0


def _dates(gh: Gatehouse, campaign_id: int) -> tuple[str, datetime, datetime]:
    with gh.read() as db:
        campaign = db.get_one(ReviewCampaign, campaign_id)
        return campaign.status, campaign.starts_at, campaign.due_at


def test_revoking_a_policy_rule_writes_the_change_and_runs_the_policy_checks(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(
        gh, scopes=["breakglass", "request_rules"]))
    found = items(gh, campaign_id)
    assert sorted(found) == ["break-glass in production", "requester may request in "
                             "production", "requester may request in staging"]
    ada = people.step_up(gh, "ada")
    glass = found["break-glass in production"]
    assert glass.reason == "no break-glass use in production in 90 days"
    decisions.revoke(gh, ada, glass.id, "no emergency in a quarter")
    decisions.revoke(gh, ada, found["requester may request in staging"].id, "unused")
    closing.close_campaign(gh, ada, campaign_id)
    after = items(gh, campaign_id)
    assert after["break-glass in production"].applied == (
        "policy change to make: set breakglass = false under [rules.production] and its "
        "scopes; policy check: passed")
    staging = str(after["requester may request in staging"].applied)
    assert "remove \"requester\" from request_roles" in staging
    assert staging.endswith("policy check: passed")


def test_an_item_handed_to_another_reviewer_is_theirs_alone(
        gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(gh, scopes=["role:requester"]))
    sam = items(gh, campaign_id)["Sam: requester"]
    ada = people.step_up(gh, "ada")
    with pytest.raises(InvalidInput) as no_reason:
        decisions.reassign(gh, ada, sam.id, people.alan.user_id, "")
    assert (no_reason.value.field, no_reason.value.rule) == ("reason",
                                                             "must be 3 to 500 characters")
    with pytest.raises(InvalidInput, match="own access"):
        decisions.reassign(gh, ada, sam.id, people.sam.user_id, "sam knows best")
    with pytest.raises(InvalidInput, match="campaign's reviewers"):
        decisions.reassign(gh, ada, sam.id, people.sky.user_id, "sky sits next to sam")
    decisions.reassign(gh, ada, sam.id, people.alan.user_id, "alan leads sam's team")
    with pytest.raises(Denied, match="not a reviewer of this item"):
        decisions.keep(gh, ada, sam.id, "still needed")
    assert [i.label for i in review_queries.my_items(gh, people.ada)] == ["Sky: requester"]
    decisions.keep(gh, people.step_up(gh, "alan"), sam.id, "on the billing rota")
    reassigned = events(gh, "review.reassigned")
    assert [(e["outcome"], e["details"].get("reviewer"), e["details"].get("field"))
            for e in reassigned] == [
        ("denied", people.alan.user_id, "reason"), ("denied", people.sam.user_id, "reviewer"),
        ("denied", people.sky.user_id, "reviewer"), ("success", people.alan.user_id, None)]


def test_a_campaign_with_a_future_start_waits_until_the_sweep_opens_it_at_its_start(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any
    defined_at = gh.now()
    campaign_id = campaigns.start(gh, people.ada, draft(gh, starts_at=gh.now() +
                                                        timedelta(days=5)))
    assert _status(gh, campaign_id) == ("scheduled", defined_at + timedelta(days=5))
    assert items(gh, campaign_id) == {}  # nothing computed before its start
    scheduled = events(gh, "review.campaign.")
    assert [(e["action"], e["actor_sub"]) for e in scheduled] == [
        ("review.campaign.scheduled", "ada")]
    assert scheduled[0]["details"]["starts_at"] == (defined_at + timedelta(days=5)).isoformat()
    assert review_queries.my_items(gh, people.ada) == []
    with pytest.raises(Conflict, match="has not started"):
        closing.close_campaign(gh, people.step_up(gh, "ada"), campaign_id)

    clock.advance(days=4)
    reads(gh, people.sky, customers=3, tickets=1, days_ago=0.5)  # after it was defined
    assert sweep.sweep(gh, None).reviews_opened == 0
    clock.advance(days=1)
    assert sweep.sweep(gh, None).reviews_opened == 1
    assert sweep.sweep(gh, None).reviews_opened == 0  # opened once
    assert _status(gh, campaign_id)[0] == "open"
    sky = items(gh, campaign_id)["Sky: requester"]
    assert (sky.recommendation, sky.rule) == ("keep", "in_use")  # evidence as of the start
    started = events(gh, "review.campaign.started")
    assert [(e["actor_sub"], e["details"]["items"]) for e in started] == [("system", 4)]
    assert _notices(gh) == [f"Access review {campaign_id} (Q4 access review) started: 4 "
                            f"items, due {gh.now() + timedelta(days=9):%Y-%m-%d}"]
    assert sorted(i.label for i in review_queries.my_items(gh, people.alan)) == [
        "Ada: approver", "Sam: requester", "Sky: requester"]


def test_a_start_already_past_opens_the_campaign_now(gh_any: Gatehouse, people: Team) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(gh, starts_at=gh.now() -
                                                        timedelta(days=2)))
    assert _status(gh, campaign_id) == ("open", gh.now())
    assert len(items(gh, campaign_id)) == 4
    assert [e["actor_sub"] for e in events(gh, "review.campaign.")] == ["ada"]


def test_a_sweep_after_both_start_and_due_date_opens_then_closes_the_campaign(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any  # the worker was down from before the start until after the due date
    campaign_id = campaigns.start(gh, people.ada, draft(gh, starts_at=gh.now() +
                                                        timedelta(days=1)))
    clock.advance(days=15)
    report = sweep.sweep(gh, None)
    assert (report.reviews_opened, report.reviews_closed) == (1, 1)
    assert _status(gh, campaign_id)[0] == "closed"
    assert [e["action"] for e in events(gh, "review.campaign.")] == [
        "review.campaign.scheduled", "review.campaign.started", "review.campaign.closed"]
    assert events(gh, "review.campaign.closed")[0]["details"]["defaulted"] == 4


def _status(gh: Gatehouse, campaign_id: int) -> tuple[str, object]:
    with gh.read() as db:
        campaign = db.get_one(ReviewCampaign, campaign_id)
        return campaign.status, campaign.starts_at


def _notices(gh: Gatehouse) -> list[str]:
    with gh.read() as db:
        payloads = db.execute(select(Notification.payload).where(
            Notification.kind == notify.Kind.REVIEW).order_by(Notification.id)).scalars().all()
    return [json.loads(p)["text"] for p in payloads]

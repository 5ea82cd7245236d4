"""Cancelling a campaign, scheduled or running, through the real services on both engines with
a hand-moved clock: a reason and a fresh code, decisions kept and nothing applied, decisions
refused afterwards; and the default-revoke count taken from the scope at the moment it is
confirmed, the default going at the close to the items undecided then."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from access.context import Gatehouse
from access.errors import Conflict, Denied, InvalidInput, StepUpRequired
from access.reviews import campaigns, cancelling, closing, decisions
from access.reviews import queries as review_queries
from access.schema import Notification, ReviewCampaign, ReviewDecision, RoleSuspension
from access.workflow import notify, sweep
from tests.support.identity_helpers import FakeClock, LocalIdP, sign_in
from tests.support.review_helpers import draft, items
from tests.support.workflow_helpers import Team, events, team


@pytest.fixture
def people(gh_any: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh_any, idp)


def _campaign(gh: Gatehouse, campaign_id: int) -> ReviewCampaign:
    with gh.read() as db:
        return db.get_one(ReviewCampaign, campaign_id)


def test_a_scheduled_campaign_is_cancelled_with_a_reason_and_a_fresh_code_and_never_opens(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(gh, starts_at=gh.now() +
                                                        timedelta(days=2)))
    stale = replace(people.ada, step_up_at=gh.now() - timedelta(hours=1))
    seen = cancelling.check(gh, stale, campaign_id, "merged into the Q1 review")  # no code
    assert seen.summary == f"Cancel campaign {campaign_id} (Q4 access review) before it opens"
    with pytest.raises(StepUpRequired):
        cancelling.cancel_campaign(gh, stale, campaign_id, "merged into the Q1 review")
    ada = people.step_up(gh, "ada")
    for bad in ("", "  no ", "x" * 501):
        with pytest.raises(InvalidInput) as refused:
            cancelling.cancel_campaign(gh, ada, campaign_id, bad)
        assert refused.value.field == "reason"
    with pytest.raises(Denied, match="role"):
        cancelling.cancel_campaign(gh, people.step_up(gh, "sam"), campaign_id, "not mine")
    assert _campaign(gh, campaign_id).status == "scheduled"  # nothing refused changed it

    cancelling.cancel_campaign(gh, ada, campaign_id, " merged into the Q1 review ")
    after = _campaign(gh, campaign_id)
    assert (after.status, after.cancel_reason, after.closed_by, after.closed_at) == (
        "cancelled", "merged into the Q1 review", people.ada.user_id, gh.now())
    clock.advance(days=3)
    assert sweep.sweep(gh, None).reviews_opened == 0  # past its start: it stays cancelled
    assert items(gh, campaign_id) == {}
    with pytest.raises(Conflict, match="already cancelled"):
        cancelling.cancel_campaign(gh, people.step_up(gh, "ada"), campaign_id, "again")
    with pytest.raises(Conflict, match="already cancelled"):
        closing.close_campaign(gh, replace(ada, step_up_at=gh.now()), campaign_id)

    cancelled = events(gh, "review.campaign.cancelled")
    assert [(e["outcome"], e["actor_sub"], (e["details"] or {}).get("field"))
            for e in cancelled] == [("denied", "ada", "reason")] * 3 + [
        ("success", "ada", None), ("denied", "ada", None)]
    assert cancelled[3]["reason"] == "merged into the Q1 review"
    assert cancelled[3]["details"] == {"campaign_id": campaign_id, "items": 0, "kept": 0,
                                       "revoked": 0}
    assert "already cancelled" in str(cancelled[4]["reason"])
    assert [e["action"] for e in events(gh, "review.campaign.")] == [
        "review.campaign.scheduled", *["review.campaign.cancelled"] * 5]


def test_a_running_campaign_cancelled_keeps_its_decisions_and_applies_nothing(
        gh_any: Gatehouse, people: Team, clock: FakeClock) -> None:
    gh = gh_any
    campaign_id = campaigns.start(gh, people.ada, draft(
        gh, scopes=["role:requester"], default_decision="revoke", recur_months=3),
        confirm_people=2)
    found = items(gh, campaign_id)
    ada = people.step_up(gh, "ada")
    decisions.revoke(gh, ada, found["Sam: requester"].id, "moved to engineering")
    seen = cancelling.check(gh, ada, campaign_id, "wrong scope: auditors were meant")
    assert seen.summary == (
        f"Cancel campaign {campaign_id} (Q4 access review): the decisions made stay recorded "
        "and are not applied (0 kept, 1 revoked); no default for the 1 undecided item")

    ended = cancelling.cancel_campaign(gh, ada, campaign_id, "wrong scope: auditors were meant")
    assert (ended.items, ended.kept, ended.revoked) == (2, 0, 1)
    after = items(gh, campaign_id)
    assert (after["Sam: requester"].status, after["Sam: requester"].applied) == (
        "revoked", cancelling.NOT_APPLIED)
    assert (after["Sky: requester"].status, after["Sky: requester"].applied) == (
        "pending", None)  # no default
    with gh.read() as db:
        assert db.execute(select(RoleSuspension)).first() is None  # nobody lost the role
        assert len(db.execute(select(ReviewDecision)).all()) == 1  # Sam's stays recorded
    assert json.loads(str(_campaign(gh, campaign_id).summary)) == {
        "items": 2, "kept": 0, "revoked": 1}

    with pytest.raises(Conflict, match="already cancelled"):
        decisions.keep(gh, ada, found["Sky: requester"].id, "still on the rota")
    with pytest.raises(Conflict, match="already cancelled"):
        decisions.reassign(gh, ada, found["Sky: requester"].id, people.alan.user_id,
                           "alan knows her work")
    assert review_queries.my_items(gh, people.alan) == []
    clock.advance(days=15)  # past the due date: the sweep closes nothing, opens no successor
    report = sweep.sweep(gh, None)
    assert (report.reviews_closed, report.reviews_opened) == (0, 0)
    with gh.read() as db:
        assert db.execute(select(ReviewCampaign.status)).scalars().all() == ["cancelled"]

    assert [(e["outcome"], e["details"]["decision"]) for e in events(gh, "review.decided")] \
        == [("success", "revoke"), ("denied", "keep")]  # no default decision
    assert [e["outcome"] for e in events(gh, "review.reassigned")] == ["denied"]
    assert events(gh, "review.applied") == []
    cancelled = events(gh, "review.campaign.cancelled")
    assert [(e["actor_sub"], e["reason"], e["details"]) for e in cancelled] == [
        ("ada", "wrong scope: auditors were meant",
         {"campaign_id": campaign_id, "items": 2, "kept": 0, "revoked": 1})]
    assert _notices(gh)[-1] == (f"Access review {campaign_id} (Q4 access review) was "
                                "cancelled by Ada: 1 decision recorded, nothing applied")


def test_the_default_revoke_count_is_the_scope_when_confirmed_and_the_default_goes_to_the_items_undecided_at_the_close(  # noqa: E501
        gh_any: Gatehouse, people: Team, clock: FakeClock, idp: LocalIdP) -> None:
    gh = gh_any
    plan = draft(gh, scopes=["role:requester"], default_decision="revoke")
    assert campaigns.preview(gh, people.ada, plan).people == 2
    sign_in(gh, idp, "nia", "requester")  # Nia signs in as support after the Check
    assert campaigns.preview(gh, people.ada, plan).people == 3
    with pytest.raises(InvalidInput, match="up to 3 people") as stale:
        campaigns.start(gh, people.ada, plan, confirm_people=2)  # the number seen before
    assert stale.value.field == "confirm_people"
    campaign_id = campaigns.start(gh, people.ada, plan, confirm_people=3)
    assert sorted(items(gh, campaign_id)) == ["Nia: requester", "Sam: requester",
                                              "Sky: requester"]

    sign_in(gh, idp, "noor", "requester")  # after the start: not in this campaign
    found = items(gh, campaign_id)
    decisions.keep(gh, people.step_up(gh, "ada"), found["Sam: requester"].id, "on the rota")
    clock.advance(days=10)
    decisions.keep(gh, people.step_up(gh, "alan"), found["Nia: requester"].id, "new hire")
    counts = closing.close_campaign(gh, people.step_up(gh, "ada"), campaign_id)
    assert counts == {"items": 3, "kept": 2, "revoked": 1, "defaulted": 1, "applied": 1}
    defaulted = [e["details"]["subject"] for e in events(gh, "review.decided")
                 if e["details"]["default"]]
    assert defaulted == ["Sky: requester"]
    with gh.read() as db:
        suspended = db.execute(select(RoleSuspension.user_id)).scalars().all()
    assert suspended == [people.sky.user_id]


def test_a_scheduled_default_revoke_campaign_counts_its_scope_again_when_it_opens(
        gh_any: Gatehouse, people: Team, clock: FakeClock, idp: LocalIdP) -> None:
    gh = gh_any
    plan = draft(gh, scopes=["role:requester"], default_decision="revoke",
                 starts_at=gh.now() + timedelta(days=2))
    campaign_id = campaigns.start(gh, people.ada, plan, confirm_people=2)
    [scheduled] = review_queries.campaigns(gh, people.ada)
    assert scheduled.in_scope == campaigns.Preview(items=2, people=2)
    sign_in(gh, idp, "nia", "requester")
    [scheduled] = review_queries.campaigns(gh, people.ada)
    assert scheduled.in_scope == campaigns.Preview(items=3, people=3)  # the card, now
    clock.advance(days=2)
    assert sweep.sweep(gh, None).reviews_opened == 1
    assert len(items(gh, campaign_id)) == 3
    assert _notices(gh)[-1].endswith("default revoke: up to 3 people lose access if nobody "
                                     "reviews them")
    assert review_queries.campaigns(gh, people.ada)[0].in_scope is None  # open: its items


def _notices(gh: Gatehouse) -> list[str]:
    with gh.read() as db:
        payloads = db.execute(select(Notification.payload).where(
            Notification.kind == notify.Kind.REVIEW).order_by(Notification.id)).scalars().all()
    return [json.loads(p)["text"] for p in payloads]

"""What waits for each person (Home's list), through the real services on both engines: the
counts per role, the soonest time of each, only the person's own, and nothing logged."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from access.dsr import assignment, rights
from access.dsr import requests as dsr
from access.errors import AuthenticationFailed
from access.identity import mfa
from access.identity.users import list_users
from access.principal import Principal
from access.reviews import campaigns
from access.reviews import queries as review_queries
from access.waiting import Waits, waiting_for
from access.workflow import break_glass, create_request, decide_request, queries
from tests.access.dsr.support import dsr_world, filed, officer
from tests.adversarial.support import World, granted, last_event_id
from tests.support.identity_helpers import sign_in
from tests.support.mfa_helpers import code_now
from tests.support.review_helpers import draft as campaign_draft
from tests.support.workflow_helpers import new_draft

__all__ = ["dsr_world"]  # the fixture, imported for pytest


def seen(w: World, who: Principal) -> list[tuple[Waits, int, datetime | None]]:
    return [(item.what, item.count, item.soonest) for item in waiting_for(w.gh, who)]


def lock_out(w: World, name: str) -> None:
    """Five wrong codes lock `name`'s account."""
    wrong = "000000" if code_now(w.gh, w.people.secrets[name], 1) != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            mfa.verify_code(w.gh, getattr(w.people, name), wrong)


def test_each_person_sees_what_waits_for_their_roles_only_their_own_and_nothing_is_logged(
        dsr_world: World) -> None:
    w = dsr_world
    gh, people = w.gh, w.people
    assert people.priya is not None
    # Sam holds a grant and a break-glass grant (ending sooner) and waits on a request;
    # Sky, the other requester, holds nothing and is locked out by wrong codes.
    grant = granted(gh, people, customer="cust-0026")
    w.clock.advance(seconds=30)
    sam = people.step_up(gh, "sam")
    glass = break_glass.activate(gh, sam, new_draft(customer_id="cust-0027",
                                                    scopes=["contacts"],
                                                    duration=timedelta(minutes=30)),
                                 "production outage INC-9")
    pending = create_request.create(gh, sam, new_draft(customer_id="cust-0028"))
    lock_out(w, "sky")
    # Ada and Alan review everyone's standing access but their own. Priya handed her first
    # data-subject request to Piet and works two, a rectification of which waits for an
    # admin's approval.
    campaign = campaigns.start(gh, people.ada, campaign_draft(gh))
    handed, _ = filed(w, "access", "cust-0025")
    piet = sign_in(gh, w.idp, "piet", "privacy_officer")
    assignment.assign(gh, officer(w), handed, piet.user_id)
    rectify, _ = filed(w, "rectification", "cust-0029")
    rights.propose_rectification(gh, officer(w), rectify, {"job_title": "Chief Pilot"})
    access, _ = filed(w, "access", "cust-0030")

    grants = {g.id: g for g in queries.my_grants(gh, sam)}
    [request] = [r for r in queries.my_requests(gh, sam) if r.id == pending]
    due = {v.id: v.due_at for v in dsr.requests(gh, people.priya)}
    assert due[handed] < due[rectify] < due[access]  # each filed half a minute later
    [sky_lock] = [u.locked_until for u in list_users(gh, people.ada) if u.sub == "sky"]
    [review_due] = [c.due_at for c in review_queries.campaigns(gh, people.ada)
                    if c.id == campaign]
    before = last_event_id(gh.engine)

    assert seen(w, sam) == [(Waits.LIVE_GRANTS, 2, grants[glass].ends_at),
                            (Waits.OWN_PENDING, 1, request.expires_at)]
    assert grants[glass].ends_at < grants[grant].ends_at
    assert seen(w, people.sky) == []
    for admin in (people.ada, people.alan):
        assert seen(w, admin) == [(Waits.DECISIONS, 1, request.expires_at),
                                  (Waits.BREAKGLASS_REVIEWS, 1, None),
                                  (Waits.LOCKED_ACCOUNTS, 1, sky_lock),
                                  (Waits.DSR_APPROVALS, 1, due[rectify]),
                                  (Waits.REVIEW_ITEMS, 3, review_due)]  # not their own
    assert seen(w, people.audrey) == []
    assert seen(w, people.priya) == [(Waits.OWN_DSRS, 2, due[rectify])]  # not Piet's
    assert last_event_id(gh.engine) == before  # reading what waits logged nothing

    # What was decided leaves the lists: Ada approves Sam's request.
    ada = people.step_up(gh, "ada")
    decide_request.decide(gh, ada, pending, approve=True)
    assert [(i.what, i.count) for i in waiting_for(gh, sam)] == [(Waits.LIVE_GRANTS, 3)]
    assert Waits.DECISIONS not in {i.what for i in waiting_for(gh, people.alan)}

"""Each recommendation rule, from a usage history seeded through the real append path, on
both engines: the evidence a campaign stores and the rule it names."""

from __future__ import annotations

import json
from dataclasses import replace

from access.context import Gatehouse
from access.reviews import campaigns
from access.reviews.rules import ReviewRules
from tests.support.identity_helpers import FakeClock, LocalIdP, sign_in
from tests.support.review_helpers import draft, items, reads, seed
from tests.support.workflow_helpers import team


def test_every_rule_speaks_from_what_people_did(gh_any: Gatehouse, idp: LocalIdP,
                                                clock: FakeClock) -> None:
    gh = replace(gh_any, config=replace(gh_any.config, reviews=ReviewRules(anomaly_flags=1)))
    people = team(gh, idp)
    clock.advance(days=61)  # audrey's only sign-in is now 61 days old
    for name, role in [("sam", "requester"), ("sky", "requester"), ("ada", "approver"),
                       ("alan", "approver")]:
        sign_in(gh, idp, name, role)  # a fresh sign-in: last_login_at is now
    sign_in(gh, idp, "ron", "requester")  # holds the role, used nothing
    reads(gh, people.sam, customers=300, tickets=2)                   # wide, few tickets
    reads(gh, people.sky, customers=1, tickets=1, grant="2", each=201)  # > reads_per_grant
    seed(gh, people.alan, "request.approved", 20, n=3, request_id="7")
    seed(gh, people.alan, "request.denied", 30, request_id="8")
    seed(gh, people.ada, "request.approved", 120, request_id="9")    # outside the window

    campaign_id = campaigns.start(gh, people.ada, draft(
        gh, scopes=["role:requester", "role:approver", "role:auditor"]))
    found = {label: (i.recommendation, i.rule, i.reason)
             for label, i in items(gh, campaign_id).items()}
    assert found == {
        "Sam: requester": ("revoke", "wide_reading", "read 300 customers under 2 tickets"),
        "Sky: requester": ("revoke", "anomalies_raised",
                           "2 anomaly flags raised in 90 days"),
        "Ron: requester": ("revoke", "unused_data_access",
                           "no customer-data access in 90 days"),
        "Ada: approver": ("revoke", "idle_approver", "approved 0 requests in 90 days"),
        "Alan: approver": ("keep", "in_use", "decided 4 requests in 90 days"),
        "Audrey: auditor": ("revoke", "no_sign_in", "no sign-in in 60 days"),
    }
    evidence = json.loads(items(gh, campaign_id)["Sam: requester"].evidence)
    assert {k: evidence[k] for k in ("reads", "customers", "tickets", "days")} == {
        "reads": 300, "customers": 300, "tickets": 2, "days": 90}
    alan = json.loads(items(gh, campaign_id)["Alan: approver"].evidence)
    assert (alan["approvals_decided"], alan["approved"]) == (4, 3)

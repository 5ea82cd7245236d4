"""Separation of duties (NIST AC-5; ASVS 2.3.5; A6 18): nobody decides or reviews their own
access, one person is one vote however many sessions they open, and auditors only watch.

Already covered, not repeated: a person holding both roles cannot approve their own request in
the session that filed it, one approver cannot vote twice through the same session, support
cannot call decide() directly (tests/access/workflow/test_requests.py); admins cannot disable
themselves (tests/access/identity/test_sessions.py) or reset their own authenticator
(tests/access/identity/test_mfa.py). Which role may call which service at all is the matrix in
test_authorization.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from access import oversight
from access.context import Gatehouse
from access.errors import Conflict, Denied
from access.identity import mfa
from access.identity.sessions import resume
from access.principal import Principal, Role
from access.schema import AccessRequest
from access.workflow import break_glass, create_request, decide_request, queries
from tests.adversarial.support import World, events_after, last_event_id, world
from tests.support.identity_helpers import LocalIdP
from tests.support.mfa_helpers import code_now, enroll
from tests.support.workflow_helpers import draft


@pytest.fixture(scope="module")
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, "sqlite", tmp_path_factory.mktemp("sod"), with_data=False) as built:
        yield built


def dual(gh: Gatehouse, idp: LocalIdP) -> tuple[Principal, Principal]:
    """One person in the support and admins groups, signed in twice (two sessions, both
    through MFA): requester and approver at once."""
    sub = f"dual-{uuid.uuid4().hex[:6]}"
    first, secret, _ = enroll(gh, _login(gh, idp, sub))
    second = mfa.verify_code(gh, _login(gh, idp, sub), code_now(gh, secret, 1))
    assert first.roles == second.roles == {Role.REQUESTER, Role.APPROVER}
    return first, second


def _login(gh: Gatehouse, idp: LocalIdP, sub: str) -> Principal:
    return resume(gh, idp.token(sub, ["support", "admins"]))


def status(gh: Gatehouse, request_id: int) -> str:
    with gh.read() as db:
        return db.get_one(AccessRequest, request_id).status


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
def test_nobody_decides_their_own_request_from_any_session(w: World, approve: bool) -> None:
    filing, other_session = dual(w.gh, w.idp)
    request_id = create_request.create(w.gh, filing, draft())
    for session in (filing, other_session):
        before = last_event_id(w.gh.engine)
        with pytest.raises(Denied, match="their own request"):
            decide_request.decide(w.gh, session, request_id, approve=approve, comment="mine, fine")
        [refusal] = events_after(w.gh.engine, before)
        assert refusal["outcome"] == "denied" and refusal["session_id"] == session.session_id
    assert status(w.gh, request_id) == "pending"


def test_two_sessions_of_one_approver_are_one_vote(w: World) -> None:
    """Billing needs two distinct approvers; a second login of the first one does not count."""
    request_id = create_request.create(w.gh, w.people.sam, draft(scopes=["billing"],
                                                                 duration=timedelta(hours=1)))
    first, second = dual(w.gh, w.idp)
    assert decide_request.decide(w.gh, first, request_id, approve=True).approvals == 1
    with pytest.raises(Conflict, match="already decided"):
        decide_request.decide(w.gh, second, request_id, approve=True)
    assert status(w.gh, request_id) == "pending"
    assert decide_request.decide(w.gh, w.people.alan, request_id, approve=True).status == "approved"


def test_a_requester_who_is_also_an_admin_never_counts_toward_their_own_approvals(
        w: World) -> None:
    filing, other_session = dual(w.gh, w.idp)
    request_id = create_request.create(w.gh, filing, draft(scopes=["billing"],
                                                           duration=timedelta(hours=1)))
    with pytest.raises(Denied):
        decide_request.decide(w.gh, other_session, request_id, approve=True)
    first = decide_request.decide(w.gh, w.people.ada, request_id, approve=True)
    assert (first.status, first.approvals, first.approvals_required) == ("pending", 1, 2)
    assert decide_request.decide(w.gh, w.people.alan, request_id, approve=True).status == "approved"


def test_nobody_reviews_their_own_break_glass(w: World) -> None:
    breaker, other_session = dual(w.gh, w.idp)
    grant_id = break_glass.activate(w.gh, breaker, draft(duration=timedelta(minutes=30)),
                                    "production outage INC-9, customer down")
    for session in (breaker, other_session):
        with pytest.raises(Denied, match="their own break-glass"):
            break_glass.review(w.gh, session, grant_id, "looks fine to me")
    assert grant_id in {g.id for g in queries.all_grants(w.gh, w.people.ada) if g.needs_review}
    break_glass.review(w.gh, w.people.ada, grant_id, "outage confirmed in INC-9")


def test_what_an_auditor_looks_at_is_itself_recorded(w: World) -> None:
    """Auditors watch; what they searched for, exported and verified is evidence too."""
    before = last_event_id(w.gh.engine)
    auditor = w.people.audrey
    flt = oversight.event_filter(action="request.created")
    oversight.search(w.gh, auditor, flt)
    oversight.customer_access(w.gh, auditor, "cust-0001")
    recorded = events_after(w.gh.engine, before)
    assert [e["action"] for e in recorded] == ["audit.searched", "audit.searched"]
    assert all(e["actor_sub"] == auditor.sub and e["session_id"] == auditor.session_id
               for e in recorded)
    assert "action=request.created" in recorded[0]["details"]["filters"]

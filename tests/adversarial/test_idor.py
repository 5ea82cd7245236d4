"""Object-level authorization (ASVS 8.2.2, 8.4.1; A6 20): ids of other people's requests and
grants, ids that do not exist, and other customers' data.

Already covered, not repeated: a grant read with another customer id, with SQL or wildcard
customer ids, with ungranted or crafted scopes, and a value moved in from another customer's row
(tests/access/data/test_broker.py); a grant beyond its customer, environment, scope or action,
and a grant checked for another holder (tests/access/workflow/test_requests.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from access.data import broker
from access.errors import Denied, InvalidInput
from access.principal import Principal
from access.workflow import cancel_request, create_request, decide_request, grants, queries
from tests.adversarial.support import (
    World,
    events_after,
    granted,
    last_event_id,
    state_digest,
    world,
)
from tests.support.workflow_helpers import draft


@pytest.fixture(scope="module")
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, "sqlite", tmp_path_factory.mktemp("idor")) as built:
        yield built


SKY_JUSTIFICATION = "SUP-7777 sky's private case about cust-0009 billing"


def skys_request(w: World) -> int:
    return create_request.create(w.gh, w.people.sky, draft(customer_id="cust-0009",
                                                           ticket="SUP-7777",
                                                           justification=SKY_JUSTIFICATION))


def skys_grant(w: World, actions: tuple[str, ...] = ("read", "reveal", "export")) -> int:
    request_id = create_request.create(w.gh, w.people.sky, draft(
        customer_id="cust-0009", scopes=["contacts"], actions=list(actions),
        ticket="SUP-7777", justification=SKY_JUSTIFICATION))
    for admin in (w.people.ada, w.people.alan):
        decision = decide_request.decide(w.gh, admin, request_id, approve=True)
        if decision.grant_id is not None:
            return decision.grant_id
    raise AssertionError("sky's request was not granted")


def assert_reveals_nothing_of_sky(error: Exception) -> None:
    message = str(error)
    for secret in ("cust-0009", "SUP-7777", "sky", "Sky", "billing", "private"):
        assert secret not in message


def test_a_requester_cannot_cancel_another_requesters_request(w: World) -> None:
    request_id = skys_request(w)
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    with pytest.raises(InvalidInput) as refused:
        cancel_request.cancel(w.gh, w.people.sam, request_id)
    assert_reveals_nothing_of_sky(refused.value)
    assert state_digest(w.gh.engine) == digest and events_after(w.gh.engine, before) == []
    cancel_request.cancel(w.gh, w.people.sky, request_id)  # its owner still can


def test_a_requester_cannot_release_another_requesters_grant(w: World) -> None:
    grant_id = skys_grant(w, ("read",))
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    with pytest.raises(InvalidInput) as refused:
        grants.release(w.gh, w.people.sam, grant_id)
    assert_reveals_nothing_of_sky(refused.value)
    assert state_digest(w.gh.engine) == digest and events_after(w.gh.engine, before) == []


ENTRIES: dict[str, Callable[[World, Principal, int, str], object]] = {
    "read": lambda w, p, g, c: broker.read(w.gh, p, g, c, "contacts"),
    "reveal": lambda w, p, g, c: broker.reveal(w.gh, p, g, c, "contacts", ["contacts.email"],
                                               "confirm the customer's address"),
    "export": lambda w, p, g, c: broker.export_csv(w.gh, p, g, c, "contacts"),
}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_another_holders_grant_serves_nothing_and_the_attempt_is_logged(
        w: World, entry: str) -> None:
    grant_id = skys_grant(w)
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied) as refused:
        ENTRIES[entry](w, w.people.sam, grant_id, "cust-0009")
    assert_reveals_nothing_of_sky(refused.value)
    [attempt] = events_after(w.gh.engine, before)
    assert (attempt["action"], attempt["outcome"], attempt["actor_sub"]) == \
        ("data.denied", "denied", "sam")
    assert attempt["grant_id"] == str(grant_id) and attempt["details"]["action"] == entry
    ENTRIES[entry](w, w.people.sky, grant_id, "cust-0009")  # the holder is served


@pytest.mark.parametrize("grant_id", [0, -1, 2**31, 2**63 - 1])
def test_grant_ids_that_exist_nowhere_serve_nothing_and_are_logged(w: World,
                                                                   grant_id: int) -> None:
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied, match="no grant"):
        broker.read(w.gh, w.people.sam, grant_id, "cust-0001", "contacts")
    [attempt] = events_after(w.gh.engine, before)
    assert (attempt["action"], attempt["grant_id"]) == ("data.denied", str(grant_id))


def test_the_lists_of_my_requests_and_grants_hold_only_mine(w: World) -> None:
    skys_request(w)
    skys_grant(w, ("read",))
    mine = granted(w.gh, w.people, customer="cust-0003")
    requested = queries.my_requests(w.gh, w.people.sam)
    held = queries.my_grants(w.gh, w.people.sam)
    assert requested and {r.requester for r in requested} == {w.people.sam.name}
    assert "cust-0009" not in {r.customer_id for r in requested}
    assert mine in {g.id for g in held} and {g.holder for g in held} == {w.people.sam.name}


def test_refusing_an_unknown_user_changes_nothing(w: World) -> None:
    from access.identity import mfa, users

    digest = state_digest(w.gh.engine)
    for act in (lambda: users.disable(w.gh, w.people.ada, 10**6, "no such person"),
                lambda: users.enable(w.gh, w.people.ada, 10**6, "no such person"),
                lambda: mfa.reset(w.gh, w.people.ada, 10**6, "no such person")):
        with pytest.raises(InvalidInput, match="user"):
            act()
    assert state_digest(w.gh.engine) == digest


def test_a_grant_issued_for_one_customer_is_refused_for_the_customer_next_door(
        w: World) -> None:
    """Both sides of the door: with two live grants of one holder, each reads only its own
    customer, and swapping the pair is refused and logged every time."""
    first = granted(w.gh, w.people, customer="cust-0004")
    second = granted(w.gh, w.people, customer="cust-0005")
    for grant_id, own, other in ((first, "cust-0004", "cust-0005"),
                                 (second, "cust-0005", "cust-0004")):
        view = broker.read(w.gh, w.people.sam, grant_id, own, "contacts")
        assert set(view.tables["contacts"]["customer_id"]) == {own}
        before = last_event_id(w.gh.engine)
        with pytest.raises(Denied, match="another customer"):
            broker.read(w.gh, w.people.sam, grant_id, other, "contacts")
        assert [e["action"] for e in events_after(w.gh.engine, before)] == ["data.denied"]

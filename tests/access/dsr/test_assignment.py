"""Who works a data-subject request, on both engines: filing assigns it to the filer; a
privacy officer hands a request that is not closed to another privacy officer (a reason is
optional), one `dsr.assigned` event naming the assignee as issuer and subject; a disabled
person, someone without the role, nobody, the present assignee and a closed request are each
refused with one `dsr.refused` event and nothing changed. The command does the same."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from access.dsr import assignment, rights
from access.dsr import requests as dsr
from access.errors import Conflict, Denied, GatehouseError, InvalidInput
from access.identity import users
from access.ops import dsr_cli
from access.principal import Principal
from tests.access.dsr.support import admin, dsr_world, filed, officer
from tests.adversarial.support import World, events_after, last_event_id
from tests.support.identity_helpers import ISSUER, sign_in
from tests.support.mfa_helpers import code_now

__all__ = ["dsr_world"]  # the fixture, imported for pytest


@dataclass(frozen=True)
class Staff:
    """Beside priya (who files): piet, another privacy officer; dora, a privacy officer who
    was disabled; ada, an admin without the privacy officer role."""

    w: World
    piet: Principal
    dora: Principal


@pytest.fixture(scope="module")
def staff(dsr_world: World) -> Staff:
    w = dsr_world
    piet = sign_in(w.gh, w.idp, "piet", "privacy_officer")
    dora = sign_in(w.gh, w.idp, "dora", "privacy_officer")
    users.disable(w.gh, admin(w, "alan"), dora.user_id, "left the privacy team")
    return Staff(w, piet, dora)


def dsr_events(w: World, since: int) -> list[dict[str, object]]:
    return [e for e in events_after(w.gh.engine, since) if str(e["action"]).startswith("dsr.")]


def test_a_request_is_assigned_to_its_filer_then_handed_to_another_officer(
        staff: Staff) -> None:
    w = staff.w
    dsr_id, _ = filed(w, "access", "cust-0020")
    priya = officer(w)
    assert dsr.detail(w.gh, priya, dsr_id).assignee_id == priya.user_id
    offered = {o.sub: o.name for o in assignment.officers(w.gh, priya)}
    assert offered == {"priya": "Priya", "piet": "Piet"}  # not dora (disabled), not ada

    before = last_event_id(w.gh.engine)
    assert assignment.assign(w.gh, priya, dsr_id, staff.piet.user_id,
                             "  Piet covers cust-0020's region  ") == "Piet"
    view = dsr.detail(w.gh, priya, dsr_id)
    assert (view.assignee, view.assignee_id) == ("Piet", staff.piet.user_id)
    assert "Piet" in [v.assignee for v in dsr.requests(w.gh, priya) if v.id == dsr_id]
    events = dsr_events(w, before)
    assert [(e["action"], e["outcome"], e["target_id"]) for e in events] == [
        ("dsr.assigned", "success", str(dsr_id))]
    assert events[0]["details"]["assignee"] == f"{ISSUER}|piet"  # type: ignore[index]
    assert events[0]["reason"] == "Piet covers cust-0020's region"
    assert events[0]["actor_sub"] == "priya"

    before = last_event_id(w.gh.engine)
    assignment.assign(w.gh, officer(w), dsr_id, priya.user_id)  # back, no reason: fine
    events = dsr_events(w, before)
    assert [e["action"] for e in events] == ["dsr.assigned"] and events[0]["reason"] is None


def test_a_request_waiting_for_approval_can_still_be_handed_over(staff: Staff) -> None:
    w = staff.w
    dsr_id, _ = filed(w, "erasure", "cust-0021")
    rights.propose_erasure(w.gh, officer(w), dsr_id)
    assignment.assign(w.gh, officer(w), dsr_id, staff.piet.user_id, "")
    assert dsr.detail(w.gh, officer(w), dsr_id).assignee == "Piet"


Target = Callable[[Staff], int | None]
REFUSALS: dict[str, tuple[Target, type[GatehouseError], str, str]] = {
    "a disabled officer": (lambda s: s.dora.user_id, InvalidInput, "assignee",
                           "Dora is disabled"),
    "an admin without the role": (lambda s: s.w.people.ada.user_id, InvalidInput, "assignee",
                                  "does not hold the privacy officer role"),
    "nobody": (lambda s: 987_654, InvalidInput, "assignee", "no such person"),
    "no one named": (lambda s: None, InvalidInput, "assignee", "no such person"),
    "the present assignee": (lambda s: officer(s.w).user_id, Conflict, "",
                             "already assigned to Priya"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_assigning_to_someone_who_cannot_work_it_is_refused_and_recorded(
        staff: Staff, case: str) -> None:
    w = staff.w
    target, error, field, says = REFUSALS[case]
    dsr_id, _ = filed(w, "portability", "cust-0022")
    before = last_event_id(w.gh.engine)
    with pytest.raises(error, match=says) as caught:
        assignment.assign(w.gh, officer(w), dsr_id, target(staff), "handing over")
    if field:
        assert isinstance(caught.value, InvalidInput) and caught.value.field == field
    events = dsr_events(w, before)
    assert [(e["action"], e["outcome"]) for e in events] == [("dsr.refused", "denied")]
    assert says in str(events[0]["details"]["why"])  # type: ignore[index]
    assert dsr.detail(w.gh, officer(w), dsr_id).assignee == "Priya"  # unchanged


def test_a_closed_request_or_a_bad_reason_is_refused(staff: Staff) -> None:
    w = staff.w
    closed, _ = filed(w, "restriction", "cust-0023")
    rights.restrict(w.gh, officer(w), closed, "contests accuracy")
    open_one, _ = filed(w, "access", "cust-0023")
    before = last_event_id(w.gh.engine)
    with pytest.raises(Conflict, match="is closed"):
        assignment.assign(w.gh, officer(w), closed, staff.piet.user_id)
    with pytest.raises(InvalidInput) as bad:
        assignment.assign(w.gh, officer(w), open_one, staff.piet.user_id, "ok")  # too short
    assert bad.value.field == "reason"
    assert [e["action"] for e in dsr_events(w, before)] == ["dsr.refused"] * 2
    assert dsr.detail(w.gh, officer(w), open_one).assignee == "Priya"


def test_only_a_privacy_officer_assigns(staff: Staff) -> None:
    w = staff.w
    dsr_id, _ = filed(w, "access", "cust-0024")
    with pytest.raises(Denied, match="role"):
        assignment.assign(w.gh, admin(w), dsr_id, staff.piet.user_id)
    with pytest.raises(Denied, match="role"):
        assignment.officers(w.gh, admin(w))


def test_the_command_assigns_by_subject_and_lists_the_assignee(staff: Staff) -> None:
    w = staff.w
    dsr_id, _ = filed(w, "access", "cust-0025")
    parser = argparse.ArgumentParser()
    dsr_cli.add_parser(parser.add_subparsers(dest="command"))

    def cli(*argv: str) -> str:
        officer(w)  # her console session stays live; the command asks for a code of its own
        w.clock.advance(seconds=30)
        code = code_now(w.gh, w.people.secrets["priya"], 1)
        return dsr_cli.run(w.gh, parser.parse_args(["dsr", "--as", "priya", "--code", code,
                                                    *argv]))

    assert f"{dsr_id}\taccess\tgdpr" in cli("list") and "\tPriya" in cli("list")
    assert cli("assign", str(dsr_id), "--to", "piet", "--reason", "on leave next week") == \
        f"request {dsr_id} assigned to Piet"
    line = next(x for x in cli("list").splitlines() if x.startswith(f"{dsr_id}\t"))
    assert line.endswith("\tPiet")
    before = last_event_id(w.gh.engine)
    for who in ("dora", "somebody-unknown"):
        with pytest.raises(InvalidInput) as caught:
            cli("assign", str(dsr_id), "--to", who)
        assert caught.value.field == "assignee"
    assert [e["action"] for e in dsr_events(w, before)] == ["dsr.refused"] * 2

"""Races (ASVS 2.3.3, 2.3.4; 4.0.3 11.1.6; A6 24): things done twice, or by two people, at
the same instant, on SQLite (BEGIN IMMEDIATE) and PostgreSQL (row locks) alike.

Already covered, not repeated: two approvers and a double click on one request
(tests/access/workflow/test_requests.py), one TOTP code in two sessions
(tests/access/identity/test_mfa.py), appends racing the sealer
(tests/audit/test_audit_concurrency.py), two webhook workers
(tests/access/workflow/test_notify.py). Parallel MFA guessing and a racing enrollment are in
test_totp.py; parallel reruns of one new login in test_sessions.py."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from access.data import broker
from access.errors import Conflict, Denied, GatehouseError
from access.principal import Principal
from access.schema import AccessRequest, Approval, Grant
from access.workflow import (
    break_glass,
    cancel_request,
    create_request,
    decide_request,
    grants,
    sweep,
)
from tests.adversarial.support import World, fresh, granted, world
from tests.support.mfa_helpers import signed_in_with_mfa
from tests.support.workflow_helpers import draft, events


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, request.param, tmp_path_factory.mktemp("races")) as built:
        yield built


@pytest.fixture
def live(w: World) -> World:
    """Every test starts with everyone's step-up fresh, whatever earlier tests did."""
    fresh(w.gh, w.people, w.clock)
    return w


@pytest.fixture(scope="module")
def pg_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[World]:
    """PostgreSQL alone, for interleavings: SQLite runs whole write transactions one at a
    time, so two of them cannot interleave there."""
    with world(request, "postgres", tmp_path_factory.mktemp("races-pg")) as built:
        yield built


@pytest.fixture
def pg_live(pg_world: World) -> World:
    fresh(pg_world.gh, pg_world.people, pg_world.clock)
    return pg_world


def at_once(*actions: Callable[[], object]) -> list[str]:
    """Run `actions` in threads released together; 'ok' or the error's class name each."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = [""] * len(actions)

    def run(i: int, action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            action()
            outcomes[i] = "ok"
        except GatehouseError as exc:
            outcomes[i] = type(exc).__name__

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def grants_of(w: World, request_id: int) -> int:
    with w.gh.read() as db:
        return int(db.execute(select(func.count()).select_from(Grant)
                              .where(Grant.request_id == request_id)).scalar_one())


def of(w: World, action: str, **match: str) -> list[dict[str, object]]:
    return [e for e in events(w.gh, action) if all(e[k] == v for k, v in match.items())]


def test_approving_and_cancelling_at_once_give_one_outcome(live: World) -> None:
    w = live
    request_id = create_request.create(w.gh, w.people.sam, draft(customer_id="cust-0001"))
    outcomes = at_once(lambda: decide_request.decide(w.gh, w.people.ada, request_id, approve=True),
                       lambda: cancel_request.cancel(w.gh, w.people.sam, request_id))
    assert sorted(outcomes) == ["Conflict", "ok"]
    with w.gh.read() as db:
        final = db.get_one(AccessRequest, request_id).status
    rid = str(request_id)
    if outcomes[0] == "ok":
        assert final == "approved" and grants_of(w, request_id) == 1
        assert len(of(w, "grant.issued", request_id=rid)) == 1
    else:
        assert final == "cancelled" and grants_of(w, request_id) == 0
        assert of(w, "grant.issued", request_id=rid) == []


def test_three_approvers_at_once_on_a_two_approver_request_issue_one_grant(live: World) -> None:
    w = live
    third = _third_admin(w)
    request_id = create_request.create(w.gh, w.people.sam, draft(
        customer_id="cust-0001", scopes=["billing"], duration=timedelta(hours=1)))
    outcomes = at_once(*(lambda a=admin: decide_request.decide(w.gh, a, request_id, approve=True)
                         for admin in (w.people.ada, w.people.alan, third)))
    assert sorted(outcomes) == ["Conflict", "ok", "ok"]
    assert grants_of(w, request_id) == 1
    with w.gh.read() as db:
        votes = db.execute(select(func.count()).select_from(Approval)
                           .where(Approval.request_id == request_id)).scalar_one()
    assert votes == 2
    assert len(of(w, "grant.issued", request_id=str(request_id))) == 1


_THIRD: dict[int, Principal] = {}


def _third_admin(w: World) -> Principal:
    if id(w) not in _THIRD:
        _THIRD[id(w)] = signed_in_with_mfa(w.gh, w.idp, "ann", "approver")
    return _THIRD[id(w)]


def test_a_double_clicked_release_releases_once(live: World) -> None:
    w = live
    grant_id = granted(w.gh, w.people)
    release = lambda: grants.release(w.gh, w.people.sam, grant_id)  # noqa: E731
    assert sorted(at_once(release, release, release)) == ["Conflict", "Conflict", "ok"]
    assert len(of(w, "grant.released", grant_id=str(grant_id))) == 1


def test_two_admins_revoking_at_once_revoke_once(live: World) -> None:
    w = live
    grant_id = granted(w.gh, w.people)
    outcomes = at_once(lambda: grants.revoke(w.gh, w.people.ada, grant_id, "ticket closed"),
                       lambda: grants.revoke(w.gh, w.people.alan, grant_id, "wrong customer"))
    assert sorted(outcomes) == ["Conflict", "ok"]
    assert len(of(w, "grant.revoked", grant_id=str(grant_id))) == 1


def test_two_admins_reviewing_one_break_glass_at_once_record_one_review(live: World) -> None:
    w = live
    grant_id = break_glass.activate(w.gh, w.people.sam, draft(
        customer_id="cust-0002", scopes=["contacts"], duration=timedelta(minutes=30)),
        "production outage INC-5")
    outcomes = at_once(
        lambda: break_glass.review(w.gh, w.people.ada, grant_id, "confirmed INC-5"),
        lambda: break_glass.review(w.gh, w.people.alan, grant_id, "confirmed too"))
    assert sorted(outcomes) == ["Conflict", "ok"]
    assert len(of(w, "breakglass.reviewed", grant_id=str(grant_id))) == 1


def test_reads_racing_a_revocation_are_each_logged_and_none_comes_after_it(
        live: World) -> None:
    """Readers hammer a grant while an admin revokes it: every read that returned data has
    its event, every such event precedes the revocation's, and nothing is served after."""
    w = live
    grant_id = granted(w.gh, w.people)
    served: Counter[str] = Counter()
    started = threading.Event()
    revoked = threading.Event()

    def reader() -> None:
        while True:
            try:
                broker.read(w.gh, w.people.sam, grant_id, "cust-0001", "contacts")
            except Denied:
                return
            served["after" if revoked.is_set() else "before"] += 1
            started.set()

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for r in readers:
        r.start()
    assert started.wait(30)
    grants.revoke(w.gh, w.people.ada, grant_id, "ticket closed mid-read")
    revoked.set()
    for r in readers:
        r.join(30)
    reads = of(w, "data.read", grant_id=str(grant_id))
    [revocation] = of(w, "grant.revoked", grant_id=str(grant_id))
    assert len(reads) == served["before"] + served["after"] > 0
    assert max(int(str(e["id"])) for e in reads) < int(str(revocation["id"]))
    # A read counted "after" finished its transaction before revoke() could commit (it held
    # the grant's row lock); it is still logged before the revocation, as asserted above.
    with pytest.raises(Denied, match="revoked"):
        broker.read(w.gh, w.people.sam, grant_id, "cust-0001", "contacts")


def test_the_sweeper_and_an_approver_at_the_deadline_expire_the_request_once(
        live: World) -> None:
    w = live
    request_id = create_request.create(w.gh, w.people.sam, draft(customer_id="cust-0001"))
    with w.gh.read() as db:
        w.clock.now = db.get_one(AccessRequest, request_id).expires_at
    fresh(w.gh, w.people, w.clock)
    outcomes = at_once(lambda: decide_request.decide(w.gh, w.people.ada, request_id, approve=True),
                       lambda: sweep.expire_pending(w.gh))
    assert outcomes[0] == Conflict.__name__ and outcomes[1] == "ok"
    assert len(of(w, "request.expired", request_id=str(request_id))) == 1
    assert grants_of(w, request_id) == 0


class _LockWatch:
    """Engine listeners that see the holder take its row lock and the intruder reach `table`,
    and hold the holder's commit until the intruder's query has gone out."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.locked, self.looking = threading.Event(), threading.Event()

    def after_execute(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name == "holder" and "FOR UPDATE" in statement:
            self.locked.set()

    def before_execute(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name == "intruder" and f"FROM {self.table}" in statement:
            self.looking.set()

    def before_commit(self, conn: Any) -> None:
        if threading.current_thread().name == "holder" and self.locked.is_set():
            self.looking.wait(10)
            time.sleep(0.3)  # the intruder's query runs (or blocks on the lock) meanwhile


def interleaved(w: World, holder: Callable[[], object], intruder: Callable[[], object],
                table: str) -> dict[str, str]:
    """Run `holder` until it holds a row lock (SELECT ... FOR UPDATE), then start `intruder`;
    `holder` commits only once `intruder` has sent its query on `table` (which then runs, or
    waits for the lock). The interleaving a real clock allows around a deadline, forced."""
    lock = _LockWatch(table)
    listeners: list[tuple[str, Callable[..., None]]] = [
        ("after_cursor_execute", lock.after_execute),
        ("before_cursor_execute", lock.before_execute), ("commit", lock.before_commit)]
    outcomes: dict[str, str] = {}

    def run(name: str, action: Callable[[], object]) -> None:
        if name == "intruder":
            lock.locked.wait(10)
        try:
            outcomes[name] = str(action())
        except GatehouseError as exc:
            outcomes[name] = type(exc).__name__

    for name, listener in listeners:
        event.listen(w.gh.engine, name, listener)
    try:
        threads = [threading.Thread(target=run, args=(n, a), name=n)
                   for n, a in (("holder", holder), ("intruder", intruder))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for name, listener in listeners:
            event.remove(w.gh.engine, name, listener)
    return outcomes


def test_an_approval_committing_as_the_deadline_passes_is_never_overwritten_as_expired(
        pg_live: World) -> None:
    """The approver's transaction began a second before the deadline and holds the request's
    row lock; the sweeper, a second after the deadline, looks for due requests meanwhile.
    The request must end approved with its grant, never 'expired' over an issued grant."""
    w = pg_live
    request_id = create_request.create(w.gh, w.people.sam, draft(customer_id="cust-0001"))
    with w.gh.read() as db:
        deadline = db.get_one(AccessRequest, request_id).expires_at
    approver_gh = replace(w.gh, clock=lambda: deadline - timedelta(seconds=1))
    sweeper_gh = replace(w.gh, clock=lambda: deadline + timedelta(seconds=1))
    approver = replace(w.people.ada, step_up_at=deadline - timedelta(seconds=30))
    outcomes = interleaved(
        w, lambda: decide_request.decide(approver_gh, approver, request_id, approve=True).status,
        lambda: sweep.expire_pending(sweeper_gh), "access_requests")
    assert outcomes["holder"] == "approved" and outcomes["intruder"].isdigit()
    with w.gh.read() as db:
        assert db.get_one(AccessRequest, request_id).status == "approved"
    assert of(w, "request.expired", request_id=str(request_id)) == []
    assert grants_of(w, request_id) == 1


def test_a_revocation_just_before_a_grant_ran_out_is_its_only_ending(pg_live: World) -> None:
    """Revoked a second before the end while the sweeper looks a second after: the grant ends
    once, revoked, never revoked and expired both."""
    w = pg_live
    grant_id = granted(w.gh, w.people, duration=timedelta(minutes=30))
    with w.gh.read() as db:
        ends = db.get_one(Grant, grant_id).ends_at
    admin_gh = replace(w.gh, clock=lambda: ends - timedelta(seconds=1))
    sweeper_gh = replace(w.gh, clock=lambda: ends + timedelta(seconds=1))
    admin = replace(w.people.ada, step_up_at=ends - timedelta(seconds=30))
    outcomes = interleaved(w, lambda: grants.revoke(admin_gh, admin, grant_id, "closed"),
                           lambda: sweep.record_expiries(sweeper_gh), "grants")
    assert outcomes["holder"] == "None" and outcomes["intruder"].isdigit()
    endings = [e["action"] for e in events(w.gh, "grant.") if e["grant_id"] == str(grant_id)
               and e["action"] in ("grant.revoked", "grant.expired")]
    assert endings == ["grant.revoked"]


def test_two_sweepers_at_once_record_each_expiry_once(live: World) -> None:
    """The worker and an operator's `python -m access sweep` may overlap."""
    w = live
    request_id = create_request.create(w.gh, w.people.sam, draft(customer_id="cust-0001"))
    grant_id = granted(w.gh, w.people, duration=timedelta(minutes=30))
    w.clock.advance(hours=25)
    fresh(w.gh, w.people, w.clock)

    def one_pass() -> None:
        sweep.expire_pending(w.gh)
        sweep.record_expiries(w.gh)

    assert at_once(one_pass, one_pass, one_pass) == ["ok", "ok", "ok"]
    assert len(of(w, "request.expired", request_id=str(request_id))) == 1
    assert len(of(w, "grant.expired", grant_id=str(grant_id))) == 1

"""The test team is enrolled for real once per process and copied into other empty databases
(`tests.support.workflow_helpers.team`): the copy must be the very rows the real enrollment
wrote, with the id counters where it left them, on both engines, so a test cannot tell the
two apart; and anything else enrolls for real."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from access.context import Gatehouse
from access.workflow import create_request, decide_request
from tests.support import snapshots, workflow_helpers
from tests.support.audit_history import History
from tests.support.databases import Database, postgres_database, sqlite_database
from tests.support.identity_helpers import FakeClock, LocalIdP, gatehouse
from tests.support.workflow_helpers import draft, events, team

FreshServices = Callable[[], Gatehouse]


@pytest.fixture
def fresh(db: Database, clock: FakeClock, idp: LocalIdP, tmp_path: Path,
          request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[FreshServices]:
    """Services over another empty database of `db`'s engine at each call; no enrollment
    copied before (the process's copies are set aside for the test)."""
    monkeypatch.setattr(workflow_helpers, "_ENROLLED", [])
    with ExitStack() as stack:
        def make() -> Gatehouse:
            if db.kind == "sqlite":
                folder = Path(tempfile.mkdtemp(dir=tmp_path))
                other = sqlite_database(folder)
                stack.callback(other.dispose)
            else:
                other = stack.enter_context(postgres_database(
                    request.getfixturevalue("postgres_admin")))
            return gatehouse(other, clock, idp)
        yield make


def test_a_copied_team_is_the_rows_a_real_enrollment_wrote(fresh: FreshServices,
                                                          idp: LocalIdP) -> None:
    enrolled, copied = fresh(), fresh()
    real = team(enrolled, idp)
    assert len(workflow_helpers._ENROLLED) == 1
    assert team(copied, idp) == real
    assert snapshots.take(copied.engine) == snapshots.take(enrolled.engine)
    assert [e["action"] for e in events(copied)] == [
        "auth.login", "auth.mfa.enrolled", "auth.mfa.verified"] * 5


def test_the_copied_team_works_and_ids_continue_where_enrollment_left_them(
        fresh: FreshServices, idp: LocalIdP) -> None:
    enrolled, copied = fresh(), fresh()
    team(enrolled, idp)
    people = team(copied, idp)
    request_id = create_request.create(copied, people.sam, draft())
    decided = decide_request.decide(copied, people.ada, request_id, approve=True)
    assert (request_id, decided.grant_id) == (1, 1)
    assert [e["id"] for e in events(copied)] == list(range(1, 19))
    assert [e["actor_sub"] for e in events(copied, "request.")] == ["sam", "ada"]


def test_anything_but_an_empty_database_at_the_same_time_enrolls_for_real(
        fresh: FreshServices, idp: LocalIdP, clock: FakeClock) -> None:
    team(fresh(), idp)
    used = fresh()
    History(used.engine).read("alice")
    team(used, idp)  # not empty: enrolled for real after what is there
    assert [e["actor_sub"] for e in events(used)][:2] == ["alice", "sam"]
    assert len(workflow_helpers._ENROLLED) == 1
    clock.advance(days=1)
    later = fresh()
    team(later, idp)  # another time: a real enrollment of its own
    assert len(workflow_helpers._ENROLLED) == 2
    stamped = {datetime.fromtimestamp(e["ts_us"] / 1e6, UTC) for e in events(later)}
    assert stamped == {clock.now}

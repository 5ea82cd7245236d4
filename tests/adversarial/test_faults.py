"""Faults (ASVS 16.5.3 fail closed; 2.3.3 transactions; A6 27): the database dies in the
middle of a request, fills up, turns read-only or loses the app's INSERT privilege; a writer
or the sealer is killed with SIGKILL. Every state change and its audit event are both there
or both absent, no customer data is served without its event, nothing committed is lost, and
the tree verifies after a restart.

Already covered, not repeated: an audit insert refused by the model rolls the operation back
(tests/access/workflow/test_notify.py for the outbox), a second sealer is refused, threads and
processes appending while the sealer runs (tests/audit/test_audit_concurrency.py), a purge that
died half way (tests/access/data/test_retention.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from access.context import Gatehouse
from access.data import broker
from access.identity import mfa, users
from access.workflow import create_request, decide_request, grants
from audit.engine import make_engine, write_engine
from audit.log import append
from audit.schema import checkpoints_table, events_table
from audit.sealer import seal_pending
from tests.adversarial.support import (
    PYTHON,
    ROOT,
    World,
    cli_env,
    counts,
    events_after,
    eventually,
    fresh,
    granted,
    last_event_id,
    state_digest,
    world,
)
from tests.support.audit_helpers import event as audit_event
from tests.support.audit_helpers import write_events
from tests.support.databases import PG_ADMIN_URL, Database
from tests.support.identity_helpers import sign_in
from tests.support.mfa_helpers import code_now
from tests.support.workflow_helpers import new_draft


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, request.param, tmp_path_factory.mktemp("faults")) as built:
        yield built


@pytest.fixture(scope="module")
def sq(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[World]:
    """SQLite alone, for its own failure modes: a file capped at its size, a file locked by
    another process (PostgreSQL has neither; its equivalents are the revoked INSERT and the
    terminated backend)."""
    with world(request, "sqlite", tmp_path_factory.mktemp("faults-sq")) as built:
        yield built


@pytest.fixture(scope="module")
def pg(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[World]:
    with world(request, "postgres", tmp_path_factory.mktemp("faults-pg")) as built:
        yield built


# -- operations, each a state change (or a read) with its audit event ----------------------

@dataclass(frozen=True)
class Operation:
    prepare: Callable[[World], Any]             # targets, set up before the fault
    run: Callable[[World, Any], Any]            # the operation under fault
    action: str                                 # the audit event it writes


OPERATIONS: dict[str, Operation] = {
    "file a request": Operation(
        lambda w: None,
        lambda w, _: create_request.create(w.gh, w.people.sam, new_draft(customer_id="cust-0001")),
        "request.created"),
    "approve": Operation(
        lambda w: create_request.create(w.gh, w.people.sam, new_draft(customer_id="cust-0001")),
        lambda w, rid: decide_request.decide(w.gh, w.people.ada, rid, approve=True),
        "grant.issued"),
    "revoke": Operation(
        lambda w: granted(w.gh, w.people),
        lambda w, gid: grants.revoke(w.gh, w.people.ada, gid, "ticket closed"),
        "grant.revoked"),
    "read customer data": Operation(
        lambda w: granted(w.gh, w.people),
        lambda w, gid: broker.read(w.gh, w.people.sam, gid, "cust-0001", "contacts"),
        "data.read"),
    "disable a user": Operation(
        lambda w: sign_in(w.gh, w.idp, f"leaver-{time.monotonic_ns()}").user_id,
        lambda w, uid: users.disable(w.gh, w.people.ada, uid, "left the company"),
        "user.disabled"),
    "second factor": Operation(
        lambda w: w.clock.advance(seconds=30),
        lambda w, _: mfa.verify_code(w.gh, w.people.sky,
                                     code_now(w.gh, w.people.secrets["sky"], 1)),
        "auth.mfa.step_up"),
}


def all_or_nothing(w: World, before: int, digest: str, action: str) -> str:
    """'nothing' if neither the state nor the log changed, 'all' if both did (and the log
    holds the operation's event); fails on anything in between."""
    new = [e["action"] for e in events_after(w.gh.engine, before)]
    changed = state_digest(w.gh.engine) != digest
    if not new and not changed:
        return "nothing"
    assert action in new, f"state changed={changed}, but the log has only {new}"
    assert changed or action in ("data.read", "auth.mfa.step_up"), "an event without its change"
    return "all"


# -- the database dies mid-transaction (PostgreSQL: its backend is terminated) -------------

def terminate(conn: Any) -> None:
    pid = conn.connection.dbapi_connection.info.backend_pid
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


@contextmanager
def backend_dies(engine: Engine, at: str) -> Iterator[list[bool]]:
    """Terminate the connection's server process just before the audit INSERT (`at` =
    'audit insert') or just before COMMIT of a transaction that wrote an event ('commit')."""
    fired, wrote = [False], [False]

    def before_execute(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if fired[0] or not statement.startswith("INSERT INTO audit_events"):
            return
        wrote[0] = True
        if at == "audit insert":
            fired[0] = True
            terminate(conn)

    def before_commit(conn: Any) -> None:
        if at == "commit" and wrote[0] and not fired[0]:
            fired[0] = True
            terminate(conn)

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", before_commit)
    try:
        yield fired
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", before_commit)


@pytest.mark.parametrize("at", ["audit insert", "commit"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_database_dying_mid_request_leaves_all_or_nothing_and_recovers(
        pg: World, name: str, at: str) -> None:
    w, op = pg, OPERATIONS[name]
    fresh(w.gh, w.people, w.clock)  # whatever earlier tests did to the clock
    target = op.prepare(w)
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    served: list[Any] = []
    with backend_dies(w.gh.engine, at) as fired, pytest.raises(DBAPIError):
        served.append(op.run(w, target))
    assert fired[0] and served == []  # the caller got an error, never a result
    assert all_or_nothing(w, before, digest, op.action) == "nothing"
    # The database is back: the pool drops the dead connection and the same call succeeds.
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    op.run(w, target)
    assert all_or_nothing(w, before, digest, op.action) == "all"


# -- the database is read-only, full, locked, or refuses the app's audit INSERT ------------

def engine_like(w: World, **pragmas: str) -> Engine:
    """Another engine on the world's database, with `pragmas` (SQLite) or session settings
    (PostgreSQL) applied on every new connection."""
    engine = make_engine(w.db.url)

    def on_connect(dbapi: Any, _: Any) -> None:
        cursor = dbapi.cursor()
        for key, value in pragmas.items():
            if w.db.kind == "sqlite":
                cursor.execute(f"PRAGMA {key} = {value}")
            else:
                cursor.execute(f"SET {key} = {value}")
        cursor.close()
        if w.db.kind == "postgres":
            dbapi.commit()

    event.listen(engine, "connect", on_connect)
    return engine


def assert_fails_closed(w: World, gh: Gatehouse, grant_id: int) -> None:
    """Neither a read nor a request goes through, and the log of the real database has no
    trace of either (fail closed: no event, no data; no event, no change)."""
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    served: list[Any] = []
    with pytest.raises(DBAPIError):
        served.append(broker.read(gh, w.people.sam, grant_id, "cust-0001", "contacts"))
    with pytest.raises(DBAPIError):
        create_request.create(gh, w.people.sam, new_draft(customer_id="cust-0001"))
    assert served == []
    assert events_after(w.gh.engine, before) == [] and state_digest(w.gh.engine) == digest


def test_a_read_only_database_serves_no_customer_data(w: World) -> None:
    grant_id = granted(w.gh, w.people)
    if w.db.kind == "sqlite":
        path = w.db.url.removeprefix("sqlite:///")
        engine = make_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        engine = engine_like(w, default_transaction_read_only="on")
    try:
        assert_fails_closed(w, replace(w.gh, engine=engine), grant_id)
    finally:
        engine.dispose()


def test_a_full_database_serves_no_read_it_cannot_log(sq: World) -> None:
    """SQLite with its pages capped where they stand: reads are served while their events
    still fit, and not one after. (PostgreSQL cannot be filled from a test; its equivalent
    is the refused INSERT below.)"""
    w = sq
    grant_id = granted(w.gh, w.people)
    with w.gh.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    engine = engine_like(w, max_page_count=str(pages))
    full = replace(w.gh, engine=engine)
    before = last_event_id(w.gh.engine)
    served = 0
    try:
        refusal: DBAPIError | None = None
        for _ in range(500):
            try:
                broker.read(full, w.people.sam, grant_id, "cust-0001", "contacts")
            except DBAPIError as exc:
                refusal = exc
                break
            served += 1
        assert refusal is not None, "the capped database never filled up"
        assert "full" in str(refusal)
        logged = [e for e in events_after(w.gh.engine, before) if e["action"] == "data.read"]
        assert len(logged) == served
        digest = state_digest(w.gh.engine)
        with pytest.raises(DBAPIError):  # and a state change does not half-happen either
            create_request.create(full, w.people.sam, new_draft(customer_id="cust-0001",
                                                                justification="x" * 1000))
        assert state_digest(w.gh.engine) == digest
        assert len(events_after(w.gh.engine, before)) == served
    finally:
        engine.dispose()


def test_a_database_locked_by_another_process_changes_nothing(sq: World) -> None:
    w = sq
    grant_id = granted(w.gh, w.people)
    engine = engine_like(w, busy_timeout="200")
    locked = replace(w.gh, engine=engine)
    before = last_event_id(w.gh.engine)
    holder = sqlite3.connect(w.db.url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        with pytest.raises(DBAPIError, match="locked"):
            broker.read(locked, w.people.sam, grant_id, "cust-0001", "contacts")
        holder.execute("ROLLBACK")
        assert events_after(w.gh.engine, before) == []
        broker.read(locked, w.people.sam, grant_id, "cust-0001", "contacts")  # works again
        assert [e["action"] for e in events_after(w.gh.engine, before)] == ["data.read"]
    finally:
        holder.close()
        engine.dispose()


def test_without_insert_on_the_audit_table_nothing_is_served_or_changed(pg: World) -> None:
    w = pg
    grant_id = granted(w.gh, w.people)
    role = make_url(w.db.url).username
    with w.db.owner.begin() as conn:
        conn.execute(text(f"REVOKE INSERT ON audit_events FROM {role}"))
    try:
        assert_fails_closed(w, w.gh, grant_id)
    finally:
        with w.db.owner.begin() as conn:
            conn.execute(text(f"GRANT INSERT ON audit_events TO {role}"))
    broker.read(w.gh, w.people.sam, grant_id, "cust-0001", "contacts")


# -- processes killed with SIGKILL ---------------------------------------------------------

APPENDER = """
import sys
from audit.engine import make_engine, write_engine
from audit.log import append
from tests.support.audit_helpers import event
engine, batch, i = make_engine(sys.argv[1]), int(sys.argv[2]), 0
while True:
    with write_engine(engine).begin() as conn:
        ids = [append(conn, event(i + k)) for k in range(batch)]
    print(*ids, flush=True)
    i += batch
"""


def audit_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "audit", *args], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=120)


def seal_with_cli_until_caught_up(env: dict[str, str], engine: Engine) -> None:
    """`python -m audit seal` until every event is sealed (on PostgreSQL a pass seals nothing
    that a transaction in flight anywhere on the server could precede)."""
    assert eventually(lambda: audit_cli(env, "seal").returncode == 0 and
                      counts(engine)[0] == counts(engine)[1], seconds=60, every=0.2)


def test_a_writer_killed_mid_append_loses_no_committed_event_and_half_of_nothing(
        db: Database, tmp_path: Path) -> None:
    """The writer appends 20 events per transaction and prints their ids after each commit;
    SIGKILL lands wherever it lands. Every printed id is there, no transaction is half
    there, and the tree seals and verifies."""
    batch = 20
    child = subprocess.Popen([PYTHON, "-c", APPENDER, db.url, str(batch)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, text=True)
    committed: list[int] = []
    try:
        assert child.stdout is not None
        while len(committed) < 30 * batch:
            line = child.stdout.readline()
            assert line, "the writer died on its own"
            committed += [int(i) for i in line.split()]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    with db.engine.connect() as conn:
        stored = set(conn.execute(select(events_table.c.id)).scalars())
    assert set(committed) <= stored
    assert len(stored) % batch == 0  # a killed transaction left none of its rows
    assert len(stored) - len(committed) in (0, batch)  # at most one commit was not printed
    env = cli_env(db.url, tmp_path / "cli")
    assert audit_cli(env, "keygen").returncode == 0
    seal_with_cli_until_caught_up(env, db.engine)
    verdict = audit_cli(env, "verify")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert f"intact: {len(stored)} sealed events" in verdict.stdout


def test_a_sealer_killed_and_restarted_catches_up_while_appends_continue(
        db: Database, tmp_path: Path) -> None:
    env = cli_env(db.url, tmp_path / "cli")
    assert audit_cli(env, "keygen").returncode == 0
    write_events(db, 2000, per_transaction=500)  # a backlog for the first pass
    stop = threading.Event()
    appended = [0]

    def append_until_stopped() -> None:
        engine = make_engine(db.url)
        while not stop.is_set():
            with write_engine(engine).begin() as conn:
                append(conn, audit_event(10_000 + appended[0]))
            appended[0] += 1
            time.sleep(0.002)
        engine.dispose()

    writer = threading.Thread(target=append_until_stopped)
    writer.start()
    sealers: list[subprocess.Popen[str]] = []
    try:
        first = start_sealer(env, sealers)
        assert eventually(lambda: counts(db.engine)[1] > 0)
        time.sleep(0.15)  # wherever it is now: mid-batch, mid-publish or idle
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        time.sleep(0.3)  # appends go on with no sealer at all
        start_sealer(env, sealers)
        time.sleep(0.5)
        stop.set()
        writer.join(30)
        assert appended[0] > 0
        assert eventually(lambda: counts(db.engine)[0] == counts(db.engine)[1],
                          seconds=60)
    finally:
        stop.set()
        for sealer in sealers:
            with suppress(ProcessLookupError):
                sealer.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                sealer.wait(30)
    events, sealed = counts(db.engine)
    assert events == sealed == 2000 + appended[0]
    verdict = audit_cli(env, "verify")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert f"intact: {events} sealed events" in verdict.stdout
    with db.engine.connect() as conn:  # and the newest checkpoint was published
        newest = conn.execute(select(checkpoints_table.c.note)
                              .order_by(checkpoints_table.c.tree_size.desc())).scalars().first()
    notes = sorted((tmp_path / "cli" / "checkpoints").glob("*.note"))
    assert notes and notes[-1].read_text() == newest


def start_sealer(env: dict[str, str], sealers: list[subprocess.Popen[str]]
                 ) -> subprocess.Popen[str]:
    """`python -m audit sealer`, retried while the killed one's lock is still being let go
    (PostgreSQL frees an advisory lock when it notices its client is gone)."""
    deadline = time.monotonic() + 30
    while True:
        sealer = subprocess.Popen([PYTHON, "-m", "audit", "sealer", "--interval", "0.05"],
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        sealers.append(sealer)
        assert sealer.stdout is not None
        if "sealer running" in sealer.stdout.readline():
            return sealer
        sealer.wait(30)
        assert time.monotonic() < deadline, sealer.stderr.read() if sealer.stderr else ""
        time.sleep(0.2)


# -- the sealer's horizon -------------------------------------------------------------------

def test_a_transaction_in_another_database_does_not_stall_the_sealer(
        pg_database: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    with psycopg.connect(PG_ADMIN_URL) as elsewhere:
        elsewhere.execute("SELECT txid_current()")  # a write transaction, open, elsewhere
        try:
            write_events(pg_database, 3)
            sealed = seal_pending(pg_database.engine, signing_key, checkpoint_dir).sealed
        finally:
            elsewhere.rollback()  # held for milliseconds: other workers seal again at once
    assert sealed == 3


# -- what the person at the console sees ---------------------------------------------------

def test_the_database_going_away_shows_a_clear_message_not_a_traceback(
        oidc: str, data_dir: Path) -> None:
    from tests.support.console_helpers import console, signed_in, submit_code

    at = signed_in(console(oidc), oidc, "sam.support").run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    for suffix in ("", "-wal", "-shm"):  # the file under the open connections is destroyed
        path = Path(f"{data_dir / 'gatehouse.db'}{suffix}")
        if path.exists():
            with open(path, "r+b") as damaged:
                damaged.truncate(0)
                damaged.write(b"not a database " * 100)
    at.run()
    assert not at.exception, at.exception[0].message
    assert any("database" in e.value and "SELECT" not in e.value for e in at.error)


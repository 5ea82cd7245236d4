"""Concurrent writers lose nothing, the sealer never seals out of commit order, and only one
sealer runs at a time."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from audit.database import verify_database
from audit.engine import BUSY_TIMEOUT_MS, make_engine, polling_write_engine, write_engine
from audit.log import append
from audit.schema import events_table, leaves_table
from audit.sealer import SealerBusy, seal_pending, sealer_guard, widen_xid
from tests.support.audit_helpers import event, seal_everything, write_events
from tests.support.databases import Database


def _sealed_event_ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(leaves_table.c.event_id)
                                 .order_by(leaves_table.c.seq)).scalars())


def _seal_while(alive: Callable[[], bool], db: Database, key: Ed25519PrivateKey,
                checkpoint_dir: Path) -> None:
    while alive():
        seal_pending(db.engine, key, checkpoint_dir, batch_size=37)


def test_threads_appending_while_the_sealer_runs_lose_nothing(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    writers = [threading.Thread(target=write_events, args=(sqlite_db, 40, n * 1000))
               for n in range(8)]
    for w in writers:
        w.start()
    sealer = threading.Thread(target=_seal_while, args=(
        lambda: any(w.is_alive() for w in writers), sqlite_db, signing_key,
        checkpoint_dir))
    sealer.start()
    for w in writers:
        w.join()
    sealer.join()
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    sealed = _sealed_event_ids(sqlite_db)
    assert len(sealed) == len(set(sealed)) == 320
    assert sealed == sorted(sealed)  # SQLite commits in id order
    report = verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir)
    assert report.ok and report.tree_size == 320, report.problems


def _append_in_process(url: str, first: int, count: int) -> None:
    engine = make_engine(url)
    for i in range(first, first + count):
        with write_engine(engine).begin() as conn:
            append(conn, event(i))
    engine.dispose()


def test_processes_appending_on_postgres_seal_into_one_consistent_tree(
        pg_database: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A spawned child first re-runs its parent's __main__ by path. Once a console test has run
    # streamlit_app.py as __main__ in this worker, that would start the console in every child;
    # the children need only this module, which they import by name.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_in_process, args=(pg_database.url, n * 1000, 60))
               for n in range(4)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        seal_pending(pg_database.engine, signing_key, checkpoint_dir, batch_size=23)
    for w in workers:
        w.join()
        assert w.exitcode == 0
    seal_everything(pg_database, signing_key, checkpoint_dir)
    sealed = _sealed_event_ids(pg_database)
    with pg_database.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(events_table)).scalar()
    assert len(sealed) == len(set(sealed)) == total == 240
    report = verify_database(pg_database.engine, signing_key.public_key(), checkpoint_dir)
    assert report.ok and report.tree_size == 240, report.problems


def test_postgres_seals_nothing_that_an_in_flight_transaction_could_still_precede(
        pg_database: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    slow = write_engine(pg_database.engine).connect()
    slow_tx = slow.begin()
    slow_id = append(slow, event(1))  # takes the lower id and transaction id, not committed
    fast_id = write_events(pg_database, 1, start=2)[0]
    assert slow_id < fast_id
    assert seal_pending(pg_database.engine, signing_key, checkpoint_dir).sealed == 0
    slow_tx.commit()
    slow.close()
    assert seal_everything(pg_database, signing_key, checkpoint_dir) == 2
    assert _sealed_event_ids(pg_database) == [slow_id, fast_id]


def test_postgres_holds_back_for_a_transaction_that_has_not_yet_written_its_event(
        pg_database: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """A workflow transaction takes its id with its first write (a request row, say) and appends
    its audit event last; the sealer must not seal past it in between."""
    slow = write_engine(pg_database.engine).connect()
    slow_tx = slow.begin()
    slow.execute(text("CREATE TEMP TABLE scratch (x int)"))  # holds a transaction id now
    slow.execute(text("INSERT INTO scratch VALUES (1)"))
    write_events(pg_database, 1, start=2)
    assert seal_pending(pg_database.engine, signing_key, checkpoint_dir).sealed == 0
    slow_id = append(slow, event(1))
    slow_tx.commit()
    slow.close()
    assert seal_everything(pg_database, signing_key, checkpoint_dir) == 2
    assert _sealed_event_ids(pg_database)[0] == slow_id


@pytest.mark.parametrize(("xid", "reference", "full"), [
    (934, 1000, 934),                                   # same epoch
    (1200, 1000, 1200),                                 # just ahead of the reference
    (0xFFFF_FFF0, (1 << 32) + 5, 0xFFFF_FFF0),          # previous epoch, across the wrap
    (3, (1 << 32) - 2, (1 << 32) + 3),                  # next epoch, ahead across the wrap
    (7, (5 << 32) + 10, (5 << 32) + 7),
])
def test_widen_xid_restores_the_epoch(xid: int, reference: int, full: int) -> None:
    assert widen_xid(xid, reference) == full


def test_a_second_sealer_is_refused(db: Database) -> None:
    with sealer_guard(db.engine):
        other = make_engine(db.url)
        with pytest.raises(SealerBusy), sealer_guard(other):
            pass
        other.dispose()
    with sealer_guard(db.engine):  # released on exit: the next sealer may start
        pass


def test_the_sqlite_sealer_polls_for_the_write_lock_and_restores_the_busy_handler(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """The sealer takes the write lock as soon as a writer lets it go (it polls instead of
    sleeping in SQLite's back-off), and its connection goes back to the pool with the usual
    busy timeout, so the next writer on it still waits rather than failing at once."""
    write_events(sqlite_db, 3)
    holder = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    try:
        assert seal_pending(sqlite_db.engine, signing_key, checkpoint_dir).sealed == 3
    finally:
        release.join()
        holder.close()
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == BUSY_TIMEOUT_MS


def test_a_lock_held_past_the_timeout_still_fails_the_polling_begin(
        sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("audit.engine.BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(str(sqlite_db.engine.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"), \
                polling_write_engine(sqlite_db.engine).begin():
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()

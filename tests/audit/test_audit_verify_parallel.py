"""Full verification of the live database: worker processes and fast encodings change nothing.

The events are hashed by worker processes reading the parent's snapshot (small chunks here,
so that even a short log spreads over both workers), and SQLite encodes most of an event
itself. Whatever the path, every digest is the one canonical.py defines, every report is the
one a single process gives, and a log that grows meanwhile is verified as it was when the
verification began.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, select

import audit.canonical
import audit.database
import audit.event_hashing
import audit.verification.tree_check
from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import published_files
from audit.database import hashed_events, verify_database
from audit.event_hashing import hashed_event_batches
from audit.merkle import leaf_hash
from audit.schema import AuditBase, events_table
from audit.verify import Report
from tests.support.audit_helpers import seal_everything, tamper, write_events
from tests.support.databases import Database

text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
               max_size=12)
plain = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
tricky = st.one_of(text, plain, st.sampled_from(['"', "\\", "\x7f", "\x1f", "é", "😀", "]",
                                                 "a,b", "\u2028", "null"]))
detail_value = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), tricky,
                         st.lists(st.one_of(tricky, st.integers()), max_size=3))
details = st.dictionaries(tricky, detail_value, max_size=4)


REQUIRED = {"actor_iss", "actor_sub", "actor_roles", "action", "outcome"}  # NOT NULL


def row(ts: int, values: list[str | None], extra: dict[str, Any]) -> dict[str, Any]:
    """A stored event: `values` for the 17 text fields (None where absent), then details."""
    names = [name for name in FIELDS if name not in ("ts_us", "details")]
    return {"ts_us": ts, "details": extra, **{
        name: "" if value is None and name in REQUIRED else value
        for name, value in zip(names, values, strict=True)}}


rows = st.builds(row, st.integers(-(2**63), 2**63 - 1),
                 st.lists(st.one_of(st.none(), tricky), min_size=17, max_size=17), details)


@settings(max_examples=200, deadline=None)
@given(record=rows)
def test_the_direct_encoder_writes_exactly_the_canonical_bytes(record: dict[str, Any]) -> None:
    values = tuple(record[name] for name in FIELDS)
    assert audit.canonical.encode_json([1, *values]).encode() == canonical_bytes(values)


@pytest.fixture(scope="module")
def memory_log() -> Iterator[Any]:
    """The real audit schema in an in-memory SQLite database (the same column affinities)."""
    engine = create_engine("sqlite://")
    AuditBase.metadata.create_all(engine)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(rows, min_size=1, max_size=8))
def test_sqlite_encodes_events_byte_for_byte_as_canonical_py(
        memory_log: Any, batch: list[dict[str, Any]]) -> None:
    """Where SQLite's json_array writes plain ASCII it is used as is; anything it writes
    otherwise (non-ASCII, escapes, DEL) is re-read and encoded the slow way."""
    conn = memory_log
    with conn.begin() as transaction:
        conn.execute(insert(events_table), batch)
        expected = [event.digest for event in hashed_events(conn)]
        with hashed_event_batches(conn, workers=0) as events:
            got = [b.digest(i) for b in events for i in range(len(b))]
        transaction.rollback()
    assert got == expected
    assert expected == [leaf_hash(canonical_bytes(tuple(r[n] for n in FIELDS))) for r in batch]


# --- a sealed log on both engines --------------------------------------------------------------

EVENTS = 600


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 leaves and pages of 50 events: 600 events keep two workers busy."""
    monkeypatch.setattr(audit.event_hashing, "CHUNK", 64)
    monkeypatch.setattr(audit.event_hashing, "EVENT_PAGE", 50)


@pytest.fixture
def sealed(db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
           small_chunks: None) -> Database:
    for start in range(0, EVENTS, 200):
        write_events(db, 200, start=start, per_transaction=50)
        seal_everything(db, signing_key, checkpoint_dir)
    return db


def verify(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path, workers: int,
           progress: Callable[[int], object] | None = None) -> Report:
    return verify_database(db.engine, key.public_key(), checkpoint_dir, progress, workers)


def test_workers_verify_a_sound_log(sealed: Database, signing_key: Ed25519PrivateKey,
                                    checkpoint_dir: Path) -> None:
    report = verify(sealed, signing_key, checkpoint_dir, workers=2)
    assert report.ok, report.problems
    assert report.tree_size == EVENTS
    assert [c.size for c in report.checkpoints] == [200, 400, 600]


def _ids(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return list(conn.execute(select(events_table.c.id).order_by(events_table.c.id))
                    .scalars())


def modify(ids: list[int], k: int) -> list[str]:
    return [f"UPDATE audit_events SET reason = 'nothing to see' WHERE id = {ids[k]}"]


def delete(ids: list[int], k: int) -> list[str]:
    return [f"DELETE FROM audit_events WHERE id = {ids[k]}"]


def delete_with_leaf(ids: list[int], k: int) -> list[str]:
    return [*delete(ids, k), f"DELETE FROM audit_leaves WHERE seq = {k}"]


def insert_forged(ids: list[int], k: int) -> list[str]:
    """Slip a forged event in just before the k-th, in its commit position."""
    before, gap = ids[k - 1], ids[k - 1] + 1
    columns = [c for c in FIELDS if c not in ("action", "reason")] + ["txid"]
    return [f"UPDATE audit_events SET id = id + 100000 WHERE id > {before}",
            f"INSERT INTO audit_events (id, action, reason, {', '.join(columns)}) "
            f"SELECT {gap}, 'request.approved', 'forged', {', '.join(columns)} "
            f"FROM audit_events WHERE id = {before}"]


def swap(ids: list[int], k: int) -> list[str]:
    a, b = ids[k], ids[k + 1]
    return [f"UPDATE audit_events SET txid = (SELECT x.txid FROM audit_events x "
            f"WHERE x.id = {a + b} - audit_events.id) WHERE id IN ({a}, {b})",
            f"UPDATE audit_events SET id = -1 WHERE id = {a}",
            f"UPDATE audit_events SET id = {a} WHERE id = {b}",
            f"UPDATE audit_events SET id = {b} WHERE id = -1"]


@pytest.mark.parametrize("k", [200, 128, 575])  # worker 1's range; a cut point; the last chunk
@pytest.mark.parametrize(("damage", "kind"), [
    (modify, "modified"), (delete, "missing"), (delete_with_leaf, "missing"),
    (insert_forged, "inserted"), (swap, "reordered")])
def test_damage_anywhere_is_named_as_one_process_names_it(
        sealed: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        damage: Callable[[list[int], int], list[str]], kind: str, k: int) -> None:
    tamper(sealed, damage(_ids(sealed), k))
    alone = verify(sealed, signing_key, checkpoint_dir, workers=0)
    shared = verify(sealed, signing_key, checkpoint_dir, workers=2)
    assert shared.problems == alone.problems
    assert shared.tree_size == alone.tree_size
    first = shared.first_problem
    assert first is not None
    assert (first.kind, first.leaf_index) == (kind, k), first.detail


def test_a_log_that_grows_while_workers_start_is_verified_as_it_was(
        sealed: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Events appended and sealed after the snapshot began, before the workers open their own
    connections (on SQLite they then see them): the report is the snapshot's."""
    chunks = audit.event_hashing._chunks

    def grow_first(*args: Any) -> Any:
        write_events(sealed, 150, start=EVENTS, per_transaction=50)
        seal_everything(sealed, signing_key, checkpoint_dir)
        return chunks(*args)

    monkeypatch.setattr(audit.event_hashing, "_chunks", grow_first)
    report = verify(sealed, signing_key, checkpoint_dir, workers=2)
    assert report.ok, report.problems
    assert report.tree_size == EVENTS
    monkeypatch.setattr(audit.event_hashing, "_chunks", chunks)
    assert verify(sealed, signing_key, checkpoint_dir, workers=2).tree_size == EVENTS + 150


def test_a_log_that_grows_during_verification_is_verified_as_it_was(
        sealed: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit.verification.tree_check, "PROGRESS_EVERY", 100)
    grown: list[int] = []

    def grow(done: int) -> None:
        if not grown:
            grown.append(done)
            write_events(sealed, 150, start=EVENTS, per_transaction=50)
            seal_everything(sealed, signing_key, checkpoint_dir)

    report = verify(sealed, signing_key, checkpoint_dir, workers=2, progress=grow)
    assert grown == [100]
    assert report.ok, report.problems
    assert report.tree_size == EVENTS


def test_a_checkpoint_published_as_verification_starts_is_not_taken_for_truncation(
        sealed: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sealer publishes outside the database after it commits: a checkpoint that shows up
    in the directory while verification starts must be inside the snapshot."""
    def sealer_runs_meanwhile(directory: Path) -> list[tuple[Path, str]]:
        notes = published_files(directory)
        write_events(sealed, 10, start=EVENTS)
        seal_everything(sealed, signing_key, checkpoint_dir)
        return notes

    monkeypatch.setattr(audit.database, "published_files", sealer_runs_meanwhile)
    report = verify(sealed, signing_key, checkpoint_dir, workers=2)
    assert report.ok, report.problems
    assert report.tree_size == EVENTS + 10


def test_text_that_sqlite_and_postgres_escape_hashes_as_canonical_py_says(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        small_chunks: None) -> None:
    """Quotes, backslashes, control characters, DEL, non-ASCII and astral characters, in
    fields and in details, on both engines and in the workers."""
    samples = ['say "hi"', "back\\slash", "tab\there\nnew line", "del\x7f", "José Ñúñez",
               "emoji 😀", "bracket]", "\x1f"]
    with db.engine.begin() as conn:
        for i in range(130):
            sample = samples[i % len(samples)]
            conn.execute(insert(events_table), row(i, [sample if n % 3 == i % 3 else None
                                                       for n in range(17)],
                                                   {"note": sample, "n": [i, sample]}))
    seal_everything(db, signing_key, checkpoint_dir)
    for workers in (0, 2):
        report = verify(db, signing_key, checkpoint_dir, workers=workers)
        assert report.ok, report.problems
        assert report.tree_size == 130


def test_an_error_in_a_worker_is_raised_in_the_parent(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """A value no encoding has (a BLOB in a text column) stops verification loudly, in a
    worker as in one process."""
    ids = write_events(sqlite_db, 5)
    seal_everything(sqlite_db, signing_key, checkpoint_dir)
    tamper(sqlite_db, [f"UPDATE audit_events SET reason = X'00ff' WHERE id = {ids[3]}"])
    for workers in (0, 2):
        with pytest.raises(Exception, match="BLOB"):
            verify(sqlite_db, signing_key, checkpoint_dir, workers=workers)


def test_details_text_decodes_to_what_was_stored(sqlite_db: Database) -> None:
    """SQLite keeps `details` as the JSON text SQLAlchemy wrote; the fast path reads that text."""
    write_events(sqlite_db, 1)
    with sqlite_db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT details FROM audit_events").scalar_one()
    assert isinstance(stored, str)
    assert json.loads(stored)["scope"] == "billing"


@pytest.mark.parametrize("k", [200, 128, 575])
def test_a_backdated_event_is_named_by_the_workers_as_by_one_process(
        sealed: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path, k: int) -> None:
    """The workers send each event's time with its digest: a time rewritten a day back (by
    someone who can write the rows) is named `backdated` at its leaf, beside `modified`."""
    event_id = _ids(sealed)[k]
    tamper(sealed, [f"UPDATE audit_events SET ts_us = ts_us - 86400000000 WHERE id = {event_id}"])
    alone = verify(sealed, signing_key, checkpoint_dir, workers=0)
    shared = verify(sealed, signing_key, checkpoint_dir, workers=2)
    assert shared.problems == alone.problems
    assert [(p.kind, p.leaf_index, p.event_id) for p in shared.problems] == [
        ("modified", k, event_id), ("backdated", k, event_id)]

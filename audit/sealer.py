"""The sealer: gives committed events their place in the Merkle tree and signs checkpoints.

Appends never wait for it (a hash chain computed under a lock at insert time ran at 0.21× raw
INSERT throughput on PostgreSQL with 8 writers; see DESIGN.md). Instead one sealer at a time
reads events in commit order, assigns gap-free leaf indexes, stores leaf hashes and complete
subtree hashes, and writes a signed checkpoint in the same transaction, then publishes it to a
directory outside the database.

Commit order: on SQLite writers are serialised, so id order is commit order. On PostgreSQL ids
are handed out before commit and commit out of order, so the sealer takes only events whose
writing transaction is older than the oldest one still in flight in this database (see
`horizon`), in (txid, id) order: nothing unsealed can later appear before a sealed event.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, Text, cast, insert, select, text, tuple_

from audit.canonical import FIELDS, stored_canonical_bytes
from audit.checkpoint import (
    Checkpoint,
    note_hash,
    open_checkpoint,
    publish,
    sign_checkpoint,
)
from audit.engine import is_sqlite, polling_write_engine
from audit.events import to_micros
from audit.log import Clock, utc_now
from audit.merkle import leaf_hash
from audit.query import driver_rows
from audit.schema import checkpoints_table, events_table, leaves_table, nodes_table
from audit.tree import STORED_LEVEL, StoredTree

_ADVISORY_KEY = 0x6761746568  # "gateh": one sealer per PostgreSQL database
DEFAULT_BATCH = 5_000


class SealerBusy(RuntimeError):
    """Another sealer holds the guard; two sealers would race for the same leaf indexes."""


@dataclass(frozen=True)
class SealResult:
    sealed: int
    tree_size: int
    checkpoint: Checkpoint | None


def seal_pending(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path,
                 batch_size: int = DEFAULT_BATCH, clock: Clock = utc_now) -> SealResult:
    """Seal everything sealable now, one transaction and one checkpoint per batch."""
    republish(engine, checkpoint_dir, key)
    sealed, last = 0, SealResult(0, 0, None)
    while True:
        last = _seal_batch(engine, key, batch_size, clock)
        if last.checkpoint is not None:
            publish(checkpoint_dir, last.checkpoint)
        sealed += last.sealed
        if last.sealed < batch_size:
            return SealResult(sealed, last.tree_size, last.checkpoint)


def _seal_batch(engine: Engine, key: Ed25519PrivateKey, batch_size: int,
                clock: Clock) -> SealResult:
    with polling_write_engine(engine).begin() as conn:
        tree = StoredTree(conn)
        size = tree.size()
        frontier = tree.frontier(size)
        rows = _pending(conn, size, batch_size)
        leaves, nodes = [], []
        for row in rows:
            seq = frontier.size
            for level, idx, digest in frontier.append(
                    leaf_hash(stored_canonical_bytes(row[2:-1], row[-1]))):
                if level == 0:
                    leaves.append({"seq": seq, "event_id": row[0], "leaf_hash": digest})
                elif level >= STORED_LEVEL:
                    nodes.append({"level": level, "idx": idx, "hash": digest})
        if not leaves:
            return SealResult(0, size, None)
        _insert_leaves(conn, leaves)
        if nodes:
            conn.execute(insert(nodes_table), nodes)
        checkpoint = sign_checkpoint(key, frontier.size, frontier.root(), to_micros(clock()),
                                     _latest_note_hash(conn))
        conn.execute(insert(checkpoints_table), {
            "tree_size": checkpoint.size, "root": checkpoint.root, "ts_us": checkpoint.ts_us,
            "note": checkpoint.note})
        return SealResult(len(leaves), frontier.size, checkpoint)


def _insert_leaves(conn: Connection, leaves: list[dict[str, Any]]) -> None:
    """The batch's leaves in one go: COPY on PostgreSQL (the same rows, constraints and
    triggers as an INSERT, without a statement per thousand rows to build and parse), a Core
    executemany on SQLite."""
    if is_sqlite(conn):
        conn.execute(insert(leaves_table), leaves)
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            "COPY audit_leaves (seq, event_id, leaf_hash) FROM STDIN") as copy:
        for leaf in leaves:
            copy.write_row((leaf["seq"], leaf["event_id"], leaf["leaf_hash"]))


def _pending(conn: Connection, size: int, limit: int) -> list[tuple[Any, ...]]:
    """Unsealed events in commit order, as driver tuples: (id, txid, *the `FIELDS` values but
    `details`, `details` as its stored JSON text). Plain tuples and JSON text because decoding
    every row (SQLAlchemy rows, jsonb to dicts) cost more than sealing it."""
    e = events_table.c
    sqlite = is_sqlite(conn)
    details = e.details if sqlite else cast(e.details, Text)  # SQLite stores the text itself
    query = select(e.id, e.txid, *[e[name] for name in FIELDS[:-1]], details).limit(limit)
    last = None
    if size:
        last = conn.execute(select(e.id, e.txid).join(leaves_table, leaves_table.c.event_id == e.id)
                            .where(leaves_table.c.seq == size - 1)).one()
    if sqlite:
        query = query.order_by(e.id)
        query = query.where(e.id > last.id) if last else query
    else:
        query = query.where(e.txid < horizon(conn)).order_by(e.txid, e.id)
        if last:
            query = query.where(tuple_(e.txid, e.id) > tuple_(last.txid, last.id))
    return list(driver_rows(conn, query, "gatehouse_pending", limit))


def horizon(conn: Connection) -> int:
    """The lowest txid an event not yet visible to the next statement can still carry.

    Any transaction of this database that holds a transaction id may still insert events under
    that id, so the horizon is the oldest of them, or the next id to be handed out if there is
    none. Transactions of other databases on the server do not count (`pg_snapshot_xmin` would
    count them: one idle-in-transaction session anywhere would stop sealing here).

    Order matters and is what makes this safe under READ COMMITTED, where every statement takes
    a new snapshot: the next id is read first, then the in-flight ids, then (by the caller) the
    events. A transaction missing from the in-flight list has left the proc array, so the
    caller's later snapshot sees its events; one that took its id after the first read has an
    id at or above the horizon.
    """
    next_id: int = conn.execute(text(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")).scalar_one()
    conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # activity is cached per transaction
    in_flight = conn.execute(text(
        "SELECT backend_xid::text::bigint FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_xid IS NOT NULL"
        " AND pid <> pg_backend_pid()"
        " UNION ALL SELECT transaction::text::bigint FROM pg_prepared_xacts"
        " WHERE database = current_database()")).scalars().all()
    return min([next_id, *(widen_xid(xid, next_id) for xid in in_flight)])


def widen_xid(xid: int, reference: int) -> int:
    """The 64-bit id (epoch and 32-bit xid) of `xid`, a 32-bit id within 2^31 of `reference`, a
    64-bit id. PostgreSQL 15 reports in-flight ids without their epoch."""
    behind = ((reference & 0xFFFF_FFFF) - xid) % (1 << 32)
    if behind >= 1 << 31:  # ahead of the reference, not far behind it
        behind -= 1 << 32
    return reference - behind


def _latest_note_hash(conn: Connection) -> bytes | None:
    note = conn.execute(select(checkpoints_table.c.note)
                        .order_by(checkpoints_table.c.tree_size.desc()).limit(1)).scalar()
    return None if note is None else note_hash(note)


def republish(engine: Engine, checkpoint_dir: Path, key: Ed25519PrivateKey) -> int:
    """Publish checkpoints committed but not yet written outside (a crash between the two)."""
    newest = _newest_published(checkpoint_dir, key)
    with engine.connect() as conn:
        notes = conn.execute(select(checkpoints_table.c.note)
                             .where(checkpoints_table.c.tree_size > newest)
                             .order_by(checkpoints_table.c.tree_size)).scalars().all()
    for note in notes:
        publish(checkpoint_dir, open_checkpoint(note, key.public_key()))
    return len(notes)


def _newest_published(checkpoint_dir: Path, key: Ed25519PrivateKey) -> int:
    """The size of the newest checkpoint published outside the database (0: none). Reads that
    one note only (`published_notes` order: file names are the zero-padded size), not every
    note ever published: the sealer asks before every pass."""
    if not checkpoint_dir.is_dir():
        return 0
    newest = max(checkpoint_dir.glob("*.note"), default=None)
    if newest is None:
        return 0
    return open_checkpoint(newest.read_text(encoding="utf-8"), key.public_key()).size


@contextmanager
def sealer_guard(engine: Engine) -> Iterator[None]:
    """Hold the one-sealer guard for the block; raise SealerBusy if another sealer has it.

    PostgreSQL: a session advisory lock (released if the process dies). SQLite: an exclusive
    flock on a file beside the database (likewise released by the kernel on death).
    """
    if is_sqlite(engine):
        path = Path(f"{engine.url.database}.sealer.lock")
        with open(path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SealerBusy(f"another sealer holds {path}") from None
            yield
        return
    with engine.connect() as conn:
        if not conn.execute(select(text(f"pg_try_advisory_lock({_ADVISORY_KEY})"))).scalar():
            raise SealerBusy("another sealer holds the PostgreSQL advisory lock")
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
            conn.commit()


def run_sealer(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path,
               stop: threading.Event, interval: float = 1.0,
               on_start: Callable[[], None] = lambda: None) -> None:
    """Seal every `interval` seconds until `stop` is set. Holds the guard throughout and calls
    `on_start` once it has it."""
    with sealer_guard(engine):
        on_start()
        while not stop.is_set():
            started = time.monotonic()
            seal_pending(engine, key, checkpoint_dir)
            # every `interval` from the start of one pass to the next, so a pass's own time
            # does not add to the wait (seal lag stays near one interval under load)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

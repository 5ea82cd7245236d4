"""Reading the live database for verification and export.

Full verification reads every leaf and every event of the log. The leaves and the tree are
cheap; re-encoding and hashing the events is most of the work, so on a large log it runs in
worker processes (see `audit.event_hashing`) while this process streams the leaves and
rebuilds the tree. Every process reads the same snapshot of the log.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Select, select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import published_files, published_notes
from audit.engine import is_sqlite
from audit.event_hashing import driver_connection, hashed_event_batches
from audit.merkle import leaf_hash
from audit.query import driver_rows
from audit.schema import checkpoints_table, events_table, nodes_table
from audit.settings import BACKDATE_ALLOWANCE_US, SEAL_LAG_WARNING_US
from audit.statements import check_statements
from audit.status import seal_lag_us
from audit.tree import TILE
from audit.verification import (
    HashedEvent,
    LeafBatch,
    Progress,
    Report,
    SourcedNote,
    verify_batches,
)

STREAM = {"yield_per": 10_000, "stream_results": True}


FETCH = 10_000  # rows per round trip when streaming
LEAF_FETCH = 32 * TILE  # leaves per round trip: whole tiles, so the tree takes them at once


def events_in_commit_order(conn: Connection) -> Iterator[tuple[int, tuple[object, ...]]]:
    """(id, FIELDS-ordered values) for every event, in the order the sealer seals them."""
    e = events_table.c
    order = (e.id,) if is_sqlite(conn) else (e.txid, e.id)
    query = select(e.id, *[e[name] for name in FIELDS]).order_by(*order)
    if not is_sqlite(conn):  # psycopg already hands jsonb over as Python values
        for row in _raw_rows(conn, query, "gatehouse_events"):
            yield row[0], row[1:]
        return
    loads = json.loads  # SQLite keeps `details` as JSON text: what SQLAlchemy's JSON type reads
    for row in _raw_rows(conn, query, "gatehouse_events"):
        yield row[0], (*row[1:-1], loads(row[-1]))


def _raw_rows(conn: Connection, query: Select[Any], name: str) -> Iterator[tuple[Any, ...]]:
    """Every row of a parameterless `query` as plain driver tuples, streamed in `FETCH`-row
    round trips inside `conn`'s transaction (a server-side cursor on PostgreSQL).

    Verification reads every row of the log twice: SQLAlchemy's per-row Result machinery
    cost more than the hashing itself, so these scans go straight to the driver. The columns
    read need no conversion beyond the driver's own (integers, text, bytes; `details` is
    decoded by the caller where the driver leaves it as text)."""
    return driver_rows(conn, query, name, FETCH)  # shared with the export's stream


def hashed_events(conn: Connection) -> Iterator[HashedEvent]:
    for event_id, record in events_in_commit_order(conn):
        yield HashedEvent(event_id, leaf_hash(canonical_bytes(record)))


def all_notes(conn: Connection, checkpoint_dir: Path) -> list[str]:
    """Checkpoints from the database and from outside it: truncation shows as a difference."""
    return [*conn.execute(select(checkpoints_table.c.note)).scalars(),
            *published_notes(checkpoint_dir)]


def database_notes(conn: Connection) -> list[SourcedNote]:
    """Every checkpoint row, as found: its note, and the size it is filed under."""
    cp = checkpoints_table.c
    return [SourcedNote(note, f"checkpoint row tree_size={size}", int(size))
            for size, note in conn.execute(select(cp.tree_size, cp.note))]


def _filed_size(path: Path) -> int | None:
    """The size a published file's name claims (`publish` names it by the zero-padded size)."""
    return int(path.stem) if path.stem.isdigit() and path.stem.isascii() else None


def verify_database(engine: Engine, public: Ed25519PublicKey, checkpoint_dir: Path,
                    progress: Progress | None = None, workers: int | None = None,
                    backdate_allowance_us: int = BACKDATE_ALLOWANCE_US,
                    seal_lag_warning_us: int = SEAL_LAG_WARNING_US) -> Report:
    """Verify the sealed log against the checkpoints in the database and in `checkpoint_dir`.

    Reads in one snapshot (REPEATABLE READ on PostgreSQL, a read transaction on SQLite), so the
    sealer and the console keep running meanwhile; the report's tree size is the snapshot's.
    `progress` gets the leaves checked so far. `workers`: processes that hash events (0: all
    in this one; None: chosen from the log's size and the machine, see `_worker_count`).
    """
    # Listed before the snapshot starts: everything published was committed first, so no
    # checkpoint found here can be newer than the snapshot (one sealed meanwhile would
    # otherwise look like a truncated log).
    published = [SourcedNote(text, f"checkpoint file {path.name}", _filed_size(path))
                 for path, text in published_files(checkpoint_dir)]
    options = {} if is_sqlite(engine) else {"isolation_level": "REPEATABLE READ"}
    with _collector_frozen(), engine.connect().execution_options(**options) as conn, \
            conn.begin():
        notes = [*database_notes(conn), *published]
        nodes = {(lv, ix): bytes(h) for lv, ix, h in conn.execute(
            select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash))}
        with hashed_event_batches(conn, workers) as events, \
                closing(_leaf_batches(conn)) as leaves:
            report = verify_batches(leaves, events, notes, public, nodes, progress,
                                    backdate_allowance_us)
        check_statements(conn, checkpoint_dir, public, report)
        lag = seal_lag_us(conn)
        if lag is not None and lag > seal_lag_warning_us:
            report.warnings.append(
                f"seal lag {lag // 1_000_000} s: the oldest unsealed event is older than the "
                f"{seal_lag_warning_us // 1_000_000} s threshold (is the sealer running, or is "
                "a transaction holding the horizon?)")
        return report




@contextmanager
def _collector_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off every object that existed before the block.

    Verification makes millions of short-lived rows, and each time they tripped a full
    collection the collector walked the whole heap of the process (a console or CLI that has
    imported SQLAlchemy and more): a third of the time. A forked worker would also copy
    every page of that heap the collector touched. What verification makes is still
    collected; what was there before is looked at again once the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _leaf_batches(conn: Connection) -> Generator[LeafBatch, None, None]:
    raw = driver_connection(conn)
    # The leaves alone: the backdating check takes each event's time from the event reader,
    # which reads the row anyway (`audit.event_hashing`), not from a join per leaf.
    sql = "SELECT seq, event_id, leaf_hash FROM audit_leaves ORDER BY seq"
    with closing(raw.cursor() if is_sqlite(conn) else raw.cursor(name="gatehouse_leaves")) as c:
        c.execute(sql)
        while rows := c.fetchmany(LEAF_FETCH):
            seqs, ids, hashes = zip(*rows, strict=True)  # bytea, BLOB: both bytes
            yield LeafBatch(seqs, hashes, ids)

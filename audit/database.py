"""Reading the live database for verification and export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Select, select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import published_notes
from audit.engine import is_sqlite
from audit.merkle import leaf_hash
from audit.query import driver_rows
from audit.schema import checkpoints_table, events_table, leaves_table, nodes_table
from audit.verify import HashedEvent, Leaf, Progress, Report, verify_log

STREAM = {"yield_per": 10_000, "stream_results": True}


FETCH = 10_000  # rows per round trip when streaming


def stored_leaves(conn: Connection) -> Iterator[Leaf]:
    query = select(leaves_table.c.seq, leaves_table.c.leaf_hash).order_by(leaves_table.c.seq)
    for seq, digest in _raw_rows(conn, query, "gatehouse_leaves"):
        yield Leaf(seq, bytes(digest))


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


def verify_database(engine: Engine, public: Ed25519PublicKey, checkpoint_dir: Path,
                    progress: Progress | None = None) -> Report:
    """Verify the sealed log against the checkpoints in the database and in `checkpoint_dir`.

    Reads in one snapshot (REPEATABLE READ on PostgreSQL, a read transaction on SQLite), so the
    sealer and the console keep running meanwhile. `progress` gets the leaves checked so far.
    """
    options = {} if is_sqlite(engine) else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        notes = all_notes(conn, checkpoint_dir)
        nodes = {(lv, ix): bytes(h) for lv, ix, h in conn.execute(
            select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash))}
        return verify_log(stored_leaves(conn), hashed_events(conn), notes, public, nodes,
                          progress)

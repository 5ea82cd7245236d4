"""Reading the live database for verification and export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import published_notes
from audit.engine import is_sqlite
from audit.merkle import leaf_hash
from audit.schema import checkpoints_table, events_table, leaves_table, nodes_table
from audit.verify import HashedEvent, Leaf, Report, verify_log

STREAM = {"yield_per": 10_000, "stream_results": True}


def stored_leaves(conn: Connection) -> Iterator[Leaf]:
    query = select(leaves_table.c.seq, leaves_table.c.leaf_hash).order_by(leaves_table.c.seq)
    for seq, digest in conn.execution_options(**STREAM).execute(query):
        yield Leaf(seq, bytes(digest))


def events_in_commit_order(conn: Connection) -> Iterator[tuple[int, tuple[object, ...]]]:
    """(id, FIELDS-ordered values) for every event, in the order the sealer seals them."""
    e = events_table.c
    order = (e.id,) if is_sqlite(conn) else (e.txid, e.id)
    query = select(e.id, *[e[name] for name in FIELDS]).order_by(*order)
    for row in conn.execution_options(**STREAM).execute(query):
        yield row[0], tuple(row[1:])


def hashed_events(conn: Connection) -> Iterator[HashedEvent]:
    for event_id, record in events_in_commit_order(conn):
        yield HashedEvent(event_id, leaf_hash(canonical_bytes(record)))


def all_notes(conn: Connection, checkpoint_dir: Path) -> list[str]:
    """Checkpoints from the database and from outside it: truncation shows as a difference."""
    return [*conn.execute(select(checkpoints_table.c.note)).scalars(),
            *published_notes(checkpoint_dir)]


def verify_database(engine: Engine, public: Ed25519PublicKey, checkpoint_dir: Path) -> Report:
    """Verify the sealed log against the checkpoints in the database and in `checkpoint_dir`.

    Reads in one snapshot (REPEATABLE READ on PostgreSQL, a read transaction on SQLite), so the
    sealer and the console keep running meanwhile.
    """
    options = {} if is_sqlite(engine) else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        notes = all_notes(conn, checkpoint_dir)
        nodes = {(lv, ix): bytes(h) for lv, ix, h in conn.execute(
            select(nodes_table.c.level, nodes_table.c.idx, nodes_table.c.hash))}
        return verify_log(stored_leaves(conn), hashed_events(conn), notes, public, nodes)

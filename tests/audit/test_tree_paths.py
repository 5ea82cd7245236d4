"""Batched inclusion paths (what a proved report reads) equal the paths read one at a time and
the paths computed from every leaf."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from audit.merkle import inclusion_path, root_of
from audit.schema import leaves_table
from audit.sealer import seal_pending
from audit.tree import StoredTree
from tests.support.audit_helpers import write_events
from tests.support.databases import Database


def test_batched_paths_equal_single_paths_and_brute_force(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(db, 1300, per_transaction=100)
    seal_pending(db.engine, signing_key, checkpoint_dir, batch_size=500)  # nodes 8, 9, 10
    with db.engine.connect() as conn:
        leaves = [bytes(h) for h in conn.execute(
            select(leaves_table.c.leaf_hash).order_by(leaves_table.c.seq)).scalars()]
        indexes = [0, 1, 7, 255, 256, 499, 700, 1023, 1024, 1299, 3, 1298]
        for size in (1300, 1000, 500):
            wanted = [i for i in indexes if i < size]
            batched = StoredTree(conn).inclusion_paths(wanted, size, batch=5)
            single = [StoredTree(conn).inclusion_path(i, size) for i in wanted]
            brute = [inclusion_path(i, size, lambda a, b: root_of(leaves[a:b]))
                     for i in wanted]
            assert batched == single == brute

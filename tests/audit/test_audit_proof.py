"""Inclusion proofs from the stored tree verify, and fail for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, select

from audit.merkle import inclusion_path, root_of, verify_inclusion
from audit.proof import NotSealed, inclusion_proof, proof_holds
from audit.schema import leaves_table, nodes_table
from audit.sealer import seal_pending
from audit.tree import StoredTree
from tests.support.audit_helpers import write_events
from tests.support.databases import Database


@pytest.fixture
def big_log(sqlite_db: Database, signing_key: Ed25519PrivateKey,
            checkpoint_dir: Path) -> list[int]:
    """1,300 events sealed in batches of 500: stored nodes at levels 8, 9 and 10."""
    ids = write_events(sqlite_db, 1300, per_transaction=100)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir, batch_size=500)
    return ids


def _all_leaves(db: Database) -> list[bytes]:
    with db.engine.connect() as conn:
        return [bytes(h) for h in conn.execute(
            select(leaves_table.c.leaf_hash).order_by(leaves_table.c.seq)).scalars()]


def test_stored_subtrees_equal_a_brute_force_recomputation(sqlite_db: Database,
                                                           big_log: list[int]) -> None:
    leaves = _all_leaves(sqlite_db)
    with sqlite_db.engine.connect() as conn:
        tree = StoredTree(conn)
        levels = set(conn.execute(select(nodes_table.c.level)).scalars())
        assert levels == {8, 9, 10}
        for start, end in [(0, 1300), (0, 1024), (256, 512), (1024, 1300), (3, 1297),
                           (500, 1000)]:
            assert tree.subtree(start, end) == root_of(leaves[start:end])
        assert tree.frontier(1300).root() == root_of(leaves)


@pytest.mark.parametrize("index", [0, 1, 255, 256, 700, 1023, 1024, 1299])
def test_proofs_from_storage_equal_proofs_from_all_leaves(
        sqlite_db: Database, big_log: list[int], signing_key: Ed25519PrivateKey,
        index: int) -> None:
    leaves = _all_leaves(sqlite_db)
    proof = inclusion_proof(sqlite_db.engine, big_log[index], signing_key.public_key())
    assert proof.leaf_index == index
    assert proof.checkpoint.size == 1300
    assert proof.path == inclusion_path(index, 1300, lambda a, b: root_of(leaves[a:b]))
    assert proof_holds(proof, signing_key.public_key())


def test_a_proof_fails_for_another_event(sqlite_db: Database, big_log: list[int],
                                         signing_key: Ed25519PrivateKey) -> None:
    proof = inclusion_proof(sqlite_db.engine, big_log[700], signing_key.public_key())
    other = inclusion_proof(sqlite_db.engine, big_log[701], signing_key.public_key())
    size, root = proof.checkpoint.size, proof.checkpoint.root
    assert not verify_inclusion(other.leaf_hash, proof.leaf_index, size, proof.path, root)


def test_a_proof_fails_against_another_checkpoint(sqlite_db: Database, big_log: list[int],
                                                  signing_key: Ed25519PrivateKey) -> None:
    public = signing_key.public_key()
    newest = inclusion_proof(sqlite_db.engine, big_log[100], public)
    older = inclusion_proof(sqlite_db.engine, big_log[100], public, tree_size=500)
    assert older.checkpoint.size == 500 and proof_holds(older, public)
    assert not verify_inclusion(newest.leaf_hash, newest.leaf_index, older.checkpoint.size,
                                newest.path, older.checkpoint.root)


def test_a_proof_fails_under_another_key(sqlite_db: Database, big_log: list[int],
                                         signing_key: Ed25519PrivateKey) -> None:
    proof = inclusion_proof(sqlite_db.engine, big_log[5], signing_key.public_key())
    assert not proof_holds(proof, Ed25519PrivateKey.generate().public_key())


def test_an_unsealed_event_has_no_proof(sqlite_db: Database, big_log: list[int],
                                        signing_key: Ed25519PrivateKey) -> None:
    late = write_events(sqlite_db, 1, start=5000)[0]
    with pytest.raises(NotSealed):
        inclusion_proof(sqlite_db.engine, late, signing_key.public_key())


@pytest.mark.parametrize("tree_size", [1000, 777])
def test_no_proof_against_a_checkpoint_that_does_not_cover_the_event(
        sqlite_db: Database, big_log: list[int], signing_key: Ed25519PrivateKey,
        tree_size: int) -> None:
    """1000: an older checkpoint, before leaf 1299 was sealed; 777: no checkpoint has it."""
    assert inclusion_proof(sqlite_db.engine, big_log[999], signing_key.public_key(),
                           tree_size=1000).checkpoint.size == 1000
    with pytest.raises(NotSealed, match="no checkpoint covers"):
        inclusion_proof(sqlite_db.engine, big_log[1299], signing_key.public_key(), tree_size)


@pytest.mark.parametrize(("index", "size"), [
    (0, 1), (0, 2), (1, 2), (254, 255), (255, 256), (256, 257), (0, 1000), (999, 1000),
    (767, 1000), (768, 1000), (513, 1299), (1299, 1300), (0, 1300), (1024, 1025)])
def test_a_prefetched_path_equals_the_brute_force_path_in_one_read(
        sqlite_db: Database, big_log: list[int], index: int, size: int) -> None:
    """Older checkpoints included (size below the tree's), whose last tile is full in the
    database but partial in the tree of that size."""
    leaves = _all_leaves(sqlite_db)
    statements: list[str] = []
    with sqlite_db.engine.connect() as conn:
        event.listen(conn, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))
        path = StoredTree(conn).inclusion_path(index, size)
    assert path == inclusion_path(index, size, lambda a, b: root_of(leaves[a:b]))
    assert len([s for s in statements if s.startswith("SELECT")]) <= 1, statements

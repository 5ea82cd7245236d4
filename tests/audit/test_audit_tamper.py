"""Every kind of tampering is detected and named, by its first bad leaf and its kind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import sign_checkpoint
from audit.database import verify_database
from audit.merkle import Frontier, leaf_hash
from audit.schema import events_table, leaves_table
from audit.verify import Report
from tests.support.audit_helpers import seal_everything, tamper, write_events
from tests.support.databases import Database


class Sealed:
    """A log of 50 events sealed in two checkpoints (40, then 50), published outside."""

    def __init__(self, db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
        self.db, self.key, self.dir = db, key, checkpoint_dir
        self.ids = write_events(db, 40)
        seal_everything(db, key, checkpoint_dir)
        self.ids += write_events(db, 10, start=40)
        seal_everything(db, key, checkpoint_dir)

    def verify(self) -> Report:
        return verify_database(self.db.engine, self.key.public_key(), self.dir)

    def blob(self, data: bytes) -> str:
        return f"X'{data.hex()}'" if self.db.kind == "sqlite" else f"'\\x{data.hex()}'::bytea"


@pytest.fixture
def log(db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> Sealed:
    return Sealed(db, signing_key, checkpoint_dir)


def test_an_untouched_log_verifies(log: Sealed) -> None:
    report = log.verify()
    assert report.ok, report.problems
    assert report.tree_size == 50
    assert [c.size for c in report.checkpoints] == [40, 50]


def modify(log: Sealed) -> list[str]:
    return [f"UPDATE audit_events SET reason = 'nothing to see' WHERE id = {log.ids[17]}"]


def delete_middle(log: Sealed) -> list[str]:
    return [f"DELETE FROM audit_events WHERE id = {log.ids[17]}"]


def insert_forged(log: Sealed) -> list[str]:
    """Make room after event 16 and slip a forged approval in, in its commit position."""
    before, gap = log.ids[16], log.ids[16] + 1
    columns = [c for c in FIELDS if c not in ("action", "reason")] + ["txid"]
    return [f"UPDATE audit_events SET id = id + 100000 WHERE id > {before}",
            f"INSERT INTO audit_events (id, action, reason, {', '.join(columns)}) "
            f"SELECT {gap}, 'request.approved', 'forged', {', '.join(columns)} "
            f"FROM audit_events WHERE id = {before}"]


def swap(log: Sealed) -> list[str]:
    """Exchange the places (id and, on PostgreSQL, transaction id) of events 17 and 18."""
    a, b = log.ids[17], log.ids[18]
    return [f"UPDATE audit_events SET txid = (SELECT x.txid FROM audit_events x "
            f"WHERE x.id = {a + b} - audit_events.id) WHERE id IN ({a}, {b})",
            f"UPDATE audit_events SET id = -1 WHERE id = {a}",
            f"UPDATE audit_events SET id = {a} WHERE id = {b}",
            f"UPDATE audit_events SET id = {b} WHERE id = -1"]


def truncate_tail(log: Sealed) -> list[str]:
    """Remove the last ten events with their leaves and checkpoint: consistent, but the
    published checkpoint of size 50 outside the database remembers them."""
    return [f"DELETE FROM audit_events WHERE id > {log.ids[39]}",
            "DELETE FROM audit_leaves WHERE seq >= 40",
            "DELETE FROM audit_checkpoints WHERE tree_size > 40"]


def delete_leaf(log: Sealed) -> list[str]:
    return [f"DELETE FROM audit_events WHERE id = {log.ids[17]}",
            "DELETE FROM audit_leaves WHERE seq = 17"]


@pytest.mark.parametrize(("damage", "kind", "leaf"), [
    (modify, "modified", 17),
    (delete_middle, "missing", 17),
    (insert_forged, "inserted", 17),
    (swap, "reordered", 17),
    (truncate_tail, "truncated", 40),
    (delete_leaf, "missing", 17),
])
def test_tampering_is_named_at_its_first_bad_leaf(
        log: Sealed, damage: Callable[[Sealed], list[str]], kind: str, leaf: int) -> None:
    tamper(log.db, damage(log))
    first = log.verify().first_problem
    assert first is not None
    assert (first.kind, first.leaf_index) == (kind, leaf), first.detail


def test_a_checkpoint_with_a_bad_signature_is_named(log: Sealed) -> None:
    tamper(log.db, ["UPDATE audit_checkpoints SET note = replace(note, 'time ', 'time 1') "
                    "WHERE tree_size = 40"])
    kinds = {p.kind for p in log.verify().problems}
    assert "bad-signature" in kinds


def _rewrite_leaf_17(log: Sealed) -> list[str]:
    """Change event 17 and recompute its leaf hash: rows and leaves agree again."""
    statements = modify(log)
    tamper(log.db, statements)
    with log.db.engine.connect() as conn:
        row = conn.execute(select(*[events_table.c[n] for n in FIELDS])
                           .where(events_table.c.id == log.ids[17])).one()
    new_leaf = leaf_hash(canonical_bytes(tuple(row)))
    return [f"UPDATE audit_leaves SET leaf_hash = {log.blob(new_leaf)} WHERE seq = 17"]


def test_recomputed_hashes_without_the_signing_key_are_caught(log: Sealed) -> None:
    tamper(log.db, _rewrite_leaf_17(log))
    first = log.verify().first_problem
    assert first is not None
    assert (first.kind, first.leaf_index) == ("rewritten", 0)


def test_a_history_rewritten_and_resigned_with_another_key_is_caught(log: Sealed) -> None:
    """The attacker owns the database, recomputes every hash and signs new checkpoints with a
    key of their own; the published checkpoints and the pinned public key expose it."""
    tamper(log.db, _rewrite_leaf_17(log))
    with log.db.engine.connect() as conn:
        leaves = [bytes(h) for h in conn.execute(
            select(leaves_table.c.leaf_hash).order_by(leaves_table.c.seq)).scalars()]
    forger, frontier, prev = Ed25519PrivateKey.generate(), Frontier(), None
    statements = ["DELETE FROM audit_checkpoints"]
    for i, digest in enumerate(leaves, start=1):
        frontier.append(digest)
        if i in (40, 50):
            forged = sign_checkpoint(forger, i, frontier.root(), 0, prev)
            prev = forged.note_hash
            note = forged.note.replace("'", "''")
            statements.append(
                f"INSERT INTO audit_checkpoints (tree_size, root, ts_us, note) VALUES "
                f"({i}, {log.blob(forged.root)}, 0, '{note}')")
    tamper(log.db, statements)
    report = log.verify()
    kinds = {p.kind for p in report.problems}
    assert {"bad-signature", "rewritten"} <= kinds
    assert not report.ok

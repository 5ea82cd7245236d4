"""Inclusion proofs: show that one event is inside a signed checkpoint (RFC 6962 §2.1.1)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import Checkpoint, CheckpointInvalid, open_checkpoint
from audit.merkle import leaf_hash, verify_inclusion
from audit.schema import checkpoints_table, events_table, leaves_table
from audit.status import newest_signed_note
from audit.tree import StoredTree


class NotSealed(LookupError):
    """The event does not exist, or no checkpoint covers it yet."""


@dataclass(frozen=True)
class InclusionProof:
    event_id: int
    leaf_index: int
    leaf_hash: bytes  # recomputed from the event row, not read from audit_leaves
    path: list[bytes]
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, object]:
        return {"event_id": self.event_id, "leaf_index": self.leaf_index,
                "tree_size": self.checkpoint.size, "leaf_hash": self.leaf_hash.hex(),
                "path": [h.hex() for h in self.path], "checkpoint": self.checkpoint.note}


def inclusion_proof(engine: Engine, event_id: int, public: Ed25519PublicKey,
                    tree_size: int | None = None) -> InclusionProof:
    """Prove `event_id` is in the checkpoint of `tree_size` (default: the newest one)."""
    e, lf, cp = events_table.c, leaves_table.c, checkpoints_table.c
    # The checkpoint comes with the event, in the same round trip: sizes only grow, so if the
    # newest (or the asked-for) checkpoint does not cover the leaf, none does.
    notes = select(cp.note).order_by(cp.tree_size.desc()).limit(1)
    notes = notes.where(cp.tree_size == tree_size) if tree_size else notes
    with engine.connect() as conn:
        row = conn.execute(select(lf.seq, notes.scalar_subquery(), *[e[n] for n in FIELDS])
                           .join(events_table, e.id == lf.event_id)
                           .where(lf.event_id == event_id)).first()
        if row is None:
            raise NotSealed(f"event {event_id} is not sealed")
        checkpoint = _signed(row[1], public, tree_size)
        if tree_size is None and (checkpoint is None or checkpoint.size <= row.seq):
            # the newest row is junk (a note that does not verify, or a valid old one filed
            # under a huge size): the newest row that signs its own size, below it
            note = newest_signed_note(conn, public, above=row.seq)
            checkpoint = None if note is None else open_checkpoint(note, public)
        if checkpoint is None or checkpoint.size <= row.seq:
            raise NotSealed(f"no checkpoint covers event {event_id}")
        path = StoredTree(conn).inclusion_path(row.seq, checkpoint.size)
    return InclusionProof(event_id, row.seq, leaf_hash(canonical_bytes(tuple(row[2:]))), path,
                          checkpoint)


def _signed(note: str | None, public: Ed25519PublicKey, filed: int | None
            ) -> Checkpoint | None:
    """`note` opened, if it verifies (and signs `filed`, when the size was asked for)."""
    try:
        checkpoint = None if note is None else open_checkpoint(note, public)
    except CheckpointInvalid:
        return None
    return checkpoint if checkpoint is None or filed in (None, checkpoint.size) else None


def proof_holds(proof: InclusionProof, public: Ed25519PublicKey) -> bool:
    """True when the checkpoint is signed by `public` and the path leads to its root."""
    try:
        checkpoint = open_checkpoint(proof.checkpoint.note, public)
    except CheckpointInvalid:
        return False
    return verify_inclusion(proof.leaf_hash, proof.leaf_index, checkpoint.size, proof.path,
                            checkpoint.root)

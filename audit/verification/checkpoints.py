"""The signed checkpoints: which open under the pinned key, and whether they form one chain.

A checkpoint comes from a database row or a file, and each says what size it holds (the row's
`tree_size`, the file's name). Only the signed note is trusted: a row or file that does not
verify is named by where it is and its length, never by its text (which is whatever the
person who wrote it chose, terminal escapes included); a signed note filed under another size
is named as misfiled, and counts at the size it signs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import Checkpoint, CheckpointInvalid, open_checkpoint
from audit.verification.report import DamageKind, Report


@dataclass(frozen=True)
class SourcedNote:
    """A note as found: its text, where it was (for the report), the size it is filed under."""

    text: str
    where: str
    claimed_size: int | None = None


def sourced(notes: Iterable[str | SourcedNote]) -> list[SourcedNote]:
    return [n if isinstance(n, SourcedNote) else SourcedNote(n, "a checkpoint note")
            for n in notes]


def check_checkpoints(notes: Iterable[str | SourcedNote], public: Ed25519PublicKey,
                      report: Report) -> dict[int, Checkpoint]:
    """Valid checkpoints by their signed size; every other finding goes into `report`."""
    signed: dict[int, Checkpoint] = {}
    opened: dict[str, Checkpoint | None] = {}
    for note in sourced(notes):
        if note.text not in opened:
            try:
                opened[note.text] = open_checkpoint(note.text, public)
            except CheckpointInvalid:
                opened[note.text] = None
        checkpoint = opened[note.text]
        if checkpoint is None:
            report.add(DamageKind.BAD_SIGNATURE, None,
                       f"{note.where} ({len(note.text.encode())} bytes) does not verify")
            continue
        if note.claimed_size is not None and note.claimed_size != checkpoint.size:
            report.add(DamageKind.MISFILED, None,
                       f"{note.where} holds the signed checkpoint of size {checkpoint.size}")
        other = signed.get(checkpoint.size)
        if other is not None and other.note != checkpoint.note:
            report.add(DamageKind.FORKED, None,
                       f"two different signed checkpoints of size {checkpoint.size}")
        signed[checkpoint.size] = checkpoint
    previous: Checkpoint | None = None
    for size in sorted(signed):
        if signed[size].prev != (previous.note_hash if previous else None):
            report.add(DamageKind.BROKEN_CHAIN, None,
                       f"checkpoint of size {size} does not follow the one before it")
        previous = signed[size]
    return signed

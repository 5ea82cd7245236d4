"""Export bundles: the sealed log, its checkpoints and the public key, verifiable offline.

Layout of a bundle directory:

    manifest.json          format, tree size, event count, key fingerprint
    events.jsonl           one sealed event per line, in leaf order:
                           {"seq", "event_id", "leaf_hash" (hex), "event": {stored fields}}
    checkpoints/*.note     every signed checkpoint (C2SP signed notes)
    audit-signing.pub      the Ed25519 public key (PEM); pin it with --public-key

Only events covered by the newest checkpoint are exported, so every line is provable.
Rows stream through a server-side cursor and are written as they come: memory stays flat.
Every file and folder of the bundle is created new and private (`audit.private_files`): a
symlink or file planted where one is to go is refused (`PathTaken`), never followed or
overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, select

from audit.canonical import ENCODING_VERSION, FIELDS, canonical_bytes
from audit.checkpoint import (
    Checkpoint,
    CheckpointInvalid,
    fingerprint,
    load_public_key,
    open_checkpoint,
    public_pem,
    published_notes,
)
from audit.database import STREAM, all_notes
from audit.merkle import leaf_hash
from audit.private_files import open_private, private_folder
from audit.schema import events_table, leaves_table
from audit.verify import HashedEvent, Leaf, Report, verify_log

FORMAT = "gatehouse-audit-bundle/1"
KEY_FILE = "audit-signing.pub"


@dataclass(frozen=True)
class ExportResult:
    events: int
    tree_size: int


def export_bundle(engine: Engine, out: Path, public: Ed25519PublicKey,
                  checkpoint_dir: Path) -> ExportResult:
    """Write a bundle of everything up to the newest checkpoint into `out` (created if absent;
    if present, a real directory in which none of the bundle's names exist yet)."""
    private_folder(out)
    with engine.connect() as conn, conn.begin():
        checkpoints = _signed(set(all_notes(conn, checkpoint_dir)), public)
        size = max(checkpoints, default=0)
        count = 0
        with open_private(out / "events.jsonl", "w", encoding="ascii") as lines:
            for line in _lines(conn, size):
                lines.write(line)
                count += 1
    notes = private_folder(out / "checkpoints")
    for checkpoint in checkpoints.values():  # named as `checkpoint.publish` names them
        _write(notes / f"{checkpoint.size:016d}.note", checkpoint.note.encode())
    _write(out / KEY_FILE, public_pem(public))
    manifest = {"format": FORMAT, "encoding_version": ENCODING_VERSION, "tree_size": size,
                "events": count, "public_key": fingerprint(public)}
    _write(out / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return ExportResult(count, size)


def _signed(notes: set[str], public: Ed25519PublicKey) -> dict[int, Checkpoint]:
    """The notes that verify under `public`, by tree size. Junk (a planted file, a forged row)
    is left out rather than failing the export: whoever can write the checkpoint folder or
    table must not be able to stop auditors exporting, and `verify` names the junk."""
    found: dict[int, Checkpoint] = {}
    for note in notes:
        try:
            checkpoint = open_checkpoint(note, public)
        except CheckpointInvalid:
            continue
        found[checkpoint.size] = checkpoint
    return found


def _write(path: Path, data: bytes) -> None:
    with open_private(path) as out:
        out.write(data)


def _lines(conn: Connection, size: int) -> Iterator[str]:
    """One JSON line per leaf below `size`, with its event's stored values (null if gone)."""
    e, lf = events_table.c, leaves_table.c
    query = (select(lf.seq, lf.event_id, lf.leaf_hash, e.id, *[e[n] for n in FIELDS])
             .select_from(leaves_table.outerjoin(events_table, e.id == lf.event_id))
             .where(lf.seq < size).order_by(lf.seq))
    for row in conn.execution_options(**STREAM).execute(query):
        event = None if row[3] is None else dict(zip(FIELDS, row[4:], strict=True))
        yield json.dumps({"seq": row[0], "event_id": row[1], "leaf_hash": bytes(row[2]).hex(),
                          "event": event}, ensure_ascii=True, separators=(",", ":")) + "\n"


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with open(path / "events.jsonl", encoding="ascii") as lines:
        for text in lines:
            yield json.loads(text)


def _bundle_leaves(path: Path) -> Iterator[Leaf]:
    for item in _read(path):
        yield Leaf(item["seq"], bytes.fromhex(item["leaf_hash"]))


def _bundle_events(path: Path) -> Iterator[HashedEvent]:
    for item in _read(path):
        if item["event"] is not None:
            record = tuple(item["event"][name] for name in FIELDS)
            yield HashedEvent(item["event_id"], leaf_hash(canonical_bytes(record)))


def verify_bundle(path: Path, public_key: Path | None = None) -> Report:
    """Verify a bundle offline. Without `public_key` the bundle's own key is used: compare its
    fingerprint with the one you trust (the CLI prints it)."""
    public = load_public_key(public_key or path / KEY_FILE)
    return verify_log(_bundle_leaves(path), _bundle_events(path),
                      published_notes(path / "checkpoints"), public)

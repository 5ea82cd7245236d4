"""Verification: the log as it is now, held against the log as it was sealed and signed.

Two checks run in one pass, the same for the live database and for a bundle:

1. The tree (`tree_check`). The stored leaf hashes, in leaf order, rebuild the RFC 6962 tree;
   its root must equal every signed checkpoint's root at that size, every checkpoint must carry
   a valid signature and name its predecessor (`checkpoints`), no published checkpoint may be
   larger than the log, and every stored subtree hash must agree.
2. The events (`compare`). Every event, in sealing order, is re-encoded and hashed and held
   against the leaf at its place; every place they part is named by leaf index, event id and
   a kind from the closed set `DamageKind` (`report`).

The report names every problem (counting all, keeping the first of each kind) and never
repeats text that failed verification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.settings import BACKDATE_ALLOWANCE_US
from audit.verification.backdating import ClockCheck
from audit.verification.batches import (
    DIGEST,
    Cursor,
    EventBatch,
    HashedEvent,
    Leaf,
    LeafBatch,
    event_batches,
    leaf_batches,
)
from audit.verification.checkpoints import SourcedNote, check_checkpoints
from audit.verification.compare import compare
from audit.verification.report import (
    DamageKind,
    Problem,
    Report,
    Unsealed,
    printable,
    render,
)
from audit.verification.tree_check import PROGRESS_EVERY, Progress, TreeCheck, sequenced

__all__ = [
    "DIGEST",
    "PROGRESS_EVERY",
    "DamageKind",
    "EventBatch",
    "HashedEvent",
    "Leaf",
    "LeafBatch",
    "Problem",
    "Progress",
    "Report",
    "SourcedNote",
    "Unsealed",
    "backdating",
    "batches",
    "checkpoints",
    "compare",
    "printable",
    "render",
    "report",
    "tree_check",
    "verify_batches",
    "verify_log",
]


def verify_log(leaves: Iterable[Leaf], events: Iterable[HashedEvent],
               notes: Iterable[str | SourcedNote], public: Ed25519PublicKey,
               stored_nodes: Mapping[tuple[int, int], bytes] | None = None,
               progress: Progress | None = None) -> Report:
    """Check sealed `leaves` (leaf order) and `events` (sealing order) against `notes`.

    `progress`, if given, is called with the number of leaves checked so far, every
    `PROGRESS_EVERY` leaves and once at the end. The same check as `verify_batches`, one item
    at a time (a bundle); ValueError if an event's digest is not 32 bytes.
    """
    return verify_batches(leaf_batches(leaves), event_batches(events), notes, public,
                          stored_nodes, progress)


def verify_batches(leaves: Iterable[LeafBatch], events: Iterable[EventBatch],
                   notes: Iterable[str | SourcedNote], public: Ed25519PublicKey,
                   stored_nodes: Mapping[tuple[int, int], bytes] | None = None,
                   progress: Progress | None = None,
                   backdate_allowance_us: int = BACKDATE_ALLOWANCE_US) -> Report:
    """`verify_log` over batches: the same report, problem for problem, however the input is
    cut. `events` is closed (its `close()` called, if it has one) once it has been read.
    Event batches that carry their events' times are also checked for backdating
    (`backdating`), each time against the leaf it is paired with."""
    report = Report()
    signed = check_checkpoints(notes, public, report)
    report.checkpoints = [signed[size] for size in sorted(signed)]
    tree = TreeCheck(signed, stored_nodes, report, progress)
    clock = ClockCheck(signed, backdate_allowance_us, report)

    event_cursor: Cursor[EventBatch] = Cursor(events)
    leaf_cursor = Cursor(sequenced(leaves, max(signed, default=0), report), tree.consumed)
    try:
        compare(event_cursor, leaf_cursor, report, clock)
    finally:
        event_cursor.close()
    tree.finish()
    return report

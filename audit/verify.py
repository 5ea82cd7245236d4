"""Verification's public names, where callers have always imported them from; the code is
the `audit.verification` package (one module per check)."""

from audit.verification import (
    DIGEST,
    PROGRESS_EVERY,
    DamageKind,
    EventBatch,
    HashedEvent,
    Leaf,
    LeafBatch,
    Problem,
    Progress,
    Report,
    SourcedNote,
    Unsealed,
    printable,
    render,
    verify_batches,
    verify_log,
)

__all__ = ["DIGEST", "PROGRESS_EVERY", "DamageKind", "EventBatch", "HashedEvent", "Leaf",
           "LeafBatch", "Problem", "Progress", "Report", "SourcedNote", "Unsealed",
           "printable", "render", "verify_batches", "verify_log"]

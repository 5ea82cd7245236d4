"""Compacting the sealer's signed statements: many files into one, keeping every piece of
evidence verification still needs.

The rule. Verification uses a statement for one thing: every id it saw committed must still be
an event (`vanished` if not; `audit.statements.check_statements`). An id needs no statement
once its event is sealed at a leaf below a signed checkpoint and that leaf verifies: from then
on the tree names its loss (`missing`, `modified`), signed checkpoint by signed checkpoint. So
a compaction of statements 0..N keeps, in one compacted statement numbered N, exactly the ids
those statements saw that are *not* sealed under the newest verified checkpoint (the events of
a window still held open), and drops the rest.

What it refuses. It runs a full verification first and compacts nothing unless the log is
intact: a vanished id, a statement file that does not verify, a broken chain, any damage to
the tree or the events. Evidence of damage is never folded away, and compaction cannot be used
to launder it: the files stay as they are until the damage is dealt with (`python -m audit
verify` names it). A compacted statement is signed with the sealer's key like any other, so
nobody without that key can write one; whoever can delete files in the directory could delete
statements before compaction too, and the chain names that (`broken-chain`).

Order of writing, so that a crash at any point loses nothing: the compacted statement first
replaces file N (atomically: temp file, fsync, rename), then the files before it are removed;
a crash in between leaves older statements beside it, which verification reads as extra
evidence. Statements the sealer publishes meanwhile (N+1, …) name statement N's hash, which
the compacted statement carries as `replaces`: the chain holds across compaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select

from audit.database import verify_database
from audit.events import to_micros
from audit.log import utc_now
from audit.schema import leaves_table
from audit.settings import BACKDATE_ALLOWANCE_US
from audit.statements import (
    Ranges,
    Statement,
    merged,
    publish_statement,
    ranges,
    read_statements,
    sign_statement,
    statement_files,
)
from audit.verification import Report, render

__all__ = ["Compaction", "CompactionRefused", "compact_statements"]


class CompactionRefused(RuntimeError):
    """The log does not verify: compacting now could fold away the evidence of it."""


@dataclass(frozen=True)
class Compaction:
    replaced: int  # statement files the compacted one stands for (0: nothing to compact)
    kept: Ranges  # ids still carried: seen, and not sealed under a verified checkpoint
    statement: Statement | None


def compact_statements(engine: Engine, key: Ed25519PrivateKey, directory: Path,
                       backdate_allowance_us: int = BACKDATE_ALLOWANCE_US,
                       workers: int | None = None) -> Compaction:
    """Compact the statement files in `directory` (see the module's rule); CompactionRefused,
    naming the damage, if the log does not verify. Fewer than two statements: nothing to do."""
    public = key.public_key()
    paths = statement_files(directory)  # listed before the snapshot: nothing newer than it
    listed = read_statements(directory, public, Report(), paths)
    if len(listed) != len(paths):
        raise CompactionRefused("a statement file does not verify, nothing was compacted: "
                                "run python -m audit verify")
    if len(listed) < 2:
        return Compaction(0, listed[0].ids if listed else (), None)
    report = verify_database(engine, public, directory, workers=workers,
                             backdate_allowance_us=backdate_allowance_us)
    if not report.ok:
        raise CompactionRefused("the log does not verify, nothing was compacted: "
                                + " / ".join(render(report)[:3]))
    signed_size = max((c.size for c in report.checkpoints), default=0)
    kept = _not_sealed(engine, merged(span for s in listed for span in s.ids), signed_size)
    last = listed[-1]
    statement = sign_statement(key, last.number, to_micros(utc_now()), last.sealed, kept,
                               None, replaces=last.link)
    kept_file = publish_statement(directory, statement)
    for path in paths:
        if path.name != kept_file.name:
            path.unlink(missing_ok=True)
    return Compaction(len(listed), kept, statement)


def _not_sealed(engine: Engine, seen: Ranges, signed_size: int) -> Ranges:
    """The ids of `seen` that are not the event of a leaf below `signed_size`."""
    leaves = leaves_table.c
    kept: list[int] = []
    with engine.connect() as conn:
        for start, end in seen:
            sealed = set(conn.execute(select(leaves.event_id).where(
                leaves.event_id.between(start, end), leaves.seq < signed_size)).scalars())
            kept += [i for i in range(start, end + 1) if i not in sealed]
    return ranges(kept)

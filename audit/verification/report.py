"""What verification found: a closed set of damage kinds, each problem at its leaf and event.

Every problem is counted; the first `MAX_PER_KIND` of each kind are kept with their detail, so
a flood of one kind (a million rows slipped in) cannot push another kind out of the report.
Details are made here, of numbers and fixed words: never of text read from the log or from a
checkpoint that failed verification. `render` escapes whatever it prints all the same, because
a checkpoint file's *name* is chosen by whoever can write the directory.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from audit.checkpoint import Checkpoint

MAX_PER_KIND = 20  # problems kept, with detail, per kind (every one is counted)
SHOWN_PER_KIND = 5  # of those, how many `render` prints
SHOWN_UNSEALED = 10


class DamageKind(StrEnum):
    """Every kind of damage verification can name. A closed set: add a kind here, document it
    in docs/security.md, and give it a test."""

    MODIFIED = "modified"  # an event no longer hashes to the leaf sealed at its place
    MISSING = "missing"  # a sealed event (or its leaf) is gone
    INSERTED = "inserted"  # an event never sealed sits inside the sealed history
    REORDERED = "reordered"  # events hash to leaves of other places (rows swapped)
    REWRITTEN = "rewritten"  # events and leaves agree, but not with the signed root
    TRUNCATED = "truncated"  # a signed checkpoint covers more leaves than the log has
    BAD_SIGNATURE = "bad-signature"  # a checkpoint row or file that does not verify
    MISFILED = "misfiled-checkpoint"  # a signed note stored under a size it does not sign
    FORKED = "forked"  # two different signed checkpoints of one size
    BROKEN_CHAIN = "broken-chain"  # a checkpoint does not name the one before it
    NODE_MISMATCH = "node-mismatch"  # a stored subtree hash (for proofs) disagrees
    STRAY_LEAF = "stray-leaf"  # a leaf row outside the gap-free sequence, beyond every signature
    MALFORMED_LEAF = "malformed-leaf"  # a stored leaf hash that is not 32 bytes
    BACKDATED = "backdated"  # sealed with a time before its predecessor's or the checkpoint's
    VANISHED = "vanished"  # events a signed statement of the sealer saw committed are gone


@dataclass(frozen=True)
class Problem:
    kind: DamageKind
    leaf_index: int | None  # None: damage to the checkpoints, not to a leaf
    detail: str
    event_id: int | None = None


@dataclass
class Unsealed:
    """Events after the last sealed one in sealing order: not damage, not yet covered."""

    count: int = 0
    first_ids: list[int] = field(default_factory=list)


@dataclass
class Report:
    tree_size: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[DamageKind] = field(default_factory=Counter)
    unsealed: Unsealed = field(default_factory=Unsealed)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.counts

    @property
    def first_problem(self) -> Problem | None:
        """The problem at the lowest leaf index; checkpoint damage (no index) comes first."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: -1 if p.leaf_index is None else p.leaf_index)

    def add(self, kind: DamageKind, leaf_index: int | None, detail: str,
            event_id: int | None = None) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= MAX_PER_KIND:
            self.problems.append(Problem(kind, leaf_index, detail, event_id))


def printable(text: str) -> str:
    """`text` with every control, format, surrogate, private-use or unassigned character
    (Unicode category C*) and the backslash written as an escape: safe to print on a terminal
    (no escape sequence reaches it) and to show as plain text."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char).startswith("C"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def _where(problem: Problem) -> str:
    parts = []
    if problem.leaf_index is not None:
        parts.append(f"leaf {problem.leaf_index}")
    if problem.event_id is not None:
        parts.append(f"event {problem.event_id}")
    return ", ".join(parts) or "checkpoints"


def render(report: Report, per_kind: int = SHOWN_PER_KIND) -> list[str]:
    """The report as lines of plain, escaped text: what the CLI prints and the console shows.
    Intact: one line. Not: the first bad leaf, a count per kind, and the first problems of
    each kind; then unsealed events and warnings either way."""
    lines = []
    if report.ok:
        lines.append(f"intact: {report.tree_size} sealed events, "
                     f"{len(report.checkpoints)} signed checkpoints")
    else:
        first = report.first_problem
        assert first is not None
        at = "none (checkpoint damage)" if first.leaf_index is None else first.leaf_index
        total = sum(report.counts.values())
        lines.append(f"NOT INTACT: first bad leaf {at}: {first.kind} ({total} problem(s) in all)")
        for kind in DamageKind:
            if count := report.counts[kind]:
                lines.append(f"  {kind}: {count}")
        for kind in DamageKind:
            shown = [p for p in report.problems if p.kind is kind][:per_kind]
            for problem in shown:
                lines.append(f"  {kind} at {_where(problem)}: {problem.detail}")
            if report.counts[kind] > len(shown):
                lines.append(f"  {kind}: {report.counts[kind] - len(shown)} more not shown")
    if report.unsealed.count:
        ids = ", ".join(map(str, report.unsealed.first_ids[:SHOWN_UNSEALED]))
        more = "..." if report.unsealed.count > SHOWN_UNSEALED else ""
        lines.append(f"unsealed (not yet covered by a checkpoint): {report.unsealed.count} "
                     f"event(s): {ids}{more}")
    lines += [f"warning: {w}" for w in report.warnings]
    return [printable(line) for line in lines]

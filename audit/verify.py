"""Verification: the log as it is now, held against the log as it was sealed and signed.

Two independent checks run in one pass, the same for the live database and for a bundle:

1. The tree. The stored leaf hashes, in leaf order, rebuild the RFC 6962 tree; its root must equal
   every signed checkpoint's root at that size, every checkpoint must carry a valid signature and
   name its predecessor, and no published checkpoint may be larger than the log.
2. The events. Every event, in commit order, is re-encoded and hashed, and the sequence is
   compared with the sealed leaf hashes, so the first difference is named by its leaf index and
   its kind: modified, missing, inserted or reordered.

Kinds of damage reported:

- modified       an event no longer hashes to the leaf sealed at its place;
- missing        sealed events (or leaves) are gone;
- inserted       events that were never sealed appear inside the sealed history;
- reordered      events hash to leaves of other places (rows swapped);
- rewritten      events and leaf hashes agree, but the tree no longer has the signed root: the
                 hashes were recomputed by someone who could not sign;
- truncated      a signed checkpoint covers more leaves than the log has;
- bad-signature, forked, broken-chain   damage to the checkpoints themselves;
- node-mismatch  a stored subtree hash (used for proofs) disagrees with the leaves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import Checkpoint, CheckpointInvalid, open_checkpoint
from audit.merkle import Frontier, node_hash
from audit.tree import STORED_LEVEL

MAX_PROBLEMS = 50
LOOKAHEAD = 16  # how far apart a swapped pair, or a run of gone or slipped-in events, is named
PROGRESS_EVERY = 10_000  # leaves between two progress reports

Progress = Callable[[int], object]


@dataclass(frozen=True, slots=True)
class Leaf:
    seq: int
    stored_hash: bytes


@dataclass(frozen=True, slots=True)
class HashedEvent:
    event_id: int
    digest: bytes  # leaf hash recomputed from the event's stored values


@dataclass(frozen=True)
class Problem:
    kind: str
    leaf_index: int | None
    detail: str


@dataclass
class Report:
    tree_size: int = 0
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        """The problem at the lowest leaf index; checkpoint damage (no index) comes first."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: -1 if p.leaf_index is None else p.leaf_index)

    def add(self, kind: str, leaf_index: int | None, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(kind, leaf_index, detail))


def verify_log(leaves: Iterable[Leaf], events: Iterable[HashedEvent], notes: Iterable[str],
               public: Ed25519PublicKey,
               stored_nodes: Mapping[tuple[int, int], bytes] | None = None,
               progress: Progress | None = None) -> Report:
    """Check sealed `leaves` (leaf order) and `events` (commit order) against `notes`.

    `progress`, if given, is called with the number of leaves checked so far, every
    `PROGRESS_EVERY` leaves and once at the end.
    """
    report = Report()
    signed = _check_checkpoints(notes, public, report)
    report.checkpoints = [signed[size] for size in sorted(signed)]
    tree = _TreeCheck(signed, stored_nodes, report, progress)
    tracked = _Peek(tree.feed(leaves))
    _compare_events(_Peek(iter(events)), tracked, report)
    for _ in tracked.rest():
        pass
    tree.finish()
    return report


class _TreeCheck:
    """Check 1: rebuild the tree from stored leaf hashes and hold it against the checkpoints."""

    def __init__(self, signed: dict[int, Checkpoint],
                 nodes: Mapping[tuple[int, int], bytes] | None, report: Report,
                 progress: Progress | None = None) -> None:
        self.signed, self.nodes, self.report = signed, nodes, report
        # The compact range [0, size) of the leaves so far (what merkle.Frontier keeps), held
        # here directly: this loop runs once per leaf of the whole log.
        self.size, self.roots = 0, list[bytes]()
        self.vouched, self.broken = 0, False
        self.progress, self.fed = progress, 0

    def feed(self, leaves: Iterable[Leaf]) -> Iterator[Leaf]:
        for leaf in leaves:
            if not self.broken:
                self._add(leaf)
            self.fed += 1
            if self.progress is not None and self.fed % PROGRESS_EVERY == 0:
                self.progress(self.fed)
            yield leaf

    def _add(self, leaf: Leaf) -> None:
        size = self.size
        if leaf.seq != size:
            self.report.add("missing", size,
                            f"leaf {size} is gone (next stored leaf is {leaf.seq})")
            self.broken = True
            return
        node = leaf.stored_hash
        if not (isinstance(node, bytes) and len(node) == 32):
            raise ValueError("append takes a 32-byte leaf hash")
        roots, index, level = self.roots, size, 0
        while index & 1:  # as merkle.Frontier.append: merge with an equal left sibling
            node = node_hash(roots.pop(), node)
            level, index = level + 1, index >> 1
            if level >= STORED_LEVEL and self.nodes is not None and \
                    self.nodes.get((level, index), node) != node:
                self.report.add("node-mismatch", index << level,
                                f"stored subtree hash at level {level} index {index} is wrong")
        roots.append(node)
        self.size = size = size + 1
        checkpoint = self.signed.get(size)
        if checkpoint is not None:
            if checkpoint.root != Frontier.from_subtrees(size, roots).root():
                self.report.add("rewritten", self.vouched,
                                f"leaves {self.vouched}..{size - 1} do not give "
                                f"the signed root of size {size}: hashes were "
                                "recomputed")
            self.vouched = size

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.fed)
        self.report.tree_size = self.size
        largest = max(self.signed, default=0)
        if largest > self.size:
            self.report.add("truncated", self.size,
                            f"a signed checkpoint covers {largest} leaves; the log has "
                            f"{self.size}")


def _compare_events(events: _Peek[HashedEvent], leaves: _Peek[Leaf], report: Report) -> None:
    """Check 2: walk events and leaves in step and name the first place they part.

    Events after the last leaf are the unsealed tail, not damage.
    """
    while True:
        if leaves.fast_forward_matching(events):
            return  # every leaf had its event
        if (leaf := leaves.peek(0)) is None:
            return
        event = events.peek(0)
        if event is None:
            report.add("missing", leaf.seq, f"the sealed events from leaf {leaf.seq} on are gone")
            return
        if event.digest == leaf.stored_hash:
            events.pop()
            leaves.pop()
            continue
        report.add(*_classify(event, leaf, events, leaves))
        return


def _classify(event: HashedEvent, leaf: Leaf, events: _Peek[HashedEvent],
              leaves: _Peek[Leaf]) -> tuple[str, int, str]:
    later_leaf = next((k for k in range(1, LOOKAHEAD)
                       if (lf := leaves.peek(k)) is not None and lf.stored_hash == event.digest),
                      None)
    later_event = next((k for k in range(1, LOOKAHEAD)
                        if (ev := events.peek(k)) is not None and ev.digest == leaf.stored_hash),
                       None)
    if later_leaf and later_event:
        return ("reordered", leaf.seq, f"event {event.event_id} holds the content sealed at "
                                       f"leaf {leaf.seq + later_leaf}")
    if later_leaf:
        return ("missing", leaf.seq, f"{later_leaf} sealed event(s) from leaf {leaf.seq} on "
                                     "are gone")
    if later_event:
        ids = [e.event_id for k in range(later_event) if (e := events.peek(k)) is not None]
        return ("inserted", leaf.seq, f"event(s) {ids} were never sealed but sit before "
                                      f"leaf {leaf.seq}")
    return ("modified", leaf.seq, f"event {event.event_id} at leaf {leaf.seq} was changed after "
                                  "sealing")


def _check_checkpoints(notes: Iterable[str], public: Ed25519PublicKey,
                       report: Report) -> dict[int, Checkpoint]:
    """Valid checkpoints by size; bad signatures, forks and chain breaks go into `report`."""
    signed: dict[int, Checkpoint] = {}
    for note in dict.fromkeys(notes):
        try:
            checkpoint = open_checkpoint(note, public)
        except CheckpointInvalid as exc:
            lines = note.splitlines()
            report.add("bad-signature", None,
                       f"checkpoint of size {lines[1] if len(lines) > 1 else '?'}: {exc}")
            continue
        other = signed.get(checkpoint.size)
        if other is not None and other.note != checkpoint.note:
            report.add("forked", None,
                       f"two different signed checkpoints of size {checkpoint.size}")
        signed[checkpoint.size] = checkpoint
    previous: Checkpoint | None = None
    for size in sorted(signed):
        if signed[size].prev != (previous.note_hash if previous else None):
            report.add("broken-chain", None,
                       f"checkpoint of size {size} does not follow the one before it")
        previous = signed[size]
    return signed


T = TypeVar("T")


class _Peek(Generic[T]):
    """An iterator with a look-ahead buffer."""

    def __init__(self, source: Iterator[T]) -> None:
        self._source, self._buffer = source, deque[T]()

    def peek(self, k: int) -> T | None:
        while len(self._buffer) <= k:
            item = next(self._source, None)
            if item is None:
                return None
            self._buffer.append(item)
        return self._buffer[k]

    def fast_forward_matching(self: _Peek[Leaf], events: _Peek[HashedEvent]) -> bool:
        """Consume leaves and events in step while each event hashes to its leaf (the whole
        log, when intact) without the look-ahead machinery; True when the leaves ran out,
        False at the first pair that differs (both left in place for the careful walk)."""
        if self._buffer or events._buffer:
            return False
        source, others = self._source, events._source
        for leaf in source:
            event = next(others, None)
            if event is not None and event.digest == leaf.stored_hash:
                continue
            self._buffer.append(leaf)
            if event is not None:
                events._buffer.append(event)
            return False
        return True

    def pop(self) -> T:
        return self._buffer.popleft() if self._buffer else next(self._source)

    def rest(self) -> Iterator[T]:
        while self._buffer:
            yield self._buffer.popleft()
        yield from self._source

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

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import islice
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import Checkpoint, CheckpointInvalid, open_checkpoint
from audit.merkle import Frontier, node_hash
from audit.tree import STORED_LEVEL, TILE

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
    `PROGRESS_EVERY` leaves and once at the end. The same check as `verify_batches`, one item
    at a time (a bundle); ValueError if an event's digest is not 32 bytes.
    """
    return verify_batches(_leaf_batches(leaves), _event_batches(events), notes, public,
                          stored_nodes, progress)


def verify_batches(leaves: Iterable[LeafBatch], events: Iterable[EventBatch],
                   notes: Iterable[str], public: Ed25519PublicKey,
                   stored_nodes: Mapping[tuple[int, int], bytes] | None = None,
                   progress: Progress | None = None) -> Report:
    """`verify_log` over batches: the same report, problem for problem.

    While every event hashes to the leaf at its place (the whole log, when intact), a batch is
    compared as one byte string and the tree takes whole tiles of 2**8 leaves; at the first
    difference the careful one-at-a-time walk takes over, so what is named, and in what order,
    does not depend on how the input was cut into batches. `events` is closed (its `close()`
    called, if it has one) as soon as the comparison no longer needs it: a producer may stop.
    """
    report = Report()
    signed = _check_checkpoints(notes, public, report)
    report.checkpoints = [signed[size] for size in sorted(signed)]
    tree = _TreeCheck(signed, stored_nodes, report, progress)
    stream = _EventStream(iter(events))
    batches = iter(leaves)
    try:
        for batch in batches:
            matched = stream.match(batch.hashes)
            tree.add(batch.seqs[:matched], batch.hashes[:matched])
            if matched < len(batch.seqs):
                _walk_from(batch, matched, batches, stream, tree, report)
                break
    finally:
        stream.close()
    for batch in batches:
        tree.add(batch.seqs, batch.hashes)
    tree.finish()
    return report


def _walk_from(batch: LeafBatch, start: int, batches: Iterator[LeafBatch],
               stream: _EventStream, tree: _TreeCheck, report: Report) -> None:
    """The careful walk (`_compare_events`) from the first difference, `batch[start]`. The
    leaves it pulls go into the tree one at a time as it pulls them, as they always did; the
    rest of `batch` goes in after it, and the caller adds the batches it did not reach."""
    rest = _LeafCursor(batch, start, batches)
    tracked = _Peek(tree.feed(rest))
    _compare_events(_Peek(stream.items()), tracked, report)
    stream.close()
    tracked.drop()  # what the walk looked ahead at is in the tree already
    left = rest.remainder()
    tree.add(left.seqs, left.hashes)


@dataclass(frozen=True, slots=True)
class LeafBatch:
    """Stored leaves in leaf order: their indexes and their stored hashes, side by side."""

    seqs: Sequence[int]
    hashes: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events in commit order: their ids, and their recomputed leaf hashes concatenated
    (`DIGEST` bytes each, in the same order)."""

    ids: Sequence[int]
    digests: bytes


DIGEST = 32  # bytes of a SHA-256 leaf hash
_BATCH = 4096  # items per batch when one-at-a-time input is batched


def _leaf_batches(leaves: Iterable[Leaf]) -> Iterator[LeafBatch]:
    source = iter(leaves)
    while chunk := list(islice(source, _BATCH)):
        yield LeafBatch([leaf.seq for leaf in chunk], [leaf.stored_hash for leaf in chunk])


def _event_batches(events: Iterable[HashedEvent]) -> Iterator[EventBatch]:
    source = iter(events)
    while chunk := list(islice(source, _BATCH)):
        digests = [event.digest for event in chunk]
        if not _all_digests(digests):
            raise ValueError("an event's recomputed leaf hash must be 32 bytes")
        yield EventBatch([event.event_id for event in chunk], b"".join(digests))


def _all_digests(hashes: Sequence[bytes]) -> bool:
    """Whether every item is a 32-byte `bytes` (two passes in C, not one in Python)."""
    return not hashes or (set(map(len, hashes)) == {DIGEST} and set(map(type, hashes)) == {bytes})


class _EventStream:
    """Recomputed event hashes, consumed in step with the leaves they should equal."""

    def __init__(self, batches: Iterator[EventBatch]) -> None:
        self._batches = batches
        self._ids: Sequence[int] = ()
        self._digests = b""
        self._pos = 0  # the next unconsumed event of the current batch

    def _available(self) -> int:
        """Events left in the current batch, reading the next batch when it is used up."""
        while self._pos == len(self._ids):
            batch = next(self._batches, None)
            if batch is None:
                return 0
            self._ids, self._digests, self._pos = batch.ids, batch.digests, 0
        return len(self._ids) - self._pos

    def match(self, hashes: Sequence[bytes]) -> int:
        """Consume the events that equal `hashes`, in step from the first; return how many did.

        The event at the first difference (and any after it) stays for `items()`.
        """
        if not _all_digests(hashes):
            return 0  # malformed stored hashes: the careful walk names what it finds
        matched = 0
        while matched < len(hashes) and (available := self._available()):
            take = min(len(hashes) - matched, available)
            start = self._pos * DIGEST
            mine = self._digests[start:start + take * DIGEST]
            if mine == b"".join(hashes[matched:matched + take]):
                self._pos += take
                matched += take
                continue
            same = next(k for k in range(take)
                        if mine[k * DIGEST:(k + 1) * DIGEST] != hashes[matched + k])
            self._pos += same
            return matched + same
        return matched

    def items(self) -> Iterator[HashedEvent]:
        """The unconsumed events, one at a time."""
        while self._available():
            pos = self._pos
            self._pos += 1
            yield HashedEvent(self._ids[pos], self._digests[pos * DIGEST:(pos + 1) * DIGEST])

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


class _LeafCursor:
    """Leaves one at a time from `batch[start:]`, then from `batches`, pulled only as needed;
    `remainder()` gives back, as a batch, what was not handed out of the batch in hand."""

    def __init__(self, batch: LeafBatch, start: int, batches: Iterator[LeafBatch]) -> None:
        self._batch, self._pos, self._batches = batch, start, batches

    def __iter__(self) -> _LeafCursor:
        return self

    def __next__(self) -> Leaf:
        while self._pos >= len(self._batch.seqs):
            self._batch, self._pos = next(self._batches), 0
        pos = self._pos
        self._pos += 1
        return Leaf(self._batch.seqs[pos], self._batch.hashes[pos])

    def remainder(self) -> LeafBatch:
        return LeafBatch(self._batch.seqs[self._pos:], self._batch.hashes[self._pos:])


class _TreeCheck:
    """Check 1: rebuild the tree from stored leaf hashes and hold it against the checkpoints."""

    def __init__(self, signed: dict[int, Checkpoint],
                 nodes: Mapping[tuple[int, int], bytes] | None, report: Report,
                 progress: Progress | None = None) -> None:
        self.signed, self.nodes, self.report = signed, nodes, report
        self.sizes = sorted(signed)  # to find the checkpoints that end inside a tile
        # The compact range [0, size) of the leaves so far (what merkle.Frontier keeps), held
        # here directly: this runs once per leaf of the whole log.
        self.size, self.roots = 0, list[bytes]()
        self.vouched, self.broken = 0, False
        self.progress, self.fed = progress, 0

    def feed(self, leaves: Iterable[Leaf]) -> Iterator[Leaf]:
        """Each leaf into the tree as it is pulled, then passed on."""
        for leaf in leaves:
            if not self.broken:
                self._add(leaf.seq, leaf.stored_hash)
            self._count(1)
            yield leaf

    def add(self, seqs: Sequence[int], hashes: Sequence[bytes]) -> None:
        """Leaves in leaf order; the same problems, in the same order, as feeding them one by
        one. Gap-free runs of well-formed hashes take the fast path."""
        if not self.broken:
            if tuple(seqs) == tuple(range(self.size, self.size + len(seqs))) and \
                    _all_digests(hashes):
                self._add_run(hashes)
            else:
                for seq, digest in zip(seqs, hashes, strict=True):
                    if self.broken:
                        break
                    self._add(seq, digest)
        self._count(len(seqs))

    def _count(self, fed: int) -> None:
        before, self.fed = self.fed, self.fed + fed
        if self.progress is not None:
            for mark in range(before // PROGRESS_EVERY * PROGRESS_EVERY + PROGRESS_EVERY,
                              self.fed + 1, PROGRESS_EVERY):
                self.progress(mark)

    def _add(self, seq: int, node: bytes) -> None:
        size = self.size
        if seq != size:
            self.report.add("missing", size, f"leaf {size} is gone (next stored leaf is {seq})")
            self.broken = True
            return
        if not (isinstance(node, bytes) and len(node) == DIGEST):
            raise ValueError("append takes a 32-byte leaf hash")
        self._append(node)

    def _append(self, node: bytes) -> None:
        """One well-formed leaf hash at `size`: merge it up, check stored nodes and any
        checkpoint of the new size."""
        roots, index, level = self.roots, self.size, 0
        while index & 1:  # as merkle.Frontier.append: merge with an equal left sibling
            node = node_hash(roots.pop(), node)
            level, index = level + 1, index >> 1
            if level >= STORED_LEVEL:
                self._check_node(level, index, node)
        roots.append(node)
        self.size += 1
        if self.size in self.signed:
            self._check_checkpoint(self.size, roots)

    def _add_run(self, hashes: Sequence[bytes]) -> None:
        """Gap-free, well-formed leaf hashes at `size`: whole aligned tiles at once."""
        i, count = 0, len(hashes)
        while i < count:
            if self.size % TILE == 0 and count - i >= TILE:
                self._add_tile(hashes[i:i + TILE])
                i += TILE
            else:
                self._append(hashes[i])
                i += 1

    def _add_tile(self, hashes: Sequence[bytes]) -> None:
        """An aligned tile of 2**STORED_LEVEL leaves: its subtree level by level (the same
        nodes `_append` would make, without a Python step per node), checkpoints that end
        inside it, then its root merged up as `_append` merges a leaf."""
        levels = [hashes]
        for _ in range(STORED_LEVEL):
            pairs = iter(levels[-1])
            levels.append([sha256(b"\x01" + left + right).digest()
                           for left, right in zip(pairs, pairs, strict=True)])
        start = self.size
        first = bisect_right(self.sizes, start)
        for size in self.sizes[first:bisect_left(self.sizes, start + TILE)]:
            self._check_checkpoint(size, [*self.roots, *_tile_roots(levels, size - start)])
        node, level, index = levels[-1][0], STORED_LEVEL, start >> STORED_LEVEL
        self._check_node(level, index, node)
        roots = self.roots
        while index & 1:
            node = node_hash(roots.pop(), node)
            level, index = level + 1, index >> 1
            self._check_node(level, index, node)
        roots.append(node)
        self.size = start + TILE
        if self.size in self.signed:
            self._check_checkpoint(self.size, roots)

    def _check_node(self, level: int, index: int, node: bytes) -> None:
        if self.nodes is not None and self.nodes.get((level, index), node) != node:
            self.report.add("node-mismatch", index << level,
                            f"stored subtree hash at level {level} index {index} is wrong")

    def _check_checkpoint(self, size: int, roots: Sequence[bytes]) -> None:
        if self.signed[size].root != Frontier.from_subtrees(size, roots).root():
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


def _tile_roots(levels: Sequence[Sequence[bytes]], width: int) -> list[bytes]:
    """The perfect subtrees, largest first, that make up the first `width` leaves of a tile
    whose nodes are `levels` (levels[0] the leaves): one per set bit of `width`."""
    roots, start = [], 0
    for level in reversed(range(len(levels) - 1)):
        if width >> level & 1:
            roots.append(levels[level][start >> level])
            start += 1 << level
    return roots


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

    def drop(self) -> None:
        """Forget the look-ahead buffer (what was pulled from the source and not consumed)."""
        self._buffer.clear()

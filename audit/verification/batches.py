"""What verification reads: sealed leaves in leaf order and recomputed events in sealing order,
one at a time (a bundle) or in batches (the database), and one cursor over either.

An event carries its time (`ts_us`) with its digest, read in the same row as the values it is
hashed from: the backdating check needs it for every sealed event, and reading it there costs
one column of a row already read, where reading it with the leaves cost a join per leaf."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

DIGEST = 32  # bytes of a SHA-256 leaf hash
NO_TIME = -(2**63)  # in an event batch's times: the stored ts_us is not an integer
_BATCH = 4096  # items per batch when one-at-a-time input is batched


@dataclass(frozen=True, slots=True)
class Leaf:
    seq: int
    stored_hash: bytes
    event_id: int | None = None  # the event sealed here, when the reader knows it


@dataclass(frozen=True, slots=True)
class HashedEvent:
    event_id: int
    digest: bytes  # leaf hash recomputed from the event's stored values
    ts_us: int | None = None  # the event's time as stored, when the reader has it


@dataclass(frozen=True, slots=True)
class Item:
    """One leaf or one event, as the cursor hands it out."""

    key: int  # the leaf's index, or the event's id
    digest: bytes
    event_id: int | None  # the event: a leaf's sealed event (if known), or the event itself
    ts_us: int | None = None  # an event's time, when its batch carries times


@dataclass(frozen=True, slots=True)
class LeafBatch:
    """Stored leaves in leaf order: their indexes and their stored hashes, side by side (and
    the ids of the events sealed there, when the reader has them)."""

    seqs: Sequence[int]
    hashes: Sequence[bytes]
    event_ids: Sequence[int] | None = None

    def __len__(self) -> int:
        return len(self.seqs)

    def item(self, i: int) -> Item:
        return Item(self.seqs[i], self.hashes[i],
                    None if self.event_ids is None else self.event_ids[i])

    def digest(self, i: int) -> bytes:
        return self.hashes[i]

    def digests(self, start: int, end: int) -> bytes | None:
        """Hashes `start:end` as one string, or None if one is malformed (then no string
        comparison could say which differs)."""
        part = self.hashes[start:end]
        return b"".join(part) if all_digests(part) else None

    def part(self, start: int, end: int) -> LeafBatch:
        return LeafBatch(self.seqs[start:end], self.hashes[start:end],
                         None if self.event_ids is None else self.event_ids[start:end])


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events in commit order: their ids, their recomputed leaf hashes concatenated
    (`DIGEST` bytes each, in the same order), and their times (`NO_TIME` where the stored
    value is not an integer), when the reader has them."""

    ids: Sequence[int]
    digests_joined: bytes
    times: Sequence[int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, i: int) -> Item:
        return Item(self.ids[i], self.digest(i), self.ids[i],
                    None if self.times is None else self.times[i])

    def digest(self, i: int) -> bytes:
        return self.digests_joined[i * DIGEST:(i + 1) * DIGEST]

    def digests(self, start: int, end: int) -> bytes:
        return self.digests_joined[start * DIGEST:end * DIGEST]


def all_digests(hashes: Sequence[bytes]) -> bool:
    """Whether every item is a 32-byte `bytes` (two passes in C, not one in Python)."""
    return not hashes or (set(map(len, hashes)) == {DIGEST} and set(map(type, hashes)) == {bytes})


def leaf_batches(leaves: Iterable[Leaf]) -> Iterator[LeafBatch]:
    source = iter(leaves)
    while chunk := list(islice(source, _BATCH)):
        ids = [leaf.event_id for leaf in chunk]
        yield LeafBatch([leaf.seq for leaf in chunk], [leaf.stored_hash for leaf in chunk],
                        None if None in ids else ids)  # type: ignore[arg-type]


def event_batches(events: Iterable[HashedEvent]) -> Iterator[EventBatch]:
    source = iter(events)
    while chunk := list(islice(source, _BATCH)):
        digests = [event.digest for event in chunk]
        if not all_digests(digests):
            raise ValueError("an event's recomputed leaf hash must be 32 bytes")
        times = [NO_TIME if event.ts_us is None else event.ts_us for event in chunk]
        timed = any(event.ts_us is not None for event in chunk)
        yield EventBatch([event.event_id for event in chunk], b"".join(digests),
                         times if timed else None)


class Batch(Protocol):
    def __len__(self) -> int: ...
    def item(self, i: int) -> Item: ...
    def digest(self, i: int) -> bytes: ...
    def digests(self, start: int, end: int) -> bytes | None: ...


B = TypeVar("B", bound=Batch)
Consumed = Callable[[B, int, int], object]
Paired = Callable[[Any, int, Any, int, int], object]


class Cursor(Generic[B]):
    """A position in a stream of batches: look ahead (`peek`), step (`pop`), or step two
    cursors together over the run where their digests agree (`take_equal`, a batch compared as
    one string). `consumed(batch, start, end)` hears of every item stepped over, in order."""

    def __init__(self, batches: Iterable[B], consumed: Consumed[B] | None = None) -> None:
        self._source = iter(batches)
        self._queue: deque[B] = deque()  # batches read; the first is the current one
        self._pos = 0  # the next item of the current batch
        self._consumed = consumed

    def _current(self) -> B | None:
        """The current batch with an item left at `_pos`, reading on as needed."""
        while not self._queue or self._pos >= len(self._queue[0]):
            if self._queue:
                self._queue.popleft()
                self._pos = 0
            if not self._queue:
                batch = next(self._source, None)
                if batch is None:
                    return None
                self._queue.append(batch)
        return self._queue[0]

    def _advance(self, n: int) -> None:
        """Step over `n` items of the current batch (which holds them)."""
        if n:
            if self._consumed is not None:
                self._consumed(self._queue[0], self._pos, self._pos + n)
            self._pos += n

    def peek(self, k: int) -> Item | None:
        """The item `k` places ahead (0: the next one), or None past the end."""
        if self._current() is None:
            return None
        offset = self._pos + k
        for batch in self._queue:
            if offset < len(batch):
                return batch.item(offset)
            offset -= len(batch)
        while (more := next(self._source, None)) is not None:
            self._queue.append(more)
            if offset < len(more):
                return more.item(offset)
            offset -= len(more)
        return None

    def pop(self) -> Item:
        batch = self._current()
        if batch is None:
            raise IndexError("pop past the end")
        item = batch.item(self._pos)
        self._advance(1)
        return item

    def take_equal(self, other: Cursor[Any], paired: Paired | None = None) -> int:
        """Step this cursor and `other` together while their digests agree; return how many.
        Both stop at the first pair that differs (or at the end of either). `paired(mine,
        start, theirs, start, n)` hears of every run of `n` items stepped over together."""
        taken = 0
        while (mine := self._current()) is not None and (theirs := other._current()) is not None:
            a, b = self._pos, other._pos
            n = min(len(mine) - a, len(theirs) - b)
            left, right = mine.digests(a, a + n), theirs.digests(b, b + n)
            if left is not None and left == right:
                same = n
            else:
                same = next((i for i in range(n) if mine.digest(a + i) != theirs.digest(b + i)),
                            n)
            if paired is not None and same:
                paired(mine, a, theirs, b, same)
            self._advance(same)
            other._advance(same)
            taken += same
            if same < n:
                break
        return taken

    def drain(self, keep: int) -> tuple[int, list[int]]:
        """Step over everything left; return how many items and the keys of the first `keep`."""
        count, keys = 0, list[int]()
        while (batch := self._current()) is not None:
            n = len(batch) - self._pos
            keys += [batch.item(self._pos + i).key for i in range(min(n, keep - len(keys)))]
            self._advance(n)
            count += n
        return count, keys

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

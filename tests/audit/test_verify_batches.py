"""Verification gives the same report however its input is cut into batches.

`verify_batches` compares whole batches as byte strings and rebuilds the tree a tile of 2**8
leaves at a time while the log is sound, and walks one item at a time from the first
difference. Batches of one leaf never take the fast paths, so holding every batching against
them checks the fast paths against the careful ones, damage by damage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import sign_checkpoint
from audit.merkle import Frontier
from audit.settings import BACKDATE_ALLOWANCE_US
from audit.tree import STORED_LEVEL
from audit.verification.batches import NO_TIME
from audit.verify import (
    EventBatch,
    HashedEvent,
    Leaf,
    LeafBatch,
    Report,
    verify_batches,
    verify_log,
)

KEY = Ed25519PrivateKey.generate()


@dataclass
class Log:
    """A sealed log as verification reads it: leaves, events, signed notes, stored nodes."""

    leaves: list[Leaf]
    events: list[HashedEvent]
    notes: list[str]
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)


def digest(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + f"event {i}".encode()).digest()


def event_time(i: int) -> int:
    """Event i's time: a second apart, every seventh a little behind its predecessor (within
    the allowance, as an honest event of a long transaction is)."""
    return i * 1_000_000 - (BACKDATE_ALLOWANCE_US // 2 if i % 7 == 3 else 0)


def sealed_log(size: int, checkpoint_sizes: Sequence[int]) -> Log:
    frontier, notes, nodes, prev = Frontier(), [], {}, None
    for i in range(size):
        for level, idx, node in frontier.append(digest(i)):
            if level >= STORED_LEVEL:
                nodes[(level, idx)] = node
        if i + 1 in checkpoint_sizes:
            checkpoint = sign_checkpoint(KEY, i + 1, frontier.root(), event_time(i), prev)
            notes.append(checkpoint.note)
            prev = checkpoint.note_hash
    return Log([Leaf(i, digest(i)) for i in range(size)],
               [HashedEvent(1000 + i, digest(i), event_time(i)) for i in range(size)], notes,
               nodes)


# --- damage: each takes the log and a position inside it ------------------------------------

def modify_event(log: Log, k: int) -> None:
    log.events[k] = replace(log.events[k], digest=digest(-1))


def rewrite_leaf(log: Log, k: int) -> None:
    log.leaves[k] = Leaf(k, digest(-1))
    log.events[k] = replace(log.events[k], digest=digest(-1))


def backdate_events(log: Log, k: int) -> None:
    """Events k and k+2 dated a day back (hashes left alone: here the digest is not made of
    the time, so only the clock check can see it)."""
    for i in (k, k + 2):
        if i < len(log.events):
            log.events[i] = replace(log.events[i], ts_us=event_time(i) - 86_400_000_000)


def garble_time(log: Log, k: int) -> None:
    log.events[k] = replace(log.events[k], ts_us=NO_TIME)


def garble_leaf(log: Log, k: int) -> None:
    log.leaves[k] = Leaf(k, digest(-2))


def delete_leaf(log: Log, k: int) -> None:
    del log.leaves[k]
    del log.events[k]


def delete_event(log: Log, k: int) -> None:
    del log.events[k]


def delete_events(log: Log, k: int) -> None:
    del log.events[k:k + 3]


def insert_event(log: Log, k: int) -> None:
    log.events.insert(k, HashedEvent(9999, digest(-3)))


def swap_events(log: Log, k: int) -> None:
    if k + 1 < len(log.events):
        log.events[k], log.events[k + 1] = log.events[k + 1], log.events[k]


def truncate(log: Log, k: int) -> None:
    del log.leaves[k:]
    del log.events[k:]


def corrupt_node(log: Log, k: int) -> None:
    for key in sorted(log.nodes)[k % max(len(log.nodes), 1):][:1]:
        log.nodes[key] = digest(-4)


def short_leaf_hash(log: Log, k: int) -> None:
    log.leaves[k] = replace(log.leaves[k], stored_hash=log.leaves[k].stored_hash[:31])


def no_damage(log: Log, k: int) -> None:
    pass


DAMAGE: list[Callable[[Log, int], None]] = [
    no_damage, modify_event, rewrite_leaf, garble_leaf, delete_leaf, delete_event,
    delete_events, insert_event, swap_events, truncate, corrupt_node, short_leaf_hash,
    backdate_events, garble_time]


# --- batching --------------------------------------------------------------------------------

T = TypeVar("T")


def cut(items: Sequence[T], sizes: Iterator[int]) -> Iterator[list[T]]:
    start = 0
    while start < len(items):
        size = next(sizes)
        yield list(items[start:start + size])
        start += size


def leaf_batches(leaves: Sequence[Leaf], sizes: Iterator[int]) -> Iterator[LeafBatch]:
    for part in cut(leaves, sizes):
        yield LeafBatch([leaf.seq for leaf in part], [leaf.stored_hash for leaf in part])


def event_batches(events: Sequence[HashedEvent], sizes: Iterator[int]) -> Iterator[EventBatch]:
    for part in cut(events, sizes):
        yield EventBatch([e.event_id for e in part], b"".join(e.digest for e in part),
                         [NO_TIME if e.ts_us is None else e.ts_us for e in part])


def outcome(run: Callable[[], Report]) -> object:
    """The report's problems and size, or the kind of exception verification raised."""
    try:
        report = run()
    except ValueError as exc:
        return ("raised", type(exc))
    return (report.problems, report.tree_size)


def one_by_one(log: Log) -> object:
    return outcome(lambda: verify_batches(
        leaf_batches(log.leaves, iter(lambda: 1, 0)),
        event_batches(log.events, iter(lambda: 1, 0)), log.notes, KEY.public_key(), log.nodes))


@settings(max_examples=120, deadline=None)
@given(size=st.integers(0, 900), data=st.data())
def test_every_batching_names_the_same_problems_as_one_leaf_at_a_time(
        size: int, data: st.DataObject) -> None:
    marks = data.draw(st.lists(st.integers(1, max(size, 1)), max_size=6))
    log = sealed_log(size, sorted(set(marks) | ({size} if size else set())))
    damage = data.draw(st.sampled_from(DAMAGE))
    if size:
        damage(log, data.draw(st.integers(0, size - 1)))
    expected = one_by_one(log)
    leaf_sizes = data.draw(st.lists(st.integers(1, 700), min_size=1, max_size=5))
    event_sizes = data.draw(st.lists(st.integers(1, 700), min_size=1, max_size=5))
    got = outcome(lambda: verify_batches(
        leaf_batches(log.leaves, _cycle(leaf_sizes)), event_batches(log.events,
                                                                     _cycle(event_sizes)),
        log.notes, KEY.public_key(), log.nodes))
    assert got == expected
    assert outcome(lambda: verify_log(log.leaves, log.events, log.notes, KEY.public_key(),
                                      log.nodes)) == expected


def _cycle(sizes: list[int]) -> Iterator[int]:
    while True:
        yield from sizes


@pytest.mark.parametrize(("damage", "kind", "leaf"), [
    (modify_event, "modified", 300),
    (delete_event, "missing", 300),
    (insert_event, "inserted", 300),
    (swap_events, "reordered", 300),
    (delete_leaf, "missing", 300),
])
def test_damage_inside_a_tile_is_named_at_its_leaf(
        damage: Callable[[Log, int], None], kind: str, leaf: int) -> None:
    log = sealed_log(1000, [700, 1000])
    damage(log, 300)
    report = verify_log(log.leaves, log.events, log.notes, KEY.public_key(), log.nodes)
    first = report.first_problem
    assert first is not None
    assert (first.kind, first.leaf_index) == (kind, leaf), first.detail


def test_backdated_events_are_named_at_their_leaves_whatever_the_batching() -> None:
    log = sealed_log(1000, [700, 1000])
    backdate_events(log, 300)
    expected = [("backdated", 300, 1300), ("backdated", 302, 1302)]
    for size in (1, 7, 256, 4096):
        report = verify_batches(leaf_batches(log.leaves, iter(lambda: 256, 0)),
                                event_batches(log.events, _cycle([size])), log.notes,
                                KEY.public_key(), log.nodes)
        assert [(p.kind, p.leaf_index, p.event_id) for p in report.problems] == expected


def test_a_rewritten_leaf_breaks_every_checkpoint_and_stored_subtree_above_it() -> None:
    log = sealed_log(1000, [700, 1000])
    rewrite_leaf(log, 300)
    report = verify_log(log.leaves, log.events, log.notes, KEY.public_key(), log.nodes)
    assert [(p.kind, p.leaf_index) for p in report.problems] == [
        ("node-mismatch", 256), ("node-mismatch", 0), ("rewritten", 0), ("rewritten", 700)]


def test_a_stored_subtree_hash_that_disagrees_with_the_leaves_is_named() -> None:
    log = sealed_log(1024, [1024])
    log.nodes[(STORED_LEVEL, 2)] = digest(-4)
    report = verify_log(log.leaves, log.events, log.notes, KEY.public_key(), log.nodes)
    assert [(p.kind, p.leaf_index) for p in report.problems] == [("node-mismatch", 512)]


def test_progress_is_reported_every_ten_thousand_leaves_and_at_the_end() -> None:
    log = sealed_log(25_000, [25_000])
    seen: list[int] = []
    report = verify_batches(leaf_batches(log.leaves, iter(lambda: 3_000, 0)),
                            event_batches(log.events, iter(lambda: 4_096, 0)), log.notes,
                            KEY.public_key(), log.nodes, seen.append)
    assert report.ok
    assert seen == [10_000, 20_000, 25_000]


def test_the_event_source_is_closed_once_the_comparison_is_done() -> None:
    log = sealed_log(600, [600])
    modify_event(log, 10)
    closed: list[bool] = []

    def events() -> Iterator[EventBatch]:
        try:
            yield from event_batches(log.events, iter(lambda: 100, 0))
        finally:
            closed.append(True)

    report = verify_batches(leaf_batches(log.leaves, iter(lambda: 256, 0)), events(),
                            log.notes, KEY.public_key(), log.nodes)
    assert report.first_problem is not None and report.first_problem.leaf_index == 10
    assert closed == [True]

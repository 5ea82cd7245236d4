"""Check 1: rebuild the RFC 6962 tree from the stored leaf hashes and hold it against every
signed checkpoint and every stored subtree hash (the ones inclusion proofs are built from).

The tree is `merkle.Frontier`; whole aligned tiles of 2**8 leaves go in at once
(`merkle.perfect_levels`, `Frontier.append_subtree`), so the hashing stays in the one module
that knows RFC 6962's prefixes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from audit.checkpoint import Checkpoint
from audit.merkle import Frontier, perfect_levels
from audit.tree import STORED_LEVEL, TILE
from audit.verification.batches import DIGEST, LeafBatch, all_digests
from audit.verification.report import DamageKind, Report

PROGRESS_EVERY = 10_000  # leaves between two progress reports

Progress = Callable[[int], object]


def sequenced(batches: Iterable[LeafBatch], signed_size: int, report: Report
              ) -> Iterator[LeafBatch]:
    """The leaves, less stray ones: a leaf out of the gap-free sequence at or beyond the
    largest signed size (a row slipped in at `seq = 10**12`, say) is named and left out, so it
    neither stops the tree nor is compared with events. A gap below the signed size is the log's
    own damage: those leaves go on, and the tree names the gap."""
    expected = 0
    for batch in batches:
        n = len(batch)
        if not n:
            continue
        if batch.seqs[0] == expected and batch.seqs[-1] == expected + n - 1:
            expected += n
            yield batch
            continue
        keep = []
        for i, seq in enumerate(batch.seqs):
            if seq != expected and seq >= signed_size:
                event = None if batch.event_ids is None else batch.event_ids[i]
                report.add(DamageKind.STRAY_LEAF, seq,
                           f"a leaf row at {seq}, outside the sealed sequence (next is "
                           f"{expected}) and beyond every signed checkpoint", event)
                continue
            keep.append(i)
            expected = seq + 1
        if keep:
            yield LeafBatch([batch.seqs[i] for i in keep], [batch.hashes[i] for i in keep],
                            None if batch.event_ids is None else
                            [batch.event_ids[i] for i in keep])


class TreeCheck:
    def __init__(self, signed: dict[int, Checkpoint],
                 nodes: Mapping[tuple[int, int], bytes] | None, report: Report,
                 progress: Progress | None = None) -> None:
        self.signed, self.nodes, self.report = signed, nodes, report
        self.sizes = sorted(signed)  # to find the checkpoints that end inside a tile
        self.frontier = Frontier()
        self.vouched, self.broken = 0, False
        self.progress, self.fed = progress, 0

    def consumed(self, batch: LeafBatch, start: int, end: int) -> None:
        """A cursor's hook: leaves `start:end` of `batch` were stepped over, in order."""
        self.add(batch.seqs[start:end], batch.hashes[start:end])

    def add(self, seqs: Sequence[int], hashes: Sequence[bytes]) -> None:
        """Leaves in leaf order; the same problems, in the same order, however they are cut
        into calls. Gap-free runs of well-formed hashes take the fast path."""
        if not self.broken:
            size = self.frontier.size
            if tuple(seqs) == tuple(range(size, size + len(seqs))) and all_digests(hashes):
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
        size = self.frontier.size
        if seq != size:
            self.report.add(DamageKind.MISSING, size,
                            f"leaf {size} is gone (next stored leaf is {seq})")
            self.broken = True
            return
        if not (isinstance(node, bytes) and len(node) == DIGEST):
            self.report.add(DamageKind.MALFORMED_LEAF, seq,
                            f"the stored hash of leaf {seq} is not a 32-byte digest")
            self.broken = True
            return
        self._append(node)

    def _append(self, node: bytes) -> None:
        for level, index, digest in self.frontier.append(node)[1:]:
            if level >= STORED_LEVEL:
                self._check_node(level, index, digest)
        if self.frontier.size in self.signed:
            self._check_checkpoint(self.frontier.size, self.frontier.roots)

    def _add_run(self, hashes: Sequence[bytes]) -> None:
        """Gap-free, well-formed leaf hashes at `size`: whole aligned tiles at once."""
        i, count = 0, len(hashes)
        while i < count:
            if self.frontier.size % TILE == 0 and count - i >= TILE:
                self._add_tile(hashes[i:i + TILE])
                i += TILE
            else:
                self._append(hashes[i])
                i += 1

    def _add_tile(self, hashes: Sequence[bytes]) -> None:
        """An aligned tile: checkpoints that end inside it, then its root into the frontier
        (the same nodes and checks as leaf by leaf)."""
        levels = perfect_levels(hashes)
        start = self.frontier.size
        first = bisect_right(self.sizes, start)
        for size in self.sizes[first:bisect_left(self.sizes, start + TILE)]:
            self._check_checkpoint(size, [*self.frontier.roots,
                                          *_tile_roots(levels, size - start)])
        for level, index, digest in self.frontier.append_subtree(STORED_LEVEL, levels[-1][0]):
            self._check_node(level, index, digest)
        if self.frontier.size in self.signed:
            self._check_checkpoint(self.frontier.size, self.frontier.roots)

    def _check_node(self, level: int, index: int, node: bytes) -> None:
        if self.nodes is not None and self.nodes.get((level, index), node) != node:
            self.report.add(DamageKind.NODE_MISMATCH, index << level,
                            f"stored subtree hash at level {level} index {index} is wrong")

    def _check_checkpoint(self, size: int, roots: Sequence[bytes]) -> None:
        if self.signed[size].root != Frontier.from_subtrees(size, roots).root():
            self.report.add(DamageKind.REWRITTEN, self.vouched,
                            f"leaves {self.vouched}..{size - 1} do not give the signed root "
                            f"of size {size}: hashes were recomputed")
        self.vouched = size

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.fed)
        self.report.tree_size = self.frontier.size
        largest = max(self.signed, default=0)
        if largest > self.frontier.size:
            self.report.add(DamageKind.TRUNCATED, self.frontier.size,
                            f"a signed checkpoint covers {largest} leaves; the log has "
                            f"{self.frontier.size}")


def _tile_roots(levels: Sequence[Sequence[bytes]], width: int) -> list[bytes]:
    """The perfect subtrees, largest first, that make up the first `width` leaves of a tile
    whose nodes are `levels` (levels[0] the leaves): one per set bit of `width`."""
    roots, start = [], 0
    for level in reversed(range(len(levels) - 1)):
        if width >> level & 1:
            roots.append(levels[level][start >> level])
            start += 1 << level
    return roots

"""The sealed log as an RFC 6962 Merkle tree, read back from the database.

Leaf hashes live in `audit_leaves`; complete subtrees of 2**8 leaves and more live in
`audit_nodes`. Any subtree root (RFC 6962 §2.1 MTH of D[start:end]) is then at most a few
hundred leaf hashes plus O(log n) stored nodes away, which keeps an inclusion proof over ten
million events to a handful of indexed reads.

Leaf hashes are read a whole aligned tile of 2**8 leaves at a time and kept for the life of
the view, so the eight lowest siblings of an inclusion path (all inside one tile) cost one
query, not eight; subtree roots are memoised for the same reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)

from audit.merkle import (
    Frontier,
    inclusion_path,
    node_hash,
    perfect_levels,
    root_of,
    split_point,
)
from audit.schema import leaves_table, nodes_table

STORED_LEVEL = 8  # the smallest subtree kept in audit_nodes: 256 leaves
TILE = 1 << STORED_LEVEL

_TILE_QUERY = (select(leaves_table.c.seq, leaves_table.c.leaf_hash)
               .where(leaves_table.c.seq >= bindparam("start"),
                      leaves_table.c.seq < bindparam("end"))
               .order_by(leaves_table.c.seq))
# A stored node asked for is read with its parent's descendants on the next levels down: an
# inclusion path or a right edge next asks for one node per level inside that parent, so one
# query serves up to NODE_DEPTH + 1 levels of the path instead of one.
NODE_DEPTH = 4
_LEAF = -1  # the "level" of leaf rows when leaves and nodes come back in one result
_n = nodes_table.c
_NODES_QUERY = select(_n.level, _n.idx, _n.hash).where(or_(*[
    and_(_n.level == bindparam(f"level{d}"), _n.idx.between(bindparam(f"lo{d}"),
                                                            bindparam(f"hi{d}")))
    for d in range(NODE_DEPTH + 1)]))


class StoredTree:
    """Read-only view of the sealed tree over one connection (and one moment: it caches)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._tiles: dict[int, list[bytes]] = {}
        self._subtrees: dict[tuple[int, int], bytes] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._covered: set[tuple[int, int]] = set()  # (level, idx) known present or absent
        # Tiles still filling up, read by `_prefetch` for one proof: valid for this view's
        # moment only, which is all a view promises.
        self._partial: dict[int, list[bytes]] = {}
        self._levels: dict[int, list[list[bytes]]] = {}  # full tiles' levels (`_in_full_tile`)

    def size(self) -> int:
        top = self._conn.execute(select(func.max(leaves_table.c.seq))).scalar()
        return 0 if top is None else int(top) + 1

    def _tile(self, tile: int) -> list[bytes]:
        """The stored leaf hashes of tile `tile` (leaves tile*256 …), in order, gap-free."""
        hashes = self._tiles.get(tile) or self._partial.get(tile)
        if hashes is None:
            start = tile * TILE
            hashes = []
            for seq, digest in self._conn.execute(_TILE_QUERY,
                                                  {"start": start, "end": start + TILE}):
                if seq != start + len(hashes):
                    break  # a gap: what follows is not usable for a contiguous range
                hashes.append(bytes(digest))
            if len(hashes) == TILE:  # a partial tile may still grow: keep only full ones
                self._tiles[tile] = hashes
        return hashes

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        hashes: list[bytes] = []
        for tile in range(start // TILE, (end - 1) // TILE + 1 if end > start else 0):
            stored = self._tile(tile)
            lo = max(start - tile * TILE, 0)
            hi = min(end - tile * TILE, TILE)
            hashes += stored[lo:hi]
            if len(stored) < hi:
                break
        if len(hashes) != end - start:
            raise LookupError(f"leaves {start}..{end - 1} are not all sealed")
        return hashes

    def stored_node(self, level: int, idx: int) -> bytes | None:
        if (level, idx) not in self._covered:
            self._read_nodes(level, idx)
        return self._nodes.get((level, idx))

    def _read_nodes(self, level: int, idx: int) -> None:
        """Node (level, idx), its sibling, and their descendants NODE_DEPTH levels down (not
        below STORED_LEVEL), in one query."""
        ranges, params = [], {}
        for depth in range(NODE_DEPTH + 1):
            lv, lo = level - depth, (idx >> 1 << 1) << depth
            hi = lo + (2 << depth) - 1
            if lv >= STORED_LEVEL:
                ranges.append((lv, lo, hi))
            else:
                lv = -1  # below the stored levels: a range that matches nothing
            params.update({f"level{depth}": lv, f"lo{depth}": lo, f"hi{depth}": hi})
        rows = self._conn.execute(_NODES_QUERY, params)
        for lv, ix, digest in rows:
            self._nodes[(lv, ix)] = bytes(digest)
        for lv, lo, hi in ranges:
            self._covered.update((lv, i) for i in range(lo, hi + 1))

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from stored nodes where they exist, leaf hashes otherwise."""
        known = self._subtrees.get((start, end))
        if known is not None:
            return known
        width = end - start
        value = self._in_full_tile(start, width)
        if value is None and width >= TILE and width & (width - 1) == 0 and start % width == 0:
            level = width.bit_length() - 1
            value = self.stored_node(level, start >> level)
        if value is None:
            if width <= TILE:
                value = root_of(self.leaf_hashes(start, end))
            else:
                k = split_point(width)
                value = node_hash(self.subtree(start, start + k), self.subtree(start + k, end))
        self._subtrees[(start, end)] = value
        return value

    def _in_full_tile(self, start: int, width: int) -> bytes | None:
        """An aligned power-of-two subtree inside a full, already read tile, from that tile's
        levels, hashed once per tile: the paths of a report's many leaves each need most of
        their own tile's levels, which one at a time cost 255 hashes per path."""
        if width > TILE or width & (width - 1) or start % width:
            return None
        tile = start // TILE
        levels = self._levels.get(tile)
        if levels is None:
            hashes = self._tiles.get(tile)
            if hashes is None:
                return None
            levels = self._levels[tile] = perfect_levels(hashes)
        level = width.bit_length() - 1
        return levels[level][(start - tile * TILE) >> level]

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) (RFC 6962 §2.1.1) in one read: the stored nodes and the
        leaf tiles that every sibling on the path is made of are worked out first and fetched
        together, then the path is assembled from the caches. (Asked for one sibling at a time,
        a proof over 10M leaves cost eight round trips.)"""
        nodes: set[tuple[int, int]] = set()
        tiles: set[int] = set()
        for start, end in _sibling_ranges(index, size):
            _parts(start, end, nodes, tiles)
        self._prefetch(nodes - self._covered, tiles - set(self._tiles))
        return inclusion_path(index, size, self.subtree)

    def inclusion_paths(self, indexes: list[int], size: int, batch: int = 64
                        ) -> list[list[bytes]]:
        """`inclusion_path` of each index against one tree size, the reads of `batch` paths
        gathered into one statement (a report proving thousands of events pays a round trip
        per batch, not per event, and shares the siblings the paths have in common)."""
        paths = []
        for first in range(0, len(indexes), batch):
            nodes: set[tuple[int, int]] = set()
            tiles: set[int] = set()
            chunk = indexes[first:first + batch]
            for index in chunk:
                for start, end in _sibling_ranges(index, size):
                    _parts(start, end, nodes, tiles)
            self._prefetch(nodes - self._covered, tiles - set(self._tiles))
            paths += [inclusion_path(index, size, self.subtree) for index in chunk]
        return paths

    def _prefetch(self, nodes: set[tuple[int, int]], tiles: set[int]) -> None:
        """Read `nodes` and the leaves of `tiles` in one statement (a UNION ALL: one round trip
        on PostgreSQL), and cache them as `stored_node` and `_tile` would."""
        parts: list[Select[Any]] = []
        if nodes:
            parts.append(select(_n.level, _n.idx, _n.hash)
                         .where(tuple_(_n.level, _n.idx).in_(sorted(nodes))))
        if tiles:
            seq = leaves_table.c.seq
            parts.append(select(literal(_LEAF, Integer).label("level"), seq,
                                leaves_table.c.leaf_hash)
                         .where(or_(*[seq.between(t * TILE, t * TILE + TILE - 1)
                                      for t in sorted(tiles)])))
        if not parts:
            return
        rows = self._conn.execute(union_all(*parts) if len(parts) > 1 else parts[0]).all()
        found: dict[int, list[bytes]] = {t: [] for t in tiles}
        for level, position, digest in sorted(rows, key=lambda r: (r[0], r[1])):
            if level != _LEAF:
                self._nodes[(level, position)] = bytes(digest)
                continue
            tile = found[position // TILE]
            if position == position // TILE * TILE + len(tile):  # gap-free, as _tile
                tile.append(bytes(digest))
        self._covered.update(nodes)
        self._tiles.update({t: hashes for t, hashes in found.items() if len(hashes) == TILE})
        self._partial.update({t: hashes for t, hashes in found.items() if len(hashes) < TILE})

    def frontier(self, size: int) -> Frontier:
        """The compact range [0, size): one perfect subtree per set bit of `size`."""
        roots, start = [], 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                roots.append(self.subtree(start, start + (1 << bit)))
                start += 1 << bit
        return Frontier.from_subtrees(size, roots)


def _sibling_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The [start, end) leaf range of every sibling on PATH(index, D[0:size])."""
    ranges, start, end = [], 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    return ranges


def _parts(start: int, end: int, nodes: set[tuple[int, int]], tiles: set[int]) -> None:
    """Add to `nodes` and `tiles` what `StoredTree.subtree(start, end)` will read."""
    width = end - start
    if width >= TILE and width & (width - 1) == 0 and start % width == 0:
        level = width.bit_length() - 1
        nodes.add((level, start >> level))
    elif width <= TILE:
        tiles.update(range(start // TILE, (end - 1) // TILE + 1))
    else:
        k = split_point(width)
        _parts(start, start + k, nodes, tiles)
        _parts(start + k, end, nodes, tiles)

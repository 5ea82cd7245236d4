"""The sealed log as an RFC 6962 Merkle tree, read back from the database.

Leaf hashes live in `audit_leaves`; complete subtrees of 2**8 leaves and more live in
`audit_nodes`. Any subtree root (RFC 6962 §2.1 MTH of D[start:end]) is then at most a few
hundred leaf hashes plus O(log n) stored nodes away, which keeps an inclusion proof over ten
million events to a handful of indexed reads.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from audit.merkle import Frontier, node_hash, root_of, split_point
from audit.schema import leaves_table, nodes_table

STORED_LEVEL = 8  # the smallest subtree kept in audit_nodes: 256 leaves


class StoredTree:
    """Read-only view of the sealed tree over one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def size(self) -> int:
        top = self._conn.execute(select(func.max(leaves_table.c.seq))).scalar()
        return 0 if top is None else int(top) + 1

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._conn.execute(
            select(leaves_table.c.leaf_hash)
            .where(leaves_table.c.seq >= start, leaves_table.c.seq < end)
            .order_by(leaves_table.c.seq))
        hashes = [bytes(h) for (h,) in rows]
        if len(hashes) != end - start:
            raise LookupError(f"leaves {start}..{end - 1} are not all sealed")
        return hashes

    def stored_node(self, level: int, idx: int) -> bytes | None:
        found = self._conn.execute(
            select(nodes_table.c.hash).where(nodes_table.c.level == level,
                                             nodes_table.c.idx == idx)).scalar()
        return None if found is None else bytes(found)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from stored nodes where they exist, leaf hashes otherwise."""
        width = end - start
        if width <= 1 << STORED_LEVEL:
            return root_of(self.leaf_hashes(start, end))
        if width & (width - 1) == 0 and start % width == 0:
            level = width.bit_length() - 1
            stored = self.stored_node(level, start >> level)
            if stored is not None:
                return stored
        k = split_point(width)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def frontier(self, size: int) -> Frontier:
        """The compact range [0, size): one perfect subtree per set bit of `size`."""
        roots, start = [], 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                roots.append(self.subtree(start, start + (1 << bit)))
                start += 1 << bit
        return Frontier.from_subtrees(size, roots)

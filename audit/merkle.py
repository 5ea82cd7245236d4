"""RFC 6962 Merkle trees (restated in RFC 9162 §2.1): hashes, proofs, an append frontier.

Pure SHA-256 code, no I/O. Every hash is a 32-byte digest and leaves are passed as
*leaf hashes* (``leaf_hash(entry)``). Indices are 0-based; ``D[start:end]`` means
leaves ``start .. end - 1`` and ``MTH(D[start:end])`` their Merkle Tree Hash.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Final, TypeAlias

__all__ = ["EMPTY_ROOT", "Frontier", "leaf_hash", "node_hash", "root_of", "split_point"]
__all__ += ["SubtreeRoot", "consistency_path", "inclusion_path"]
__all__ += ["verify_consistency", "verify_inclusion"]
__all__ += ["LEAF_PREFIX", "NODE_PREFIX", "perfect_levels"]

EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256(), RFC 6962 §2.1
# RFC 6962 §2.1 domain separation: the only place these two bytes are written. Bulk paths
# elsewhere (canonical.py's leaf hashing) import them rather than repeat them.
LEAF_PREFIX: Final[bytes] = b"\x00"
NODE_PREFIX: Final[bytes] = b"\x01"

SubtreeRoot: TypeAlias = Callable[[int, int], bytes]
"""Caller-provided ``subtree(start, end) -> MTH(D[start:end])``, ``0 <= start < end``.

Proof builders only ask for perfect aligned subtrees (``end - start == 2**k``,
``start % 2**k == 0``) or ranges ending at the proof's tree size.
"""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0): the hash of one leaf entry (RFC 6962 §2.1)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node (RFC 6962 §2.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """RFC 6962 §2.1's ``k``: the largest power of two below ``n``. ValueError if n < 2."""
    if n < 2:
        raise ValueError(f"split_point needs n >= 2, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D) over already-hashed leaves (RFC 6962 §2.1); EMPTY_ROOT for no leaves.

    Level by level: pairing neighbours and promoting an unpaired last node
    unchanged builds exactly the RFC's split-at-``k`` tree, without recursion.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def perfect_levels(leaf_hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the perfect tree over 2**k leaf hashes: ``levels[0]`` the leaves,
    ``levels[k]`` the single root; ``levels[j][i]`` is MTH of leaves ``[i * 2**j, (i + 1) *
    2**j)``. The nodes ``Frontier.append`` would make, without a Python step per node.
    ValueError unless the count is a power of two."""
    count = len(leaf_hashes)
    if count == 0 or count & (count - 1):
        raise ValueError(f"a perfect tree needs 2**k leaves, got {count}")
    sha, prefix = hashlib.sha256, NODE_PREFIX
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        pairs = iter(levels[-1])
        levels.append([sha(prefix + left + right).digest()
                       for left, right in zip(pairs, pairs, strict=True)])
    return levels


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32  # SHA-256 digest size


class Frontier:
    """Compact range [0, size): the roots of the perfect subtrees along the right edge.

    Left to right (largest first), one per set bit of ``size``. Lets a sealer extend
    the tree leaf by leaf in O(1) amortised and compute the root in O(log n).
    """

    __slots__ = ("_roots", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._roots: list[bytes] = []

    @classmethod
    def from_subtrees(cls, size: int, roots: Sequence[bytes]) -> Frontier:
        """Rebuild a stored frontier; the hashes themselves cannot be checked.

        ValueError if ``size < 0``, ``len(roots) != popcount(size)`` or a root is not 32 bytes.
        """
        if size < 0 or len(roots) != size.bit_count() or not all(map(_is_hash, roots)):
            raise ValueError(f"size {size} needs popcount(size) 32-byte roots, got {len(roots)}")
        frontier = cls()
        frontier._size, frontier._roots = size, list(roots)
        return frontier

    @property
    def size(self) -> int:
        """Number of leaves in the range."""
        return self._size

    @property
    def roots(self) -> tuple[bytes, ...]:
        """Perfect-subtree roots, left to right (largest first)."""
        return tuple(self._roots)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf *hash* at position ``size``; return the perfect subtrees it completes.

        Each is ``(level, index, hash)``, covering leaves ``[index * 2**level, (index + 1)
        * 2**level)``; levels increase, starting with ``(0, position, leaf)`` itself.
        ValueError if ``leaf`` is not a 32-byte digest.
        """
        if not _is_hash(leaf):
            raise ValueError("append takes a 32-byte leaf hash")
        level, index, node = 0, self._size, leaf
        completed = [(level, index, node)]
        while index & 1:  # a left sibling of equal size is waiting: merge
            node = node_hash(self._roots.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self._roots.append(node)
        self._size += 1
        return completed

    def append_subtree(self, level: int, node: bytes) -> list[tuple[int, int, bytes]]:
        """Add MTH of the 2**``level`` leaves starting at ``size`` (which ``2**level`` must
        divide); return the subtrees it completes, ``(level, index, node)`` first, as
        ``append`` does. ValueError if unaligned or ``node`` is not a 32-byte digest."""
        if self._size & ((1 << level) - 1) or not _is_hash(node):
            raise ValueError(f"a subtree of 2**{level} leaves cannot start at {self._size}")
        index = self._size >> level
        completed = [(level, index, node)]
        while index & 1:
            node = node_hash(self._roots.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self._roots.append(node)
        self._size += 1 << completed[0][0]
        return completed

    def root(self) -> bytes:
        """MTH(D[0:size]) (RFC 6962 §2.1); EMPTY_ROOT when ``size == 0``."""
        node = self._roots[-1] if self._roots else EMPTY_ROOT
        for left in reversed(self._roots[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> Frontier:
        """An independent frontier with the same state."""
        return Frontier.from_subtrees(self._size, self._roots)


def inclusion_path(index: int, size: int, subtree: SubtreeRoot) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1: sibling hashes, leaf level first.

    Walks the RFC's recursion from the root down, asking ``subtree`` for each sibling;
    ValueError unless ``0 <= index < size``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            path.append(subtree(mid, end))
            end = mid
        else:
            path.append(subtree(start, mid))
            start = mid
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether leaf hash ``leaf`` is leaf ``index`` of the size-``size`` tree ``root``.

    RFC 9162 §2.1.3.2. False, never an exception, on any mismatch or malformed
    input (index out of range, wrong path length, values that are not 32 bytes).
    """
    if not (0 <= index < size and all(map(_is_hash, [leaf, root, *path]))):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(r, root)


def consistency_path(old_size: int, new_size: int, subtree: SubtreeRoot) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 6962 §2.1.2; empty when the sizes are equal.

    Iterative SUBPROOF(m, D[n], b), asking ``subtree`` for each node;
    ValueError unless ``0 < old_size <= new_size``."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        mid = start + split_point(end - start)
        if m <= mid - start:
            proof.append(subtree(mid, end))
            end = mid
        else:
            proof.append(subtree(start, mid))
            m, start, complete = m - (mid - start), mid, False
    if not complete:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the size-``old_size`` tree ``old_root`` is a prefix of ``new_root``.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``; equal sizes need an empty
    proof and equal roots. False, never an exception, on any mismatch or malformed
    input (including ``old_size <= 0``, for which RFC 6962 defines no proof).
    """
    if not (0 < old_size <= new_size and all(map(_is_hash, [old_root, new_root, *proof]))):
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if not proof:  # step 1
        return False
    # Step 2: a power-of-two old tree is a node of the new one; its root starts the path.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)

"""Specification tests for audit.merkle (RFC 6962 §2.1 / RFC 9162 §2.1 Merkle trees).

Three independent sources of truth:
* published vectors from github.com/transparency-dev/merkle (the Go Merkle tree
  library used by Certificate Transparency tooling), copied below;
* a deliberately naive recursive reference written line by line from the RFC
  6962 §2.1 definitions of MTH, PATH and PROOF;
* negative cases: any change to a valid proof or its claims must be rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
    split_point,
    verify_consistency,
    verify_inclusion,
)

T = TypeVar("T")
h = bytes.fromhex

# --------------------------------------------------------------------------------------
# Published vectors.
# Leaf inputs, node hashes per level and roots per size: github.com/transparency-dev/merkle,
# testonly/constants.go (LeafInputs, NodeHashes, RootHashes, CompactTrees), as of commit
# 582a6ad190b6848f1d26f8bf08ddef29955d9db1.
# Inclusion / consistency proofs: github.com/transparency-dev/merkle, proof/verify_test.go
# (inclusionProofs, consistencyProofs, sha256SomeHash), as of commit
# 02194e9afb6c1d95b5381350007963aa70fff472. There `leaf` is 1-based; converted to 0-based here.
# --------------------------------------------------------------------------------------

LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]
EMPTY_TREE_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = [  # indexed by tree size
    h(EMPTY_TREE_HEX),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
_N = NODE_HASHES
COMPACT_TREES: list[list[bytes]] = [  # Frontier.roots for each size
    [],
    [_N[0][0]],
    [_N[1][0]],
    [_N[1][0], _N[0][2]],
    [_N[2][0]],
    [_N[2][0], _N[0][4]],
    [_N[2][0], _N[1][2]],
    [_N[2][0], _N[1][2], _N[0][6]],
    [_N[3][0]],
]
INCLUSION_VECTORS = [  # (0-based index, size, path)
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_VECTORS = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
# Hashes used as "wrong" values by the corruption probes in proof/verify_test.go.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
VECTOR_LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]


def vector_subtree(start: int, end: int) -> bytes:
    """Subtree callback for the vector tree, backed by the reference MTH below."""
    return ref_mth(LEAF_INPUTS[start:end])


# --------------------------------------------------------------------------------------
# Reference implementation, transcribed from RFC 6962 §2.1, §2.1.1 and §2.1.2.
# Generic over the sequence type so it can also run on `range` objects to produce
# the (start, end) ranges a proof is made of.
# --------------------------------------------------------------------------------------


def rfc_k(n: int) -> int:
    """'k be the largest power of two smaller than n (i.e., k < n <= 2k)'."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = rfc_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:n])).digest()


def ref_path(m: int, d: Sequence[T], mth: Callable[[Sequence[T]], bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = rfc_k(n)
    if m < k:
        return [*ref_path(m, d[:k], mth), mth(d[k:n])]
    return [*ref_path(m - k, d[k:n], mth), mth(d[:k])]


def ref_proof(m: int, d: Sequence[T], mth: Callable[[Sequence[T]], bytes]) -> list[bytes]:
    def subproof(m: int, d: Sequence[T], b: bool) -> list[bytes]:
        n = len(d)
        if m == n:
            return [] if b else [mth(d)]
        k = rfc_k(n)
        if m <= k:
            return [*subproof(m, d[:k], b), mth(d[k:n])]
        return [*subproof(m - k, d[k:n], False), mth(d[:k])]

    return subproof(m, d, True)


def range_token(start: int, end: int) -> bytes:
    return f"{start}:{end}".encode()


def range_mth(r: Sequence[int]) -> bytes:
    assert isinstance(r, range)
    return range_token(r.start, r.stop)


def subtree_from(entries: Sequence[bytes]) -> Callable[[int, int], bytes]:
    """A subtree callback backed by the reference MTH over raw entries."""

    def subtree(start: int, end: int) -> bytes:
        assert 0 <= start < end <= len(entries)
        return ref_mth(entries[start:end])

    return subtree


def flip(proof: Sequence[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 8]) + out[i][1:]
    return out


def entry_lists(min_size: int = 0, *, unique: bool = False) -> st.SearchStrategy[list[bytes]]:
    """Lists of raw entries whose length is drawn evenly-ish from [min_size, 70].

    Drawing the length first stops hypothesis from favouring tiny trees.
    """
    return st.integers(min_size, 70).flatmap(
        lambda n: st.lists(st.binary(max_size=6), min_size=n, max_size=n, unique=unique)
    )


# --------------------------------------------------------------------------------------
# Hashing primitives and roots
# --------------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_TREE_HEX
    assert root_of([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    # A leaf whose entry looks like two child hashes must not collide with that node.
    assert leaf_hash(b"\x01" + b"L" * 32 + b"R" * 32) != node_hash(b"L" * 32, b"R" * 32)


def test_published_node_hashes() -> None:
    assert NODE_HASHES[0] == VECTOR_LEAVES
    for level in range(1, 4):
        below = NODE_HASHES[level - 1]
        assert NODE_HASHES[level] == [
            node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)
        ]


@pytest.mark.parametrize("size", range(9))
def test_published_roots(size: int) -> None:
    assert root_of(VECTOR_LEAVES[:size]) == ROOTS[size]
    frontier = Frontier()
    for leaf in VECTOR_LEAVES[:size]:
        frontier.append(leaf)
    assert frontier.size == size
    assert frontier.roots == tuple(COMPACT_TREES[size])
    assert frontier.root() == ROOTS[size]


def test_frontier_reports_every_published_node_exactly_once() -> None:
    frontier = Frontier()
    seen: dict[tuple[int, int], bytes] = {}
    for position, leaf in enumerate(VECTOR_LEAVES):
        completed = frontier.append(leaf)
        assert completed[0] == (0, position, leaf)
        assert [level for level, _, _ in completed] == list(range(len(completed)))
        for level, index, node in completed:
            assert (level, index) not in seen
            seen[(level, index)] = node
    assert seen == {
        (level, index): node
        for level, row in enumerate(NODE_HASHES)
        for index, node in enumerate(row)
    }


def test_draft_subtree_hash_vector() -> None:
    """Rolling hash over MTH of every valid subtree [start, end), end <= 130, d[i] = bytes([i]).

    github.com/transparency-dev/merkle, testonly/vectors_test.go (TestSubtreeHashVectors,
    commit 1c243046bea7805f274ffcdc2f0f58e69d73e25e), which reproduces the 'Subtree Test
    Vectors' appendix of draft-ietf-plants-merkle-tree-certs. Valid means start == 0 or
    start is a multiple of bit_ceil(end - start) (isSubtreeValid in testonly/tree.go).
    """
    leaves = [leaf_hash(bytes([i])) for i in range(130)]
    rolling = hashlib.sha256()
    for end in range(1, 131):
        for start in range(end):
            bit_ceil = 1 << (end - start - 1).bit_length()
            if start == 0 or start % bit_ceil == 0:
                rolling.update(f"[{start}, {end}) {root_of(leaves[start:end]).hex()}\n".encode())
    assert rolling.hexdigest() == "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f"


def test_split_point() -> None:
    for n in range(2, 2049):
        k = split_point(n)
        assert k & (k - 1) == 0 and k < n <= 2 * k
    for bad in (-1, 0, 1):
        with pytest.raises(ValueError, match="split_point needs n >= 2"):
            split_point(bad)


def test_root_of_large_tree_matches_frontier() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(3 * 2**14 + 5)]
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert root_of(leaves) == frontier.root()


@settings(max_examples=60, deadline=None)
@given(entry_lists())
def test_root_of_matches_rfc_reference(entries: list[bytes]) -> None:
    assert root_of([leaf_hash(e) for e in entries]) == ref_mth(entries)


# --------------------------------------------------------------------------------------
# Frontier
# --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(entry_lists())
def test_frontier_tracks_every_prefix(entries: list[bytes]) -> None:
    frontier = Frontier()
    for i, entry in enumerate(entries):
        size = i + 1
        completed = frontier.append(leaf_hash(entry))
        expected = [
            (level, size // 2**level - 1, ref_mth(entries[size - 2**level : size]))
            for level in range(size.bit_length())
            if size % 2**level == 0
        ]
        assert completed == expected
        assert frontier.size == size
        assert frontier.root() == ref_mth(entries[:size])
        # One root per set bit of size, each the MTH of its perfect subtree, left to right.
        bounds, start = [], 0
        for bit in reversed(range(size.bit_length())):
            if size >> bit & 1:
                bounds.append((start, start + 2**bit))
                start += 2**bit
        assert frontier.roots == tuple(ref_mth(entries[a:b]) for a, b in bounds)


@settings(max_examples=40, deadline=None)
@given(entry_lists(), st.lists(st.binary(max_size=4), min_size=1, max_size=5))
def test_frontier_round_trips_through_from_subtrees(
    entries: list[bytes], more: list[bytes]
) -> None:
    original = Frontier()
    for e in entries:
        original.append(leaf_hash(e))
    restored = Frontier.from_subtrees(original.size, original.roots)
    copied = original.copy()
    assert (restored.size, restored.roots, restored.root()) == (
        original.size,
        original.roots,
        original.root(),
    )
    for e in more:
        expected = original.append(leaf_hash(e))
        assert restored.append(leaf_hash(e)) == expected
        assert copied.append(leaf_hash(e)) == expected
    assert restored.root() == copied.root() == original.root() == ref_mth(entries + more)


def test_frontier_copy_is_independent() -> None:
    frontier = Frontier()
    frontier.append(VECTOR_LEAVES[0])
    snapshot = frontier.copy()
    frontier.append(VECTOR_LEAVES[1])
    assert (snapshot.size, snapshot.root()) == (1, ROOTS[1])
    assert (frontier.size, frontier.root()) == (2, ROOTS[2])


def test_frontier_rejects_malformed_state() -> None:
    for size, roots in [
        (0, [ROOTS[1]]),
        (1, []),
        (3, [ROOTS[2]]),
        (4, [ROOTS[4], ROOTS[1]]),
        (-1, []),
        (2, [b"short"]),
    ]:
        with pytest.raises(ValueError, match=r"needs popcount\(size\) 32-byte roots"):
            Frontier.from_subtrees(size, roots)
    with pytest.raises(ValueError, match="append takes a 32-byte leaf hash"):
        Frontier().append(b"not a 32-byte hash")
    assert Frontier.from_subtrees(0, []).root() == EMPTY_ROOT


# --------------------------------------------------------------------------------------
# Inclusion proofs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, path: list[bytes]) -> None:
    leaf = VECTOR_LEAVES[index]
    root = ROOTS[size]
    assert inclusion_path(index, size, vector_subtree) == path
    assert verify_inclusion(leaf, index, size, path, root)

    # Corruption probes mirroring corruptInclusionProof in proof/verify_test.go.
    probes: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, index - 1, size, path, root),
        (leaf, index + 1, size, path, root),
        (leaf, index ^ 2, size, path, root),
        (leaf, index, size * 2, path, root),
        (leaf, index, size // 2, path, root),
        (leaf_hash(b"WrongLeaf"), index, size, path, root),
        (leaf, index, size, path, EMPTY_ROOT),
        (leaf, index, size, path, SOME_HASH),
        (leaf, index, size, [*path, b""], root),
        (leaf, index, size, [*path, root], root),
        (leaf, index, size, [b"", *path], root),
        (leaf, index, size, [root, *path], root),
        # Not in verify_test.go: stretching the path to a taller tree of the same size.
        (leaf, index, size, [*path, SOME_HASH], node_hash(SOME_HASH, root)),
    ]
    probes += [(leaf, index, size, flip(path, i), root) for i in range(len(path))]
    if path:
        probes.append((leaf, index, size, path[:-1], root))
    if len(path) > 1:
        probes.append((leaf, index, size, [path[0], SOME_HASH, *path[1:]], root))
    for probe in probes:
        assert not verify_inclusion(*probe), probe


def test_inclusion_path_structure_matches_rfc_for_all_small_trees() -> None:
    """PATH(m, D[n]) asks for exactly the RFC's subtrees, in order, for every n <= 70."""
    requested: list[tuple[int, int]] = []

    def subtree(start: int, end: int) -> bytes:
        requested.append((start, end))
        return range_token(start, end)

    for size in range(1, 71):
        for index in range(size):
            requested.clear()
            assert inclusion_path(index, size, subtree) == ref_path(index, range(size), range_mth)
            for start, end in requested:  # perfect aligned subtree or the right edge
                width = end - start
                assert end == size or (width & (width - 1) == 0 and start % width == 0)


@settings(max_examples=40, deadline=None)
@given(entry_lists(1))
def test_inclusion_proofs_match_rfc_and_verify(entries: list[bytes]) -> None:
    size = len(entries)
    leaves = [leaf_hash(e) for e in entries]
    root = ref_mth(entries)
    subtree = subtree_from(entries)
    for index in range(size):
        path = inclusion_path(index, size, subtree)
        assert path == ref_path(index, entries, ref_mth)
        assert verify_inclusion(leaves[index], index, size, path, root)


@settings(max_examples=60, deadline=None)
@given(entry_lists(1, unique=True), st.data())
def test_inclusion_proof_binds_leaf_index_size_and_root(
    entries: list[bytes], data: st.DataObject
) -> None:
    size = len(entries)
    leaves = [leaf_hash(e) for e in entries]
    root = ref_mth(entries)
    subtree = subtree_from(entries)
    index = data.draw(st.integers(0, size - 1), label="index")
    path = inclusion_path(index, size, subtree)
    leaf = leaves[index]

    other = data.draw(st.integers(0, size - 1), label="other")
    if other != index:  # leaves are unique, so another leaf or position must fail
        assert not verify_inclusion(leaves[other], index, size, path, root)
        assert not verify_inclusion(leaf, other, size, path, root)
    # Claiming another size: valid only against that tree's root, and only if the
    # proofs happen to coincide.
    other_size = data.draw(st.integers(index + 1, size), label="other_size")
    expected = inclusion_path(index, other_size, subtree) == path
    assert (
        verify_inclusion(leaf, index, other_size, path, ref_mth(entries[:other_size])) is expected
    )
    assert not verify_inclusion(leaf, index, size, path, flip([root], 0)[0])
    assert not verify_inclusion(leaf, index, size, [*path, SOME_HASH], root)
    # Nor can the path be stretched to a taller tree with the claimed size unchanged.
    taller = node_hash(SOME_HASH, root)
    assert not verify_inclusion(leaf, index, size, [*path, SOME_HASH], taller)
    if path:
        assert not verify_inclusion(leaf, index, size, path[1:], root)
        assert not verify_inclusion(leaf, index, size, path[:-1], root)


def test_inclusion_rejects_out_of_range_and_malformed_input() -> None:
    for index, size in [(0, 0), (1, 1), (-1, 1), (8, 8), (9, 8)]:
        with pytest.raises(ValueError, match="is not in a tree of size"):
            inclusion_path(index, size, vector_subtree)
        assert not verify_inclusion(VECTOR_LEAVES[0], index, size, [], ROOTS[1])
    leaf, path = VECTOR_LEAVES[0], INCLUSION_VECTORS[1][2]
    assert verify_inclusion(leaf, 0, 8, path, ROOTS[8])
    assert not verify_inclusion(leaf, 0, 8, [p[:31] for p in path], ROOTS[8])
    assert not verify_inclusion(leaf[:31], 0, 8, path, ROOTS[8])
    assert not verify_inclusion(leaf, 0, 8, path, ROOTS[8][:31])
    assert not verify_inclusion(leaf, 0, 8, [*path[:2], path[2] + b"\x00"], ROOTS[8])
    # A one-leaf tree's root is its leaf hash, with an empty path (verify_test.go).
    assert verify_inclusion(leaf_hash(b"data"), 0, 1, [], leaf_hash(b"data"))
    assert not verify_inclusion(leaf_hash(b"data"), 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], leaf_hash(b"data"))


# --------------------------------------------------------------------------------------
# Consistency proofs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    old_root, new_root = ROOTS[old], ROOTS[new]
    assert consistency_path(old, new, vector_subtree) == proof
    assert verify_consistency(old, new, old_root, new_root, proof)
    if not proof:
        return

    # Corruption probes mirroring corruptConsistencyProof in proof/verify_test.go.
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (old, new, b"WrongRoot", new_root, proof),
        (old, new, old_root, b"WrongRoot", proof),
        (old, new, SOME_HASH, new_root, proof),
        (old, new, old_root, SOME_HASH, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, b""]),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [b"", *proof]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [new_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, proof[:-1]),
        # Not in verify_test.go: stretching the proof to two taller trees of the same sizes.
        (
            old,
            new,
            node_hash(SOME_HASH, old_root),
            node_hash(SOME_HASH, new_root),
            [*proof, SOME_HASH],
        ),
    ]
    probes += [(old, new, old_root, new_root, flip(proof, i)) for i in range(len(proof))]
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_consistency_path_structure_matches_rfc_for_all_small_trees() -> None:
    """PROOF(m, D[n]) asks for exactly the RFC's subtrees, in order, for every m <= n <= 70."""
    requested: list[tuple[int, int]] = []

    def subtree(start: int, end: int) -> bytes:
        requested.append((start, end))
        return range_token(start, end)

    for new in range(1, 71):
        for old in range(1, new + 1):
            requested.clear()
            assert consistency_path(old, new, subtree) == ref_proof(old, range(new), range_mth)
            for start, end in requested:
                width = end - start
                assert end == new or (width & (width - 1) == 0 and start % width == 0)


@settings(max_examples=40, deadline=None)
@given(entry_lists(1))
def test_consistency_proofs_match_rfc_and_verify(entries: list[bytes]) -> None:
    new = len(entries)
    new_root = ref_mth(entries)
    subtree = subtree_from(entries)
    for old in range(1, new + 1):
        proof = consistency_path(old, new, subtree)
        assert proof == ref_proof(old, entries, ref_mth)
        assert verify_consistency(old, new, ref_mth(entries[:old]), new_root, proof)


@settings(max_examples=60, deadline=None)
@given(entry_lists(2, unique=True), st.data())
def test_consistency_proof_binds_sizes_and_roots(entries: list[bytes], data: st.DataObject) -> None:
    new = len(entries)
    subtree = subtree_from(entries)
    old = data.draw(st.integers(1, new - 1), label="old")
    old_root, new_root = ref_mth(entries[:old]), ref_mth(entries[:new])
    proof = consistency_path(old, new, subtree)
    assert verify_consistency(old, new, old_root, new_root, proof)

    assert not verify_consistency(old, new, new_root, old_root, proof)
    assert not verify_consistency(new, old, old_root, new_root, proof)
    assert not verify_consistency(old, new, old_root, flip([new_root], 0)[0], proof)
    assert not verify_consistency(old, new, flip([old_root], 0)[0], new_root, proof)
    assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, new, old_root, new_root, [*proof, SOME_HASH])
    assert not verify_consistency(old, new, old_root, new_root, [SOME_HASH, *proof])
    # Nor can the proof be stretched to two taller trees with the claimed sizes unchanged.
    taller = node_hash(SOME_HASH, old_root), node_hash(SOME_HASH, new_root)
    assert not verify_consistency(old, new, *taller, [*proof, SOME_HASH])
    # A tree that rewrote history (one changed leaf before `old`) is not consistent.
    changed = data.draw(st.integers(0, old - 1), label="changed")
    forged = [*entries[:changed], entries[changed] + b"!", *entries[changed + 1 :]]
    forged_root = ref_mth(forged)
    assert not verify_consistency(old, new, old_root, forged_root, proof)
    assert not verify_consistency(
        old, new, old_root, forged_root, consistency_path(old, new, subtree_from(forged))
    )
    # Claiming other sizes: valid only against those trees' roots, and only if the
    # proofs happen to coincide.
    old2 = data.draw(st.integers(1, new), label="old2")
    new2 = data.draw(st.integers(old2, new), label="new2")
    expected = consistency_path(old2, new2, subtree) == proof
    roots2 = ref_mth(entries[:old2]), ref_mth(entries[:new2])
    assert verify_consistency(old2, new2, *roots2, proof) is expected


def test_consistency_rejects_bad_sizes_and_malformed_input() -> None:
    for old, new in [(0, 0), (0, 5), (-1, 5), (6, 5), (2, 1)]:
        with pytest.raises(ValueError, match="no consistency proof from size"):
            consistency_path(old, new, vector_subtree)
        assert not verify_consistency(old, new, ROOTS[0], ROOTS[5], [])
    # Equal sizes: empty proof and identical roots, nothing else.
    assert verify_consistency(4, 4, ROOTS[4], ROOTS[4], [])
    assert not verify_consistency(4, 4, ROOTS[4], ROOTS[3], [])
    assert not verify_consistency(4, 4, ROOTS[4], ROOTS[4], [EMPTY_ROOT])
    # An empty proof never links different sizes.
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    old, new, proof = CONSISTENCY_VECTORS[2]
    assert not verify_consistency(old, new, ROOTS[old], ROOTS[new], [p[:31] for p in proof])
    assert not verify_consistency(old, new, ROOTS[old][:31], ROOTS[new], proof)
    assert not verify_consistency(old, new, ROOTS[old], ROOTS[new] + b"\x00", proof)

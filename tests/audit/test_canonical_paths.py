"""Every fast encoder in audit/canonical.py writes `canonical_bytes`, byte for byte, on hostile
Unicode: the sealer's and verification's bulk paths (`stored_leaf_hashes`, from values and
stored `details` text; SQLite's own json_array head, `SQLITE_HEAD_SQL` with
`sqlite_leaf_hashes`) are held to the one definition. A fast path may decline a row (SQLite's
empty digest: the caller re-encodes it the slow way) but never hash it differently."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit.canonical import (
    ENCODING_VERSION,
    FIELDS,
    SQLITE_HEAD_SQL,
    canonical_bytes,
    sqlite_json_agrees,
    sqlite_leaf_hashes,
    stored_leaf_hashes,
)
from audit.merkle import leaf_hash

# Everything Python can hold, lone surrogates included, weighted towards what breaks encoders:
# controls, NUL, DEL, quotes, backslashes, the line and paragraph separators, BOM, bidi
# overrides, combining marks, astral characters.
NASTY = "\x00\x01\x08\x09\x0a\x0d\x1b\x1f\x7f\x80\x9f\"\\/'\u2028\u2029\ufeff\u202e\u0301" \
        "\U0001f600\U0010ffff\ud800\udfff"
any_text = st.text(st.one_of(st.sampled_from(NASTY), st.characters()), max_size=12)
# What SQLite can store as text (no lone surrogates: they are not UTF-8).
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
storable_text = st.text(st.one_of(st.sampled_from(NASTY[:-2]),
                                  st.characters(exclude_categories=SURROGATES)), max_size=12)
ts = st.integers(-(2**63), 2**63 - 1)


def records(text: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    scalar = st.one_of(text, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none())
    value = st.one_of(scalar, st.lists(st.one_of(text, st.integers(-(2**53), 2**53)),
                                       max_size=3))
    details = st.dictionaries(text, value, max_size=4)
    return st.tuples(ts, *[st.one_of(st.none(), text)] * (len(FIELDS) - 2), details)


def stored_texts(details: dict[str, Any]) -> list[str]:
    """`details` as the databases hand it back: SQLAlchemy's JSON text (SQLite) and a jsonb
    spelling (spaces, raw UTF-8, PostgreSQL's key order)."""
    pg_order = dict(sorted(details.items(), key=lambda kv: (len(kv[0].encode("utf-8",
                                                                            "surrogatepass")),
                                                           kv[0])))
    return [json.dumps(details), json.dumps(pg_order, ensure_ascii=False)]


@settings(max_examples=300, deadline=None)
@given(records(any_text))
@example((0, *[None] * (len(FIELDS) - 2), {}))
@example((-(2**63), *["\ud800\x00\u2028"] * (len(FIELDS) - 2), {"\udfff": ["\x7f", 2**53]}))
def test_stored_leaf_hashes_is_canonical_bytes(record: tuple[Any, ...]) -> None:
    expected = leaf_hash(canonical_bytes(record))
    head = [ENCODING_VERSION, *record[:-1]]
    for stored in stored_texts(record[-1]):
        assert stored_leaf_hashes([head], [stored]) == [expected]


def test_stored_leaf_hashes_takes_null_details_as_json_null() -> None:
    record = (1, *[None] * (len(FIELDS) - 2), None)
    head = [ENCODING_VERSION, *record[:-1]]
    assert stored_leaf_hashes([head], [None]) == [leaf_hash(canonical_bytes(record))]


def sqlite_head(raw: sqlite3.Connection, record: tuple[Any, ...]) -> bytes | None:
    row = ", ".join(f"? AS {name}" for name in FIELDS[:-1])
    head = raw.execute(f"SELECT {SQLITE_HEAD_SQL} FROM (SELECT {row})",
                       record[:-1]).fetchone()[0]
    return None if head is None else bytes(head)


@settings(max_examples=300, deadline=None)
@given(records(storable_text))
@example((7, *["plain ascii ~!@#$%^&*()"] * (len(FIELDS) - 2), {"k": "v"}))
@example((7, *["nul\x00inside"] * (len(FIELDS) - 2), {}))
@example((7, *(["del\x7f", "\u2028", "\x1b[2J"] * len(FIELDS))[:len(FIELDS) - 2], {}))
def test_the_sqlite_head_path_is_canonical_bytes_or_declines(record: tuple[Any, ...]) -> None:
    raw = sqlite3.connect(":memory:")
    assert sqlite_json_agrees(raw)
    expected = leaf_hash(canonical_bytes(record))
    head = sqlite_head(raw, record)
    for stored in stored_texts(record[-1]):
        [digest] = sqlite_leaf_hashes([head], [stored])
        assert digest in (expected, b""), "a fast path hashed a row differently"
        if all(v is None or (isinstance(v, str) and v.isascii() and v.isprintable()
                             and "\\" not in v) for v in record[1:-1]):
            assert digest == expected  # plain rows take the fast path
        if head is not None and digest:
            assert sqlite_leaf_hashes([head], [stored], all_plain=True) == [expected]

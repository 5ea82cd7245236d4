"""The pinned canonical encoding of an audit event: the exact bytes a leaf hash covers.

Encoding version 1 (changing any rule below needs a new version number, because every stored
leaf hash and every published checkpoint depends on it):

    JSON array  [1, ts_us, actor_iss, actor_sub, actor_name, actor_roles, session_id, source_ip,
                 user_agent, action, outcome, target_type, target_id, customer_id, request_id,
                 grant_id, ticket, reason, policy_version, details]

- values exactly as stored in `audit_events` (absent text is JSON null; `actor_roles` is the
  stored space-separated string; `ts_us` an integer of UTC microseconds);
- `details` an object with keys sorted by code point; values text, integers, booleans, null or
  lists of text and integers (floats have no single spelling, so the model refuses them);
- no whitespace (separators "," and ":"); every non-ASCII character and every control character
  written as a \\u escape of four hex digits (astral characters as a surrogate pair), so the
  bytes are pure ASCII and do not depend on Unicode normalisation, the terminal, or the
  database's encoding.

The storage id and PostgreSQL's `txid` are left out: they are where a row sits, not what
happened, and leaving them out is what lets `verify` tell a swapped pair of rows from an edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

from audit.merkle import LEAF_PREFIX

ENCODING_VERSION = 1

FIELDS: tuple[str, ...] = (
    "ts_us", "actor_iss", "actor_sub", "actor_name", "actor_roles", "session_id", "source_ip",
    "user_agent", "action", "outcome", "target_type", "target_id", "customer_id", "request_id",
    "grant_id", "ticket", "reason", "policy_version", "details",
)

_encode = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode


def canonical_bytes(record: Sequence[Any]) -> bytes:
    """Encode one event given its stored values in `FIELDS` order."""
    return _encode([ENCODING_VERSION, *record]).encode("ascii")


def record_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The `FIELDS`-ordered values of a stored row (or of a bundle line)."""
    return tuple(row[name] for name in FIELDS)


def _fast_encoder() -> Callable[[Any], str]:
    """`_encode`, called without `JSONEncoder.encode`'s per-call set-up (the bulk paths encode
    millions of values). Built from `_encode`'s own settings, so the rules are stated once; a
    test pins that it writes the same bytes as `canonical_bytes`. Falls back to `_encode`
    itself where Python has no C encoder."""
    base = _encode.__self__  # type: ignore[attr-defined]
    assert isinstance(base, json.JSONEncoder) and base.ensure_ascii and base.indent is None
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encode
    encode = make(None, base.default, encode_basestring_ascii, None, base.key_separator,
                  base.item_separator, base.sort_keys, base.skipkeys, base.allow_nan)
    return lambda value: "".join(encode(value, 0))


encode_json = _fast_encoder()


def stored_canonical_bytes(head: Sequence[Any], details_text: str | None) -> bytes:
    """`canonical_bytes` of an event whose `details` is still the JSON text the database holds
    (`head`: the other `FIELDS` values, in order; NULL details are JSON null). The sealer's
    and verification's bulk path: see `details_tail`."""
    return (encode_json([ENCODING_VERSION, *head])[:-1].encode("ascii") + b","
            + details_tail(details_text))


@lru_cache(maxsize=20_000)
def details_tail(details_text: str | None) -> bytes:
    """The canonical encoding of a stored `details` text and the array's closing bracket: how
    every event's bytes end. Cached: most events repeat the details of many others, and
    decoding them to re-encode cost more than everything else an event needs (a third of a
    sealing pass). The same text always has the same encoding, so caching changes no result."""
    details = None if details_text is None else json.loads(details_text)
    return (encode_json(details) + "]").encode("ascii")


# --- bulk leaf hashing: every other producer of the canonical bytes lives here -----------------
# The sealer and verification hash millions of events. They read each event as driver values
# (`details` still the stored JSON text), and on SQLite may let the database write the array's
# head. Each fast path below is held to `canonical_bytes` by tests
# (tests/audit/test_canonical_paths.py, on hostile Unicode, and tests/audit/test_verify_batches.py),
# and the SQLite one also at run time (`sqlite_json_agrees`).


def stored_leaf_hashes(heads: Iterable[Sequence[Any]], details_texts: Iterable[str | None]
                       ) -> list[bytes]:
    """The leaf hash of each event given its `head` (`[ENCODING_VERSION, *FIELDS but details]`,
    as the readers select it) and its stored `details` text: `stored_canonical_bytes`, hashed,
    without a Python call per event beyond the encoder's."""
    sha, encode, prefix = hashlib.sha256, encode_json, LEAF_PREFIX
    return [sha(prefix + encode(head)[:-1].encode("ascii") + b"," + details_tail(text)).digest()
            for head, text in zip(heads, details_texts, strict=True)]


SQLITE_HEAD_SQL = ("CASE typeof(ts_us) WHEN 'integer' THEN CAST(json_array("
                   + str(ENCODING_VERSION) + ", " + ", ".join(FIELDS[:-1]) + ") AS BLOB) END")
"""SQLite's json_array of an event's head (`[1, *FIELDS but details]`), as a BLOB so the bytes
reach Python undecoded. A REAL ts_us is the one value SQLite would write differently (15
digits): such a row gives NULL, and takes the slow path. Text columns hold text, NULL or a
BLOB, and a BLOB fails `sqlite_head_is_plain` either way."""


def sqlite_head_is_plain(head: bytes) -> bool:
    """ASCII with no escape and no DEL: what json_array writes for text that `canonical_bytes`
    writes unchanged too (json_array escapes the other control characters, so a backslash
    would show them). Also true of many heads joined, which is how a page is checked."""
    return head.isascii() and b"\\" not in head and b"\x7f" not in head


def sqlite_leaf_hashes(heads: Sequence[bytes | None], details_texts: Sequence[str | None],
                       all_plain: bool = False) -> list[bytes]:
    """Leaf hashes from SQLite-written heads (`SQLITE_HEAD_SQL`); an empty `bytes` for a head
    that is NULL or not plain, which the caller hashes from the row's values. `all_plain`:
    the caller has checked every head already (joined, in one pass)."""
    sha, prefix = hashlib.sha256, LEAF_PREFIX
    if all_plain:
        return [sha(prefix + head[:-1] + b"," + details_tail(text)).digest()  # type: ignore[index]
                for head, text in zip(heads, details_texts, strict=True)]
    return [sha(prefix + head[:-1] + b"," + details_tail(text)).digest()
            if head is not None and sqlite_head_is_plain(head) else b""
            for head, text in zip(heads, details_texts, strict=True)]


def sqlite_json_agrees(raw: Any) -> bool:
    """Whether `SQLITE_HEAD_SQL`, on the sqlite3 connection `raw`, writes integers, NULL and
    plain text exactly as `canonical_bytes` does (separators, digits, quoting), tried on every
    printable ASCII character but the backslash; if not, every event takes the slow path."""
    plain = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "\\")
    texts = [(plain, "", None)[i % 3] for i in range(len(FIELDS) - 2)]
    for ts in (-(2**63), 0, 2**63 - 1):
        values = [ts, *texts]
        row = ", ".join(f"? AS {name}" for name in FIELDS[:-1])
        written = raw.execute(f"SELECT {SQLITE_HEAD_SQL} FROM (SELECT {row})", values).fetchone()
        if written[0] != encode_json([ENCODING_VERSION, *values]).encode():
            return False
    return True

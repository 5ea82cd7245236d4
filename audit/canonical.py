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

import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

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

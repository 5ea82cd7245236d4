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
  written as a \\uXXXX escape (astral characters as a surrogate pair), so the bytes are pure ASCII
  and do not depend on Unicode normalisation, the terminal, or the database's encoding.

The storage id and PostgreSQL's `txid` are left out: they are where a row sits, not what
happened, and leaving them out is what lets `verify` tell a swapped pair of rows from an edit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
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


def stored_canonical_bytes(head: Sequence[Any], details_text: str | None) -> bytes:
    """`canonical_bytes` of an event whose `details` is still the JSON text the database holds
    (`head`: the other `FIELDS` values, in order; NULL details are JSON null).

    The same bytes, cheaper in bulk: most events repeat the details of many others, and decoding
    them to re-encode cost a third of a sealing pass, so each distinct text is encoded once."""
    return (_encode([ENCODING_VERSION, *head])[:-1].encode("ascii") + b","
            + _details_tail(details_text))


@lru_cache(maxsize=20_000)
def _details_tail(details_text: str | None) -> bytes:
    """The canonical encoding of stored `details` text and the array's closing bracket."""
    details = None if details_text is None else json.loads(details_text)
    return (_encode(details) + "]").encode("ascii")

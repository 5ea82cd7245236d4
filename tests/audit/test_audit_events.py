"""The event model refuses what must never be logged, and the canonical encoding is stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audit.canonical import FIELDS, canonical_bytes, record_of, stored_canonical_bytes
from audit.engine import write_engine
from audit.events import AuditEvent, InvalidEvent, from_micros, to_micros
from audit.log import append, stored_values
from audit.schema import events_table
from audit.vocabulary import ALLOWED_DETAILS
from tests.support.audit_helpers import ALICE
from tests.support.databases import Database


def test_unknown_action_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="action"):
        AuditEvent("data.peeked", ALICE)


@pytest.mark.parametrize("field", ["totp_code", "id_token", "cookie", "email", "value"])
def test_detail_fields_outside_the_allow_list_are_refused(field: str) -> None:
    with pytest.raises(InvalidEvent, match=f"details: \\['{field}'\\]"):
        AuditEvent("auth.mfa.failed", ALICE, details={field: "123456"})


def test_every_action_has_an_allow_list_without_secret_shaped_fields() -> None:
    secret_shaped = {"code", "secret", "token", "cookie", "password", "otp", "value", "email"}
    for action, fields in ALLOWED_DETAILS.items():
        assert not fields & secret_shaped, action


@pytest.mark.parametrize("value", [1.5, b"bytes", {"nested": 1}, [1.0], object()])
def test_detail_values_without_a_pinned_encoding_are_refused(value: object) -> None:
    with pytest.raises(InvalidEvent, match=r"details\.row_count"):
        AuditEvent("data.read", ALICE, details={"row_count": value})


@pytest.mark.parametrize("text", ["a\x00b", "lone \ud800 surrogate"])
def test_text_the_databases_cannot_store_faithfully_is_refused(text: str) -> None:
    with pytest.raises(InvalidEvent, match="reason"):
        AuditEvent("request.created", ALICE, reason=text)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="ts"):
        AuditEvent("auth.login", ALICE, ts=datetime(2026, 1, 1))


def test_timestamps_keep_microseconds_in_utc() -> None:
    local = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5)))
    assert from_micros(to_micros(local)) == local.astimezone(UTC)
    assert to_micros(datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == 1


def test_canonical_bytes_are_pinned() -> None:
    """A change to this string is a change of encoding version (every checkpoint depends on it)."""
    event = AuditEvent("data.read", ALICE, customer_id="c-1", reason="café\n\u2028",
                       details={"scope": "billing", "columns": ["plan"], "row_count": 3},
                       ts=datetime(2026, 11, 22, 13, 0, 0, 42, tzinfo=UTC))
    assert canonical_bytes(record_of(stored_values(event))) == (
        b'[1,1795352400000042,"https://idp.example","alice","Alice Support","requester",'
        b'null,null,null,"data.read","success",null,null,"c-1",null,null,null,'
        b'"caf\\u00e9\\n\\u2028",null,{"columns":["plan"],"row_count":3,"scope":"billing"}]')


SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
texts = st.text(alphabet=st.characters(exclude_categories=SURROGATES, exclude_characters="\x00"),
                max_size=300) | st.just("x" * 100_000)
details = st.dictionaries(st.sampled_from(sorted(ALLOWED_DETAILS["data.read"])),
                          st.none() | st.booleans() | st.integers(-(2**62), 2**62) | texts
                          | st.lists(texts, max_size=3), max_size=4)


@given(reason=texts, ticket=st.none() | texts, extra=details)
@settings(max_examples=150, deadline=None)
def test_canonical_bytes_are_ascii_deterministic_and_lossless(
        reason: str, ticket: str | None, extra: dict[str, object]) -> None:
    event = AuditEvent("data.read", ALICE, reason=reason, ticket=ticket, details=extra)
    values = stored_values(event)
    encoded = canonical_bytes(record_of(values))
    assert encoded.isascii()
    assert all(byte >= 0x20 for byte in encoded)  # no raw control characters, no raw newlines
    assert canonical_bytes(record_of(dict(reversed(values.items())))) == encoded
    assert json.loads(encoded) == [1, *record_of(values)]


@given(reason=texts, extra=details)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_canonical_bytes_survive_a_round_trip_through_the_database(
        db: Database, reason: str, extra: dict[str, object]) -> None:
    event = AuditEvent("data.read", ALICE, reason=reason, details=extra)
    with write_engine(db.engine).begin() as conn:
        event_id = append(conn, event)
    with db.engine.connect() as conn:
        row = conn.execute(select(*[events_table.c[n] for n in FIELDS])
                           .where(events_table.c.id == event_id)).one()
    stored = stored_values(event, clock=lambda: datetime.now(UTC))
    stored["ts_us"] = row.ts_us
    assert canonical_bytes(tuple(row)) == canonical_bytes(record_of(stored))


@given(reason=texts, extra=details, spaced=st.booleans())
@settings(max_examples=150, deadline=None)
def test_stored_details_text_encodes_to_the_same_bytes(
        reason: str, extra: dict[str, object], spaced: bool) -> None:
    """The sealer encodes `details` from the text the database holds (PostgreSQL's jsonb text
    has spaces and its own key order); the bytes must be `canonical_bytes`' exactly."""
    record = record_of(stored_values(AuditEvent("data.read", ALICE, reason=reason,
                                                details=extra)))
    stored = json.dumps(dict(reversed(list(extra.items()))),
                        separators=(", ", ": ") if spaced else (",", ":"), ensure_ascii=spaced)
    assert stored_canonical_bytes(record[:-1], stored) == canonical_bytes(record)
    assert stored_canonical_bytes(record[:-1], None) == canonical_bytes((*record[:-1], None))

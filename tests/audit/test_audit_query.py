"""Searching the audit log: exact filters, a UTC time range, keyset pages that neither skip nor
repeat, an index behind every filter, and aggregates for the charts. On both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text, tuple_

from audit.query import (
    COLUMNS,
    Cursor,
    EventFilter,
    InvalidFilter,
    actor_counts,
    count,
    daily_counts,
    search,
    stream,
)
from audit.schema import events_table
from audit.timeline import grant_timeline
from audit.vocabulary import Outcome
from tests.support.audit_history import MONDAY, History
from tests.support.databases import Database

H = timedelta(hours=1)


@pytest.fixture
def history(db: Database) -> dict[str, int]:
    """A small log with one distinguishing value per filter."""
    h = History(db.engine)
    return {
        "login": h.add("auth.login", "alice", details={"groups": ["support"]}),
        "read": h.read("alice", 1 * H, grant="7", customer="cust-1", ticket="SUP-1"),
        "reveal": h.read("bob", 2 * H, grant="8", customer="cust-2", ticket="SUP-2",
                         action="data.revealed"),
        "denied": h.add("data.denied", "bob", 3 * H, Outcome.DENIED, customer_id="cust-1",
                        grant_id="7", request_id="7", ticket="SUP-1",
                        details={"why": "grant 7 is expired"}),
        "error": h.add("notification.failed", "system", 4 * H, Outcome.ERROR,
                       details={"status": 500}),
        "wild": h.add("auth.login", "ali%", 5 * H, details={"groups": []}),
    }


def ids(db: Database, flt: EventFilter, limit: int = 50) -> list[int]:
    with db.engine.connect() as conn:
        return [e.id for e in search(conn, flt, None, limit).events]


FILTERED = [
    (EventFilter(), ["wild", "error", "denied", "reveal", "read", "login"]),
    (EventFilter(actor="alice"), ["read", "login"]),
    (EventFilter(action="data.read"), ["read"]),
    (EventFilter(outcome="denied"), ["denied"]),
    (EventFilter(outcome="error"), ["error"]),
    (EventFilter(outcome="success"), ["wild", "reveal", "read", "login"]),
    (EventFilter(customer="cust-1"), ["denied", "read"]),
    (EventFilter(request="8"), ["reveal"]),
    (EventFilter(grant="7"), ["denied", "read"]),
    (EventFilter(ticket="SUP-2"), ["reveal"]),
    (EventFilter(actor="bob", outcome="denied", customer="cust-1"), ["denied"]),
    (EventFilter(actor="bob", action="data.read"), []),
    (EventFilter(since=MONDAY + H, until=MONDAY + 3 * H), ["reveal", "read"]),
    (EventFilter(since=MONDAY + 3 * H), ["wild", "error", "denied"]),
    (EventFilter(until=MONDAY + H), ["login"]),
]


@pytest.mark.parametrize(("flt", "expected"), FILTERED)
def test_filters_are_exact_matches_that_combine(db: Database, history: dict[str, int],
                                                flt: EventFilter, expected: list[str]) -> None:
    assert ids(db, flt) == [history[name] for name in expected]


def test_time_bounds_are_utc_whatever_zone_they_are_given_in(db: Database,
                                                            history: dict[str, int]) -> None:
    paris = timezone(timedelta(hours=1))
    local = EventFilter(since=(MONDAY + H).astimezone(paris),
                        until=(MONDAY + 3 * H).astimezone(paris))
    assert ids(db, local) == [history["reveal"], history["read"]]


@pytest.mark.parametrize(("flt", "expected"), [
    (EventFilter(actor="ali%"), ["wild"]),   # the % is a character, not a wildcard
    (EventFilter(actor="ali_e"), []),        # neither is _
    (EventFilter(actor="%"), []),
    (EventFilter(customer="cust_1"), []),
])
def test_like_wildcards_typed_into_a_box_match_only_themselves(
        db: Database, history: dict[str, int], flt: EventFilter, expected: list[str]) -> None:
    assert ids(db, flt) == [history[name] for name in expected]


@pytest.mark.parametrize(("values", "field", "rule"), [
    ({"customer": "cust%"}, "customer", "customer id"),
    ({"customer": "x" * 65}, "customer", "1 to 64"),
    ({"request": "1 OR 1=1"}, "request", "request number"),
    ({"grant": "-1"}, "grant", "grant number"),
    ({"ticket": "SUP 1"}, "ticket", "ticket id"),
    ({"actor": "two words"}, "actor", "no spaces"),
    ({"actor": "sam\ud800"}, "actor", "no spaces"),  # a lone surrogate: not text at all
    ({"action": "data.peeked"}, "action", "vocabulary"),
    ({"outcome": "maybe"}, "outcome", "success, denied, error"),
    ({"since": datetime(2026, 1, 1)}, "since", "UTC"),
    ({"since": MONDAY, "until": MONDAY}, "until", "later than since"),
])
def test_a_bad_filter_names_the_field_and_the_rule(values: dict[str, object], field: str,
                                                   rule: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        EventFilter(**values)  # type: ignore[arg-type]
    assert caught.value.field == field and rule in caught.value.rule


def test_blank_boxes_mean_any_and_the_summary_names_only_what_was_asked() -> None:
    assert EventFilter(actor="  ", customer="") == EventFilter()
    assert EventFilter().summary() == "all events"
    flt = EventFilter(since=MONDAY, actor=" sam ", customer="cust-0042", outcome="denied")
    assert flt.actor == "sam"
    assert flt.summary() == "since=2026-11-23T10:00Z actor=sam outcome=denied customer=cust-0042"


def test_keyset_pages_neither_skip_nor_repeat_while_new_events_arrive(db: Database) -> None:
    h = History(db.engine)
    # 57 events in 19 distinct microseconds: ties on ts_us are broken by id, also across pages.
    for i in range(57):
        h.add("auth.login", f"user-{i % 5}", timedelta(seconds=i // 3),
              details={"groups": []})
    with db.engine.connect() as conn:
        expected = [e.id for e in search(conn, EventFilter(), None, 500).events]
    seen: list[int] = []
    after: Cursor | None = None
    arrivals = 0
    while True:
        with db.engine.connect() as conn:
            page = search(conn, EventFilter(), after, 10)
        seen.extend(e.id for e in page.events)
        # Between two page loads, newer events arrive (some at the very same microsecond as
        # the newest one seen so far).
        for _ in range(3):
            h.add("auth.login", "newcomer", timedelta(seconds=18 + arrivals // 2),
                  details={"groups": []})
            arrivals += 1
        if page.next is None:
            break
        after = page.next
    assert seen == expected
    assert len(set(seen)) == 57


def test_the_last_page_says_so_and_an_exact_fit_has_no_empty_page_after_it(
        db: Database) -> None:
    h = History(db.engine)
    for i in range(20):
        h.add("auth.login", "alice", timedelta(seconds=i), details={"groups": []})
    with db.engine.connect() as conn:
        first = search(conn, EventFilter(), None, 10)
        second = search(conn, EventFilter(), first.next, 10)
    assert first.next is not None and len(second.events) == 10 and second.next is None


def test_pages_of_a_time_window_walk_exactly_the_window(db: Database) -> None:
    """Deep pages bound the index range by the cursor rather than by `until` (SQLite scanned
    from `until` down otherwise): the rows must stay exactly those of the window, and a cursor
    above `until` must not open the window upwards."""
    h = History(db.engine)
    for i in range(40):
        h.add("auth.login", "alice", timedelta(minutes=i), details={"groups": []})
    window = EventFilter(since=MONDAY + timedelta(minutes=5), until=MONDAY + timedelta(minutes=30))
    with db.engine.connect() as conn:
        every = [e for e in search(conn, EventFilter(), None, 500).events]
        expected = [e.id for e in every if window.since <= e.ts < window.until]  # type: ignore
        seen, after = [], None
        while True:
            page = search(conn, window, after, 7)
            seen += [e.id for e in page.events]
            if page.next is None:
                break
            after = page.next
        above = search(conn, window, every[0].cursor, 50).events
    assert seen == expected and len(seen) == 25
    assert all(e.ts < window.until for e in above)  # type: ignore[operator]


def test_a_page_size_out_of_bounds_is_refused(db: Database) -> None:
    with db.engine.connect() as conn, pytest.raises(InvalidFilter, match="limit"):
        search(conn, EventFilter(), None, 501)


EXPECTED_INDEXES = {
    "ix_audit_events_ts": ["ts_us", "id"],
    "ix_audit_events_actor": ["actor_sub", "ts_us", "id"],
    "ix_audit_events_action": ["action", "ts_us", "id"],
    "ix_audit_events_customer": ["customer_id", "ts_us", "id"],
    "ix_audit_events_request": ["request_id", "ts_us", "id"],
    "ix_audit_events_grant": ["grant_id", "ts_us", "id"],
    "ix_audit_events_ticket": ["ticket", "ts_us", "id"],
    "ix_audit_events_not_success": ["outcome", "ts_us", "id"],
}


def test_every_filter_has_its_index_and_nothing_else_is_indexed(db: Database) -> None:
    found = {ix["name"]: [c for c in ix["column_names"] if c]
             for ix in inspect(db.engine).get_indexes("audit_events")}
    found.pop("ix_audit_events_txid_id", None)  # the sealer's commit order (PostgreSQL)
    # Access reviews' evidence (migration 0011): one aggregate per rule over (action, time),
    # reading the actor and the rest from the index itself (INCLUDE on PostgreSQL, trailing
    # keys on SQLite). It serves no filter of the log's pages.
    assert found.pop("ix_audit_events_action_actor")[:2] == ["action", "ts_us"]
    if db.kind == "sqlite":
        # SQLite's inspector cannot name the columns of an index on expressions (DESC).
        with db.engine.connect() as conn:
            for name in EXPECTED_INDEXES:
                found[name] = [r[2] for r in conn.exec_driver_sql(
                    f"PRAGMA index_info({name})")]
    assert found == EXPECTED_INDEXES


FIRST_PAGES = [EventFilter(), EventFilter(actor="alice"), EventFilter(action="data.read"),
               EventFilter(outcome="denied"), EventFilter(outcome="error"),
               EventFilter(customer="cust-1"), EventFilter(request="7"),
               EventFilter(grant="7"), EventFilter(ticket="SUP-1"),
               EventFilter(since=MONDAY, until=MONDAY + H),
               EventFilter(actor="alice", since=MONDAY)]


@pytest.mark.parametrize("flt", FIRST_PAGES, ids=lambda f: f.summary())
@pytest.mark.parametrize("deep", [False, True], ids=["first page", "deep page"])
def test_sqlite_reads_every_page_from_one_index_range_without_sorting(
        sqlite_db: Database, flt: EventFilter, deep: bool) -> None:
    e = events_table.c
    query = select(*COLUMNS).where(*flt.clauses())
    if deep:
        query = query.where(tuple_(e.ts_us, e.id) < tuple_(1, 2))
    query = query.order_by(e.ts_us.desc(), e.id.desc()).limit(51)
    sql = str(query.compile(sqlite_db.engine, compile_kwargs={"literal_binds": True}))
    with sqlite_db.engine.connect() as conn:
        plan = " | ".join(row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
    assert "USING INDEX ix_audit_events_" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_stream_and_count_see_every_match_oldest_first(db: Database,
                                                      history: dict[str, int]) -> None:
    with db.engine.connect() as conn:
        streamed = [row[0] for row in stream(conn, EventFilter(customer="cust-1"), chunk=1)]
        assert count(conn, EventFilter(customer="cust-1")) == 2
    assert streamed == [history["read"], history["denied"]]


@pytest.mark.parametrize(("flt", "expected"), FILTERED)
def test_the_export_stream_applies_the_same_filters_oldest_first(
        db: Database, history: dict[str, int], flt: EventFilter, expected: list[str]) -> None:
    """`stream` binds its filter values itself (it reads from the driver, not SQLAlchemy)."""
    with db.engine.connect() as conn, conn.begin():
        streamed = [row[0] for row in stream(conn, flt, chunk=2)]
    assert streamed == [history[name] for name in reversed(expected)]


def test_charts_get_counts_grouped_by_day_and_by_actor(db: Database) -> None:
    h = History(db.engine, datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    for minutes in (0, 30, 59, 61, 90):  # 3 before midnight UTC, 2 after
        h.read("alice", timedelta(minutes=minutes))
    h.read("bob", timedelta(minutes=5), action="data.exported")
    h.add("data.denied", "bob", timedelta(minutes=70), Outcome.DENIED, customer_id="cust-1")
    with db.engine.connect() as conn:
        daily = daily_counts(conn, EventFilter())
        per_actor = actor_counts(conn, EventFilter())
    assert {(d.day, d.action, d.outcome, d.events) for d in daily} == {
        (date(2026, 11, 23), "data.read", "success", 3),
        (date(2026, 11, 23), "data.exported", "success", 1),
        (date(2026, 11, 24), "data.read", "success", 2),
        (date(2026, 11, 24), "data.denied", "denied", 1)}
    assert [(a.actor_sub, a.action, a.events) for a in per_actor] == [
        ("alice", "data.read", 5), ("bob", "data.exported", 1)]


def test_a_grant_timeline_is_bounded_and_says_so(db: Database) -> None:
    h = History(db.engine)
    h.add("request.created", "alice", request_id="7", customer_id="cust-1")
    reads = [h.read("alice", timedelta(minutes=i + 1), grant="7") for i in range(5)]
    with db.engine.connect() as conn:
        found = grant_timeline(conn, "7", limit=3)
        assert grant_timeline(conn, "8") is None
    assert found is not None and found.truncated
    assert [e.id for e in found.events][1:] == reads[:2]
    assert found.counts == {"request.created": 1, "data.read": 5}

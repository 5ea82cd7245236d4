"""Searching the audit log: exact-match filters, newest first, keyset pagination.

Contract:

- A filter is a conjunction of exact matches (actor subject, action, outcome, customer,
  request, grant, ticket) and a UTC time range `[since, until)`. Values are bound parameters
  compared with `=`, so a `%` or `_` typed into a box matches only itself.
- Pages are ordered by `(ts_us, id)` descending. A page ends with a `Cursor` (its last row);
  the next page is the rows strictly below it. No OFFSET and no COUNT is ever run for a page,
  so page 10,000 costs what page 1 does: both are the first rows of one index range (see
  migrations/versions/0005_audit_indexes.py, one index per filter, each ending in
  `ts_us DESC, id DESC`).
- Events appended while someone pages land above the cursor: later pages neither repeat nor
  skip a row. (An event whose transaction commits long after it was stamped, on PostgreSQL,
  can fall below a cursor already passed; a fresh search shows it. The sealer, not this
  module, is what guarantees that nothing is ever lost.)
- `stream()` yields every matching event through a server-side cursor, oldest first, for
  exports; memory stays flat however many rows match.
- The aggregate queries (`daily_counts`, `actor_counts`) group in the database, so charts
  draw from a few hundred rows, never from millions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Text, cast, func, select, tuple_

from audit.canonical import FIELDS
from audit.engine import is_sqlite
from audit.events import from_micros, to_micros
from audit.schema import events_table, leaves_table
from audit.text import storable
from audit.vocabulary import ACTIONS, CUSTOMER_ID, CUSTOMER_ID_RULE, Outcome

__all__ = [
    "COLUMNS",
    "DATA_ACCESS",
    "MAX_PAGE",
    "STREAM_COLUMNS",
    "ActorCount",
    "Cursor",
    "DailyCount",
    "EventFilter",
    "InvalidFilter",
    "Page",
    "StoredEvent",
    "actor_counts",
    "count",
    "daily_counts",
    "driver_rows",
    "event_exists",
    "sealed_size",
    "search",
    "stream",
]

# Events that served customer data. `data.denied` is an attempt, not an access.
DATA_ACCESS: tuple[str, ...] = ("data.read", "data.revealed", "data.exported")
MAX_PAGE = 500
DAY_US = 86_400_000_000
# Rows per round trip of an export. Every fetched row is held as Python objects until encoded
# (~2.5 kB each), so this bounds the export's memory: 2,000 rows measured as fast as 5,000
# on both engines, at 5 MB of Python allocations instead of 13 MB.
STREAM_CHUNK = 2_000

_e = events_table.c
COLUMNS = (_e.id, *[_e[name] for name in FIELDS])
STREAM_COLUMNS: tuple[str, ...] = ("id", *FIELDS)
STREAM_SELECT = (*COLUMNS[:-1], cast(_e.details, Text).label("details"))

# What each filter box accepts: ids, never free text, so a filter recorded in the audit log
# can never carry a customer's data.
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "actor": (re.compile(r"[^\s\x00-\x1f\x7f]{1,255}"),
              "must be a subject: 1 to 255 characters of text, no spaces"),
    "customer": (CUSTOMER_ID, CUSTOMER_ID_RULE),
    "request": (re.compile(r"[0-9]{1,18}", re.ASCII), "must be a request number"),
    "grant": (re.compile(r"[0-9]{1,18}", re.ASCII), "must be a grant number"),
    "ticket": (re.compile(r"[A-Za-z0-9_.#:/-]{1,64}", re.ASCII),
               "must be a ticket id: 1 to 64 letters, digits or _ . # : / -"),
}


class InvalidFilter(ValueError):
    """A filter value broke its rule; names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule


@dataclass(frozen=True)
class EventFilter:
    """What the auditor asked for. Empty text counts as "any"; surrounding blanks are dropped.

    Raises `InvalidFilter` for a value outside its rule, an unknown action or outcome, a
    time without a zone, or an empty time range.
    """

    since: datetime | None = None   # inclusive, UTC
    until: datetime | None = None   # exclusive, UTC
    actor: str | None = None        # actor subject (the IdP's `sub`)
    action: str | None = None
    outcome: str | None = None
    customer: str | None = None
    request: str | None = None
    grant: str | None = None
    ticket: str | None = None

    def __post_init__(self) -> None:
        for name in ("actor", "action", "outcome", "customer", "request", "grant", "ticket"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidFilter(name, "must be text")
            object.__setattr__(self, name, (value or "").strip() or None)
        for name, (pattern, rule) in _RULES.items():
            value = getattr(self, name)
            # `storable` is the log's own rule (it was a surrogates-only twin here; the shared
            # rule also refuses NUL, which no pattern above lets through anyway). A lone
            # surrogate could otherwise not even be sent by the drivers.
            if value is not None and not (pattern.fullmatch(value) and storable(value)):
                raise InvalidFilter(name, rule)
        if self.action is not None and self.action not in ACTIONS:
            raise InvalidFilter("action", "is not in the audit vocabulary")
        if self.outcome is not None and self.outcome not in set(Outcome):
            raise InvalidFilter("outcome", f"must be one of {', '.join(Outcome)}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime)
                                      or value.utcoffset() is None):
                raise InvalidFilter(name, "must be a date and time in UTC")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidFilter("until", "must be later than since")

    def summary(self) -> str:
        """A short text of what was asked, for the audit event: names and ids only."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                parts.append(f"{f.name}={value:%Y-%m-%dT%H:%MZ}")
            elif value is not None:
                parts.append(f"{f.name}={value[:64]}")
        return " ".join(parts) or "all events"

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        for name, column in (("actor", _e.actor_sub), ("action", _e.action),
                             ("outcome", _e.outcome), ("customer", _e.customer_id),
                             ("request", _e.request_id), ("grant", _e.grant_id),
                             ("ticket", _e.ticket)):
            value = getattr(self, name)
            if value is not None:
                where.append(column == value)
        if self.outcome is not None and self.outcome != Outcome.SUCCESS:
            # The partial index's own predicate: SQLite uses a partial index only when the
            # query names its terms (PostgreSQL would prove it from outcome = 'denied').
            where.append(_e.outcome != Outcome.SUCCESS.value)
        if self.since is not None:
            where.append(_e.ts_us >= to_micros(self.since))
        if self.until is not None:
            where.append(_e.ts_us < to_micros(self.until))
        return where


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of `audit_events`, as stored (and as hashed by the sealer)."""

    id: int
    ts_us: int
    actor_iss: str
    actor_sub: str
    actor_name: str | None
    actor_roles: str
    session_id: str | None
    source_ip: str | None
    user_agent: str | None
    action: str
    outcome: str
    target_type: str | None
    target_id: str | None
    customer_id: str | None
    request_id: str | None
    grant_id: str | None
    ticket: str | None
    reason: str | None
    policy_version: str | None
    details: dict[str, Any]

    @property
    def ts(self) -> datetime:
        return from_micros(self.ts_us)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.ts_us, self.id)

    @property
    def actor(self) -> str:
        """How the console names the actor: display name, else subject."""
        return self.actor_name or self.actor_sub


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the (ts_us, id) of its last (oldest) row."""

    ts_us: int
    id: int


@dataclass(frozen=True)
class Page:
    events: list[StoredEvent]
    next: Cursor | None  # the cursor of the next (older) page; None when this is the last


def _event(row: Any) -> StoredEvent:
    return StoredEvent(*row)


def _filtered(flt: EventFilter) -> Select[Any]:
    return select(*COLUMNS).where(*flt.clauses())


def search(conn: Connection, flt: EventFilter, after: Cursor | None = None,
           limit: int = 50) -> Page:
    """The newest `limit` events matching `flt` strictly below `after` (or from the top)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidFilter("limit", f"must be from 1 to {MAX_PAGE}")
    if after is not None and flt.until is not None and after.ts_us < to_micros(flt.until):
        # The cursor is already below `until`. Left in, `ts_us < until` is the range SQLite
        # takes from the index (filtering the row value row by row), so a deep page scanned
        # every row between the cursor and `until`; without it the cursor bounds the range.
        flt = replace(flt, until=None)
    query = _filtered(flt)
    if after is not None:
        # A row-value comparison: both engines turn it into one index range bound.
        query = query.where(tuple_(_e.ts_us, _e.id) < tuple_(after.ts_us, after.id))
    rows = conn.execute(query.order_by(_e.ts_us.desc(), _e.id.desc()).limit(limit + 1)).all()
    events = [_event(r) for r in rows[:limit]]
    more = len(rows) > limit
    return Page(events, events[-1].cursor if more else None)


def stream(conn: Connection, flt: EventFilter, chunk: int = STREAM_CHUNK
           ) -> Iterator[tuple[Any, ...]]:
    """Every event matching `flt`, oldest first, as plain tuples in `STREAM_COLUMNS` order
    (`id`, then `FIELDS`, with `details` as the JSON text the database holds: exports copy it
    rather than parse and re-encode it). Fetched `chunk` rows at a time through a server-side
    cursor; run it inside a transaction to read one consistent snapshot."""
    query = select(*STREAM_SELECT).where(*flt.clauses()).order_by(_e.ts_us, _e.id)
    # Straight from the driver: SQLAlchemy's per-row Result machinery (and a tuple copy per
    # row) took a tenth of the export's time, a fifth once the encoding was made faster.
    return driver_rows(conn, query, "gatehouse_export", fetch=chunk)


def driver_rows(conn: Connection, query: Select[Any], name: str, fetch: int
                ) -> Iterator[tuple[Any, ...]]:
    """Every row of `query` as plain driver tuples, streamed in `fetch`-row round trips
    inside `conn`'s transaction (a server-side cursor named `name` on PostgreSQL).

    For the scans that read every row (exports here, verification in `audit.database`):
    SQLAlchemy's per-row Result machinery costs more than what is done with each row. The
    columns read and the parameters bound must need no conversion beyond the driver's own
    (integers, text, bytes)."""
    sql, params = _driver_statement(conn, query)
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor(name=name) if not is_sqlite(conn) else raw.cursor()
    try:
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
        while rows := cursor.fetchmany(fetch):
            yield from rows
    finally:
        cursor.close()


def _driver_statement(conn: Connection, query: Select[Any]
                      ) -> tuple[str, tuple[Any, ...] | Mapping[str, Any] | None]:
    """`query` as the driver's SQL text and its bound parameters in the driver's paramstyle
    (None when there are none, so a parameterless statement is sent exactly as written)."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    if not params:
        return str(compiled), None
    if compiled.positional:
        return str(compiled), tuple(params[key] for key in compiled.positiontup or ())
    return str(compiled), params


def count(conn: Connection, flt: EventFilter) -> int:
    """How many events match. O(matches): for export progress, never for a page."""
    return int(conn.execute(select(func.count()).select_from(events_table)
                            .where(*flt.clauses())).scalar_one())


@dataclass(frozen=True)
class DailyCount:
    day: date  # UTC
    action: str
    outcome: str
    events: int


def daily_counts(conn: Connection, flt: EventFilter) -> list[DailyCount]:
    """Events per UTC day, action and outcome, grouped in the database."""
    day = (_e.ts_us // DAY_US).label("day")
    rows = conn.execute(select(day, _e.action, _e.outcome, func.count())
                        .where(*flt.clauses()).group_by(day, _e.action, _e.outcome)
                        .order_by(day)).all()
    return [DailyCount(from_micros(int(d) * DAY_US).date(), a, o, int(n)) for d, a, o, n in rows]


@dataclass(frozen=True)
class ActorCount:
    actor_sub: str
    actor_name: str | None
    action: str
    events: int


def actor_counts(conn: Connection, flt: EventFilter,
                 actions: tuple[str, ...] = DATA_ACCESS) -> list[ActorCount]:
    """Events of `actions` per actor (default: customer-data accesses), most first."""
    total = func.count().label("n")
    rows = conn.execute(select(_e.actor_sub, func.max(_e.actor_name), _e.action, total)
                        .where(*flt.clauses(), _e.action.in_(actions))
                        .group_by(_e.actor_iss, _e.actor_sub, _e.action)
                        .order_by(total.desc())).all()
    return [ActorCount(s, name, a, int(n)) for s, name, a, n in rows]


def event_exists(conn: Connection, event_id: int) -> bool:
    """Whether the log holds an event `event_id` (a primary-key lookup)."""
    return conn.execute(select(_e.id).where(_e.id == event_id)).first() is not None


def sealed_size(conn: Connection) -> int:
    """How many leaves the sealer has written (an index lookup, not a count)."""
    top = conn.execute(select(func.max(leaves_table.c.seq))).scalar()
    return 0 if top is None else int(top) + 1

"""Staff consultations of one customer's data, read from the audit log: what an
access-transparency report and a data subject's access report list.

A consultation is a served read of customer data: a successful `data.read`, `data.revealed` or
`data.exported` event naming the customer. Refused attempts (`data.denied`) served nothing and
are not consultations. Each carries its time, action (read, reveal, export), ticket, the
request's justification (the reason of the request's `request.created` or
`breakglass.activated` event), the reveal's own reason, the scope, the grant, the request, the
event id, and the staff member as the roles they held plus a pseudonym ("Staff A", "Staff B",
... in order of first appearance in this list). Pseudonyms are assigned per call, from the
order alone: nothing in them is derived from the person, so two reports cannot be linked
through them.

A data subject. The log records which scope a read served and how many rows, not which rows.
So the consultations of a data subject (a contact) are defined as the consultations of the
subject's customer whose scope contains a table holding subjects (`SUBJECT_TABLES`): every
read that could have returned the subject's row. This over-approximates (a read of the
contacts scope is listed even if the subject's row was past `[broker] max_rows`), never
under-approximates.

Cost: one range scan of the (customer_id, ts_us, id) index of migration 0005 over the period
(plus the leaf of each event, by the unique index on `audit_leaves.event_id`), and one lookup
of the justifications by the request index. Never a scan of the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from access.context import Gatehouse
from access.data.catalog import Catalog, load_catalog
from access.errors import InvalidInput
from audit.events import from_micros, to_micros
from audit.proved import iso_time
from audit.query import DATA_ACCESS
from audit.schema import events_table, leaves_table
from audit.vocabulary import CUSTOMER_ID, CUSTOMER_ID_RULE, Outcome

__all__ = [
    "ACTION_NAMES",
    "MAX_CONSULTATIONS",
    "SUBJECT_TABLES",
    "Consultation",
    "Consultations",
    "body_rows",
    "check_query",
    "consultations",
    "pseudonym",
    "subject_scopes",
]

ACTION_NAMES = {"data.read": "read", "data.revealed": "reveal", "data.exported": "export"}
_EVENT_OF = {name: event for event, name in ACTION_NAMES.items()}
SUBJECT_TABLES = frozenset({"contacts"})  # tables whose rows are data subjects
MAX_CONSULTATIONS = 10_000  # per call: a longer list asks for a shorter period
_OPENINGS = ("request.created", "breakglass.activated")  # whose reason is the justification

_e, _l = events_table.c, leaves_table.c


@dataclass(frozen=True)
class Consultation:
    """One served read of the customer's data. `leaf_index` is None while the sealer has not
    covered the event yet (it then cannot be proved)."""

    event_id: int
    leaf_index: int | None
    ts: datetime
    action: str                  # read, reveal, export
    customer_id: str
    scope: str | None
    ticket: str | None
    justification: str | None    # the request's (or break-glass's) justification
    justification_event_id: int | None
    reason: str | None           # the reveal's own reason (reads and exports have none)
    columns: tuple[str, ...]     # a reveal's revealed columns; empty otherwise
    row_count: int | None
    grant_id: str | None
    request_id: str | None
    staff: str                   # pseudonym, stable within this list only
    roles: str                   # the roles the staff member held (space-separated)


@dataclass(frozen=True)
class Consultations:
    customer_id: str
    since: datetime
    until: datetime
    subject: str | None
    scopes: tuple[str, ...] | None  # the subject's scopes, when `subject` is given
    rows: list[Consultation]        # oldest first
    unsealed: int = 0               # left out: not under the tree size asked for (`sealed_below`)


def pseudonym(n: int) -> str:
    """The n-th (0-based) pseudonym: Staff A … Staff Z, Staff AA, Staff AB, …"""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"Staff {letters}"


def subject_scopes(catalog: Catalog) -> tuple[str, ...]:
    """The scopes whose tables hold data subjects' rows (see the module's rule)."""
    return tuple(sorted({t.scope for t in catalog.tables.values() if t.name in SUBJECT_TABLES}))


def consultations(source: Engine | Gatehouse, customer_id: str, since: datetime,
                  until: datetime, subject: str | None = None,
                  conn: Connection | None = None,
                  sealed_below: int | None = None) -> Consultations:
    """The staff consultations of `customer_id`'s data in `[since, until)`, oldest first;
    with `subject` (a contact's id, already known to belong to this customer), only those of
    the scopes holding subjects. `InvalidInput` naming the field for a bad customer id or
    period, or when more than `MAX_CONSULTATIONS` match.

    `conn`: read inside the caller's transaction (so a proved report sees one moment).
    `sealed_below`: keep only events under a checkpoint of this tree size (leaf index below
    it), counting the others in `unsealed`; pseudonyms are given to the kept rows only."""
    check_query(customer_id, since, until, subject)
    scopes = None if subject is None else subject_scopes(_catalog(source))
    engine = source.engine if isinstance(source, Gatehouse) else source
    if conn is None:
        with engine.connect() as own:
            found = _found(own, customer_id, since, until, scopes)
            reasons = _justifications(own, {r.request_id for r in found if r.request_id})
    else:
        found = _found(conn, customer_id, since, until, scopes)
        reasons = _justifications(conn, {r.request_id for r in found if r.request_id})
    kept = found if sealed_below is None else [
        r for r in found if r.seq is not None and r.seq < sealed_below]
    names: dict[tuple[str, str], str] = {}
    rows = [_consultation(r, customer_id, reasons, names) for r in kept]
    return Consultations(customer_id, since, until, subject, scopes, rows,
                         len(found) - len(kept))


def _catalog(source: Engine | Gatehouse) -> Catalog:
    if isinstance(source, Gatehouse) and source.data.catalog is not None:
        return source.data.catalog
    return load_catalog()


def check_query(customer_id: object, since: object, until: object,
                subject: object = None) -> None:
    """`InvalidInput` naming the field unless the customer id, period and subject are valid."""
    if not isinstance(customer_id, str) or not CUSTOMER_ID.fullmatch(customer_id):
        raise InvalidInput("customer", CUSTOMER_ID_RULE)
    for name, value in (("since", since), ("until", until)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise InvalidInput(name, "must be a date and time with a time zone")
    assert isinstance(since, datetime) and isinstance(until, datetime)
    if since >= until:
        raise InvalidInput("until", "must be later than since")
    if subject is not None and (not isinstance(subject, str) or not CUSTOMER_ID.fullmatch(
            subject)):
        raise InvalidInput("subject", "must be a contact id: 1 to 64 letters, digits, - or _")


def _found(conn: Connection, customer_id: str, since: datetime, until: datetime,
           scopes: Sequence[str] | None) -> list[Any]:
    """The matching event rows (with their leaf index, or None), oldest first."""
    query = (select(_e.id, _l.seq, _e.ts_us, _e.action, _e.details,
                    _e.ticket, _e.reason, _e.grant_id, _e.request_id, _e.actor_iss,
                    _e.actor_sub, _e.actor_roles)
             .outerjoin(leaves_table, _l.event_id == _e.id)
             .where(_e.customer_id == customer_id, _e.action.in_(DATA_ACCESS),
                    _e.outcome == Outcome.SUCCESS.value,
                    _e.ts_us >= to_micros(since), _e.ts_us < to_micros(until))
             .order_by(_e.ts_us, _e.id).limit(MAX_CONSULTATIONS + 1))
    found = conn.execute(query).all()
    if len(found) > MAX_CONSULTATIONS:
        raise InvalidInput("period", f"more than {MAX_CONSULTATIONS:,} consultations: choose a "
                                     "shorter period")
    if scopes is not None:
        return [r for r in found if (r.details or {}).get("scope") in scopes]
    return list(found)


def _justifications(conn: Connection, request_ids: set[str]
                    ) -> dict[str, tuple[int, str | None]]:
    """request id → (event id, reason) of the event that opened it, by the request index."""
    ids, found = sorted(request_ids), dict[str, tuple[int, str | None]]()
    for start in range(0, len(ids), 500):
        for event_id, request_id, reason in conn.execute(
                select(_e.id, _e.request_id, _e.reason)
                .where(_e.request_id.in_(ids[start:start + 500]), _e.action.in_(_OPENINGS))
                .order_by(_e.ts_us, _e.id)):
            found.setdefault(request_id, (int(event_id), reason))
    return found


def _consultation(r: Any, customer_id: str, reasons: dict[str, tuple[int, str | None]],
                  names: dict[tuple[str, str], str]) -> Consultation:
    """`r`: a row of `_rows`' query (attribute access by column name)."""
    details = r.details or {}
    staff = names.setdefault((r.actor_iss, r.actor_sub), pseudonym(len(names)))
    opening = reasons.get(r.request_id or "")
    action = ACTION_NAMES[r.action]
    return Consultation(
        event_id=int(r.id), leaf_index=r.seq, ts=from_micros(int(r.ts_us)), action=action,
        customer_id=customer_id, scope=details.get("scope"), ticket=r.ticket,
        justification=None if opening is None else opening[1],
        justification_event_id=None if opening is None else opening[0], reason=r.reason,
        columns=tuple(details.get("columns") or ()) if action == "reveal" else (),
        row_count=details.get("row_count"), grant_id=r.grant_id, request_id=r.request_id,
        staff=staff, roles=r.actor_roles)


def body_rows(found: Consultations) -> list[dict[str, Any]]:
    """The rows of a proved report (`audit.proved`): each cites its event, and its keys
    follow the binding rules there (canonical field names, "details.<name>", "time",
    "staff"), so an opening checks every one of them. The justification cites the event
    that opened the request. Nothing here names a person."""
    return [_body_row(c) for c in found.rows]


def _body_row(c: Consultation) -> dict[str, Any]:
    row: dict[str, Any] = {
        # the logged action name ("data.read"), bound to the event; a reader shows `c.action`
        "event_id": c.event_id, "time": iso_time(to_micros(c.ts)), "action": _EVENT_OF[c.action],
        "customer_id": c.customer_id, "details.scope": c.scope,
        "ticket": c.ticket, "reason": c.reason, "grant_id": c.grant_id,
        "request_id": c.request_id, "staff": c.staff, "actor_roles": c.roles,
        "details.row_count": c.row_count}
    if c.action == "reveal":
        row["details.columns"] = list(c.columns)
    if c.justification_event_id is not None:
        row["justification"] = {"event_id": c.justification_event_id,
                                "reason": c.justification}
    return row

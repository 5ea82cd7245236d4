"""The broker: the only read path to customer data.

A read names the principal, the grant, the customer and the scope. It is served only if the
grant is live for exactly that customer, environment, scope and action; the query is bound to
that one customer by the catalog's customer column; values are decrypted with that customer's
key only; pii, financial and secret columns are masked unless revealed; and the audit event is
committed before any data is returned (fail closed: no event, no data).

The grant is checked before the read and again, under the console database's write lock, in
the short transaction that commits the event (see `_serve`): a revocation is ordered strictly
before or after a read, never during it, and no write lock is held while rows are decrypted.
A read serves at most `[broker] max_rows` rows of a scope (`DataView.truncated` says when
there were more). Every denial is an audit event too, written after the refused transaction
rolled back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.bounded import known_list
from access.context import Gatehouse, event_for
from access.data.catalog import Classification, Table
from access.data.customer_db.schema import CustomerBase
from access.data.envelope import data_key, open_value
from access.data.servable import refuse_unservable
from access.dsr.holds import hold_subjects
from access.errors import Denied, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Grant
from access.text import as_logged, checked_reason
from access.workflow.grants import usable_grant
from audit.events import AuditEvent
from audit.export_stream import neutralize
from audit.vocabulary import Outcome

MASK = "••••"
MASKED = frozenset({Classification.PII, Classification.FINANCIAL, Classification.SECRET})
REVEALABLE = frozenset({Classification.PII, Classification.FINANCIAL})


@dataclass(frozen=True)
class DataView:
    grant_id: int
    customer_id: str
    environment: str
    scope: str
    tables: dict[str, pd.DataFrame]
    masked: tuple[str, ...]    # "table.column" shown as MASK
    revealed: tuple[str, ...]  # "table.column" shown in clear for this read
    truncated: bool = False    # the scope has more rows than `[broker] max_rows` served

    @property
    def row_count(self) -> int:
        return sum(len(frame) for frame in self.tables.values())


def read(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
         scope: str) -> DataView:
    """Masked rows of `scope` for `customer_id` under grant `grant_id`; one `data.read` event."""
    return _serve(gh, principal, _Ask(grant_id, customer_id, scope, "read"))


def reveal(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str, scope: str,
           columns: Sequence[str], reason: str) -> DataView:
    """Rows with `columns` ("table.column") in clear. Needs the reveal action, step-up and a
    reason; the `data.revealed` event names the columns, never the values."""
    reason = checked_reason(reason)
    return _serve(gh, principal, _Ask(grant_id, customer_id, scope, "reveal",
                                      _bounded_columns(gh, scope, columns), reason))


def export_csv(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
               scope: str) -> bytes:
    """The scope's rows (masked) as CSV with a watermark line, spreadsheet formulas
    neutralised; needs the export action and step-up; one `data.exported` event."""
    view = _serve(gh, principal, _Ask(grant_id, customer_id, scope, "export"))
    return _csv(view, principal)


@dataclass(frozen=True)
class _Ask:
    grant_id: int
    customer_id: str
    scope: str
    action: str  # read, reveal, export: the grant action it needs
    reveal: tuple[str, ...] = ()
    reason: str | None = None


_EVENT = {"read": "data.read", "reveal": "data.revealed", "export": "data.exported"}
_AUTHZ = {"read": Action.DATA_READ, "reveal": Action.DATA_REVEAL, "export": Action.DATA_EXPORT}


def _serve(gh: Gatehouse, principal: Principal, ask: _Ask) -> DataView:
    """Check, read, then record and check again; return the rows only once the event is
    committed.

    Why this order (issue 15, finding L1): on SQLite a write transaction holds the console
    database's only write lock, and reading and decrypting a whole scope inside it stalled
    every sign-in, approval and audit write. So the customer database is read with no console
    transaction open, between two checks of the grant:
    1. a read transaction checks the grant (no write lock), so nothing is decrypted for a
       grant that was not usable;
    2. the rows are read and decrypted, outside any console transaction, at most
       `max_rows` of them;
    3. a short write transaction checks the grant again under the write lock (BEGIN IMMEDIATE
       on SQLite, a row lock on PostgreSQL), writes the event and commits.
    Only then are the rows returned. The second check is the point that orders the read
    against a revocation, as the single transaction did before: a revocation committed before
    it refuses the read (the decrypted rows are dropped, never returned, and the refusal is
    recorded), one committed after it comes after the read. No event, no data still holds:
    the rows leave this function only after their event is committed.
    """
    gh.authorize(principal, _AUTHZ[ask.action])
    try:
        with gh.read() as db:
            grant, _, tables = _authorize(gh, db, principal, ask, lock=False)
        view = _fetch(gh, grant, ask, tables)
        with gh.write() as db:
            grant, request, _ = _authorize(gh, db, principal, ask, lock=True)
            gh.audit(db, _event(principal, ask, grant, request, view))
    except Denied as refusal:
        _record_denial(gh, principal, ask, refusal)
        raise
    return view


def _authorize(gh: Gatehouse, db: Session, principal: Principal, ask: _Ask, lock: bool
               ) -> tuple[Grant, AccessRequest, list[Table]]:
    if not gh.data.urls:
        raise Denied("no customer database is configured")
    if ask.scope not in gh.data.catalog.scopes():
        raise Denied(f"unknown scope {ask.scope[:40]!r}")
    tables = gh.data.catalog.tables_for(ask.scope)
    grant = db.get(Grant, ask.grant_id, with_for_update={"read": True} if lock else None)
    environment = grant.environment if grant is not None else ""
    grant = usable_grant(gh, db, principal, ask.grant_id, ask.customer_id, environment,
                         ask.scope, ask.action)
    refuse_unservable(db, grant.environment, grant.customer_id)
    _check_reveal(ask, tables)
    return grant, db.get_one(AccessRequest, grant.request_id), tables


def _revealable(tables: list[Table]) -> set[str]:
    return {f"{t.name}.{c.name}" for t in tables for c in t.columns
            if c.classification in REVEALABLE}


def _bounded_columns(gh: Gatehouse, scope: str, columns: object) -> tuple[str, ...]:
    """The columns asked for, checked against the scope's revealable columns before any
    element is read beyond their number (`access.bounded`). An unknown scope is left to
    `_serve`, which refuses and records it; its columns are never read."""
    if not isinstance(scope, str) or scope not in gh.data.catalog.scopes():
        return ()
    allowed = _revealable(gh.data.catalog.tables_for(scope))
    return known_list("columns", columns, allowed, "revealable column",
                      f"is not revealable: choose among {', '.join(sorted(allowed)) or 'none'}")


def _check_reveal(ask: _Ask, tables: list[Table]) -> None:
    if ask.action != "reveal":
        return
    allowed = _revealable(tables)
    if not ask.reveal or not set(ask.reveal) <= allowed:
        raise InvalidInput("columns", f"choose among the revealable columns: "
                                      f"{', '.join(sorted(allowed)) or 'none in this scope'}")


def _fetch(gh: Gatehouse, grant: Grant, ask: _Ask, tables: list[Table]) -> DataView:
    """At most `max_rows` rows of the scope, over all its tables in catalog order; `truncated`
    says whether there were more."""
    frames, masked, budget, truncated = {}, [], gh.config.broker.max_rows, False
    with gh.data.engine(grant.environment).connect() as conn:
        key = data_key(conn, gh.data.master, grant.customer_id)  # KeyDestroyed is a Denied
        for table in tables:
            frame, hidden, more = _rows(conn, table, grant.customer_id, key, ask.reveal, budget)
            frames[table.name] = frame
            masked += hidden
            budget -= len(frame)
            truncated = truncated or more
    hold_subjects(gh, grant.environment, grant.customer_id, ask.action, frames, MASK)
    return DataView(grant.id, grant.customer_id, grant.environment, ask.scope, frames,
                    tuple(masked), ask.reveal, truncated)


def _rows(conn: Connection, table: Table, customer_id: str, key: bytes,
          reveal: tuple[str, ...], most: int) -> tuple[pd.DataFrame, list[str], bool]:
    """One customer's rows of `table`, at most `most` (and whether there were more): the
    customer column binds the query (tenant isolation in the query itself, with a bound
    parameter), then decrypt and mask column by column."""
    sql_table = CustomerBase.metadata.tables[table.name]
    names = [c.name for c in table.columns]
    rows = conn.execute(select(*[sql_table.c[n] for n in names])
                        .where(sql_table.c[table.customer_column] == customer_id)
                        .order_by(sql_table.c[names[0]]).limit(max(most, 0) + 1)).all()
    more = len(rows) > most
    rows = rows[:max(most, 0)]
    frame = pd.DataFrame([dict(zip(names, row, strict=True)) for row in rows], columns=names)
    hidden = []
    for column in table.columns:
        qualified = f"{table.name}.{column.name}"
        if column.encrypted:
            frame[column.name] = [
                None if value is None else open_value(key, customer_id, table.name, column.name,
                                                      row_id, value)
                for value, row_id in zip(frame[column.name], frame[table.row_id_column],
                                         strict=True)]
        if column.classification in MASKED and qualified not in reveal:
            frame[column.name] = [None if v is None else MASK for v in frame[column.name]]
            hidden.append(qualified)
    return frame, hidden, more


def _event(principal: Principal, ask: _Ask, grant: Grant, request: AccessRequest,
           view: DataView) -> AuditEvent:
    """The event of a served read: which columns (a reveal names only the revealed ones) and
    how many rows; never a value."""
    columns = list(view.revealed) if ask.action == "reveal" else \
        [f"{name}.{c}" for name, frame in view.tables.items() for c in frame.columns]
    details: dict[str, Any] = {"environment": grant.environment, "scope": ask.scope,
                               "action": ask.action, "columns": columns,
                               "row_count": view.row_count}
    if ask.action == "export":
        details["format"] = "csv"
    return event_for(principal, _EVENT[ask.action], target_type="customer",
                     target_id=grant.customer_id,
                     customer_id=grant.customer_id, request_id=str(request.id),
                     grant_id=str(grant.id), ticket=request.ticket, reason=ask.reason,
                     policy_version=request.policy_version, details=details)


def _record_denial(gh: Gatehouse, principal: Principal, ask: _Ask, refusal: Denied) -> None:
    """`data.denied` naming why; the asked-for customer and grant are recorded as asked."""
    with gh.write() as db:
        grant = db.get(Grant, ask.grant_id)
        request = db.get(AccessRequest, grant.request_id) if grant else None
        gh.audit(db, event_for(
            principal, "data.denied", Outcome.DENIED, target_type="customer",
            target_id=as_logged(str(ask.customer_id), 64),
            customer_id=as_logged(str(ask.customer_id), 64),
            request_id=str(request.id) if request else None, grant_id=str(ask.grant_id),
            ticket=request.ticket if request else None, reason=ask.reason,
            details={"scope": as_logged(str(ask.scope), 64), "action": ask.action,
                     "why": str(refusal)[:300],
                     "environment": grant.environment if grant else None}))


def _one_line(text: str) -> str:
    """`text` for the watermark line: control characters written as escapes, so an odd
    subject from the identity provider can never start a line of its own."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _watermark(view: DataView, principal: Principal) -> list[object]:
    """The first row: who exported what. Every value is its own cell, on one line (control
    characters escaped), neutralised (`audit.export_stream.neutralize`, the one neutraliser)
    and, like every cell of this row, quoted: a subject of `,=cmd` is one inert cell."""
    fields = ["# Gatehouse export, confidential", "by", principal.sub, "issuer", principal.iss,
              "grant", str(view.grant_id), "customer", view.customer_id, "environment",
              view.environment, "scope", view.scope]
    return [neutralize(_one_line(value)) for value in fields]


def _csv(view: DataView, principal: Principal) -> bytes:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(
        _watermark(view, principal))
    for name, frame in view.tables.items():
        writer = csv.writer(out)
        writer.writerow([f"{name}.{c}" for c in frame.columns])
        for row in frame.itertuples(index=False):
            writer.writerow([neutralize(v) for v in row])
    return out.getvalue().encode("utf-8")

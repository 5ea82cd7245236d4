"""The broker: the only read path to customer data.

A read names the principal, the grant, the customer and the scope. It is served only if the
grant is live for exactly that customer, environment, scope and action; the query is bound to
that one customer by the catalog's customer column; values are decrypted with that customer's
key only; every column is shown as its catalog mask rule says (`access.data.masks`: pii,
financial and secret columns are masked, fully or in part) unless revealed; and the audit
event is committed before any data is returned (fail closed: no event, no data).

The grant is checked before the read and again, under the console database's write lock, in
the short transaction that commits the event (see `_serve`): a revocation is ordered strictly
before or after a read, never during it, and no write lock is held while rows are decrypted.
A read serves one page of at most `[broker] max_rows` rows of a scope, the scope's tables in
catalog order and each table's rows by row id (`DataView.truncated` says when more rows follow;
each further page is a read of its own, with its own event). An export may carry revealed
columns under a grant that allows reveal, with a reason, and its one event names them. Every
denial, and every refused input, is an audit event too, written after the refused transaction
rolled back. `check_reveal` and `check_export` are the same check of the person's input, for a
page to run before it asks for a code; a refusal there is the same one event.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.bounded import known_list
from access.context import Gatehouse, event_for
from access.data.catalog import Table
from access.data.customer_db.schema import CustomerBase
from access.data.envelope import data_key, open_value
from access.data.masks import MASK, masked
from access.data.servable import refuse_unservable
from access.dsr.holds import hold_subjects
from access.errors import Denied, InvalidInput, StepUpRequired
from access.principal import Principal
from access.schema import AccessRequest, Grant
from access.text import MAX_REASON, as_logged, checked_reason
from access.workflow.grants import usable_grant
from audit.events import AuditEvent
from audit.export_stream import neutralize
from audit.vocabulary import Outcome

__all__ = ["MASK", "MAX_PAGE", "DataView", "check_export", "check_reveal", "export_csv", "read",
           "reveal"]

MAX_PAGE = 1_000_000  # pages of `max_rows` rows one may ask for: far past any customer's rows


@dataclass(frozen=True)
class DataView:
    grant_id: int
    customer_id: str
    environment: str
    scope: str
    tables: dict[str, pd.DataFrame]
    masked: tuple[str, ...]    # "table.column" shown by its mask rule (fully or in part)
    revealed: tuple[str, ...]  # "table.column" shown in clear for this read
    truncated: bool = False    # more rows of the scope follow this page
    page: int = 1              # which page of `page_size` rows this is, from 1
    page_size: int = 0         # `[broker] max_rows` when read
    total_rows: int = 0        # rows of the scope for this customer, over every page
    revealable: tuple[str, ...] = ()  # "table.column" a reveal may show in clear
    # Contact rows masked whole because their data subject's processing is restricted
    # (`access.dsr.holds`), and the data-subject requests holding them; empty when none is.
    held: tuple[int, ...] = ()
    held_by: tuple[int, ...] = ()

    @property
    def row_count(self) -> int:
        return sum(len(frame) for frame in self.tables.values())

    @property
    def first_row(self) -> int:
        """The number (from 1) of this page's first row among the scope's rows."""
        return (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return self.first_row + self.row_count - 1

    @property
    def pages(self) -> int:
        """How many pages the scope's rows fill (at least one)."""
        return max(1, -(-self.total_rows // self.page_size)) if self.page_size else 1


def read(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
         scope: str, page: int = 1) -> DataView:
    """Page `page` of `scope`'s rows for `customer_id` under grant `grant_id`, masked by the
    catalog's rules; one `data.read` event."""
    return _serve(gh, principal, _Ask(grant_id, customer_id, scope, "read", page=page))


def reveal(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str, scope: str,
           columns: Sequence[str], reason: str, page: int = 1) -> DataView:
    """Page `page` with `columns` ("table.column") in clear. Needs the reveal action, step-up
    and a reason; the `data.revealed` event names the columns, never the values."""
    ask = _Ask(grant_id, customer_id, scope, "reveal", page=page)
    return _serve(gh, principal, ask, _with_input(gh, ask, columns, reason))


def check_reveal(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
                 scope: str, columns: Sequence[str], reason: str, page: int = 1) -> None:
    """`reveal`'s own check of the person's input (page, columns, reason), for a page to run
    before it asks for a code: refused input raises and is recorded exactly as `reveal`
    records it (one `data.denied`). Needs the role, not a fresh code; reads no data."""
    ask = _Ask(grant_id, customer_id, scope, "reveal", page=page)
    _check_input(gh, principal, ask, _with_input(gh, ask, columns, reason))


def export_csv(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
               scope: str, page: int = 1, columns: Sequence[str] = (),
               reason: str | None = None) -> bytes:
    """Page `page` of the scope's rows as CSV with a watermark line, spreadsheet formulas
    neutralised; needs the export action and step-up; one `data.exported` event.

    Masked as a read is, except `columns` ("table.column"), which are written in clear: that
    needs a grant that also allows reveal, and a reason, as a reveal does; the event names
    those columns (`revealed`) and the reason, never a value, and so does the watermark."""
    ask = _Ask(grant_id, customer_id, scope, "export", page=page)
    return _csv(_serve(gh, principal, ask, _export_input(gh, ask, columns, reason)), principal)


def check_export(gh: Gatehouse, principal: Principal, grant_id: int, customer_id: str,
                 scope: str, page: int = 1, columns: Sequence[str] = (),
                 reason: str | None = None) -> None:
    """`export_csv`'s own check of the person's input, as `check_reveal` is `reveal`'s."""
    ask = _Ask(grant_id, customer_id, scope, "export", page=page)
    _check_input(gh, principal, ask, _export_input(gh, ask, columns, reason))


def _with_input(gh: Gatehouse, ask: _Ask, columns: object, reason: object
                ) -> Callable[[], _Ask]:
    """`ask` completed with the columns to show in clear and the reason, each checked."""
    return lambda: replace(ask, reveal=_bounded_columns(gh, ask.scope, columns),
                           reason=checked_reason(reason))


def _export_input(gh: Gatehouse, ask: _Ask, columns: object, reason: object
                  ) -> Callable[[], _Ask] | None:
    """An export names no column in clear (masked as a read is: no reason), or some, each
    checked with its reason as a reveal's are."""
    if isinstance(columns, list | tuple) and not columns:
        return None
    return _with_input(gh, ask, columns, reason)


def _check_input(gh: Gatehouse, principal: Principal, ask: _Ask,
                 complete: Callable[[], _Ask] | None) -> None:
    """The role (a stale code is the action's business, not the check's), then the input,
    as `_serve` checks them; each refusal recorded as `_serve` records it."""
    with suppress(StepUpRequired):
        gh.authorize(principal, _AUTHZ[ask.action])
    _completed(gh, principal, ask, complete)


@dataclass(frozen=True)
class _Ask:
    grant_id: int
    customer_id: str
    scope: str
    action: str  # read, reveal, export: the grant action it needs
    reveal: tuple[str, ...] = ()
    reason: str | None = None
    page: int = 1


_EVENT = {"read": "data.read", "reveal": "data.revealed", "export": "data.exported"}
_AUTHZ = {"read": Action.DATA_READ, "reveal": Action.DATA_REVEAL, "export": Action.DATA_EXPORT}


def _serve(gh: Gatehouse, principal: Principal, ask: _Ask,
           complete: Callable[[], _Ask] | None = None) -> DataView:
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

    `complete` checks the person's input (columns, reason) once the role and step-up are
    known to allow the action; refused input is recorded like any other refusal.
    """
    gh.authorize(principal, _AUTHZ[ask.action])
    ask = _completed(gh, principal, ask, complete)
    if ask.reveal and ask.action != "reveal":
        gh.authorize(principal, Action.DATA_REVEAL)  # an export in clear is a reveal too
    try:
        with gh.read() as db:
            grant, _, tables = _authorize(gh, db, principal, ask, lock=False)
        view = _fetch(gh, grant, ask, tables)
        with gh.write() as db:
            grant, request, _ = _authorize(gh, db, principal, ask, lock=True)
            gh.audit(db, _event(principal, ask, grant, request, view))
    except (Denied, InvalidInput) as refusal:
        _record_denial(gh, principal, ask, refusal)
        raise
    return view


def _completed(gh: Gatehouse, principal: Principal, ask: _Ask,
               complete: Callable[[], _Ask] | None) -> _Ask:
    """`ask` with the person's input checked (the page first); a refusal is recorded."""
    try:
        if isinstance(ask.page, bool) or not isinstance(ask.page, int) \
                or not 1 <= ask.page <= MAX_PAGE:
            raise InvalidInput("page", f"must be a whole number from 1 to {MAX_PAGE}")
        return ask if complete is None else complete()
    except InvalidInput as refusal:
        _record_denial(gh, principal, replace(ask, page=1), refusal)
        raise


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
    if ask.reveal and ask.action != "reveal":  # an export in clear needs the reveal action too
        usable_grant(gh, db, principal, ask.grant_id, ask.customer_id, environment, ask.scope,
                     "reveal")
    refuse_unservable(db, grant.environment, grant.customer_id)
    _check_reveal(ask, tables)
    return grant, db.get_one(AccessRequest, grant.request_id), tables


def _revealable(tables: list[Table]) -> set[str]:
    return {f"{t.name}.{c.name}" for t in tables for c in t.columns if c.revealable}


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
    if ask.action != "reveal" and not ask.reveal:
        return
    allowed = _revealable(tables)
    if not ask.reveal or not set(ask.reveal) <= allowed:
        raise InvalidInput("columns", f"choose among the revealable columns: "
                                      f"{', '.join(sorted(allowed)) or 'none in this scope'}")


def _fetch(gh: Gatehouse, grant: Grant, ask: _Ask, tables: list[Table]) -> DataView:
    """Page `ask.page` of the scope: at most `max_rows` rows over all its tables in catalog
    order, each table's rows by row id; `truncated` says whether more rows follow."""
    size = gh.config.broker.max_rows
    frames, hidden, budget, skip, total = {}, [], size, (ask.page - 1) * size, 0
    with gh.data.engine(grant.environment).connect() as conn:
        key = data_key(conn, gh.data.master, grant.customer_id)  # KeyDestroyed is a Denied
        for table in tables:
            count = _count(conn, table, grant.customer_id)
            frame, masked_here = _rows(conn, table, grant.customer_id, key, ask.reveal,
                                       (min(skip, count), budget))
            frames[table.name] = frame
            hidden += masked_here
            skip, budget, total = max(skip - count, 0), budget - len(frame), total + count
    served = sum(len(frame) for frame in frames.values())
    held, held_by = hold_subjects(gh, grant.environment, grant.customer_id, ask.action,
                                  frames, MASK)
    return DataView(grant.id, grant.customer_id, grant.environment, ask.scope, frames,
                    tuple(hidden), ask.reveal, (ask.page - 1) * size + served < total,
                    ask.page, size, total, tuple(sorted(_revealable(tables))), held, held_by)


def _count(conn: Connection, table: Table, customer_id: str) -> int:
    sql_table = CustomerBase.metadata.tables[table.name]
    return int(conn.execute(select(func.count()).select_from(sql_table).where(
        sql_table.c[table.customer_column] == customer_id)).scalar_one())


def _rows(conn: Connection, table: Table, customer_id: str, key: bytes,
          reveal: tuple[str, ...], window: tuple[int, int]) -> tuple[pd.DataFrame, list[str]]:
    """One customer's rows of `table`, `window` = (rows to skip, rows to serve at most), by
    row id: the customer column binds the query (tenant isolation in the query itself, with a
    bound parameter); then each column is decrypted and shown by its mask rule unless it is
    revealed. Returns the rows and the columns shown masked."""
    skip, most = window
    sql_table = CustomerBase.metadata.tables[table.name]
    names = [c.name for c in table.columns]
    rows = [] if most <= 0 else conn.execute(
        select(*[sql_table.c[n] for n in names])
        .where(sql_table.c[table.customer_column] == customer_id)
        .order_by(sql_table.c[table.row_id_column]).offset(skip).limit(most)).all()
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
        if column.masked and qualified not in reveal:
            shown: list[Any] = [None if _absent(v) else masked(column.mask, v)
                                for v in frame[column.name]]
            frame[column.name] = shown
            hidden.append(qualified)
    return frame, hidden


def _absent(value: object) -> bool:
    """NULL in the database (pandas may have turned it into NaN or NaT)."""
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _event(principal: Principal, ask: _Ask, grant: Grant, request: AccessRequest,
           view: DataView) -> AuditEvent:
    """The event of a served read: which columns (a reveal names only the revealed ones) and
    how many rows; never a value."""
    columns = list(view.revealed) if ask.action == "reveal" else \
        [f"{name}.{c}" for name, frame in view.tables.items() for c in frame.columns]
    details: dict[str, Any] = {"environment": grant.environment, "scope": ask.scope,
                               "action": ask.action, "columns": columns,
                               "row_count": view.row_count, "first_row": view.first_row}
    if ask.action == "export":
        details["format"] = "csv"
        if view.revealed:
            details["revealed"] = list(view.revealed)
    return event_for(principal, _EVENT[ask.action], target_type="customer",
                     target_id=grant.customer_id,
                     customer_id=grant.customer_id, request_id=str(request.id),
                     grant_id=str(grant.id), ticket=request.ticket, reason=ask.reason,
                     policy_version=request.policy_version, details=details)


def _record_denial(gh: Gatehouse, principal: Principal, ask: _Ask,
                   refusal: Denied | InvalidInput) -> None:
    """`data.denied` naming why; the asked-for customer and grant are recorded as asked."""
    with gh.write() as db:
        grant = db.get(Grant, ask.grant_id)
        request = db.get(AccessRequest, grant.request_id) if grant else None
        gh.audit(db, event_for(
            principal, "data.denied", Outcome.DENIED, target_type="customer",
            target_id=as_logged(str(ask.customer_id), 64),
            customer_id=as_logged(str(ask.customer_id), 64),
            request_id=str(request.id) if request else None, grant_id=str(ask.grant_id),
            ticket=request.ticket if request else None,
            reason=None if ask.reason is None else as_logged(ask.reason, MAX_REASON),
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
              view.environment, "scope", view.scope, "rows",
              f"{view.first_row}-{view.last_row} of {view.total_rows}", "revealed",
              " ".join(view.revealed) or "none"]
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

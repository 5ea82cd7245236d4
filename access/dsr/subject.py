"""A data subject's rows in the customer data: found by the blind index, read, corrected and
erased under the broker's rules (queries bound to the customer and the row, values opened and
sealed with that customer's key only, a purged customer's key refuses). No function here
decides whether it may run or logs anything: the DSR services in `access.dsr` do both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from access.context import Gatehouse
from access.data.catalog import Classification, Table
from access.data.customer_db.schema import CustomerBase
from access.data.envelope import data_key, open_value, seal_value
from access.data.subject_index import SubjectRow, find, forget, reindex
from audit.engine import write_engine

__all__ = ["CONTACTS", "SubjectRecord", "erasable", "erase", "fields", "locate", "read", "rectify"]

CONTACTS = "contacts"  # where a data subject is a row: the person at a customer
_INDEX = "contact_email_index"  # the blind index of their email (`subject_index.forget`)


@dataclass(frozen=True)
class SubjectRecord:
    customer_id: str
    contact_id: int
    values: dict[str, str | None]  # field → value in clear, for the subject's own package


def _table(gh: Gatehouse) -> Table:
    return gh.data.catalog.tables[CONTACTS]


def fields(gh: Gatehouse) -> dict[str, Classification]:
    """The subject's fields (the contact's catalogued columns but its ids) → classification."""
    table = _table(gh)
    return {c.name: c.classification for c in table.columns
            if c.name not in (table.customer_column, table.row_id_column)}


def locate(gh: Gatehouse, environment: str, subject_index: str) -> list[SubjectRow]:
    """Every contact row whose email has this blind index: one indexed query."""
    with gh.data.engine(environment).connect() as conn:
        return find(conn, subject_index)


def read(gh: Gatehouse, environment: str, rows: list[SubjectRow]) -> list[SubjectRecord]:
    """The subject's rows in clear, each opened with its own customer's key."""
    table, names = _table(gh), list(fields(gh))
    sql = CustomerBase.metadata.tables[CONTACTS]
    records = []
    with gh.data.engine(environment).connect() as conn:
        for row in rows:
            found = conn.execute(select(*[sql.c[n] for n in names]).where(
                sql.c[table.customer_column] == row.customer_id,
                sql.c[table.row_id_column] == row.contact_id)).one_or_none()
            if found is None:
                continue
            key = data_key(conn, gh.data.master, row.customer_id)
            records.append(SubjectRecord(row.customer_id, row.contact_id, {
                name: _opened(gh, key, row, name, value)
                for name, value in zip(names, found, strict=True)}))
    return records


def _opened(gh: Gatehouse, key: bytes, row: SubjectRow, name: str, value: object
            ) -> str | None:
    if value is None:
        return None
    column = next(c for c in _table(gh).columns if c.name == name)
    if column.encrypted:
        assert isinstance(value, bytes)  # the catalog says sealed; the schema says binary
        return open_value(key, row.customer_id, CONTACTS, name, row.contact_id, value)
    return str(value)


def rectify(gh: Gatehouse, environment: str, rows: list[SubjectRow],
            changes: dict[str, str]) -> None:
    """Write the corrected values to every row, sealed where the catalog says so, and point
    the blind index at a corrected email, in one customer-database transaction."""
    encrypted = {c.name for c in _table(gh).columns if c.encrypted}
    sql = CustomerBase.metadata.tables[CONTACTS]
    with write_engine(gh.data.engine(environment)).begin() as conn:
        for row in rows:
            key = data_key(conn, gh.data.master, row.customer_id)
            values: dict[str, object] = {
                name: seal_value(key, row.customer_id, CONTACTS, name, row.contact_id, value)
                if name in encrypted else value for name, value in changes.items()}
            conn.execute(update(sql).where(sql.c.customer_id == row.customer_id,
                                           sql.c.id == row.contact_id).values(**values))
            if "email" in changes:
                reindex(conn, gh.data.blind_index(), row, changes["email"])


def erasable(rows: list[SubjectRow]) -> dict[str, int]:
    """What `erase` deletes for these rows, per table: each contact row and its index row."""
    return {CONTACTS: len(rows), _INDEX: len(rows)}


def erase(gh: Gatehouse, environment: str, rows: list[SubjectRow]) -> dict[str, int]:
    """Delete the subject's rows and their index rows; rows deleted per table."""
    sql = CustomerBase.metadata.tables[CONTACTS]
    deleted = 0
    with write_engine(gh.data.engine(environment)).begin() as conn:
        _secure_delete(conn)
        for row in rows:
            deleted += conn.execute(delete(sql).where(
                sql.c.customer_id == row.customer_id, sql.c.id == row.contact_id)).rowcount
        forget(conn, rows)
    return {CONTACTS: deleted, _INDEX: len(rows)}


def _secure_delete(conn: Connection) -> None:
    # SQLite then zeroes the deleted cells instead of leaving them in free pages
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")

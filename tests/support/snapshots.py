"""Rows a setup step wrote into an empty console database, kept to be written as they are into
another empty one: a step that costs seconds (enrolling five people is fifty scrypt hashes) is
then run for real once per test process and copied everywhere else.

A copy is exact: the stored values byte for byte (SQLite), every column through COPY with
triggers and foreign-key checks off as a superuser restoring a dump would (PostgreSQL), and
the id counters where the step left them. What it cannot copy is why the rows are right:
callers replay a snapshot only into a database as empty as the one it was taken from, and only
for a step whose inputs they compare (`tests.support.workflow_helpers.team`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine

from audit.engine import write_engine
from tests.support.databases import admin_url_for

# Alembic's own table: every migrated database has its one row.
_SCHEMA_TABLES = ("alembic_version", "sqlite_sequence")


@dataclass(frozen=True)
class Snapshot:
    """Every data row of a console database, per table, and its id counters."""

    kind: str
    tables: dict[str, Any]  # SQLite: (columns, rows); PostgreSQL: COPY text
    counters: Sequence[tuple[Any, ...]]  # SQLite: sqlite_sequence rows; PostgreSQL: sequences


def is_empty(engine: Engine) -> bool:
    """True when no table but the schema's own holds a row (a freshly migrated database)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            return not any(conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first()
                           for table in _sqlite_tables(conn))
    with _admin(engine) as pg:
        return not any(pg.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(
            sql.Identifier(table))).fetchone() for table in _pg_tables(pg))


def take(engine: Engine) -> Snapshot:
    """The rows of every table of `engine`'s database (see `is_empty` for which)."""
    return _take_sqlite(engine) if engine.dialect.name == "sqlite" else _take_postgres(engine)


def _take_sqlite(engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        tables = {t: _sqlite_rows(conn, t) for t in _sqlite_tables(conn)}
        counters = (conn.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()
                    if _has_sqlite_sequence(conn) else [])
    return Snapshot("sqlite", tables, [tuple(c) for c in counters])


def _take_postgres(engine: Engine) -> Snapshot:
    tables: dict[str, bytes] = {}
    with _admin(engine) as pg:
        for table in _pg_tables(pg):
            with pg.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(
                    sql.Identifier(table))) as copy:
                tables[table] = b"".join(bytes(chunk) for chunk in copy)
        counters = pg.execute("SELECT sequencename, last_value FROM pg_sequences "
                              "WHERE schemaname = 'public' AND last_value IS NOT NULL"
                              ).fetchall()
    return Snapshot("postgresql", tables, counters)


def restore(engine: Engine, snapshot: Snapshot) -> None:
    """Write `snapshot` into `engine`'s database, which `is_empty`."""
    assert snapshot.kind == engine.dialect.name, (snapshot.kind, engine.dialect.name)
    if snapshot.kind == "sqlite":
        with write_engine(engine).begin() as conn:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # checked at commit
            for table, (columns, rows) in snapshot.tables.items():
                if rows:
                    names = ", ".join(f'"{c}"' for c in columns)
                    marks = ", ".join("?" for _ in columns)
                    conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({marks})',
                                         [tuple(r) for r in rows])
            if _has_sqlite_sequence(conn):
                conn.exec_driver_sql("DELETE FROM sqlite_sequence")
                if snapshot.counters:
                    conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                                         snapshot.counters)
        return
    with _admin(engine) as pg, pg.transaction():
        pg.execute("SET LOCAL session_replication_role = replica")
        for table, data in snapshot.tables.items():
            if data:
                with pg.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(
                        sql.Identifier(table))) as copy:
                    copy.write(data)
        for sequence, last_value in snapshot.counters:
            pg.execute("SELECT setval(%s, %s)", (sequence, last_value))


def _sqlite_tables(conn: Connection) -> list[str]:
    names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "ORDER BY name").scalars()
    return [n for n in names if n not in _SCHEMA_TABLES]


def _sqlite_rows(conn: Connection, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    result = conn.exec_driver_sql(f'SELECT * FROM "{table}"')
    return list(result.keys()), [tuple(r) for r in result]


def _has_sqlite_sequence(conn: Connection) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
                                ).first() is not None


def _pg_tables(pg: psycopg.Connection[Any]) -> list[str]:
    rows = pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                      "ORDER BY tablename").fetchall()
    return [r[0] for r in rows if r[0] not in _SCHEMA_TABLES]


def _admin(engine: Engine) -> psycopg.Connection[Any]:
    """A superuser's connection to `engine`'s PostgreSQL database."""
    return psycopg.connect(admin_url_for(engine.url), autocommit=True)

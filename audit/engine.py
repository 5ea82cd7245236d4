"""Engines for the console database, on SQLite (embedded default) or PostgreSQL (psycopg 3).

SQLite gets WAL, foreign keys, a busy timeout, and write transactions that start with
`BEGIN IMMEDIATE`: a deferred transaction that reads and then writes fails with SQLITE_BUSY under
concurrency even with a busy timeout, because SQLite cannot upgrade its read lock while another
writer is queued. `write_engine()` is the door every write goes through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

_BEGIN_OPTION = "gatehouse_begin"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`, with the SQLite settings above when the URL is SQLite.

    Errors never quote bound parameters (`hide_parameters`): they carry customer values and
    secrets, and error text ends up in logs.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions take SQLite's write lock at BEGIN (no-op elsewhere)."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event: pysqlite's own implicit BEGIN is
    # always DEFERRED and would defeat BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                   "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")

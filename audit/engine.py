"""Engines for the console database, on SQLite (embedded default) or PostgreSQL (psycopg 3).

SQLite gets WAL, foreign keys, a busy timeout, and write transactions that start with
`BEGIN IMMEDIATE`: a deferred transaction that reads and then writes fails with SQLITE_BUSY under
concurrency even with a busy timeout, because SQLite cannot upgrade its read lock while another
writer is queued. `write_engine()` is the door every write goes through.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

_BEGIN_OPTION = "gatehouse_begin"
_POLL_OPTION = "gatehouse_poll_lock"
BUSY_TIMEOUT_MS = 30_000
_POLL_SLEEP = 0.0005


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


def polling_write_engine(engine: Engine) -> Engine:
    """`write_engine`, but on SQLite the write lock is asked for every half millisecond rather
    than through SQLite's busy handler, whose back-off sleeps grow to 100 ms.

    The lock is not fair: a writer that commits and begins again at once usually wins it, and
    one sleeping in the busy handler wakes too late for the gap between two transactions. With
    eight writers flat out the sealer waited seconds for it (seal lag p99 5.6 s); polling takes
    the next gap. For the sealer alone: one process spinning on the lock is cheap, eight are
    not."""
    return write_engine(engine).execution_options(**{_POLL_OPTION: True})


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event: pysqlite's own implicit BEGIN is
    # always DEFERRED and would defeat BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}",
                   "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    mode = options.get(_BEGIN_OPTION, "DEFERRED")
    if options.get(_POLL_OPTION):
        _begin_polling(conn.connection.dbapi_connection, mode)
    else:
        conn.exec_driver_sql(f"BEGIN {mode}")


def _begin_polling(raw: Any, mode: str) -> None:
    """BEGIN `mode`, retrying a busy database every `_POLL_SLEEP` for up to the usual busy
    timeout, then restoring the busy handler for the rest of the transaction."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute(f"BEGIN {mode}")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    # as any other statement's failure reaches callers: wrapped by SQLAlchemy
                    raise OperationalError(f"BEGIN {mode}", None, exc) from exc
            time.sleep(_POLL_SLEEP)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database with its own roles."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from access.ops.migrate import upgrade
from access.ops.pg_roles import RolePlan, create_roles
from audit.engine import make_engine

PG_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_PG_ADMIN_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") == "1"


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".splitlines()[0]


@dataclass
class Database:
    """A migrated console database. `engine` connects as the app; `owner` can bypass triggers
    the way a database owner (or an attacker holding the file) could."""

    kind: str
    url: str
    engine: Engine
    owner: Engine

    def dispose(self) -> None:
        self.engine.dispose()
        self.owner.dispose()


def sqlite_database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'gatehouse.db'}"
    upgrade(url)
    return Database("sqlite", url, make_engine(url), make_engine(url))


# Tests date events with a fake clock (`FakeClock` starts on 2026-11-22 and advances by days),
# and PostgreSQL stamps `ts_us` with its own clock when an appender's time lies further from it
# than the allowance baked in by migration 0008. Test databases are migrated with an allowance
# wide enough for that history; the stamp itself is tested on databases migrated with the
# production allowance (tests/audit/test_audit_clock.py). `id` and `txid` are decided by the
# database either way.
HISTORY_ALLOWANCE_S = str(5 * 365 * 24 * 3600)


@contextmanager
def postgres_database(admin_url: str, clock_allowance_s: str | None = HISTORY_ALLOWANCE_S
                      ) -> Iterator[Database]:
    """A fresh migrated PostgreSQL database with its own owner and app roles (the app role's
    name is `db.url`'s user), dropped with them on exit; for fixtures of any scope.
    `clock_allowance_s`: how far an appender's `ts_us` may lie from the database's clock and
    be kept (None: the production allowance)."""
    suffix = uuid.uuid4().hex[:10]
    plan = RolePlan(f"gh_test_{suffix}", f"gh_owner_{suffix}", f"gh_app_{suffix}",
                    "owner-pw", "app-pw")
    owner_url, app_url = create_roles(admin_url, plan)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEHOUSE_APP_ROLE", plan.app)
        if clock_allowance_s is not None:
            patch.setenv("GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE", clock_allowance_s)
        upgrade(owner_url)
    db = Database("postgres", app_url, make_engine(app_url), make_engine(owner_url))
    try:
        yield db
    finally:
        db.dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {plan.database} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {plan.app}")
            conn.execute(f"DROP ROLE IF EXISTS {plan.owner}")

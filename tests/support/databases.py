"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database with its own roles.

Each test gets a database of its own, migrated to the newest schema. Migrating costs far more
than copying, so each test process migrates once per engine and copies:
- SQLite: the bytes of a freshly migrated file are kept in memory and written to each test's
  file (0600, as `upgrade` creates one);
- PostgreSQL: the process's roles own one migrated template database per clock allowance,
  and each test's database is `CREATE DATABASE … TEMPLATE` of it, then closed to PUBLIC and
  given its role limits exactly as `create_roles` does for a real deployment.
`drop_postgres_templates` drops the templates and roles (the session fixture in
tests/conftest.py calls it when the process's tests are done).
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import URL, Engine, make_url

from access.ops.migrate import upgrade
from access.ops.pg_roles import RolePlan, create_roles
from audit.engine import make_engine
from audit.private_files import create_private

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


@functools.cache
def _migrated_sqlite_image() -> bytes:
    """The bytes of a freshly migrated SQLite console database (built once per process)."""
    with tempfile.TemporaryDirectory(prefix="gatehouse-schema-") as folder:
        path = Path(folder) / "gatehouse.db"
        upgrade(f"sqlite:///{path}")
        # `upgrade` closed its connections, so SQLite checkpointed the WAL into the file:
        # the file alone is the whole database
        assert not path.with_name("gatehouse.db-wal").exists()
        return path.read_bytes()


def migrated_sqlite_file(path: Path) -> str:
    """A new console database at `path`, as `upgrade` would leave it (schema at head, created
    0600); its URL. Refuses a path that exists."""
    with os.fdopen(create_private(path), "wb") as out:
        out.write(_migrated_sqlite_image())
    return f"sqlite:///{path}"


def sqlite_database(tmp_path: Path) -> Database:
    url = migrated_sqlite_file(tmp_path / "gatehouse.db")
    return Database("sqlite", url, make_engine(url), make_engine(url))


# Tests date events with a fake clock (`FakeClock` starts on 2026-11-22 and advances by days),
# and PostgreSQL stamps `ts_us` with its own clock when an appender's time lies further from it
# than the allowance baked in by migration 0008. Test databases are migrated with an allowance
# wide enough for that history; the stamp itself is tested on databases migrated with the
# production allowance (tests/audit/test_audit_clock.py). `id` and `txid` are decided by the
# database either way.
HISTORY_ALLOWANCE_S = str(5 * 365 * 24 * 3600)


@functools.cache
def _process_roles(admin_url: str) -> RolePlan:
    """This process's owner and app roles (created with its first template): every test
    database of the process is owned by the same owner and grants to the same app role, as a
    template's grants name the roles they were made for. Tests of one process run one at a
    time, each in its own database, and role settings are made per database."""
    suffix = uuid.uuid4().hex[:10]
    return RolePlan(f"gh_test_{suffix}", f"gh_owner_{suffix}", f"gh_app_{suffix}",
                    "owner-pw", "app-pw")


# What the migrations read besides the app role (migrations/privileges.py, migration 0008):
# a template is made for each combination a test migrates under.
_MIGRATION_ENV = ("GATEHOUSE_SEALER_ROLE", "GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE")
_templates: dict[tuple[str, tuple[str | None, ...]], str] = {}


def _template(admin_url: str, clock_allowance_s: str | None) -> str:
    """The name of this process's migrated template for `clock_allowance_s` and the migration
    settings in the environment now, made on first use."""
    with pytest.MonkeyPatch.context() as patch:
        if clock_allowance_s is not None:
            patch.setenv("GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE", clock_allowance_s)
        key = (admin_url, tuple(os.environ.get(name) for name in _MIGRATION_ENV))
        if key not in _templates:
            _templates[key] = _migrated_template(admin_url)
    return _templates[key]


def _migrated_template(admin_url: str) -> str:
    plan = replace(_process_roles(admin_url), database=f"gh_template_{uuid.uuid4().hex[:10]}")
    owner_url, _ = create_roles(admin_url, plan)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEHOUSE_APP_ROLE", plan.app)
        upgrade(owner_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # CREATE DATABASE … TEMPLATE refuses a source anyone is connected to: keep
        # autovacuum and stray sessions out for good
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
            sql.Identifier(plan.database)))
    return plan.database


def _create_from(admin_url: str, template: str, plan: RolePlan) -> None:
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
        sql.Identifier(plan.database), sql.Identifier(template), sql.Identifier(plan.owner))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for attempt in range(50):
            try:
                conn.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                # a checkpointer or autovacuum worker may hold the template for a moment
                if attempt == 49:
                    raise
                time.sleep(0.1)


@contextmanager
def postgres_database(admin_url: str, clock_allowance_s: str | None = HISTORY_ALLOWANCE_S
                      ) -> Iterator[Database]:
    """A fresh migrated PostgreSQL database, owned by the process's owner role with the
    process's app role (the name is `db.url`'s user) holding what migrations grant it, closed
    to PUBLIC; dropped on exit; for fixtures of any scope. `clock_allowance_s`: how far an
    appender's `ts_us` may lie from the database's clock and be kept (None: the production
    allowance)."""
    template = _template(admin_url, clock_allowance_s)
    plan = replace(_process_roles(admin_url), database=f"gh_test_{uuid.uuid4().hex[:10]}")
    _create_from(admin_url, template, plan)
    # what a database created for a deployment gets (CONNECT closed to PUBLIC, the roles'
    # timeouts): settings of a database are not copied from its template
    owner_url, app_url = create_roles(admin_url, plan)
    db = Database("postgres", app_url, make_engine(app_url), make_engine(owner_url))
    try:
        yield db
    finally:
        db.dispose()
        _drop_database(admin_url, plan.database)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def drop_postgres_templates() -> None:
    """Drop this process's templates, then its roles (nothing else of theirs is left by then:
    every test database is dropped with its test)."""
    for (admin_url, _), name in list(_templates.items()):
        _drop_database(admin_url, name)
    for admin_url in {admin_url for admin_url, _ in _templates}:
        plan = _process_roles(admin_url)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for role in (plan.app, plan.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    _templates.clear()
    _process_roles.cache_clear()


def admin_url_for(database_url: str | URL) -> str:
    """A superuser's URL (for psycopg) to the PostgreSQL database of `database_url`."""
    admin = make_url(PG_ADMIN_URL).set(database=make_url(database_url).database,
                                       drivername="postgresql")
    return admin.render_as_string(hide_password=False)

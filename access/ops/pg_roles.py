"""Create the PostgreSQL roles Gatehouse runs with, and its database.

- owner role: owns the schema and runs the migrations (GATEHOUSE_MIGRATION_URL);
- app role: what the console connects as (GATEHOUSE_DATABASE_URL). Migrations grant it SELECT
  and INSERT only on the audit tables, so even with the triggers dropped it cannot UPDATE,
  DELETE or TRUNCATE the log (ALTER TABLE needs ownership it lacks);
- sealer role (when the plan names one; `python -m access db-roles` always does): what the
  sealer connects as (GATEHOUSE_SEALER_DATABASE_URL). Migration 0007, run with
  GATEHOUSE_SEALER_ROLE set, makes it the only writer of the tree tables.

The database is closed to PUBLIC (CONNECT revoked: a stray login cannot open a transaction
that holds the sealer's horizon), a transaction of the app or sealer role left idle is ended
after `IDLE_IN_TRANSACTION` (the longest a write transaction may stay open), and a statement
of either role that runs longer than its statement timeout is cancelled (`statement_timeout`,
set per role in the Gatehouse database; `GATEHOUSE_APP_STATEMENT_TIMEOUT`, default
`APP_STATEMENT_TIMEOUT`, and `GATEHOUSE_SEALER_STATEMENT_TIMEOUT`, default
`SEALER_STATEMENT_TIMEOUT`): a busy statement in a write transaction holds the sealer's
horizon as an idle one does, and the idle timeout never fires for it.

Both are role defaults, which a session of the role may SET otherwise: they bound what runs
through Gatehouse's own code (a pathological filter, a runaway query, a forgotten console
session), not someone holding the role's password, who is caught by the sealer's signed
statements and the seal-lag warning instead (docs/security.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from access.errors import InvalidInput

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)
IDLE_IN_TRANSACTION = "60s"
APP_STATEMENT_TIMEOUT = "30s"  # the console: pages, exports fetch in batches (one statement each)
SEALER_STATEMENT_TIMEOUT = "60s"  # the sealer: one batch of leaves per statement
# PostgreSQL's time units; 0 (which disables the timeout) and a bare 0-prefixed number are not
_DURATION = re.compile(r"[1-9][0-9]{0,8}(ms|s|min|h)?", re.ASCII)


def _env_timeout(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class RolePlan:
    database: str
    owner: str
    app: str
    owner_password: str | None = None
    app_password: str | None = None
    sealer: str | None = None
    sealer_password: str | None = None
    app_statement_timeout: str = field(default_factory=lambda: _env_timeout(
        "GATEHOUSE_APP_STATEMENT_TIMEOUT", APP_STATEMENT_TIMEOUT))
    sealer_statement_timeout: str = field(default_factory=lambda: _env_timeout(
        "GATEHOUSE_SEALER_STATEMENT_TIMEOUT", SEALER_STATEMENT_TIMEOUT))

    def __post_init__(self) -> None:
        for name in ("database", "owner", "app", "sealer"):
            value = getattr(self, name)
            if value is not None and not _NAME.fullmatch(value):
                raise InvalidInput(name, f"must match {_NAME.pattern}")
        for name in ("app_statement_timeout", "sealer_statement_timeout"):
            if not _DURATION.fullmatch(getattr(self, name)):
                raise InvalidInput(name, "must be a positive duration such as 500ms, 30s, "
                                         "2min or 1h (0 would switch the timeout off)")
        if self.owner == self.app:
            raise InvalidInput("app", "must differ from the owner role")
        if self.sealer in (self.owner, self.app):
            raise InvalidInput("sealer", "must differ from the owner and app roles")


def _limit_sessions(conn: psycopg.Connection[object], database: sql.Identifier,
                    plan: RolePlan) -> None:
    """The idle-in-transaction and statement timeouts of the app and sealer roles in the
    database (set again on every run, so a changed setting takes effect; not for the owner,
    whose migrations may take long). New sessions get them."""
    limits = [(plan.app, plan.app_statement_timeout)]
    if plan.sealer is not None:
        limits.append((plan.sealer, plan.sealer_statement_timeout))
    for role, statement_timeout in limits:
        for setting, value in (("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
                               ("statement_timeout", statement_timeout)):
            conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                sql.Identifier(role), database, sql.Identifier(setting), sql.Literal(value)))


@dataclass(frozen=True)
class RoleUrls:
    owner: str
    app: str
    sealer: str | None


def create_roles(admin_url: str, plan: RolePlan) -> tuple[str, str]:
    """Create roles and database (each only if absent) as a superuser; return the migration
    URL (owner) and the app URL, for the same host as `admin_url`."""
    urls = create_all_roles(admin_url, plan)
    return urls.owner, urls.app


def create_all_roles(admin_url: str, plan: RolePlan) -> RoleUrls:
    """`create_roles`, with the sealer's role and URL when the plan names one."""
    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    roles = [(plan.owner, plan.owner_password), (plan.app, plan.app_password)]
    if plan.sealer is not None:
        roles.append((plan.sealer, plan.sealer_password))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for role, password in roles:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
        database = sql.Identifier(plan.database)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (plan.database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                database, sql.Identifier(plan.owner)))
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
            database))
        for role, _ in roles:
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                database, sql.Identifier(role)))
        _limit_sessions(conn, database, plan)
    target = url.set(drivername="postgresql+psycopg", database=plan.database)

    def url_of(role: str, password: str | None) -> str:
        return target.set(username=role, password=password).render_as_string(
            hide_password=False)

    return RoleUrls(url_of(plan.owner, plan.owner_password), url_of(plan.app, plan.app_password),
                    None if plan.sealer is None else url_of(plan.sealer, plan.sealer_password))

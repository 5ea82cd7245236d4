"""Create the PostgreSQL roles Gatehouse runs with, and its database.

- owner role: owns the schema and runs the migrations (GATEHOUSE_MIGRATION_URL);
- app role: what the console connects as (GATEHOUSE_DATABASE_URL). Migrations grant it SELECT
  and INSERT only on the audit tables, so even with the triggers dropped it cannot UPDATE,
  DELETE or TRUNCATE the log (ALTER TABLE needs ownership it lacks);
- sealer role (when the plan names one; `python -m access db-roles` always does): what the
  sealer connects as (GATEHOUSE_SEALER_DATABASE_URL). Migration 0007, run with
  GATEHOUSE_SEALER_ROLE set, makes it the only writer of the tree tables.

The database is closed to PUBLIC (CONNECT revoked: a stray login cannot open a transaction
that holds the sealer's horizon), and a transaction of the app or sealer role left idle is
ended after `IDLE_IN_TRANSACTION` (the longest a write transaction may stay open).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from access.errors import InvalidInput

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)
IDLE_IN_TRANSACTION = "60s"


@dataclass(frozen=True)
class RolePlan:
    database: str
    owner: str
    app: str
    owner_password: str | None = None
    app_password: str | None = None
    sealer: str | None = None
    sealer_password: str | None = None

    def __post_init__(self) -> None:
        for field in ("database", "owner", "app", "sealer"):
            value = getattr(self, field)
            if value is not None and not _NAME.fullmatch(value):
                raise InvalidInput(field, f"must match {_NAME.pattern}")
        if self.owner == self.app:
            raise InvalidInput("app", "must differ from the owner role")
        if self.sealer in (self.owner, self.app):
            raise InvalidInput("sealer", "must differ from the owner and app roles")


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
        for role, _ in roles[1:]:  # the owner runs migrations, which may take long
            conn.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET "
                                 "idle_in_transaction_session_timeout = {}").format(
                sql.Identifier(role), database, sql.Literal(IDLE_IN_TRANSACTION)))
    target = url.set(drivername="postgresql+psycopg", database=plan.database)

    def url_of(role: str, password: str | None) -> str:
        return target.set(username=role, password=password).render_as_string(
            hide_password=False)

    return RoleUrls(url_of(plan.owner, plan.owner_password), url_of(plan.app, plan.app_password),
                    None if plan.sealer is None else url_of(plan.sealer, plan.sealer_password))

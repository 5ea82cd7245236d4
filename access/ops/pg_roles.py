"""Create the two PostgreSQL roles Gatehouse runs with, and its database.

- owner role: owns the schema and runs the migrations (GATEHOUSE_MIGRATION_URL);
- app role: what the console and the sealer connect as (GATEHOUSE_DATABASE_URL). Migrations
  grant it SELECT and INSERT only on the audit tables, so even with the triggers dropped it
  cannot UPDATE, DELETE or TRUNCATE the log (ALTER TABLE needs ownership it lacks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from access.errors import InvalidInput

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)


@dataclass(frozen=True)
class RolePlan:
    database: str
    owner: str
    app: str
    owner_password: str | None = None
    app_password: str | None = None

    def __post_init__(self) -> None:
        for field in ("database", "owner", "app"):
            if not _NAME.fullmatch(getattr(self, field)):
                raise InvalidInput(field, f"must match {_NAME.pattern}")
        if self.owner == self.app:
            raise InvalidInput("app", "must differ from the owner role")


def create_roles(admin_url: str, plan: RolePlan) -> tuple[str, str]:
    """Create roles and database (each only if absent) as a superuser; return the migration
    URL (owner) and the app URL, for the same host as `admin_url`."""
    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for role, password in ((plan.owner, plan.owner_password), (plan.app, plan.app_password)):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (plan.database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(plan.database), sql.Identifier(plan.owner)))
    target = url.set(drivername="postgresql+psycopg", database=plan.database)
    owner = target.set(username=plan.owner, password=plan.owner_password)
    app = target.set(username=plan.app, password=plan.app_password)
    return (owner.render_as_string(hide_password=False),
            app.render_as_string(hide_password=False))

"""DDL helpers shared by migrations: append-only triggers and the app role's grants."""

from __future__ import annotations

import os

from alembic import op

APP_ROLE_ENV = "GATEHOUSE_APP_ROLE"
SEALER_ROLE_ENV = "GATEHOUSE_SEALER_ROLE"


def app_role() -> str:
    return _role(APP_ROLE_ENV, "gatehouse_app")


def sealer_role() -> str | None:
    """The sealer's role, named only by `GATEHOUSE_SEALER_ROLE` (which `python -m access
    db-roles` prints): roles are cluster-wide, so a default name would split the privileges of
    every database migrated on a server where some other deployment created it."""
    return _role(SEALER_ROLE_ENV, "") if os.environ.get(SEALER_ROLE_ENV) else None


def _role(variable: str, default: str) -> str:
    role = os.environ.get(variable, default)
    if not role.replace("_", "").isalnum():
        raise ValueError(f"{variable}: must be letters, digits and underscores")
    return role


def is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def refuse_update_delete(table: str) -> None:
    """Make `table` append-only at the database: UPDATE, DELETE (and TRUNCATE) abort."""
    if is_postgres():
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION gatehouse_refuse_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_refuse_change()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")


def grant_app(tables: list[str], privileges: str) -> None:
    """Grant `privileges` on `tables` to the app role, when that role exists (PostgreSQL)."""
    if not is_postgres():
        return
    role = app_role()
    names = ", ".join(tables)
    op.execute(f"""DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            GRANT {privileges} ON {names} TO {role};
        END IF; END $$""")

"""The sealer's own role: the only writer of the tree tables (PostgreSQL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

When the sealer role named by `GATEHOUSE_SEALER_ROLE` (`python -m access db-roles` creates it
and prints the name) exists, it gets SELECT and INSERT on the four audit tables (INSERT on
`audit_events` for its own reports of junk it skipped), and the console's role loses INSERT on
`audit_leaves`, `audit_nodes` and `audit_checkpoints`: it can append events and read the tree,
nothing more, so it can no longer poison the tree. Without a sealer role (an older two-role
deployment) nothing changes, and the console's role keeps sealing as before.
"""

from alembic import op

from migrations.privileges import app_role, is_postgres, sealer_role

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TREE = "audit_leaves, audit_nodes, audit_checkpoints"


def upgrade() -> None:
    if not is_postgres():
        return
    app, sealer = app_role(), sealer_role()
    if sealer is None:
        return
    op.execute(f"""DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{sealer}') THEN
            GRANT SELECT, INSERT ON audit_events, {TREE} TO {sealer};
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{app}') THEN
                REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {TREE} FROM {app};
            END IF;
        END IF; END $$""")


def downgrade() -> None:
    if not is_postgres():
        return
    app, sealer = app_role(), sealer_role()
    if sealer is None:
        return
    op.execute(f"""DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{sealer}') THEN
            REVOKE ALL ON audit_events, {TREE} FROM {sealer};
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{app}') THEN
                GRANT INSERT ON {TREE} TO {app};
            END IF;
        END IF; END $$""")

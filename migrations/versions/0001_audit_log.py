"""The append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from migrations.privileges import grant_app, is_postgres, refuse_update_delete

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ["audit_events", "audit_leaves", "audit_nodes", "audit_checkpoints"]


def upgrade() -> None:
    text = [sa.Column(name, sa.Text(), nullable=True) for name in (
        "actor_name", "session_id", "source_ip", "user_agent", "target_type", "target_id",
        "customer_id", "request_id", "grant_id", "ticket", "reason", "policy_version")]
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, sa.Identity(), primary_key=True),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("actor_iss", sa.Text(), nullable=False),
        sa.Column("actor_sub", sa.Text(), nullable=False),
        sa.Column("actor_roles", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        *text,
        sa.Column("details", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "audit_leaves",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.BigInteger(), sa.ForeignKey("audit_events.id"),
                  nullable=False, unique=True),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    if is_postgres():
        # Commit order on PostgreSQL: the sealer reads below the oldest running transaction.
        op.execute("ALTER TABLE audit_events ALTER COLUMN txid "
                   "SET DEFAULT (pg_current_xact_id()::text::bigint), "
                   "ALTER COLUMN txid SET NOT NULL")
        op.create_index("ix_audit_events_txid_id", "audit_events", ["txid", "id"])
        op.execute("""CREATE FUNCTION gatehouse_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$""")
    for table in TABLES:
        refuse_update_delete(table)
    grant_app(TABLES, "SELECT, INSERT")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    if is_postgres():
        op.execute("DROP FUNCTION gatehouse_refuse_change()")

"""Users, console sessions, MFA credentials and recovery codes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ["users", "console_sessions", "mfa_credentials", "recovery_codes"]


def ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("iss", sa.Text(), nullable=False),
        sa.Column("sub", sa.Text(), nullable=False),
        sa.Column("email", sa.Text()),
        sa.Column("display_name", sa.Text()),
        ts("created_at", nullable=False), ts("last_login_at"), ts("disabled_at"),
        sa.Column("disabled_by", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("disabled_reason", sa.Text()),
        sa.UniqueConstraint("iss", "sub", name="uq_users_iss"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False,
                  index=True),
        sa.Column("login_key", sa.Text(), nullable=False, unique=True),
        sa.Column("roles", sa.Text(), nullable=False),
        ts("created_at", nullable=False), ts("last_seen_at", nullable=False),
        ts("expires_at", nullable=False), ts("mfa_verified_at"), ts("step_up_at"),
        ts("ended_at"), sa.Column("end_reason", sa.Text()),
    )
    op.create_table(
        "mfa_credentials",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        ts("created_at", nullable=False), ts("activated_at"),
        sa.Column("last_step", sa.Integer()),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        ts("locked_until"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False,
                  index=True),
        sa.Column("code_hash", sa.Text(), nullable=False),
        ts("used_at"),
    )
    grant_app(TABLES, "SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)

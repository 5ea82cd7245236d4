"""Tombstones of purged customers: requests and grants for them are refused forever.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purged_customers",
        sa.Column("environment", sa.Text(), primary_key=True),
        sa.Column("customer_id", sa.Text(), primary_key=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_deleted", sa.Integer(), nullable=False),
    )
    grant_app(["purged_customers"], "SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("purged_customers")

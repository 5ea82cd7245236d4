"""Customers under a restriction of processing (GDPR Art. 18): nothing is served for them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_restrictions",
        sa.Column("environment", sa.Text(), primary_key=True),
        sa.Column("customer_id", sa.Text(), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restricted_by", sa.Integer(),
                  sa.ForeignKey("users.id", name="fk_customer_restrictions_restricted_by_users"),
                  nullable=False),
        sa.Column("restricted_at", sa.DateTime(timezone=True), nullable=False),
    )
    # lifting a restriction deletes its row (the audit log keeps the history)
    grant_app(["customer_restrictions"], "SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_table("customer_restrictions")

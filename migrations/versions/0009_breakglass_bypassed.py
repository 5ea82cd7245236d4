"""Break-glass grants record the policy rules they bypassed (issue 15).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

`grants.bypassed` holds, one per line, the rules a break-glass grant skipped (such as the
approvers its request would have needed), so the reviewer sees what an approver would have
been asked. NULL for every grant issued through approval. The app role already holds UPDATE
and INSERT on `grants`, so no privilege changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("grants", sa.Column("bypassed", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("bypassed")

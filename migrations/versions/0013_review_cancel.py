"""Access-review campaigns can be cancelled, with a reason (issue 17).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

`review_campaigns.cancel_reason` holds the reason an admin gave for cancelling a scheduled or
running campaign (status `cancelled`; `closed_at` and `closed_by` say when and by whom, as for
a close). NULL for every campaign that was not cancelled. The app role already holds UPDATE on
`review_campaigns` (0011), so no privilege changes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("review_campaigns", sa.Column("cancel_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_campaigns") as batch:
        batch.drop_column("cancel_reason")

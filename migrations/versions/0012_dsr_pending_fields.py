"""Data-subject requests: a waiting rectification names its fields; a request's hold is
found by an index (issue 16).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

- `dsr_requests.pending_fields` holds, space-separated, the names of the fields a proposed
  rectification corrects, so the approver reads what they approve; the corrected values stay
  sealed in `pending_sealed`. NULL when nothing waits. The app role already holds UPDATE on
  `dsr_requests`.
- `ix_subject_restrictions_dsr_id`: the DSR page shows, for each request it lists, whether the
  request holds the subject's rows, and lifting, deciding and erasing delete a request's
  holds; the primary key leads with the environment, so without this each was a scan.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

HOLDS_INDEX = "ix_subject_restrictions_dsr_id"


def upgrade() -> None:
    op.add_column("dsr_requests", sa.Column("pending_fields", sa.Text(), nullable=True))
    op.create_index(HOLDS_INDEX, "subject_restrictions", ["dsr_id"])


def downgrade() -> None:
    op.drop_index(HOLDS_INDEX, table_name="subject_restrictions")
    with op.batch_alter_table("dsr_requests") as batch:
        batch.drop_column("pending_fields")

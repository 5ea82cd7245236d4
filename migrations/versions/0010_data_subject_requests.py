"""Data-subject requests (issue 16): the requests, redactions of access packages, and
per-subject restrictions of processing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

`dsr_requests` keeps the subject only as the blind index of their email and a display hint.
Its rows are never deleted (no DELETE for the app role): a request is the evidence of how it
was answered, and outlives an erasure of the subject's data.
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _user(column: str, table: str, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(column, sa.Integer(),
                     sa.ForeignKey("users.id", name=f"fk_{table}_{column}_users"),
                     nullable=nullable)


def _when(column: str, nullable: bool = True) -> sa.Column[sa.DateTime]:
    return sa.Column(column, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    t = "dsr_requests"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("jurisdiction", sa.Text(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("subject_index", sa.Text(), nullable=False),
        sa.Column("subject_hint", sa.Text(), nullable=False),
        _when("received_at", False), _when("due_at", False),
        _when("extended_at"), _user("extended_by", t),
        sa.Column("extension_reason", sa.Text()),
        sa.Column("identity_state", sa.Text(), nullable=False),
        sa.Column("identity_method", sa.Text()),
        _user("identity_verified_by", t), _when("identity_verified_at"),
        sa.Column("status", sa.Text(), nullable=False),
        _user("assignee_id", t, False), _user("filed_by", t, False), _when("filed_at", False),
        sa.Column("grounds", sa.Text()),
        sa.Column("pending_action", sa.Text()), _user("pending_by", t), _when("pending_at"),
        sa.Column("pending_sealed", sa.Text()),
        _when("closed_at"),
        sa.Column("outcome", sa.Text()), sa.Column("outcome_reason", sa.Text()),
        sa.Column("evidence", sa.Text(), comment="JSON: tables, rows, event ids"),
        _when("due_notified_at"),
    )
    op.create_index("ix_dsr_requests_subject_index", t, ["subject_index"])
    op.create_index("ix_dsr_requests_due_at", t, ["due_at"])
    op.create_index("ix_dsr_requests_status", t, ["status"])
    r = "dsr_redactions"
    op.create_table(
        r,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("dsr_id", sa.Integer(),
                  sa.ForeignKey("dsr_requests.id", name="fk_dsr_redactions_dsr_id_dsr_requests"),
                  nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _user("redacted_by", r, False), _when("redacted_at", False),
        sa.UniqueConstraint("dsr_id", "item", name="uq_dsr_redactions_dsr_id"),
    )
    op.create_index("ix_dsr_redactions_dsr_id", r, ["dsr_id"])
    s = "subject_restrictions"
    op.create_table(
        s,
        sa.Column("environment", sa.Text(), primary_key=True),
        sa.Column("customer_id", sa.Text(), primary_key=True),
        sa.Column("contact_id", sa.Integer(), primary_key=True),
        sa.Column("dsr_id", sa.Integer(),
                  sa.ForeignKey("dsr_requests.id",
                                name="fk_subject_restrictions_dsr_id_dsr_requests"),
                  primary_key=True),
        sa.Column("reason", sa.Text(), nullable=False),
        _user("restricted_by", s, False), _when("restricted_at", False),
    )
    grant_app([t], "SELECT, INSERT, UPDATE")
    grant_app([r], "SELECT, INSERT")
    grant_app([s], "SELECT, INSERT, DELETE")


def downgrade() -> None:
    op.drop_table("subject_restrictions")
    op.drop_table("dsr_redactions")
    op.drop_table("dsr_requests")

"""Access requests, approvals, grants, and the notification outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ["access_requests", "approvals", "grants", "notifications"]


def ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def text(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def user_fk(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("users.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        user_fk("requester_id", nullable=False), text("customer_id"), text("environment"),
        text("scopes"), text("actions"), sa.Column("duration_s", sa.Integer(), nullable=False),
        ts("starts_at"), text("justification"), text("ticket", nullable=True), text("status"),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("breakglass", sa.Boolean(), nullable=False, server_default=sa.false()),
        text("policy_version"), ts("created_at", nullable=False),
        ts("expires_at", nullable=False), ts("decided_at"), user_fk("decided_by"),
        text("decision_comment", nullable=True),
    )
    op.create_index("ix_access_requests_requester_id", "access_requests", ["requester_id"])
    op.create_index("ix_access_requests_customer_id", "access_requests", ["customer_id"])
    op.create_index("ix_access_requests_status", "access_requests", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("access_requests.id"),
                  nullable=False),
        user_fk("approver_id", nullable=False), text("decision"),
        text("comment", nullable=True), ts("created_at", nullable=False),
        text("policy_version"),
        sa.UniqueConstraint("request_id", "approver_id", name="uq_approvals_request_id"),
    )
    op.create_index("ix_approvals_request_id", "approvals", ["request_id"])
    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("access_requests.id"),
                  nullable=False, unique=True),
        user_fk("user_id", nullable=False), text("customer_id"), text("environment"),
        text("scopes"), text("actions"), ts("starts_at", nullable=False),
        ts("ends_at", nullable=False), ts("created_at", nullable=False),
        sa.Column("breakglass", sa.Boolean(), nullable=False, server_default=sa.false()),
        ts("revoked_at"), user_fk("revoked_by"), text("revoke_reason", nullable=True),
        ts("released_at"), ts("expiry_recorded_at"), ts("expiring_notified_at"),
        ts("reviewed_at"), user_fk("reviewed_by"),
        text("review_note", nullable=True),
    )
    op.create_index("ix_grants_user_id", "grants", ["user_id"])
    op.create_index("ix_grants_customer_id", "grants", ["customer_id"])
    op.create_index("ix_grants_ends_at", "grants", ["ends_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        text("kind"), text("payload"), ts("created_at", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        ts("next_attempt_at", nullable=False), ts("delivered_at"), ts("given_up_at"),
        text("last_error", nullable=True),
    )
    op.create_index("ix_notifications_next_attempt_at", "notifications", ["next_attempt_at"])
    grant_app(TABLES, "SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)

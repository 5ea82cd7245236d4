"""Access reviews: campaigns, their items and decisions, role suspensions (issue 17); and the
index the review evidence aggregates read.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Evidence for a campaign is one aggregate per rule over the audit log: "events of these
actions in [since, until), grouped by actor". `ix_audit_events_action` (action, ts_us DESC,
id DESC) finds the range but must visit the table for every event's actor. The new index leads
with the same (action, ts_us) and carries the actor, customer, ticket and outcome, so on
PostgreSQL the aggregate is an index-only scan of the window and never touches the heap
(SQLite has no INCLUDE; there the columns are keys, which serves the same purpose).
"""

import sqlalchemy as sa
from alembic import op

from migrations.privileges import grant_app, is_postgres

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

EVIDENCE_INDEX = "ix_audit_events_action_actor"
CARRIED = ["actor_iss", "actor_sub", "customer_id", "ticket", "outcome"]


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def _time(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user(table: str, name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Integer(), _fk(table, name, "users"), nullable=nullable)


def upgrade() -> None:
    _campaigns()
    _items()
    _decisions()
    _suspensions()
    grant_app(["review_campaigns", "review_items", "role_suspensions"],
              "SELECT, INSERT, UPDATE")
    grant_app(["review_decisions"], "SELECT, INSERT")
    if is_postgres():
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us"],
                        postgresql_include=CARRIED)
    else:
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us", *CARRIED])


def _campaigns() -> None:
    t = "review_campaigns"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("reviewers", sa.Text(), nullable=False),
        sa.Column("reviewer_ids", sa.Text(), nullable=False),
        _time("starts_at", False), _time("due_at", False),
        sa.Column("look_back_days", sa.Integer(), nullable=False),
        sa.Column("remind_days", sa.Text(), nullable=False),
        _time("reminded_at"),
        sa.Column("default_decision", sa.Text(), nullable=False),
        sa.Column("auto_apply", sa.Boolean(), nullable=False),
        sa.Column("recur_months", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _user(t, "created_by"), _time("created_at", False), _time("closed_at"),
        _user(t, "closed_by"),
        sa.Column("summary", sa.Text()),
        sa.Column("previous_id", sa.Integer(), _fk(t, "previous_id", t)),
    )
    op.create_index("ix_review_campaigns_due_at", t, ["due_at"])
    op.create_index("ix_review_campaigns_status", t, ["status"])


def _items() -> None:
    t = "review_items"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), _fk(t, "campaign_id", "review_campaigns"),
                  nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        _user(t, "user_id"),
        sa.Column("role", sa.Text()), sa.Column("environment", sa.Text()),
        sa.Column("label", sa.Text(), nullable=False),
        _user(t, "reviewer_id"),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _user(t, "decided_by"), _time("decided_at"),
        sa.Column("comment", sa.Text()), sa.Column("applied", sa.Text()),
        sa.Column("event_id", sa.Integer()),
    )
    op.create_index("ix_review_items_campaign_id", t, ["campaign_id"])


def _decisions() -> None:
    t = "review_decisions"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("item_id", sa.Integer(), _fk(t, "item_id", "review_items"), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        _user(t, "by_user_id"), _time("at", False),
        sa.Column("comment", sa.Text()),
        sa.Column("event_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_review_decisions_item_id", t, ["item_id"])


def _suspensions() -> None:
    t = "role_suspensions"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        _user(t, "user_id", False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Integer(), _fk(t, "item_id", "review_items")),
        _time("suspended_at", False), _user(t, "suspended_by"),
        sa.Column("reason", sa.Text(), nullable=False),
        _time("idp_cleared_at"),
        sa.UniqueConstraint("user_id", "role", name="uq_role_suspensions_user_id"),
    )
    op.create_index("ix_role_suspensions_user_id", t, ["user_id"])


def downgrade() -> None:
    op.drop_index(EVIDENCE_INDEX, table_name="audit_events")
    for table in ("role_suspensions", "review_decisions", "review_items", "review_campaigns"):
        op.drop_table(table)

"""Indexes for the auditor console: exactly the filters its pages offer, newest first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Every page of the audit log is "the first N rows below a cursor, newest first", so each index
ends in (ts_us DESC, id DESC): the page is the first rows of one index range, whatever its
depth (keyset pagination; see audit/query.py). One composite index per exact-match filter the
console offers, plus (ts_us, id) alone for "everything" and for time ranges.

Outcome has three values and nearly every event is a success, so a full index on it would cost
every insert as much as the actor index and serve only the rare values. Instead a partial index
holds just the non-success rows: tiny, and "denied" or "error" stays a short index range even
when such events are one in ten thousand. "success" needs no index: the (ts_us, id) scan finds
50 successes in about 50 rows. audit/query.py repeats the index predicate in its WHERE clause
so that SQLite, whose planner matches partial indexes by their terms, uses it too.

Each index slows appends a little (every btree is one more page to touch per insert); the
target for the audit page is "first page under every filter fast at 10M events", and no
index is here that the page does not filter on.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "audit_events"
NEWEST_FIRST = [sa.text("ts_us DESC"), sa.text("id DESC")]
# index name → leading filter column (None: time only)
BY_FILTER = {
    "ix_audit_events_ts": None,
    "ix_audit_events_actor": "actor_sub",
    "ix_audit_events_action": "action",
    "ix_audit_events_customer": "customer_id",
    "ix_audit_events_request": "request_id",
    "ix_audit_events_grant": "grant_id",
    "ix_audit_events_ticket": "ticket",
}
NOT_SUCCESS = "ix_audit_events_not_success"


def upgrade() -> None:
    for name, column in BY_FILTER.items():
        leading = [] if column is None else [column]
        op.create_index(name, TABLE, [*leading, *NEWEST_FIRST])
    predicate = sa.text("outcome <> 'success'")
    op.create_index(NOT_SUCCESS, TABLE, ["outcome", *NEWEST_FIRST],
                    postgresql_where=predicate, sqlite_where=predicate)


def downgrade() -> None:
    for name in [*BY_FILTER, NOT_SUCCESS]:
        op.drop_index(name, table_name=TABLE)

"""The review evidence index also carries each event's grant and id, so the anomaly rules'
per-actor aggregates read the index alone.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

`ix_audit_events_action_actor` (migration 0011) leads with (action, ts_us) and carries the
actor, customer, ticket and outcome: the evidence's per-source aggregates are index-only scans
of the campaign's window. The anomaly rules the evidence counts per person
(`audit.anomalies.flags_per_actor`) also need `grant_id` (reads per grant) and `id` (their
evidence is "the first 50 events by (time, id)"), which sent every one of their rows to the
table: at 10M events, a heap visit for each of the window's 1.3M customer-data accesses. The
index is rebuilt with both: same name, same keys, two more carried columns (on SQLite,
trailing keys; the rowid is `id` and every SQLite index carries it already). Appends still
touch the same number of btrees; each entry grows by a grant id and 8 bytes.

The rebuild takes the table's SHARE lock for as long as it runs (appends wait): on a large
log, run it in a quiet window.
"""

from alembic import op

from migrations.privileges import is_postgres

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

EVIDENCE_INDEX = "ix_audit_events_action_actor"
CARRIED_0011 = ["actor_iss", "actor_sub", "customer_id", "ticket", "outcome"]
CARRIED = [*CARRIED_0011, "grant_id"]


def upgrade() -> None:
    op.drop_index(EVIDENCE_INDEX, table_name="audit_events")
    if is_postgres():
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us"],
                        postgresql_include=[*CARRIED, "id"])
    else:
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us", *CARRIED])


def downgrade() -> None:
    op.drop_index(EVIDENCE_INDEX, table_name="audit_events")
    if is_postgres():
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us"],
                        postgresql_include=CARRIED_0011)
    else:
        op.create_index(EVIDENCE_INDEX, "audit_events", ["action", "ts_us", *CARRIED_0011])

"""Order and time decided by the database, not the appender (PostgreSQL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Whatever an INSERT into `audit_events` by the console's or the sealer's role says:

- `id` comes from the identity column: those roles may INSERT every column *but* `id`
  (column privileges), so `OVERRIDING SYSTEM VALUE` with an id of their choosing is refused;
- `txid`, the sealing order, is set by a BEFORE INSERT trigger to the writing transaction's
  id (a decoy's low `txid` is replaced);
- `ts_us` is set by the same trigger from `clock_timestamp()`, unless the appender's value lies
  within `audit.settings.BACKDATE_ALLOWANCE_US` (baked in here) of the database's clock.

Why keep a close appender time at all: the console stamps a use case once (its `clock()`) and
writes that time into the state rows (grants, requests) and into the event of the same
transaction; replacing a close value would make them disagree by milliseconds for nothing. An
appender can therefore move an event by at most the allowance, the same slack verify gives an
honest event whose transaction stayed open (`audit.verification.backdating`); anything further
off (a review dated a day back) is stamped with the database's time.

Column privileges rather than the trigger for `id`: a trigger drawing a fresh id would take two
sequence values per row (the default's and its own), leaving a gap after every event.
SQLite has no way to rewrite NEW: there the sealer and verify name backdated events instead.
"""

from alembic import op

from audit.settings import backdate_allowance_us
from migrations.privileges import app_role, is_postgres, sealer_role

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WRITABLE = ("ts_us, actor_iss, actor_sub, actor_name, actor_roles, session_id, source_ip, "
            "user_agent, action, outcome, target_type, target_id, customer_id, request_id, "
            "grant_id, ticket, reason, policy_version, details, txid")


def upgrade() -> None:
    if not is_postgres():
        return
    op.execute(f"""CREATE FUNCTION gatehouse_audit_stamp() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            db_us bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
        BEGIN
            NEW.txid := pg_current_xact_id()::text::bigint;
            IF NEW.ts_us IS NULL OR abs(NEW.ts_us - db_us) > {backdate_allowance_us()} THEN
                NEW.ts_us := db_us;
            END IF;
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER audit_events_stamp BEFORE INSERT ON audit_events "
               "FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_stamp()")
    for role in (app_role(), sealer_role()):
        if role is not None:
            op.execute(f"""DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    REVOKE INSERT ON audit_events FROM {role};
                    GRANT INSERT ({WRITABLE}) ON audit_events TO {role};
                END IF; END $$""")


def downgrade() -> None:
    if not is_postgres():
        return
    for role in (app_role(), sealer_role()):
        if role is not None:
            op.execute(f"""DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    REVOKE INSERT ({WRITABLE}) ON audit_events FROM {role};
                    GRANT INSERT ON audit_events TO {role};
                END IF; END $$""")
    op.execute("DROP TRIGGER audit_events_stamp ON audit_events")
    op.execute("DROP FUNCTION gatehouse_audit_stamp()")

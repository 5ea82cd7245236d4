"""Order and time decided by the database (issue 13, attack 2): an appender cannot date an
event where it likes. PostgreSQL stamps `ts_us` and `txid` itself and refuses an INSERT that
names `id`; on both engines the sealer and verify name an event dated backwards as
`backdated`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert, select, text
from sqlalchemy.exc import ProgrammingError

from access.ops.pg_roles import IDLE_IN_TRANSACTION
from audit.checkpoint import sign_checkpoint
from audit.database import verify_database
from audit.events import AuditEvent, to_micros
from audit.log import append, stored_values, utc_now
from audit.merkle import EMPTY_ROOT
from audit.schema import events_table
from audit.sealer import seal_pending
from audit.settings import BACKDATE_ALLOWANCE_US
from audit.verification.backdating import ClockCheck
from audit.verify import DamageKind, Report
from tests.support.audit_helpers import ALICE, write_events
from tests.support.databases import Database, postgres_database, sqlite_database

DAY_US = 24 * 3600 * 1_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def prod_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database migrated with the production clock allowance (tests' usual PostgreSQL
    databases keep fake-clock history; see tests/support/databases.py)."""
    if request.param == "sqlite":
        db = sqlite_database(tmp_path)
        yield db
        db.dispose()
        return
    admin = request.getfixturevalue("postgres_admin")
    with postgres_database(admin, clock_allowance_s=None) as db:
        yield db


@pytest.fixture
def prod_pg(postgres_admin: str) -> Iterator[Database]:
    """PostgreSQL alone, with the production clock allowance: what only its trigger does."""
    with postgres_database(postgres_admin, clock_allowance_s=None) as db:
        yield db


def review(grant: str = "g-1") -> AuditEvent:
    return AuditEvent("breakglass.reviewed", ALICE, target_type="grant", target_id=grant,
                      grant_id=grant, reason="reviewed")


def db_clock_us(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")).scalar_one())


def stored_ts(db: Database, event_id: int) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(events_table.c.ts_us)
                                .where(events_table.c.id == event_id)).scalar_one())


def backdated_review(db: Database) -> int:
    """The attack: a day after a break-glass, an app-role INSERT of its review dated a day back
    (twelve minutes after the break-glass)."""
    with db.engine.begin() as conn:
        return append(conn, review(), clock=lambda: utc_now() - timedelta(days=1))


def test_the_allowance_covers_the_longest_a_write_transaction_stays_idle() -> None:
    idle_us = int(IDLE_IN_TRANSACTION.removesuffix("s")) * 1_000_000
    assert 2 * idle_us <= BACKDATE_ALLOWANCE_US


# --- PostgreSQL: the database stamps ----------------------------------------------------------

def test_postgres_stamps_a_backdated_insert_by_the_app_role(prod_pg: Database) -> None:
    prod_db = prod_pg  # (SQLite cannot rewrite a row being inserted: see the backdated tests)
    before = db_clock_us(prod_db)
    event_id = backdated_review(prod_db)
    assert before <= stored_ts(prod_db, event_id) <= db_clock_us(prod_db)


def test_postgres_keeps_an_appender_time_within_the_allowance(prod_pg: Database) -> None:
    prod_db = prod_pg
    close = db_clock_us(prod_db) - BACKDATE_ALLOWANCE_US // 2
    with prod_db.engine.begin() as conn:
        event_id = int(conn.execute(insert(events_table).values(
            stored_values(review()) | {"ts_us": close}).returning(events_table.c.id)).scalar_one())
    assert stored_ts(prod_db, event_id) == close


def test_postgres_replaces_a_chosen_txid_and_refuses_a_chosen_id(prod_pg: Database) -> None:
    prod_db = prod_pg
    with prod_db.engine.begin() as conn:
        mine = int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
        txid = conn.execute(insert(events_table).values(stored_values(review()) | {"txid": 1})
                            .returning(events_table.c.txid)).scalar_one()
    assert txid == mine
    with pytest.raises(ProgrammingError, match="permission denied"), \
            prod_db.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (id, ts_us, actor_iss, actor_sub, "
                          "actor_roles, action, outcome, details) OVERRIDING SYSTEM VALUE "
                          "VALUES (0, 0, 'i', 's', '', 'data.read', 'success', '{}')"))


# --- both engines: backdated is named ---------------------------------------------------------

def plant_backdated(db: Database) -> int:
    """A review dated a day back: on SQLite by the app's own connection, on PostgreSQL by the
    owner with the stamping trigger off (the app role's would be stamped)."""
    if db.kind == "sqlite":
        return backdated_review(db)
    with db.owner.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_stamp"))
        event_id = append(conn, review(), clock=lambda: utc_now() - timedelta(days=1))
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_stamp"))
        return event_id


def test_a_backdated_review_is_named_by_the_sealer_and_by_verify(
        prod_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(prod_db, 5)
    seal_pending(prod_db.engine, signing_key, checkpoint_dir)
    write_events(prod_db, 2, start=5)
    forged = plant_backdated(prod_db)
    write_events(prod_db, 2, start=7)
    result = seal_pending(prod_db.engine, signing_key, checkpoint_dir)
    assert [b.event_id for b in result.backdated] == [forged]
    report = verify_database(prod_db.engine, signing_key.public_key(), checkpoint_dir)
    assert [(p.kind, p.event_id) for p in report.problems] == [(DamageKind.BACKDATED, forged)]
    with prod_db.engine.connect() as conn:
        reported = conn.execute(select(events_table.c.target_id).where(
            events_table.c.action == "audit.sealer.backdated")).scalars().all()
    assert reported == [str(forged)]


def test_an_honest_long_transaction_is_never_called_backdated(
        prod_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """A transaction stamps its first event, stays open while others commit and are sealed,
    and commits a last event stamped almost the allowance later: in sealing order the events
    after it run backwards by that much, and that is honest. (The gap is made with appender
    times the database keeps, not by waiting.)"""
    later = BACKDATE_ALLOWANCE_US - 5_000_000
    write_events(prod_db, 3)
    seal_pending(prod_db.engine, signing_key, checkpoint_dir)
    with prod_db.engine.begin() as long_tx:
        append(long_tx, review("g-long"))
        if prod_db.kind == "postgres":  # others commit meanwhile, after it in sealing order
            write_events(prod_db, 3, start=3)
        append(long_tx, review("g-long"),
               clock=lambda: utc_now() + timedelta(microseconds=later))
    write_events(prod_db, 3, start=6)
    result = seal_pending(prod_db.engine, signing_key, checkpoint_dir)
    assert result.backdated == ()
    report = verify_database(prod_db.engine, signing_key.public_key(), checkpoint_dir)
    assert report.ok, report.problems


def test_an_event_dated_before_the_previous_checkpoint_is_backdated(
        signing_key: Ed25519PrivateKey) -> None:
    checkpoint_ts = to_micros(utc_now())
    signed = {4: sign_checkpoint(signing_key, 4, EMPTY_ROOT, checkpoint_ts, None)}
    report = Report()
    check = ClockCheck(signed, BACKDATE_ALLOWANCE_US, report)
    times = [checkpoint_ts - DAY_US - 10, checkpoint_ts - DAY_US, checkpoint_ts - DAY_US + 1,
             checkpoint_ts - DAY_US + 2, checkpoint_ts - DAY_US + 3, checkpoint_ts + 1]
    check.sealed(range(6), times, list(range(100, 106)))
    assert [(p.kind, p.leaf_index, p.event_id) for p in report.problems] == [
        (DamageKind.BACKDATED, 4, 104)]

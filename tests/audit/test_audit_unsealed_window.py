"""Evidence for the unsealed window (issue 13, attack 4): what the sealer saw committed, it
signs and publishes outside the database at every pass, so an event deleted before it could
be sealed is named `vanished`; and a sealer that falls behind is a warning and an anomaly."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import make_url, text

from audit.anomalies import AnomalyRules, Window, seal_lag
from audit.checkpoint import generate_keypair
from audit.database import verify_database
from audit.log import utc_now
from audit.sealer import seal_pending
from audit.statements import newest_statement, ranges, statement_files
from audit.verify import DamageKind, render
from tests.adversarial.support import PYTHON, ROOT, cli_env
from tests.support.audit_helpers import tamper, write_events
from tests.support.databases import Database


def test_every_pass_states_what_it_saw_committed_even_when_it_seals_nothing(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(db, 4)
    seal_pending(db.engine, signing_key, checkpoint_dir)
    first = newest_statement(checkpoint_dir, signing_key.public_key())
    assert first is not None and first.sealed == 4 and first.ids == ()
    seal_pending(db.engine, signing_key, checkpoint_dir)  # nothing new: nothing to restate
    assert len(statement_files(checkpoint_dir)) == 1
    ids = write_events(db, 3, start=4)
    seal_pending(db.engine, signing_key, checkpoint_dir, batch_size=0)  # a pass that seals nil
    second = newest_statement(checkpoint_dir, signing_key.public_key())
    assert second is not None and second.number == 1 and second.prev == first.note_hash
    assert second.sealed == 4 and second.ids == ranges(ids)


def test_an_unsealed_event_deleted_after_a_statement_saw_it_is_vanished(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(db, 4)
    seal_pending(db.engine, signing_key, checkpoint_dir)
    ids = write_events(db, 3, start=4)
    seal_pending(db.engine, signing_key, checkpoint_dir, batch_size=0)
    tamper(db, [f"DELETE FROM audit_events WHERE id = {ids[1]}"])
    seal_pending(db.engine, signing_key, checkpoint_dir)
    report = verify_database(db.engine, signing_key.public_key(), checkpoint_dir)
    assert [(p.kind, p.event_id) for p in report.problems] == [(DamageKind.VANISHED, ids[1])]


def test_a_forged_statement_file_does_not_verify(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(sqlite_db, 2)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    (checkpoint_dir / "0000000000000009.seen").write_text("gatehouse/audit/seen\n\x1b[2J\n")
    report = verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir)
    assert report.counts == {DamageKind.BAD_SIGNATURE: 1}
    assert "\x1b" not in "".join(render(report))
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)  # junk does not stop a pass


def test_seal_lag_over_the_threshold_is_a_warning_and_an_anomaly(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    write_events(db, 2)
    seal_pending(db.engine, signing_key, checkpoint_dir)
    [waiting] = write_events(db, 1, start=2)
    report = verify_database(db.engine, signing_key.public_key(), checkpoint_dir,
                             seal_lag_warning_us=0)
    assert report.ok and any("seal lag" in w for w in report.warnings)
    assert not verify_database(db.engine, signing_key.public_key(), checkpoint_dir).warnings
    later = utc_now() + timedelta(minutes=5)
    window = Window(later - timedelta(days=1), later, now=later)
    with db.engine.connect() as conn:
        [flag] = seal_lag(conn, window, AnomalyRules())
        assert flag.rule == "seal_lag" and flag.evidence == (waiting,)
        assert seal_lag(conn, Window(window.since, later), AnomalyRules()) == []  # no present
    seal_pending(db.engine, signing_key, checkpoint_dir)
    with db.engine.connect() as conn:
        assert seal_lag(conn, window, AnomalyRules()) == []


def test_postgres_a_stalled_sealer_no_longer_hides_deletions(
        pg_database: Database, tmp_path: Path) -> None:
    """The attack as the issue tells it, against the CLI: a transaction holding an xid idles
    (sealing stalls above it), the owner switches the user triggers off and deletes unsealed
    events, the transaction ends, the sealer catches up: verify exits 1 naming the gap."""
    db = pg_database
    data = tmp_path / "cli"
    env = cli_env(db.url, data)
    generate_keypair(data / "keys" / "audit-signing.key", data / "keys" / "audit-signing.pub")

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([PYTHON, "-m", "audit", *args], env=env, cwd=ROOT,
                              capture_output=True, timeout=120)

    write_events(db, 5)
    assert cli("seal").returncode == 0
    url = make_url(db.url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as staller:
        staller.execute("SELECT pg_current_xact_id()")  # holds an xid, then idles
        ids = write_events(db, 3, start=5)
        assert b"sealed 0 events" in cli("seal").stdout
        with db.owner.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text(f"DELETE FROM audit_events WHERE id = {ids[1]}"))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        staller.rollback()
    assert b"sealed 2 events" in cli("seal").stdout
    done = cli("verify")
    out = done.stdout.decode()
    assert done.returncode == 1, out
    assert "vanished: 1" in out and f"event {ids[1]}, seen committed" in out

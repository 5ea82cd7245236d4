"""Compacting the sealer's statements keeps what verification needs (issue 13): the report is
the same after compaction, a window still held open stays evidenced, and a damaged log is
never compacted (so compaction cannot fold evidence away)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.database import verify_database
from audit.sealer import seal_pending
from audit.statement_compaction import CompactionRefused, compact_statements
from audit.statements import newest_statement, open_statement, ranges, statement_files
from audit.verify import DamageKind, render
from tests.support.audit_helpers import tamper, write_events
from tests.support.databases import Database


def busy_log(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path) -> list[int]:
    """Five passes that sealed something (five statements), then a pass that could seal
    nothing while three events were committed (a held window): return those three ids."""
    for start in range(0, 10, 2):
        write_events(db, 2, start=start)
        seal_pending(db.engine, key, checkpoint_dir)
    held = write_events(db, 3, start=10)
    seal_pending(db.engine, key, checkpoint_dir, batch_size=0)
    return held


def report_lines(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path) -> list[str]:
    return render(verify_database(db.engine, key.public_key(), checkpoint_dir))


def test_compaction_keeps_the_unsealed_ids_and_the_same_verdict(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    held = busy_log(db, signing_key, checkpoint_dir)
    before = report_lines(db, signing_key, checkpoint_dir)
    assert len(statement_files(checkpoint_dir)) == 6
    result = compact_statements(db.engine, signing_key, checkpoint_dir)
    assert result.replaced == 6 and result.kept == ranges(held)
    [only] = statement_files(checkpoint_dir)
    statement = open_statement(only.read_text(), signing_key.public_key())
    assert statement.compacted and statement.number == 5 and statement.ids == ranges(held)
    assert report_lines(db, signing_key, checkpoint_dir) == before


def test_a_held_window_stays_evidenced_after_compaction(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """The attack the statements exist for, after compaction: the owner deletes an event the
    sealer saw committed but could not seal; verify still names it."""
    held = busy_log(db, signing_key, checkpoint_dir)
    compact_statements(db.engine, signing_key, checkpoint_dir)
    tamper(db, [f"DELETE FROM audit_events WHERE id = {held[1]}"])
    seal_pending(db.engine, signing_key, checkpoint_dir)
    report = verify_database(db.engine, signing_key.public_key(), checkpoint_dir)
    assert [(p.kind, p.event_id) for p in report.problems] == [(DamageKind.VANISHED, held[1])]


def test_a_damaged_log_is_not_compacted(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """Someone deletes a held event, then asks for compaction to fold the statement that saw
    it away: refused, every file left as it was, and verify names the same damage."""
    held = busy_log(db, signing_key, checkpoint_dir)
    tamper(db, [f"DELETE FROM audit_events WHERE id = {held[0]}"])
    files = {p.name: p.read_bytes() for p in statement_files(checkpoint_dir)}
    before = report_lines(db, signing_key, checkpoint_dir)
    assert any("vanished" in line for line in before)
    with pytest.raises(CompactionRefused, match="does not verify"):
        compact_statements(db.engine, signing_key, checkpoint_dir)
    assert {p.name: p.read_bytes() for p in statement_files(checkpoint_dir)} == files
    assert report_lines(db, signing_key, checkpoint_dir) == before


def test_a_gap_in_the_statements_is_not_compacted_over(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    """A statement file deleted from the store (the chain names it) is not papered over."""
    busy_log(sqlite_db, signing_key, checkpoint_dir)
    statement_files(checkpoint_dir)[2].unlink()
    with pytest.raises(CompactionRefused):
        compact_statements(sqlite_db.engine, signing_key, checkpoint_dir)
    report = verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir)
    assert report.counts == {DamageKind.BROKEN_CHAIN: 1}


def test_a_junk_statement_file_blocks_compaction(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    busy_log(sqlite_db, signing_key, checkpoint_dir)
    (checkpoint_dir / "0000000000000099.seen").write_text("gatehouse/audit/seen\njunk\n")
    with pytest.raises(CompactionRefused, match="statement file does not verify"):
        compact_statements(sqlite_db.engine, signing_key, checkpoint_dir)
    assert len(statement_files(checkpoint_dir)) == 7


def test_the_sealer_chains_on_after_compaction_and_statements_written_meanwhile_hold(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    """A statement the sealer published while compaction ran names the hash of the statement
    compaction replaced: the chain holds (the compacted one carries that hash)."""
    busy_log(sqlite_db, signing_key, checkpoint_dir)
    snapshot = tmp_path / "before-compaction"
    shutil.copytree(checkpoint_dir, snapshot)
    compact_statements(sqlite_db.engine, signing_key, checkpoint_dir)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)  # chains to the compacted one
    after = newest_statement(checkpoint_dir, signing_key.public_key())
    assert after is not None and after.number == 6
    # the same statement as if published from the pre-compaction state, i.e. concurrently
    seal_pending(sqlite_db.engine, signing_key, snapshot)
    concurrent = newest_statement(snapshot, signing_key.public_key())
    assert concurrent is not None and concurrent.prev == after.prev
    write_events(sqlite_db, 2, start=20)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    report = verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir)
    assert report.ok, report.problems
    assert compact_statements(sqlite_db.engine, signing_key, checkpoint_dir).replaced == 3
    assert verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir).ok


def test_a_statement_is_never_written_through_a_planted_symlink(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    write_events(sqlite_db, 2)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    (checkpoint_dir / "0000000000000001.tmp").symlink_to(victim)
    write_events(sqlite_db, 2, start=2)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    assert victim.read_bytes() == b"mine"
    assert verify_database(sqlite_db.engine, signing_key.public_key(), checkpoint_dir).ok

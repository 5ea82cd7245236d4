"""The attacks of issue 13, each against a real database, on both engines: what an insider
with write access to the database (or to the checkpoint directory) can slip in must neither
blind verification nor stop the sealer, and verification names each one.

The junk goes in through the owner (on PostgreSQL the console role can no longer write the
tree tables; the owner still can, and on SQLite whoever holds the file can): what is tested is
that the sealer and verify survive it, whoever wrote it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, insert, select, text

from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import generate_keypair, load_private_key
from audit.database import verify_database
from audit.log import stored_values
from audit.proof import inclusion_proof, proof_holds
from audit.schema import checkpoints_table, events_table, leaves_table
from audit.sealer import seal_pending
from audit.status import log_status
from audit.verify import DamageKind, Report, printable, render
from tests.adversarial.support import PYTHON, ROOT, cli_env
from tests.support.audit_helpers import event, seal_everything, tamper, write_events
from tests.support.databases import Database

SEALED = 20
ESCAPES = "\x1b[2J\x1b[32mintact: 20 sealed events\x1b[0m ![pwned](https://evil.example/x.png)"


class Log:
    def __init__(self, db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
        self.db, self.key, self.dir = db, key, checkpoint_dir
        self.ids = write_events(db, 10)
        seal_everything(db, key, checkpoint_dir)
        self.ids += write_events(db, SEALED - 10, start=10)
        seal_everything(db, key, checkpoint_dir)

    def verify(self) -> Report:
        return verify_database(self.db.engine, self.key.public_key(), self.dir)

    def blob(self, data: bytes) -> str:
        return f"X'{data.hex()}'" if self.db.kind == "sqlite" else f"'\\x{data.hex()}'::bytea"

    def first_note(self) -> str:
        with self.db.engine.connect() as conn:
            return str(conn.execute(select(checkpoints_table.c.note)
                                    .where(checkpoints_table.c.tree_size == 10)).scalar_one())

    def owner_sql(self, statement: str) -> None:
        """An INSERT as the database owner (triggers in place: it only appends)."""
        with self.db.owner.begin() as conn:
            conn.execute(text(statement))


@pytest.fixture
def log(db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> Log:
    return Log(db, signing_key, checkpoint_dir)


def kinds(report: Report) -> set[str]:
    return {str(p.kind) for p in report.problems}


def insert_decoy(log: Log) -> int:
    """An event with a low place in sealing order. SQLite: id 0, written with the console's
    own connection. PostgreSQL: a transaction id of 1, which the database now stamps over for
    every role (tests/audit/test_audit_clock.py); only the owner, switching the stamping
    trigger off, can still plant one."""
    values = stored_values(event(999))
    if log.db.kind == "sqlite":
        with log.db.engine.begin() as conn:
            return int(conn.execute(insert(events_table).values(values | {"id": 0})
                                    .returning(events_table.c.id)).scalar_one())
    with log.db.owner.begin() as conn:
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_stamp"))
        decoy = int(conn.execute(insert(events_table).values(values | {"txid": 1})
                                 .returning(events_table.c.id)).scalar_one())
        conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_stamp"))
        return decoy


# --- 1. a decoy does not blind verification -------------------------------------------------

def test_a_decoy_event_does_not_hide_a_later_rewrite(log: Log) -> None:
    decoy = insert_decoy(log)
    seal_everything_but(log, decoy)
    tamper(log.db, [f"UPDATE audit_events SET actor_sub = 'mallory' WHERE id = {log.ids[12]}"])
    report = log.verify()
    named = {(p.kind, p.leaf_index, p.event_id) for p in report.problems}
    assert (DamageKind.INSERTED, 0, decoy) in named
    assert (DamageKind.MODIFIED, 12, log.ids[12]) in named


def seal_everything_but(log: Log, decoy: int) -> None:
    """Seal what can be sealed: the decoy, placed before sealed events, never can be."""
    write_events(log.db, 3, start=SEALED)
    result = seal_pending(log.db.engine, log.key, log.dir)
    assert result.tree_size == SEALED + 3
    with log.db.engine.connect() as conn:
        assert conn.execute(select(leaves_table.c.seq)
                            .where(leaves_table.c.event_id == decoy)).first() is None


def test_every_damaged_leaf_is_named_not_only_the_first(log: Log) -> None:
    tamper(log.db, [f"UPDATE audit_events SET reason = 'x' WHERE id IN ({log.ids[3]}, "
                    f"{log.ids[15]})", f"DELETE FROM audit_events WHERE id = {log.ids[8]}"])
    report = log.verify()
    assert {(p.kind, p.leaf_index) for p in report.problems} == {
        (DamageKind.MODIFIED, 3), (DamageKind.MISSING, 8), (DamageKind.MODIFIED, 15)}
    assert report.counts == {DamageKind.MODIFIED: 2, DamageKind.MISSING: 1}
    lines = render(report)
    assert lines[0].startswith("NOT INTACT: first bad leaf 3: modified")
    assert "  modified: 2" in lines and "  missing: 1" in lines


def test_events_not_yet_sealed_are_listed_apart_from_damage(log: Log) -> None:
    ids = write_events(log.db, 4, start=SEALED)
    report = log.verify()
    assert report.ok, report.problems
    assert report.unsealed.count == 4 and report.unsealed.first_ids == ids


# --- 3. junk in the tree tables or the checkpoint directory ----------------------------------

def junk_checkpoint_row(log: Log) -> DamageKind:
    note = ESCAPES.replace("'", "''")
    log.owner_sql(f"INSERT INTO audit_checkpoints (tree_size, root, ts_us, note) VALUES "
                  f"({10**9}, {log.blob(bytes(32))}, 0, '{note}')")
    return DamageKind.BAD_SIGNATURE


def planted_checkpoint_file(log: Log) -> DamageKind:
    (log.dir / f"{10**12:016d}.note").write_text(ESCAPES)
    return DamageKind.BAD_SIGNATURE


def leaf_far_ahead(log: Log) -> DamageKind:
    # the leaf names no event: an event's own id would make that event unsealable, which the
    # roles prevent on PostgreSQL (and is named by verify either way)
    tamper(log.db, [f"INSERT INTO audit_leaves (seq, event_id, leaf_hash) VALUES "
                    f"({10**12}, -5, {log.blob(bytes(32))})"])
    return DamageKind.STRAY_LEAF


def old_note_under_a_huge_size(log: Log) -> DamageKind:
    note = log.first_note().replace("'", "''")
    log.owner_sql(f"INSERT INTO audit_checkpoints (tree_size, root, ts_us, note) VALUES "
                  f"({10**9}, {log.blob(bytes(32))}, 0, '{note}')")
    return DamageKind.MISFILED


@pytest.mark.parametrize("poison", [junk_checkpoint_row, planted_checkpoint_file,
                                    leaf_far_ahead, old_note_under_a_huge_size])
def test_junk_does_not_stop_the_sealer_and_verify_names_it(log: Log, poison: object) -> None:
    assert callable(poison)
    kind = poison(log)
    new = write_events(log.db, 7, start=SEALED)
    result = seal_pending(log.db.engine, log.key, log.dir)
    assert result.checkpoint is not None and result.tree_size >= SEALED + 7
    size = seal_everything(log.db, log.key, log.dir)  # with the sealer's own reports of junk

    report = log.verify()
    assert report.counts.keys() == {kind}, report.problems
    assert report.tree_size == size
    assert max(c.size for c in report.checkpoints) == size
    assert not any("\x1b" in line or "evil" in line for line in render(report))

    public = log.key.public_key()
    newest = log_status(log.db.engine, public).latest_checkpoint
    assert newest is not None and f"\n{size}\n" in newest
    proof = inclusion_proof(log.db.engine, new[-1], public)
    assert proof.checkpoint.size == size and proof_holds(proof, public)


@pytest.mark.parametrize("poison", [junk_checkpoint_row, planted_checkpoint_file,
                                    old_note_under_a_huge_size])
def test_the_sealer_reports_what_it_skipped_once_as_an_event(log: Log, poison: object) -> None:
    assert callable(poison)
    poison(log)
    write_events(log.db, 2, start=SEALED)
    reported: set[object] = set()
    first = seal_pending(log.db.engine, log.key, log.dir, reported=reported)  # type: ignore[arg-type]
    assert first.skipped and all("does not verify" in str(s) or "holds the signed" in str(s)
                                 for s in first.skipped)
    assert not any("\x1b" in str(s) for s in first.skipped)
    write_events(log.db, 2, start=SEALED + 2)
    seal_pending(log.db.engine, log.key, log.dir, reported=reported)  # type: ignore[arg-type]
    with log.db.engine.connect() as conn:
        skipped = conn.execute(select(func.count()).select_from(events_table).where(
            events_table.c.action == "audit.sealer.skipped")).scalar_one()
    assert skipped == len(first.skipped)


@pytest.mark.parametrize("poison", [junk_checkpoint_row, planted_checkpoint_file,
                                    old_note_under_a_huge_size])
def test_junk_does_not_stop_an_export_and_the_bundle_verifies(
        log: Log, poison: object, tmp_path: Path) -> None:
    """Whoever can write the checkpoint folder or table cannot stop auditors exporting: the
    bundle carries only the checkpoints that verify, and verifies offline."""
    assert callable(poison)
    poison(log)
    write_events(log.db, 3, start=SEALED)
    size = seal_pending(log.db.engine, log.key, log.dir).tree_size
    assert size >= SEALED + 3
    result = export_bundle(log.db.engine, tmp_path / "bundle", log.key.public_key(), log.dir)
    assert result.tree_size == size
    assert verify_bundle(tmp_path / "bundle").ok  # under the key the bundle carries


# --- what is printed: never the text that failed, escaped all the same ----------------------

def test_printable_escapes_control_characters() -> None:
    assert printable("a\x1b[31mb\rc\u202ed\\") == "a\\x1b[31mb\\x0dc\\u202ed\\\\"


def test_the_cli_names_a_forged_note_without_echoing_it(sqlite_db: Database,
                                                        tmp_path: Path) -> None:
    env = cli_env(sqlite_db.url, tmp_path / "cli")
    keys = tmp_path / "cli" / "keys"
    generate_keypair(keys / "audit-signing.key", keys / "audit-signing.pub")
    write_events(sealed_db := sqlite_db, 5)
    seal_everything(sealed_db, load_private_key(keys / "audit-signing.key"),
                    tmp_path / "cli" / "checkpoints")
    with sqlite_db.engine.begin() as conn:
        conn.execute(insert(checkpoints_table).values(
            tree_size=10**9, root=bytes(32), ts_us=0, note=ESCAPES))
    (tmp_path / "cli" / "checkpoints" / "0000000000000099.note").write_text(ESCAPES)
    done = subprocess.run([PYTHON, "-m", "audit", "verify"], env=env, cwd=ROOT,
                          capture_output=True, timeout=120)
    out = done.stdout.decode("ascii")
    assert done.returncode == 1
    assert "\x1b" not in out and "evil" not in out and "pwned" not in out
    assert "checkpoint row tree_size=1000000000 (" in out and "does not verify" in out
    assert "checkpoint file 0000000000000099.note (" in out
    assert out.startswith("NOT INTACT: first bad leaf none (checkpoint damage): bad-signature")

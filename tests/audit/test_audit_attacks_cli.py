"""Issue 13's four attacks, tried again as the issue tells them, against the CLI: each ends with
`python -m audit verify` exiting 1 and naming it. (The fourth, PostgreSQL's stalled sealer, is
`test_audit_unsealed_window.py::test_postgres_a_stalled_sealer_no_longer_hides_deletions`.)"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select

from audit.checkpoint import generate_keypair
from audit.events import AuditEvent
from audit.log import append, stored_values, utc_now
from audit.schema import checkpoints_table, events_table
from tests.adversarial.support import PYTHON, ROOT, cli_env
from tests.support.audit_helpers import ALICE, event, tamper, write_events
from tests.support.databases import Database


class Cli:
    def __init__(self, db: Database, data: Path) -> None:
        self.db, self.env = db, cli_env(db.url, data)
        generate_keypair(data / "keys" / "audit-signing.key", data / "keys" / "audit-signing.pub")

    def __call__(self, *args: str) -> tuple[int, str]:
        done = subprocess.run([PYTHON, "-m", "audit", *args], env=self.env, cwd=ROOT,
                              capture_output=True, timeout=120)
        return done.returncode, done.stdout.decode("ascii")

    def sealed_log(self) -> list[int]:
        ids = write_events(self.db, 10)
        assert self("seal")[0] == 0
        return ids


def test_attack_1_a_decoy_does_not_blind_verify(sqlite_db: Database, tmp_path: Path) -> None:
    cli = Cli(sqlite_db, tmp_path)
    ids = cli.sealed_log()
    with sqlite_db.engine.begin() as conn:
        conn.execute(insert(events_table).values(stored_values(event(99)) | {"id": 0}))
    tamper(sqlite_db, [f"UPDATE audit_events SET actor_sub = 'mallory' WHERE id = {ids[6]}"])
    code, out = cli("verify")
    assert code == 1
    assert "  inserted: 1" in out and "  modified: 1" in out
    assert f"event {ids[6]} at leaf 6 was changed after sealing" in out


def test_attack_2_a_backdated_review_is_named(sqlite_db: Database, tmp_path: Path) -> None:
    cli = Cli(sqlite_db, tmp_path)
    cli.sealed_log()
    with sqlite_db.engine.begin() as conn:
        forged = append(conn, AuditEvent("breakglass.reviewed", ALICE, target_type="grant",
                                         target_id="g-1", grant_id="g-1", reason="ok"),
                        clock=lambda: utc_now() - timedelta(days=1))
    code, out = cli("seal")
    assert code == 0 and f"backdated event {forged}: dated" in out
    code, out = cli("verify")
    assert code == 1 and "  backdated: 1" in out and f"event {forged} at leaf 10" in out


def test_attack_3_poison_does_not_stop_the_sealer_and_is_named(sqlite_db: Database,
                                                               tmp_path: Path) -> None:
    cli = Cli(sqlite_db, tmp_path)
    cli.sealed_log()
    with sqlite_db.engine.begin() as conn:
        old = conn.execute(select(checkpoints_table.c.note)).scalar_one()
        conn.execute(insert(checkpoints_table).values(tree_size=10**9, root=bytes(32), ts_us=0,
                                                      note=old))
        conn.execute(insert(checkpoints_table).values(tree_size=10**9 + 1, root=bytes(32),
                                                      ts_us=0, note="junk"))
    write_events(sqlite_db, 3, start=10)
    code, out = cli("seal")
    assert code == 0 and "skipped checkpoint row 1000000000" in out
    assert "sealed 5 events; tree size 15" in out  # the 3, and its 2 `audit.sealer.skipped`
    code, out = cli("verify")
    assert code == 1 and "misfiled-checkpoint: 1" in out and "bad-signature: 1" in out

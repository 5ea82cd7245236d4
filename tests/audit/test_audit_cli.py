"""`python -m audit`: the stable interface operators and auditors script against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.engine import make_engine
from audit.events import AuditEvent
from audit.log import append
from tests.support.audit_helpers import ALICE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**os.environ, "GATEHOUSE_DATA_DIR": str(tmp_path / "data"),
                   "PYTHONPATH": str(ROOT)}
    environment.pop("GATEHOUSE_DATABASE_URL", None)
    run(environment, "access", "migrate")
    run(environment, "audit", "keygen")
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'gatehouse.db'}")
    with engine.begin() as conn:
        for i in range(12):
            append(conn, AuditEvent("auth.login", ALICE, session_id=f"s{i}"))
    engine.dispose()
    return environment


def run(env: dict[str, str], module: str, *args: str, code: int = 0) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout


def test_seal_verify_export_and_offline_verify(env: dict[str, str], tmp_path: Path) -> None:
    assert "sealed 12 events; tree size 12" in run(env, "audit", "seal")
    assert "intact: 12 sealed events, 1 signed checkpoints" in run(env, "audit", "verify")
    bundle = tmp_path / "bundle"
    assert "exported 12 events" in run(env, "audit", "export", "--out", str(bundle))
    assert "intact: 12 sealed events" in run(env, "audit", "verify", "--bundle", str(bundle))


def test_verify_exits_1_and_names_the_first_bad_leaf(env: dict[str, str], tmp_path: Path
                                                     ) -> None:
    run(env, "audit", "seal")
    bundle = tmp_path / "bundle"
    run(env, "audit", "export", "--out", str(bundle))
    lines = (bundle / "events.jsonl").read_text().splitlines()
    doctored = json.loads(lines[3])
    doctored["event"]["session_id"] = "someone-else"
    lines[3] = json.dumps(doctored)
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")
    out = run(env, "audit", "verify", "--bundle", str(bundle), code=1)
    assert "NOT INTACT: first bad leaf 3: modified" in out


def test_offline_verification_can_pin_a_public_key(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "audit", "seal")
    bundle = tmp_path / "bundle"
    run(env, "audit", "export", "--out", str(bundle))
    stranger = tmp_path / "stranger"
    run({**env, "GATEHOUSE_DATA_DIR": str(stranger)}, "audit", "keygen")
    out = run(env, "audit", "verify", "--bundle", str(bundle), "--public-key",
              str(stranger / "keys" / "audit-signing.pub"), code=1)
    assert "bad-signature" in out


def test_proof_prints_a_verifying_inclusion_proof(env: dict[str, str]) -> None:
    run(env, "audit", "seal")
    proof = json.loads(run(env, "audit", "proof", "5"))
    assert (proof["event_id"], proof["leaf_index"], proof["tree_size"]) == (5, 4, 12)
    assert len(proof["path"]) == 4


def test_proof_of_an_unsealed_event_is_a_clear_error(env: dict[str, str]) -> None:
    run(env, "audit", "proof", "5", code=2)


def test_a_second_seal_while_the_sealer_runs_is_refused(env: dict[str, str]) -> None:
    daemon = subprocess.Popen([sys.executable, "-m", "audit", "sealer"], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert daemon.stdout is not None
        assert "sealer running" in daemon.stdout.readline()
        done = subprocess.run([sys.executable, "-m", "audit", "seal"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "another sealer" in done.stderr
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0

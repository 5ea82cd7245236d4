"""`python -m access review ...` end to end on a migrated data dir: start, list, close, pack;
the written pack verifies with `python -m audit verify-report`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from access.__main__ import main
from access.ops.demo import _enrolled
from access.runtime import build_for_cli
from audit.checkpoint import generate_keypair, load_private_key
from audit.sealer import seal_pending
from audit.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
ISSUER = "http://localhost:9400"


def test_the_operator_runs_a_campaign_from_the_shell(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings()
    generate_keypair(settings.signing_key_path, settings.public_key_path)
    gh = build_for_cli()
    for sub in ("sam.support", "ada.admin"):
        _enrolled(gh, ISSUER, sub)
    assert main(["review", "start", "--name", "Shell review", "--scope", "role:requester",
                 "--due", "2099-01-01", "--default", "revoke"]) == 2
    assert "confirm 1" in capsys.readouterr().err  # default revoke: say how many people
    assert main(["review", "start", "--name", "Shell review", "--scope", "role:requester",
                 "--due", "2099-01-01", "--default", "revoke", "--confirm-people", "1"]) == 0
    assert "campaign 1 started" in capsys.readouterr().out
    assert main(["review", "start", "--name", "Later review", "--scope", "role:requester",
                 "--start", "2099-02-01", "--due", "2099-01-01", "--default", "keep"]) == 2
    assert "starts_at: must be before the due date" in capsys.readouterr().err
    assert main(["review", "start", "--name", "Later review", "--scope", "role:requester",
                 "--start", "2098-12-01T08:00", "--due", "2099-01-01", "--default", "keep"]) == 0
    assert "campaign 2 scheduled to start 2098-12-01 08:00 UTC" in capsys.readouterr().out
    assert main(["review", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1\topen\tstarts " in listed and "\tdue 2099-01-01\tShell review" in listed
    assert "2\tscheduled\tstarts 2098-12-01\tdue 2099-01-01\tLater review" in listed
    assert main(["review", "close", "1"]) == 0
    assert "'defaulted': 1" in capsys.readouterr().out
    seal_pending(gh.engine, load_private_key(settings.signing_key_path),
                 settings.checkpoint_dir)
    assert main(["review", "pack", "1", "--out", str(tmp_path / "pack")]) == 0
    written = tmp_path / "pack" / "access-review-1.json"
    assert (tmp_path / "pack" / "access-review-1.csv").exists()
    verified = subprocess.run(
        [sys.executable, "-m", "audit", "verify-report", str(written), "--public-key",
         str(settings.public_key_path)], capture_output=True, text=True, cwd=ROOT,
        timeout=120, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr

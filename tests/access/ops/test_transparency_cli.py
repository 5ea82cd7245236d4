"""`python -m access transparency-report` in a subprocess on SQLite, as a signed-in privacy
officer: the three files land privately, the report verifies with `python -m audit
verify-report`, and the generation is recorded as the console page's is; a requester and a
bad customer id are refused, and each refusal is recorded too."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from access.runtime import build_for_cli
from audit.schema import events_table
from tests.adversarial.support import cli_env
from tests.support.audit_helpers import make_signing_keys, seal_with_settings
from tests.support.audit_history import History
from tests.support.cli_person import ROOT, Person, access_cli


def reported(data_dir: Path) -> list[dict[str, Any]]:
    gh = build_for_cli()
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table).where(
            events_table.c.action == "transparency.reported").order_by(events_table.c.id))
        return [dict(r) for r in rows.mappings()]


def test_the_privacy_officer_writes_a_report_that_verifies(data_dir: Path,
                                                           tmp_path: Path) -> None:
    settings = make_signing_keys()
    gh = build_for_cli()
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    wanted = [History(gh.engine, past).read("sam", timedelta(minutes=i), grant="7",
                                            customer="cust-7") for i in (1, 2)]
    pia, sam = Person(gh, "pia.privacy"), Person(gh, "sam.support")
    seal_with_settings(gh.engine)
    out = tmp_path / "report"
    period = ("--customer", "cust-7", "--since", f"{past:%Y-%m-%d}", "--until",
              f"{past + timedelta(days=1):%Y-%m-%d}", "--out", str(out))
    done = access_cli(data_dir, pia, "transparency-report", *period)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 consultation(s) of cust-7")
    # --until is excluded: the file names the one day the period holds, first and last
    stem = f"transparency-cust-7-{past:%Y%m%d}-{past:%Y%m%d}"
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"{stem}-opening.json", f"{stem}.html", f"{stem}.json"]
    assert out.stat().st_mode & 0o777 == 0o700
    assert {(out / f).stat().st_mode & 0o777 for f in files} == {0o600}
    verified = subprocess.run(
        [sys.executable, "-m", "audit", "verify-report", str(out / f"{stem}.json"),
         "--public-key", str(settings.public_key_path), "--opening",
         str(out / f"{stem}-opening.json")], capture_output=True, text=True, cwd=ROOT,
        timeout=120, check=False, env=cli_env(str(gh.engine.url), data_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert all(str(event) in (out / f"{stem}.json").read_text() for event in wanted)
    refused = access_cli(data_dir, sam, "transparency-report", *period[:-1],
                         str(tmp_path / "sam"))
    assert refused.returncode == 2 and "error:" in refused.stderr
    assert not (tmp_path / "sam").exists()
    bad = access_cli(data_dir, pia, "transparency-report", "--customer", "cust 7",
                     *period[2:-1], str(tmp_path / "bad"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: customer"), bad.stderr
    assert not (tmp_path / "bad").exists()
    assert [(e["actor_sub"], e["outcome"], e["user_agent"], e["customer_id"],
             e["details"].get("row_count")) for e in reported(data_dir)] == [
        ("pia.privacy", "success", "python -m access transparency-report", "cust-7", 2),
        ("pia.privacy", "denied", "python -m access transparency-report", "cust 7", None)]
    assert denied_by(gh, "sam.support") == [
        ("auth.page.denied", "transparency.report", "python -m access transparency-report")]


def denied_by(gh: Any, sub: str) -> list[tuple[str, str, str]]:
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table).where(
            events_table.c.actor_sub == sub, events_table.c.outcome == "denied")).mappings()
        return [(r["action"], r["details"]["page"], r["user_agent"]) for r in rows]

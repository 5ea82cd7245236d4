"""`python -m access dsr` end to end in subprocesses on SQLite over the demo customer data, as
the signed-in privacy officer with a fresh code per command: file an access request, verify
the identity, prepare the package, release it into a private folder; each step is in the
audit log as the officer's, by the command, and the email is stored nowhere in clear."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from access.runtime import build_for_cli
from audit.schema import events_table
from tests.console.test_console_dsr import an_email
from tests.support.cli_person import Person, access_cli


def events_since(first: int) -> list[dict[str, Any]]:
    with build_for_cli().engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(events_table).where(
            events_table.c.id > first).order_by(events_table.c.id)).mappings()]


def test_the_privacy_officer_files_verifies_prepares_and_releases(data_dir: Path,
                                                                  tmp_path: Path) -> None:
    pia = Person(build_for_cli(), "pia.privacy")
    first = max(e["id"] for e in events_since(0))
    email = an_email(data_dir)
    filed = access_cli(data_dir, pia, "dsr", "file", "--kind", "access", "--jurisdiction",
                       "gdpr", "--email", email)
    assert filed.returncode == 0, filed.stderr
    dsr_id = filed.stdout.split()[2].rstrip(",")
    verified = access_cli(data_dir, pia, "dsr", "verify", dsr_id, "--method",
                          "replied from the address on file")
    assert verified.returncode == 0 and "identity verified" in verified.stdout, verified.stderr
    prepared = access_cli(data_dir, pia, "dsr", "prepare", dsr_id)
    assert prepared.returncode == 0, prepared.stderr
    assert email in prepared.stdout
    out = tmp_path / "package"
    released = access_cli(data_dir, pia, "dsr", "release", dsr_id, "--out", str(out))
    assert released.returncode == 0, released.stderr
    package = json.loads((out / f"dsr-{dsr_id}.json").read_text())
    assert email in json.dumps(package) and (out / f"dsr-{dsr_id}.html").exists()
    assert out.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o600}
    mine = [e for e in events_since(first) if e["action"].startswith("dsr.")]
    assert [e["action"] for e in mine if e["action"] != "dsr.subject_read"] == [
        "dsr.filed", "dsr.identity_verified", "dsr.released"]
    assert "dsr.subject_read" in [e["action"] for e in mine]
    assert {(e["actor_sub"], e["user_agent"], e["outcome"]) for e in mine} == {
        ("pia.privacy", "python -m access dsr", "success")}
    assert email not in json.dumps([str(e) for e in events_since(first)])

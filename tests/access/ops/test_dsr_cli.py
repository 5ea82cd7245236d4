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


def test_an_admin_sends_an_erasure_back_then_approves_it_and_reads_what_went(
        data_dir: Path) -> None:
    pia, ada = Person(build_for_cli(), "pia.privacy"), Person(build_for_cli(), "ada.admin")
    first = max(e["id"] for e in events_since(0))
    filed = access_cli(data_dir, pia, "dsr", "file", "--kind", "erasure", "--jurisdiction",
                       "gdpr", "--email", an_email(data_dir))
    assert filed.returncode == 0, filed.stderr
    dsr_id = filed.stdout.split()[2].rstrip(",")
    for step in (("verify", dsr_id, "--method", "replied from the address on file"),
                 ("propose-erasure", dsr_id)):
        done = access_cli(data_dir, pia, "dsr", *step)
        assert done.returncode == 0, done.stderr
    no_reason = access_cli(data_dir, ada, "dsr", "reject", dsr_id)
    assert no_reason.returncode != 0 and "--reason" in no_reason.stderr
    rejected = access_cli(data_dir, ada, "dsr", "reject", dsr_id, "--reason",
                          "the contract still needs these rows")
    assert rejected.returncode == 0, rejected.stderr
    assert "sent back" in rejected.stdout
    again = access_cli(data_dir, pia, "dsr", "propose-erasure", dsr_id)
    assert again.returncode == 0, again.stderr
    approved = access_cli(data_dir, ada, "dsr", "approve", dsr_id)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("Erased: 1 row in contacts"), approved.stdout
    actions = [e["action"] for e in events_since(first) if e["action"].startswith("dsr.")
               and e["action"] != "dsr.subject_read"]
    assert actions == ["dsr.filed", "dsr.identity_verified", "dsr.erasure_proposed",
                       "dsr.approval_rejected", "dsr.erasure_proposed", "dsr.approved",
                       "dsr.erased"]

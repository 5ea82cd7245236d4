"""Log injection (ASVS 16.4.1; A6 32): text that looks like log lines, terminal escapes or
record separators stays inside its own field of its own event, in the database, in the
canonical bytes that are hashed, in every export, in what the CLI prints, and in the webhook
messages that leave for Slack.

Already covered, not repeated: the canonical encoding is pinned and lossless for hostile Unicode
(tests/audit/test_audit_events.py), Slack's `<!channel>` escaping of a message text
(tests/access/workflow/test_notify.py); justifications and reasons are stored exactly
(test_injection.py)."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from access import oversight
from access.context import Gatehouse
from access.identity.sessions import resume
from access.schema import Notification
from access.workflow import break_glass, create_request, decide_request, grants
from audit.canonical import FIELDS, canonical_bytes
from audit.export_stream import ExportFormat
from audit.schema import events_table
from tests.adversarial.support import PYTHON, ROOT, cli_env
from tests.support.audit_helpers import tamper
from tests.support.databases import Database
from tests.support.identity_helpers import LocalIdP
from tests.support.mfa_helpers import enroll
from tests.support.workflow_helpers import Team, draft, events, team

FORGED_LINES = "SUP-1 ok\nintact: 999 sealed events, 9 signed checkpoints\n"
TERMINAL = "SUP-2 \x1b[2K\x1b[1A\x1b[32mintact\x1b[0m \x1b]0;pwned\x07"
CARRIAGE = "SUP-3 done\rNOT INTACT: first bad leaf 0: modified"
SEPARATORS = "SUP-4 a\u2028b\u2029c\x85d\x1e\x1f"
FAKE_JSON = 'SUP-5 "},{"action":"auth.login","outcome":"success'
HOSTILE = [FORGED_LINES, TERMINAL, CARRIAGE, SEPARATORS, FAKE_JSON]


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def plant(gh: Gatehouse, idp: LocalIdP, people: Team) -> int:
    """Every hostile text into the log through the real services: justifications, revocation
    reasons, a display name and a user agent. Returns how many events hold one."""
    for text in HOSTILE:
        request_id = create_request.create(gh, people.sam, draft(justification=text))
        grant_id = decide_request.decide(gh, people.ada, request_id, approve=True).grant_id
        assert grant_id is not None
        grants.revoke(gh, people.alan, grant_id, text)
    enroll(gh, resume(gh, idp.token("mallory", ["support"], name=FORGED_LINES),
                      "10.0.0.7", TERMINAL))
    return sum(1 for e in events(gh) if any(t.strip() in (e["reason"] or "", e["actor_name"],
                                                            e["user_agent"]) for t in HOSTILE))


def printable_ascii(data: bytes) -> bool:
    return all(32 <= b < 127 for b in data)


def test_hostile_text_is_stored_verbatim_and_hashed_as_printable_ascii(
        gh: Gatehouse, idp: LocalIdP, people: Team) -> None:
    assert plant(gh, idp, people) >= 3 * len(HOSTILE)
    with gh.engine.connect() as conn:
        rows = conn.execute(select(*[events_table.c[n] for n in FIELDS])).all()
    assert any(FORGED_LINES.strip() == row.reason for row in rows)  # verbatim, not cleaned
    assert any(row.user_agent == TERMINAL for row in rows)
    for row in rows:
        assert printable_ascii(canonical_bytes(tuple(row)))  # one line, no raw escapes


def test_every_export_keeps_one_record_per_event(gh: Gatehouse, idp: LocalIdP,
                                                 people: Team, tmp_path: Path) -> None:
    plant(gh, idp, people)
    flt = oversight.event_filter()
    jsonl = oversight.export_events(gh, people.audrey, flt, ExportFormat.JSONL,
                                   tmp_path / "jsonl")
    lines = b"".join(p.read_bytes() for p in jsonl.parts).split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == jsonl.rows  # JSON Lines: split on \n only
    assert not any(b"\r" in line or b"\x1b" in line for line in lines)
    parsed = [json.loads(line) for line in lines[:-1]]
    assert FORGED_LINES.strip() in {e["reason"] for e in parsed}  # exact, once decoded
    table = oversight.export_events(gh, people.audrey, flt, ExportFormat.CSV, tmp_path / "csv")
    with table.parts[0].open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    assert len(records) - 1 == table.rows  # a header, then exactly one record per event
    reasons = [r[records[0].index("reason")] for r in records[1:]]
    assert FORGED_LINES.strip() in reasons and CARRIAGE in reasons


def test_the_cli_never_echoes_event_content(gh: Gatehouse, idp: LocalIdP, people: Team,
                                            sqlite_db: Database, tmp_path: Path) -> None:
    """`python -m audit verify`, read by operators in a terminal, names leaves and kinds of
    damage, never the text of an event, so a planted line cannot pass for its verdict."""
    plant(gh, idp, people)
    env = cli_env(sqlite_db.url, tmp_path / "cli")
    for args in (["keygen"], ["seal"]):
        subprocess.run([PYTHON, "-m", "audit", *args], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
    bundle = tmp_path / "bundle"
    subprocess.run([PYTHON, "-m", "audit", "export", "--out", str(bundle)], env=env, cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    assert all(printable_ascii(line) for line in (bundle / "events.jsonl").read_bytes()
               .split(b"\n"))
    with gh.engine.connect() as conn:
        target = conn.execute(select(events_table.c.id).where(
            events_table.c.reason == CARRIAGE)).scalars().first()
    tamper(sqlite_db, [f"UPDATE audit_events SET reason = '{TERMINAL}' WHERE id = {target}"])
    done = subprocess.run([PYTHON, "-m", "audit", "verify"], env=env, cwd=ROOT,
                          capture_output=True, timeout=120)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert printable_ascii(out.replace(b"\n", b""))
    assert b"999" not in out and b"pwned" not in out
    assert out.decode().startswith("NOT INTACT: first bad leaf")


def test_a_display_name_cannot_page_a_whole_slack_channel(gh: Gatehouse, idp: LocalIdP) -> None:
    eve, _, _ = enroll(gh, resume(gh, idp.token("eve", ["support"],
                                                name="<!channel> <https://evil.example|IT>")))
    break_glass.activate(gh, eve, draft(duration=timedelta(minutes=30)),
                         "production outage INC-3")
    with gh.read() as db:
        payloads = [json.loads(p) for p in db.execute(select(Notification.payload)).scalars()]
    text = next(p["text"] for p in payloads if p["gatehouse"]["kind"] == "breakglass.activated")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert "<https://evil.example" not in text

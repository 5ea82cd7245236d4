"""Proved reports: the consultations of a customer, cut against a signed checkpoint with an
inclusion proof per cited event, verify offline (in a subprocess, with only the public key) and
are refused when tampered with, on both engines."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from access.transparency import Consultations, body_rows, consultations
from audit.checkpoint import public_pem
from audit.proof import NotSealed
from audit.proved import FORMAT, Proved, build, newest_checkpoint, verify
from audit.vocabulary import Outcome
from tests.support.audit_helpers import seal_everything
from tests.support.audit_history import MONDAY, History
from tests.support.databases import Database

PERIOD = (MONDAY, MONDAY + timedelta(days=7))
ROOT = Path(__file__).resolve().parents[2]


def seed(db: Database) -> dict[str, int]:
    """cust-1: a request by alice, alice reads, bob reveals, alice exports; around them
    what must not be listed: a refusal, another customer, a read after the period."""
    h = History(db.engine)
    ids = {"opened": h.add("request.created", "alice", customer_id="cust-1", request_id="7",
                           ticket="SUP-7", reason="Customer reports a failed renewal")}
    ids["read"] = h.read("alice", timedelta(hours=1), grant="7", customer="cust-1",
                         ticket="SUP-7")
    ids["reveal"] = h.add("data.revealed", "bob", timedelta(hours=2), customer_id="cust-1",
                          grant_id="7", request_id="7", ticket="SUP-7",
                          reason="Verify the billing email", target_type="customer",
                          target_id="cust-1", details={"scope": "contacts", "action": "reveal",
                                                       "columns": ["contacts.email"],
                                                       "row_count": 2})
    ids["export"] = h.read("alice", timedelta(hours=3), grant="7", customer="cust-1",
                           ticket="SUP-7", action="data.exported")
    h.add("data.denied", "carol", timedelta(hours=4), Outcome.DENIED, customer_id="cust-1",
          details={"scope": "billing", "why": "no grant"})
    h.read("alice", timedelta(hours=5), grant="8", customer="cust-2")
    h.read("alice", timedelta(days=8), grant="7", customer="cust-1")
    return ids


def proved(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path,
           inline: bool = False) -> tuple[Consultations, Proved]:
    seal_everything(db, key, checkpoint_dir)
    with db.engine.connect() as conn:
        checkpoint = newest_checkpoint(conn, key.public_key())
        found = consultations(db.engine, "cust-1", *PERIOD, conn=conn,
                              sealed_below=checkpoint.size)
        body = {"customer_id": "cust-1", "rows": body_rows(found)}
        return found, build(conn, checkpoint, "access-transparency", body, inline)


def test_the_report_lists_exactly_the_consultations_with_stable_pseudonyms(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    ids = seed(db)
    found, report = proved(db, signing_key, checkpoint_dir)
    assert [(c.event_id, c.action, c.staff) for c in found.rows] == [
        (ids["read"], "read", "Staff A"), (ids["reveal"], "reveal", "Staff B"),
        (ids["export"], "export", "Staff A")]
    reveal = found.rows[1]
    assert (reveal.reason, reveal.columns, reveal.scope, reveal.ticket) == (
        "Verify the billing email", ("contacts.email",), "contacts", "SUP-7")
    assert {c.justification for c in found.rows} == {"Customer reports a failed renewal"}
    assert {c.justification_event_id for c in found.rows} == {ids["opened"]}
    text = json.dumps(report.document)
    assert "alice" not in text.lower() and "bob" not in text.lower()  # no staff names or subs
    assert sorted(p["event_id"] for p in report.document["proofs"]) == sorted(
        [ids["opened"], ids["read"], ids["reveal"], ids["export"]])
    verdict = verify(report.document, signing_key.public_key(), report.opening)
    assert verdict.ok, verdict.problems
    assert verdict.opened and verdict.cited == 4 and verdict.proved == 4


def test_a_subject_sees_only_the_scopes_that_hold_subjects(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    ids = seed(db)
    found = consultations(db.engine, "cust-1", *PERIOD, subject="contact-12")
    assert found.scopes == ("contacts",)
    assert [(c.event_id, c.staff) for c in found.rows] == [(ids["reveal"], "Staff A")]


def test_unsealed_consultations_are_counted_not_listed(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    seed(db)
    size = seal_everything(db, signing_key, checkpoint_dir)
    History(db.engine).read("dave", timedelta(hours=6), grant="7", customer="cust-1")
    found = consultations(db.engine, "cust-1", *PERIOD, sealed_below=size)
    assert (len(found.rows), found.unsealed) == (3, 1)
    every = consultations(db.engine, "cust-1", *PERIOD)
    assert len(every.rows) == 4 and every.rows[-1].leaf_index is None
    with db.engine.connect() as conn, pytest.raises(NotSealed):
        build(conn, newest_checkpoint(conn, signing_key.public_key()), "x",
              {"rows": body_rows(every)})


def _mutations(ids: dict[str, int]) -> dict[str, Any]:
    def row(doc: dict[str, Any], n: int) -> dict[str, Any]:
        rows: list[dict[str, Any]] = doc["body"]["rows"]
        return rows[n]

    def flip(doc: dict[str, Any]) -> None:
        proof = doc["proofs"][1]
        digit = "0" if proof["path"][0][0] != "0" else "1"
        proof["path"][0] = digit + proof["path"][0][1:]

    return {
        "date": lambda d: row(d, 0).update(time="2026-11-24T09:00:00.000000Z"),
        "ticket": lambda d: row(d, 1).update(ticket="SUP-8"),
        "action": lambda d: row(d, 2).update(action="data.read"),
        "justification": lambda d: row(d, 0)["justification"].update(reason="Routine"),
        "pseudonym": lambda d: row(d, 2).update(staff="Staff C"),
        "proof hash": flip,
        "leaf hash": lambda d: d["proofs"][0].update(leaf_hash="00" * 32),
        "signature": lambda d: d.update(checkpoint=d["checkpoint"].replace(
            d["checkpoint"].splitlines()[-1][-8:], "AAAAAAA=")),
        "cited without proof": lambda d: d["proofs"].pop(),
        "foreign row": lambda d: d["body"]["rows"].append(dict(row(d, 0),
                                                               event_id=ids["opened"] + 999)),
    }


CAUGHT_WITHOUT_OPENING = {"proof hash", "leaf hash", "signature", "cited without proof",
                          "foreign row"}


@pytest.mark.parametrize("how", ["date", "ticket", "action", "justification", "pseudonym",
                                 "proof hash", "leaf hash", "signature", "cited without proof",
                                 "foreign row"])
def test_a_tampered_report_is_refused(db: Database, signing_key: Ed25519PrivateKey,
                                      checkpoint_dir: Path, how: str) -> None:
    ids = seed(db)
    _, report = proved(db, signing_key, checkpoint_dir)
    public = signing_key.public_key()
    tampered = copy.deepcopy(report.document)
    _mutations(ids)[how](tampered)
    assert tampered != report.document
    with_opening = verify(tampered, public, report.opening)
    assert not with_opening.ok
    # What a customer alone can check: the proofs and the signature, not the displayed fields
    assert verify(tampered, public).ok is (how not in CAUGHT_WITHOUT_OPENING)


def test_another_public_key_refuses_the_report(db: Database, signing_key: Ed25519PrivateKey,
                                               checkpoint_dir: Path) -> None:
    seed(db)
    _, report = proved(db, signing_key, checkpoint_dir)
    verdict = verify(report.document, Ed25519PrivateKey.generate().public_key())
    assert not verdict.ok
    assert any("pinned public key" in p for p in verdict.problems)


def test_an_opening_record_that_was_edited_does_not_hash_to_its_leaf(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    seed(db)
    _, report = proved(db, signing_key, checkpoint_dir, inline=True)
    assert verify(report.document, signing_key.public_key()).opened
    edited = copy.deepcopy(report.document)
    edited["opening"]["records"][1]["record"]["ticket"] = "SUP-8"
    problems = verify(edited, signing_key.public_key()).problems
    assert any("does not hash to its proved leaf" in p for p in problems)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit", "verify-report", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_the_cli_verifies_offline_with_only_the_public_key(
        db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    ids = seed(db)
    _, report = proved(db, signing_key, checkpoint_dir)
    pem = tmp_path / "log.pub"
    pem.write_bytes(public_pem(signing_key.public_key()))
    (tmp_path / "report.json").write_text(json.dumps(report.document))
    (tmp_path / "opening.json").write_text(json.dumps(report.opening))
    alone = _cli(tmp_path / "report.json", "--public-key", pem)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "report intact" in alone.stdout and "no opening given" in alone.stdout
    opened = _cli(tmp_path / "report.json", "--public-key", pem, "--opening",
                  tmp_path / "opening.json")
    assert opened.returncode == 0 and "opening checked" in opened.stdout
    tampered = copy.deepcopy(report.document)
    _mutations(ids)["ticket"](tampered)
    _mutations(ids)["cited without proof"](tampered)
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    refused = _cli(tmp_path / "tampered.json", "--public-key", pem, "--opening",
                   tmp_path / "opening.json")
    assert refused.returncode == 1
    assert "REPORT NOT INTACT" in refused.stdout and "ticket shown as" in refused.stdout
    assert "has no inclusion proof" in refused.stdout
    other = tmp_path / "other.pub"
    other.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    assert _cli(tmp_path / "report.json", "--public-key", other).returncode == 1


def test_not_a_report_is_refused() -> None:
    verdict = verify({"format": "something else"}, Ed25519PrivateKey.generate().public_key())
    assert verdict.problems == [f"not a {FORMAT} document"]

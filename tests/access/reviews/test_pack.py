"""The evidence pack of a closed campaign: a proved report the auditor verifies offline with
`python -m audit verify-report` and only the public key; any edit is refused."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from access.context import Gatehouse
from access.errors import InvalidInput
from access.reviews import campaigns, closing, decisions, pack
from audit.checkpoint import generate_keypair, load_private_key, load_public_key
from audit.proved import verify
from audit.sealer import seal_pending
from audit.settings import load_settings
from tests.support.identity_helpers import LocalIdP
from tests.support.review_helpers import draft, items
from tests.support.workflow_helpers import Team, events, team

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def gh(gh_any: Gatehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Gatehouse:
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    generate_keypair(settings.signing_key_path, settings.public_key_path)
    return gh_any


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def seal(gh: Gatehouse) -> int:
    settings = load_settings()
    return seal_pending(gh.engine, load_private_key(settings.signing_key_path),
                        settings.checkpoint_dir).tree_size


def closed_campaign(gh: Gatehouse, people: Team) -> int:
    campaign_id = campaigns.start(gh, people.ada, draft(gh))
    found = items(gh, campaign_id)
    ada = people.step_up(gh, "ada")
    decisions.revoke(gh, ada, found["Sky: requester"].id, "left the support team")
    decisions.keep(gh, ada, found["Alan: approver"].id, "on call this quarter")
    closing.close_campaign(gh, ada, campaign_id)
    return campaign_id


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audit", "verify-report", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)


def test_the_pack_proves_every_decision_and_refuses_any_edit(
        gh: Gatehouse, people: Team, tmp_path: Path) -> None:
    campaign_id = closed_campaign(gh, people)
    with pytest.raises(InvalidInput) as unsealed:
        pack.evidence_pack(gh, people.audrey, campaign_id)
    assert unsealed.value.field == "checkpoint"
    seal(gh)
    cut = pack.evidence_pack(gh, people.audrey, campaign_id)
    document = json.loads(cut.document)
    rows = {r["subject"]: r for r in document["body"]["items"]}
    assert (rows["Sky: requester"]["details.decision"], rows["Sky: requester"]["actor_sub"],
            rows["Sky: requester"]["reason"]) == ("revoke", "ada", "left the support team")
    assert rows["Sam: requester"]["details.default"] is True  # nobody reviewed it: keep
    assert rows["Sam: requester"]["reason"] == (  # closed by ada before the due date: says so
        "not reviewed before the campaign was closed early (due "
        f"{gh.now() + timedelta(days=14):%Y-%m-%d %H:%M} UTC): default keep")
    assert rows["Sky: requester"]["applied"].startswith("role requester suspended")
    assert "evidence" in rows["Sky: requester"] and cut.items == 4
    assert len(document["proofs"]) == 4
    verdict = verify(document, load_public_key(load_settings().public_key_path))
    assert verdict.ok and verdict.opened, verdict.problems
    header, *lines = cut.csv.decode().splitlines()
    assert header.startswith("item_id,subject,kind") and len(lines) == 4
    assert events(gh, "audit.exported")[-1]["target_id"] == str(campaign_id)

    pem = load_settings().public_key_path
    (tmp_path / "pack.json").write_bytes(cut.document)
    intact = _cli(tmp_path / "pack.json", "--public-key", pem)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    tampered = copy.deepcopy(document)
    next(r for r in tampered["body"]["items"]
         if r["subject"] == "Sky: requester")["details.decision"] = "keep"
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    refused = _cli(tmp_path / "tampered.json", "--public-key", pem)
    assert refused.returncode == 1 and "NOT INTACT" in refused.stdout


def test_a_pack_of_an_open_campaign_is_refused_and_recorded(
        gh: Gatehouse, people: Team) -> None:
    campaign_id = campaigns.start(gh, people.ada, draft(gh))
    seal(gh)
    with pytest.raises(InvalidInput, match="not closed"):
        pack.evidence_pack(gh, people.audrey, campaign_id)
    assert events(gh, "audit.exported")[-1]["outcome"] == "denied"

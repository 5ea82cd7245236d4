"""An access review in a real browser: an admin starts a campaign, decides an item with the
evidence in view (a fresh code, then Confirm), closes the campaign; the auditor downloads the
evidence pack, and `python -m audit verify-report` verifies it with only the public key."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from audit.checkpoint import load_private_key
from audit.sealer import seal_pending
from audit.settings import load_settings
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import open_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam (support), Ada (admin) and Audrey (auditor), enrolled; Sam has done nothing."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "audrey.auditor"):
        backstage.enroll(sub)
    yield backstage
    backstage.gh.engine.dispose()


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    wait_for_app(page)


def test_a_campaign_from_start_to_a_verified_evidence_pack(
        page: Page, browser: Browser, console_url: str, stage: Backstage,
        tmp_path: Path) -> None:
    stage.sign_in(page, console_url, "ada.admin")
    open_page(page, "Access reviews")
    page.get_by_text("keep", exact=True).click()  # the default decision, chosen explicitly
    click(page, "Check")
    defined = page.get_by_text("1 item, 1 person under review; starts now")
    expect(defined).to_be_visible()
    defined.scroll_into_view_if_needed()  # the main area scrolls: show what Check said
    screenshot(page, "review-0-campaign-defined")
    click(page, "Start campaign")
    expect(page.get_by_text("Campaign 1 started.")).to_be_visible()
    expect(page.get_by_text("0 of 1 items decided")).to_be_visible()
    screenshot(page, "review-1-campaign-started")

    open_page(page, "My reviews")
    expect(page.get_by_text("Sam Support: requester")).to_be_visible()
    expect(page.get_by_text("no customer-data access in 90 days")).to_be_visible()
    expect(page.get_by_text("reads 0")).to_be_visible()  # the evidence, beside the decision
    expect(page.get_by_text(re.compile(r"^Evidence over the 90 days to \d{4}-\d\d-\d\d "
                                       r"\d\d:\d\d UTC \(when the campaign opened\)$"))) \
        .to_be_visible()
    page.get_by_label("Comment", exact=True).fill("moved to the engineering team")
    stage.age_step_up("ada.admin")
    click(page, "Revoke")
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Revoke Sam Support: requester (campaign 1)")) \
        .to_be_visible()
    screenshot(page, "review-2-decide-with-evidence")
    click(page, "Confirm")
    expect(page.get_by_text("Revoke recorded for Sam Support: requester (campaign 1).")) \
        .to_be_visible()
    screenshot(page, "review-3-decided")

    open_page(page, "Access reviews")
    stage.age_step_up("ada.admin")
    click(page, "Close now (defaults apply)")
    stage.enter_code(page, "ada.admin", "Confirm with code")  # closing early: a fresh code
    wait_for_app(page)
    asked = page.get_by_text(re.compile(r"^Confirm: Close campaign 1 \(.*\) now: 0 items "
                                        r"undecided, nothing gets the default; the next one "
                                        r"starts \d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(asked).to_be_visible()
    asked.scroll_into_view_if_needed()
    screenshot(page, "review-4-close-confirm")
    assert stage.actions("review.campaign.closed") == []  # nothing before Confirm
    click(page, "Confirm")
    closed = page.get_by_text("Campaign 1 closed: 1 item: 0 kept, 1 revoked, 1 applied")
    expect(closed).to_be_visible()
    wait_for_app(page)
    expect(page.get_by_text("1 of 1 items decided")).to_be_visible()
    closed.scroll_into_view_if_needed()  # beside the campaign it closed, below the next one
    screenshot(page, "review-4-closed")
    card = page.locator(".st-key-campaign_1")
    card.get_by_text("Items", exact=True).click()
    expect(card.get_by_test_id("stDataFrame")).to_be_visible()
    page.wait_for_timeout(500)  # the table draws just after its element appears
    card.scroll_into_view_if_needed()
    screenshot(page, "review-4b-closed-items")
    # quarterly (the form's default): next quarter's campaign waits for its start
    assert stage.actions("review.") == ["review.campaign.started", "review.decided",
                                        "review.applied", "review.campaign.scheduled",
                                        "review.campaign.closed"]

    settings = load_settings()
    seal_pending(stage.gh.engine, load_private_key(settings.signing_key_path),
                 settings.checkpoint_dir)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    auditor = context.new_page()  # the auditor's own browser
    stage.sign_in(auditor, console_url, "audrey.auditor")
    open_page(auditor, "Review evidence")
    click(auditor, "Cut evidence pack")
    expect(auditor.get_by_text("Evidence pack of campaign 1: 1 items")).to_be_visible()
    expect(auditor.get_by_role("button", name="Download items (CSV)")).to_be_visible()
    expect(auditor.get_by_text("python -m audit verify-report access-review-1.json")) \
        .to_be_visible()
    screenshot(auditor, "review-5-evidence-pack")
    with auditor.expect_download() as download:
        auditor.get_by_role("button", name="Download pack (JSON, proved)").click()
    saved = tmp_path / "access-review-1.json"
    download.value.save_as(saved)
    verified = subprocess.run(
        [sys.executable, "-m", "audit", "verify-report", str(saved), "--public-key",
         str(settings.public_key_path)], capture_output=True, text=True, cwd=ROOT,
        timeout=120, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
    context.close()

"""A sensitive action that needs a fresh code, in a real browser: walking away from the code
prompt discards it; after a code the person confirms exactly what will happen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import open_page

DECISIONS = ("request.approved", "request.denied", "grant.issued", "customer.restricted")


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam (support) asked for 4 h of reads on cust-0053; Ada (admin) may decide."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin"):
        backstage.enroll(sub)
    backstage.request("sam.support", customer_id="cust-0053", environment="production",
                      scopes=["contacts"], actions=["read"], duration=timedelta(hours=4),
                      justification="SUP-3002: the customer cannot sign in", ticket="SUP-3002")
    yield backstage
    backstage.gh.engine.dispose()


def decisions(stage: Backstage, after: int) -> list[str]:
    return [a for a in stage.actions(after=after) if a in DECISIONS]


def test_an_approval_left_at_the_code_prompt_never_runs(page: Page, console_url: str,
                                                        stage: Backstage) -> None:
    stage.sign_in(page, console_url, "ada.admin")
    stage.age_step_up("ada.admin")
    start = stage.last_event_id()
    open_page(page, "Approvals")
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    prompt = page.get_by_text("Approve request 1 for Sam Support: cust-0053, production")
    expect(prompt).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_be_visible()
    screenshot(page, "step-up-1-approve-asks-for-a-code")

    open_page(page, "Restrictions")  # walks away, and enters a code for something else
    page.get_by_label("Customer id").fill("cust-0059")
    page.get_by_label("Reason (required)").fill("Art. 18 request by the customer")
    page.get_by_role("button", name="Apply", exact=True).click()
    wait_for_app(page)
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Restrict customer cust-0059 in production")).to_be_visible()
    screenshot(page, "step-up-2-restriction-confirm")

    open_page(page, "Approvals")  # back: the approval is gone, nothing ran
    expect(page.get_by_text("approvals 0/1")).to_be_visible()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    expect(page.get_by_text("Approve request 1 for")).to_have_count(0)
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(page, "step-up-3-back-nothing-ran")
    assert decisions(stage, start) == []

    stage.age_step_up("ada.admin")  # and a deliberate approval: code, then confirm
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Approve request 1 for Sam Support: cust-0053, "
                            "production")).to_be_visible()
    assert decisions(stage, start) == []
    screenshot(page, "step-up-4-confirm-the-approval")
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Request 1: approved (1/1 approvals).")).to_be_visible()
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    screenshot(page, "step-up-5-approved")
    assert decisions(stage, start) == ["request.approved", "grant.issued"]

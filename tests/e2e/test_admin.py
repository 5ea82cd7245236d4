"""An admin's screens tell the truth after an action: the result shows next to the control
that caused it, and what is above it shows the state the action left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import confirm, open_page


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam holds a live grant on cust-0053; a second request (billing) needs two approvers."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    common = {"customer_id": "cust-0053", "environment": "production",
              "duration": timedelta(hours=4), "actions": ["read"], "ticket": "SUP-3003",
              "justification": "SUP-3003: the invoice total looks wrong"}
    backstage.grant_id = backstage.grant("sam.support", ["ada.admin"], scopes=["contacts"],
                                         **common)
    backstage.request("sam.support", scopes=["billing"], **common)
    yield backstage
    backstage.gh.engine.dispose()


def test_approve_and_revoke_leave_no_stale_screen(page: Page, console_url: str,
                                                  stage: Backstage) -> None:
    stage.sign_in(page, console_url, "alan.admin")
    start = stage.last_event_id()
    open_page(page, "Approvals")
    expect(page.get_by_text("approvals 0/2")).to_be_visible()
    page.get_by_role("button", name="Approve", exact=True).click()  # a fresh code: confirm
    expect(page.get_by_text("Approval 1 of 2: the request waits for another approver")
           ).to_be_visible()  # the confirmation says what this vote does
    assert stage.actions(after=start) == []
    confirm(page, "Approve request 2 for Sam Support")
    expect(page.get_by_text("Request 2: pending (1/2 approvals).")).to_be_visible()
    # Alan has voted: the card (which said 0/2 and offered Approve) has left his queue
    expect(page.get_by_text("approvals 0/2")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(page.get_by_text("Nothing waiting for you.")).to_be_visible()
    screenshot(page, "admin-1-approved-one-of-two")
    assert stage.actions(after=start) == ["request.approved"]

    open_page(page, "Grants")
    page.get_by_label("Grant", exact=True).click()
    page.get_by_role("option", name=f"Grant {stage.grant_id} · Sam Support").click()
    page.get_by_label("Reason (required)").fill("Ticket SUP-3003 closed")
    page.get_by_role("button", name="Revoke", exact=True).click()
    wait_for_app(page)
    confirm(page, f"Revoke grant {stage.grant_id} of Sam Support")
    expect(page.get_by_text(f"Grant {stage.grant_id} revoked; Sam Support's next read "
                            "under it is refused.")).to_be_visible()
    expect(page.get_by_text("No live grant")).to_be_visible()  # the table above, updated
    expect(page.get_by_role("button", name="Revoke", exact=True)).to_have_count(0)
    screenshot(page, "admin-2-revoked")
    assert stage.actions(after=start) == ["request.approved", "grant.revoked"]

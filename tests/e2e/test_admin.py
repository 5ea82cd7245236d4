"""An admin's screens tell the truth after an action: the result shows next to the control
that caused it, and what is above it shows the state the action left. The holder reads why an
admin ended their grant; a locked account shows as locked, and an admin unlocks it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from access.workflow import decide_request, grants
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import choose, confirm, drawn, fits, open_page, sign_in


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
    open_page(page, "Home")  # Home again after the sign-in's events: it records nothing
    waiting = page.get_by_role("link", name=re.compile("1 request waits for your decision"))
    expect(waiting).to_be_visible()
    screenshot(page, "admin-0-home-waiting")
    waiting.click()  # Home's link, where the decision is taken
    page.wait_for_url(re.compile(r"/approvals$"))
    wait_for_app(page)
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


def test_the_holder_reads_why_and_cancels_only_after_confirming(
        page: Page, console_url: str, stage: Backstage) -> None:
    refused = stage.request("sam.support", customer_id="cust-0054", environment="production",
                            scopes=["account"], actions=["read"], duration=timedelta(hours=1),
                            ticket="SUP-3005", justification="SUP-3005: the login page fails")
    decide_request.decide(stage.gh, stage.principal("ada.admin"), refused, False,
                          "SUP-3005 is a sales question, not support")
    grants.revoke(stage.gh, stage.principal("ada.admin"), stage.grant_id,
                  "Ticket SUP-3003 closed")
    stage.sign_in(page, console_url, "sam.support")
    start = stage.last_event_id()
    open_page(page, "My access")
    expect(page.get_by_text(f"Grant {stage.grant_id} on customer cust-0053 (ticket SUP-3003) "
                            "was revoked by Ada Admin at 20")).to_be_visible()
    expect(page.get_by_text("“Ticket SUP-3003 closed”")).to_be_visible()
    drawn(page)
    screenshot(page, "admin-3-holder-sees-why-1280")
    fits(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    drawn(page)
    fits(page)
    screenshot(page, "admin-4-holder-sees-why-1440")
    page.set_viewport_size({"width": 1280, "height": 800})
    drawn(page)

    page.get_by_label("Pending request").click()
    page.keyboard.press("ArrowDown")  # opens the list if the click only focused the box
    screenshot(page, "admin-5-cancel-choices")
    page.get_by_role("option", name="Request 2 · customer cust-0053 · ticket SUP-3003 · "
                                    "billing: read").click()
    page.get_by_role("button", name="Cancel request", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Cancel request 2 (customer cust-0053")).to_be_visible()
    screenshot(page, "admin-5b-cancel-confirm")
    assert stage.actions(after=start) == []  # nothing before the confirmation
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Request 2 cancelled; it has left the approvers' queue.")) \
        .to_be_visible()
    expect(page.get_by_role("button", name="Cancel request")).to_have_count(0)
    screenshot(page, "admin-6-cancelled")
    assert stage.actions(after=start) == ["request.cancelled"]


def test_an_admin_sees_a_locked_account_and_unlocks_it_with_a_fresh_code(
        page: Page, browser: Browser, console_url: str, stage: Backstage) -> None:
    stage.enroll("sky.support")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    sky = context.new_page()
    sign_in(sky, console_url, "sky.support")
    wrong = "000000" if stage.code("sky.support") != "000000" else "111111"
    locked = sky.get_by_text(re.compile(r"too many wrong codes: locked until \d\d:\d\d UTC"))
    # The refusal warns, in the code's own form, once few wrong codes are left.
    warned = sky.get_by_test_id("stForm").get_by_text(
        re.compile(r"wait for the next one\. \d more wrong codes? locks? the account for "
                   r"15 min\."))
    left: list[int] = []
    # A click landing while the previous rerun still runs can be lost, so wrong codes are
    # typed until the lock shows (how many it takes is the unit tests' business).
    for _ in range(12):
        sky.get_by_label("6-digit code").fill(wrong)
        sky.get_by_role("button", name="Verify", exact=True).click()
        wait_for_app(sky)
        if warned.count():
            if not left:
                screenshot(sky, "admin-6-sky-warned")
            left.append(int(warned.first.inner_text().split(" more wrong code")[0][-1]))
        if locked.count():
            break
    expect(locked).to_be_visible()
    assert left and left == sorted(left, reverse=True) and set(left) <= {1, 2, 3}, left
    until = re.search(r"\d\d:\d\d UTC", locked.inner_text())[0]  # type: ignore[index]
    screenshot(sky, "admin-7-sky-locked")

    stage.sign_in(page, console_url, "ada.admin")
    open_page(page, "Users")
    expect(page.get_by_role("heading", name="Unlock an account")).to_be_visible()
    drawn(page)
    screenshot(page, "admin-8-users-locked")
    fits(page)
    start = stage.last_event_id()
    stage.age_step_up("ada.admin")
    choose(page, "Locked account", f"Sky Support (sky.support), locked until {until}")
    page.get_by_label("Reason for unlocking (required)").fill("Sky typed the old phone's codes")
    page.get_by_role("button", name="Unlock", exact=True).click()
    wait_for_app(page)
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Unlock Sky Support (sky.support): the lock until "
                            f"{until} ends now")).to_be_visible()
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Unlocked Sky Support (sky.support); they can enter a code "
                            "again.")).to_be_visible()
    expect(page.get_by_role("heading", name="Unlock an account")).to_have_count(0)
    screenshot(page, "admin-9-unlocked")
    assert stage.actions(after=start) == ["auth.mfa.step_up", "auth.mfa.unlocked"]

    stage.enter_code(sky, "sky.support", "Verify")  # the same screen, a good code: in
    expect(sky.get_by_role("heading", name="Welcome, Sky Support")).to_be_visible()
    context.close()

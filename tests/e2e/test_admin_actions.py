"""An admin's decisions in a real browser: approve and deny (newest first), revoke with a
confirmation while the holder's My access tab is open, the holder's release with a confirmation,
and disable, enable and reset on Users with and without a fresh code. Each step is checked
against what the audit log recorded: exactly those events, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from audit.schema import events_table
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import confirm, open_page

COMMON: dict[str, Any] = {
    "customer_id": "cust-0053", "environment": "production", "scopes": ["contacts"],
    "actions": ["read"], "duration": timedelta(hours=4), "ticket": "SUP-3003",
    "justification": "SUP-3003: the customer cannot sign in"}
AUTH = ("auth.mfa.", "auth.login", "auth.logout", "auth.session")  # signing in, codes


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    yield backstage
    backstage.gh.engine.dispose()


def reasons(stage: Backstage, action: str) -> list[str]:
    """The reasons recorded on `action` events, oldest first."""
    e = events_table.c
    with stage.gh.engine.connect() as conn:
        return [str(r) for r in conn.execute(select(e.reason).where(e.action == action)
                                             .order_by(e.id)).scalars()]


def work(stage: Backstage, after: int) -> list[str]:
    """What the log recorded after event `after`, without sign-in and code events."""
    return [a for a in stage.actions(after=after) if not a.startswith(AUTH)]


def test_approve_and_deny_newest_first_with_times_and_durations(
        page: Page, console_url: str, stage: Backstage) -> None:
    stage.request("sam.support", **COMMON)
    stage.request("sam.support", **COMMON | {"scopes": ["account"], "ticket": "SUP-3004"})
    page.set_viewport_size({"width": 1280, "height": 1300})
    stage.sign_in(page, console_url, "ada.admin")
    open_page(page, "Approvals")
    cards = page.get_by_text("by Sam Support")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("Request 2")  # newest first
    expect(page.get_by_text("Filed 20").first).to_be_visible()
    expect(page.get_by_text("expires 20").first).to_be_visible()
    expect(page.get_by_text("4 h · approvals 0/1").first).to_be_visible()  # not "4:00:00"
    screenshot(page, "admin-actions-1-queue-newest-first")
    start = stage.last_event_id()
    page.get_by_role("button", name="Approve").first.click()  # request 2 (fresh code)
    wait_for_app(page)
    expect(page.get_by_text("The last approval needed (1 of 1): the grant is issued at once")
           ).to_be_visible()  # a fresh code, still a confirmation saying what happens
    expect(page.get_by_label("6-digit code")).to_have_count(0)
    assert work(stage, start) == []
    confirm(page, "Approve request 2 for Sam Support: cust-0053, production, account (read)")
    expect(page.get_by_text("Request 2: approved (1/1 approvals).")).to_be_visible()
    assert work(stage, start) == ["request.approved", "grant.issued"]

    page.get_by_role("button", name="Deny").click()  # no comment: refused at the button
    wait_for_app(page)
    expect(page.get_by_text("comment: is required when denying")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    page.get_by_label("Comment").fill("Ticket closed")
    page.get_by_role("button", name="Deny").click()
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Deny request 1 for Sam Support")).to_contain_text(
        "with the comment “Ticket closed”. The request is denied at once")
    page.get_by_label("Comment").fill("Ticket SUP-3003 is closed")  # changed while it waits
    page.keyboard.press("Tab")
    wait_for_app(page)
    expect(page.get_by_text("Withdrawn: Comment changed after you asked")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(page, "admin-actions-2a-deny-withdrawn-when-the-comment-changed")
    assert work(stage, start) == ["request.approved", "grant.issued"]
    page.get_by_role("button", name="Deny").click()
    wait_for_app(page)
    confirm(page, "Deny request 1 for Sam Support: cust-0053, production, contacts (read), "
                  "4 h, with the comment “Ticket SUP-3003 is closed”")
    expect(page.get_by_text("Request 1: denied (0/1 approvals).")).to_be_visible()
    expect(page.get_by_text("Nothing waiting for you.")).to_be_visible()
    screenshot(page, "admin-actions-2-approved-and-denied")
    assert work(stage, start) == ["request.approved", "grant.issued", "request.denied"]


def test_a_request_decided_in_another_tab_says_so_in_the_stale_one(
        page: Page, console_url: str, stage: Backstage) -> None:
    """Ada has Approvals open in two tabs. What she decides in one, the other still shows: a
    click there (Approve, or Confirm of a decision asked before) decides nothing, says who
    decided the request and when, and the stale card goes."""
    first = stage.request("sam.support", **COMMON)
    second = stage.request("sam.support", **COMMON | {"scopes": ["account"],
                                                      "ticket": "SUP-3004"})
    stage.sign_in(page, console_url, "ada.admin")
    open_page(page, "Approvals")
    other = page.context.new_page()  # a second tab: the same sign-in, its own page state
    other.goto(console_url)
    wait_for_app(other)
    open_page(other, "Approvals")
    expect(other.get_by_text("by Sam Support")).to_have_count(2)

    page.bring_to_front()
    page.get_by_role("button", name="Approve").first.click()  # the newest: the second
    wait_for_app(page)
    confirm(page, f"Approve request {second} for Sam Support")
    expect(page.get_by_text(f"Request {second}: approved (1/1 approvals).")).to_be_visible()
    start = stage.last_event_id()
    other.bring_to_front()
    other.get_by_role("button", name="Approve").first.click()  # its stale card
    wait_for_app(other)
    said = other.get_by_test_id("stAlertContentWarning").filter(
        has_text=f"Request {second} was already decided")
    expect(said).to_contain_text(f"Request {second} was already decided (approved by Ada "
                                 "Admin at ")
    expect(said).to_contain_text(" UTC); nothing was changed.")
    expect(other.get_by_text("by Sam Support")).to_have_count(1)  # the stale card is gone
    expect(other.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(other, "admin-actions-2b-approved-in-another-tab")
    assert work(stage, start) == []

    other.get_by_label("Comment").fill("Ticket closed")  # asked here, decided in the first tab
    other.get_by_role("button", name="Deny").click()
    wait_for_app(other)
    expect(other.get_by_text(f"Confirm: Deny request {first} for Sam Support")).to_be_visible()
    page.bring_to_front()
    page.get_by_role("button", name="Approve", exact=True).click()
    wait_for_app(page)
    confirm(page, f"Approve request {first} for Sam Support")
    expect(page.get_by_text(f"Request {first}: approved (1/1 approvals).")).to_be_visible()
    start = stage.last_event_id()
    other.bring_to_front()
    other.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(other)
    said = other.get_by_test_id("stAlertContentWarning").filter(
        has_text=f"Request {first} was already decided")
    expect(said).to_contain_text(f"Request {first} was already decided (approved by Ada "
                                 "Admin at ")
    expect(other.get_by_text("Nothing waiting for you.")).to_be_visible()
    expect(other.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(other, "admin-actions-2c-confirmed-after-it-was-approved-in-another-tab")
    assert work(stage, start) == []


def test_revoke_confirms_and_the_holder_sees_it_then_releases_with_confirmation(
        page: Page, browser: Browser, console_url: str, stage: Backstage) -> None:
    revoked = stage.grant("sam.support", ["ada.admin"], **COMMON)
    kept = stage.grant("sam.support", ["ada.admin"], **COMMON | {"scopes": ["account"]})
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "My access")
    expect(page.get_by_text(f"Grant {revoked}")).to_be_visible()
    expect(page.get_by_text("3 h 59 min left").first).to_be_visible()

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    admin = context.new_page()
    stage.sign_in(admin, console_url, "alan.admin")
    open_page(admin, "Grants")
    expect(admin.get_by_test_id("stDataFrame")).to_be_visible()
    screenshot(admin, "admin-actions-3-grants-table")
    start = stage.last_event_id()
    admin.get_by_label("Grant", exact=True).click()  # nothing chosen until the admin chooses
    admin.get_by_role("option", name=f"Grant {revoked} · Sam Support · cust-0053 "
                                     "(production) · ticket SUP-3003").click()
    admin.get_by_role("button", name="Revoke", exact=True).click()  # no reason yet
    wait_for_app(admin)
    expect(admin.get_by_text("reason: must be 3 to 500 characters")).to_be_visible()
    expect(admin.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(admin, "admin-actions-3a-revoke-without-a-reason")
    admin.get_by_label("Reason (required)").fill("Ticket SUP-3003 closed")
    admin.get_by_role("button", name="Revoke", exact=True).click()
    wait_for_app(admin)
    asked = (f"Confirm: Revoke grant {revoked} of Sam Support on customer cust-0053 "
             "(production, ticket SUP-3003) now, for the reason “Ticket SUP-3003 closed”")
    expect(admin.get_by_text(asked)).to_be_visible()
    assert work(stage, start) == []  # nothing happens before the confirmation
    # Typed into the form but not submitted: the confirmation still does what it names.
    admin.get_by_label("Reason (required)").fill("typed after asking")
    screenshot(admin, "admin-actions-4-revoke-confirm")
    confirm(admin, asked.removeprefix("Confirm: "))
    expect(admin.get_by_text(f"Grant {revoked} revoked")).to_be_visible()
    expect(admin.get_by_label("Reason (required)")).to_have_value("")  # used, so emptied
    expect(admin.get_by_role("combobox", name="Grant")).to_have_value("")
    screenshot(admin, "admin-actions-5-revoked")
    assert work(stage, start) == ["grant.revoked"]
    assert reasons(stage, "grant.revoked") == ["Ticket SUP-3003 closed"]
    context.close()

    page.get_by_role("button", name="Release now").first.click()  # the open tab reruns
    wait_for_app(page)
    expect(page.get_by_text(f"Grant {revoked} ·")).to_have_count(0)  # revoked: gone
    expect(page.get_by_text(f"Confirm: Release grant {kept} on customer cust-0053 now"))\
        .to_be_visible()
    screenshot(page, "admin-actions-6-release-confirm")
    assert work(stage, start) == ["grant.revoked"]
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    # the message beside the button (the table below says "grant N released" too)
    expect(page.get_by_text(f"Grant {kept} released; reads under it")).to_be_visible()
    expect(page.get_by_text("No live grant.")).to_be_visible()
    screenshot(page, "admin-actions-7-released")
    assert work(stage, start) == ["grant.revoked", "grant.released"]


def apply(page: Page, person: str, action: str, reason: str) -> None:
    page.get_by_label("User", exact=True).click()
    page.get_by_role("option", name=person).click()
    page.get_by_text(action, exact=True).click()
    page.get_by_label("Reason (required)").fill(reason)
    page.get_by_role("button", name="Apply", exact=True).click()
    wait_for_app(page)


def test_users_nothing_preselected_and_each_change_needs_a_fresh_code_and_confirmation(
        page: Page, console_url: str, stage: Backstage) -> None:
    stage.sign_in(page, console_url, "ada.admin")
    open_page(page, "Users")
    expect(page.get_by_role("combobox", name="User")).to_have_value("")  # nobody chosen
    expect(page.get_by_role("radio", checked=True)).to_have_count(0)
    screenshot(page, "admin-actions-8-users-nothing-chosen")
    start = stage.last_event_id()

    stage.age_step_up("ada.admin")  # without a fresh code: the code first, then confirm
    apply(page, "Sam Support (sam.support)", "Disable", "left the company")
    expect(page.get_by_text("this needs a fresh code")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    assert work(stage, start) == []
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Disable Sam Support (sam.support), for the reason “left "
                            "the company”: they are signed out everywhere")).to_be_visible()
    screenshot(page, "admin-actions-9-disable-confirm")
    assert work(stage, start) == []
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Disabled Sam Support (sam.support); 1 session(s) ended.")) \
        .to_be_visible()
    assert work(stage, start) == ["user.disabled"]

    apply(page, "Sam Support (sam.support)", "Enable", "came back")  # fresh code: confirm
    expect(page.get_by_text("this needs a fresh code")).to_have_count(0)
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Enabled Sam Support (sam.support).")).to_be_visible()

    stage.age_step_up("ada.admin")
    apply(page, "Alan Admin (alan.admin)", "Reset authenticator", "lost his phone")
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Reset the authenticator of Alan Admin")).to_be_visible()
    screenshot(page, "admin-actions-10-reset")
    assert work(stage, start) == ["user.disabled", "user.enabled"]
    assert stage.actions("auth.mfa.reset", after=start) == ["auth.mfa.reset"]

"""The workflow in real browsers: support requests access, an admin approves with MFA, and
support sees the active grant."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import confirm, enroll, open_page, sign_in


def test_support_requests_admin_approves_support_sees_the_grant(
        page: Page, browser: Browser, console_url: str) -> None:
    sign_in(page, console_url, "sam.support")
    enroll(page)
    open_page(page, "Request access")
    # the Break-glass tab has fields of the same names, hidden while Request is shown
    page.get_by_label("Customer id").filter(visible=True).fill("cust-0042")
    page.get_by_label("Ticket", exact=True).filter(visible=True).fill("SUP-2001")
    page.get_by_label("Data scopes").filter(visible=True).click()
    page.get_by_role("option", name="subscriptions").click()
    page.keyboard.press("Escape")
    page.get_by_label("Justification").fill("SUP-2001: renewal failed, check the subscription")
    screenshot(page, "workflow-1-request")
    page.get_by_role("button", name="Submit request").click()
    expect(page.get_by_text("Request 1 filed")).to_be_visible()

    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    sign_in(admin, console_url, "ada.admin")
    enroll(admin)
    open_page(admin, "Approvals")
    expect(admin.get_by_text("Request 1")).to_be_visible()
    screenshot(admin, "workflow-2-approvals")
    admin.get_by_role("button", name="Approve", exact=True).click()
    confirm(admin, "Approve request 1 for Sam Support: cust-0042, production")
    expect(admin.get_by_text("Request 1: approved (1/1 approvals)")).to_be_visible()
    admin_context.close()

    open_page(page, "My access")
    wait_for_app(page)
    expect(page.get_by_text("Grant 1")).to_be_visible()
    expect(page.get_by_text("active")).to_be_visible()
    screenshot(page, "workflow-3-my-access")

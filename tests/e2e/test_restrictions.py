"""The admin's Restrictions page in a real browser: restrict a customer with a fresh code and
an explicit confirmation, see support refused that customer's data, lift it again; and what
the log recorded of each step (exactly those events, once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import confirm, open_page

CUSTOMER = "cust-0053"
REASON = "Art. 18: the customer contests the accuracy of their data"


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam (support) holds a live grant to read CUSTOMER's contacts; Ada is an admin."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    backstage.grant_id = backstage.grant(
        "sam.support", ["alan.admin"], customer_id=CUSTOMER, environment="production",
        scopes=["contacts"], actions=["read"], duration=timedelta(hours=4), ticket="SUP-3005",
        justification="SUP-3005: the customer cannot sign in")
    yield backstage
    backstage.gh.engine.dispose()


def read_contacts(page: Page) -> None:
    open_page(page, "Customer data")
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    wait_for_app(page)


def decide(page: Page, decision: str) -> None:
    form = page.get_by_test_id("stForm")
    form.get_by_text(decision, exact=True).click()
    form.get_by_label("Customer id").fill(CUSTOMER)
    form.get_by_label("Reason (required)").fill(REASON if decision == "Restrict"
                                                else "Art. 18: the accuracy is confirmed")
    form.get_by_role("button", name="Apply", exact=True).click()
    wait_for_app(page)


def test_an_admin_restricts_and_lifts_a_customer_and_support_is_refused_meanwhile(
        page: Page, browser: Browser, console_url: str, stage: Backstage) -> None:
    stage.sign_in(page, console_url, "ada.admin")
    stage.age_step_up("ada.admin")
    open_page(page, "Restrictions")
    expect(page.get_by_text("No customer is restricted.")).to_be_visible()
    start = stage.last_event_id()

    form = page.get_by_test_id("stForm")  # a customer that does not exist: refused at once
    form.get_by_label("Customer id").fill("cust-9999")
    form.get_by_label("Reason (required)").fill(REASON)
    form.get_by_role("button", name="Apply", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("customer: there is no customer cust-9999 in production")
           ).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_count(0)  # no code spent on it
    assert stage.actions(after=start) == []

    decide(page, "Restrict")  # the code prompt shows beside the form, nothing has happened
    expect(page.get_by_text(f"Restrict customer {CUSTOMER} in production, for the reason "
                            f"“{REASON}”: nobody is served its data, under any grant, and no "
                            "access to it can be requested, approved or opened by break-glass "
                            "until the restriction is lifted: this needs a fresh code")
           ).to_be_visible()
    assert stage.actions(after=start) == []
    screenshot(page, "restrictions-1-code-prompt")
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text(f"Confirm: Restrict customer {CUSTOMER} in production")
           ).to_be_visible()
    assert stage.actions(after=start) == ["auth.mfa.step_up"]  # confirmed, not yet done
    screenshot(page, "restrictions-2-confirm")
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"Restricted customer {CUSTOMER} in production.")).to_be_visible()
    table = page.get_by_test_id("stDataFrame")  # the table above: updated by the same run
    expect(table).to_have_count(1)
    expect(page.get_by_text("No customer is restricted.")).to_have_count(0)
    screenshot(page, "restrictions-3-restricted")
    assert stage.actions(after=start) == ["auth.mfa.step_up", "customer.restricted"]

    support_context = browser.new_context(viewport={"width": 1280, "height": 800})
    support = support_context.new_page()
    stage.sign_in(support, console_url, "sam.support")
    refused_at = stage.last_event_id()
    read_contacts(support)
    expect(support.get_by_test_id("stAlertContentError")).to_contain_text(
        f"customer {CUSTOMER} is restricted")
    # no rows in any form: a short page is a plain table, a long one a grid
    expect(support.get_by_test_id("stTable")).to_have_count(0)
    expect(support.get_by_test_id("stDataFrame")).to_have_count(0)
    screenshot(support, "restrictions-4-support-refused")
    assert stage.actions("data.", after=refused_at) == ["data.denied"]

    lifted_at = stage.last_event_id()
    decide(page, "Lift")  # the code is still fresh: no code, but a confirmation all the same
    expect(page.get_by_label("6-digit code")).to_have_count(0)
    assert stage.actions(after=lifted_at) == []
    confirm(page, f"Lift the restriction of customer {CUSTOMER} in production, for the reason "
                  "“Art. 18: the accuracy is confirmed”: its data can be served")
    expect(page.get_by_text(f"Lifted the restriction of customer {CUSTOMER} in production.")
           ).to_be_visible()
    expect(page.get_by_test_id("stForm").get_by_label("Customer id")).to_have_value("")
    expect(page.get_by_text("No customer is restricted.")).to_be_visible()
    screenshot(page, "restrictions-5-lifted")
    assert stage.actions(after=lifted_at) == ["customer.restriction_lifted"]

    read_at = stage.last_event_id()
    read_contacts(support)
    expect(support.get_by_test_id("stTable")).to_have_count(1)  # the customer's few contacts
    screenshot(support, "restrictions-6-support-reads-again")
    assert stage.actions("data.", after=read_at) == ["data.read"]
    support_context.close()

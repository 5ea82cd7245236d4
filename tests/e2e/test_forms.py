"""The request and break-glass forms and the break-glass review, in a real browser: every field
error at once and under its field, the policy's limits on the break-glass form, and a review
card holding what the reviewer judges; each step checked against what the log recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from access.data import broker
from audit.schema import events_table
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import choose, confirm, open_page, shown

CUSTOMER = "cust-0053"


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin"):
        backstage.enroll(sub)
    yield backstage
    backstage.gh.engine.dispose()


def refused(stage: Backstage, action: str, after: int) -> list[str]:
    """The reasons of the denied `action` events after event `after`, oldest first."""
    e = events_table.c
    with stage.gh.engine.connect() as conn:
        return [str(r) for r in conn.execute(select(e.reason).where(
            e.id > after, e.action == action, e.outcome == "denied").order_by(e.id)).scalars()]


def below(error: Locator, field: Locator, next_field: Locator) -> None:
    """`error` is on screen between `field` and the field after it."""
    expect(error).to_be_visible()
    at, top, bottom = error.bounding_box(), field.bounding_box(), next_field.bounding_box()
    assert at and top and bottom
    assert top["y"] < at["y"] < bottom["y"], (top, at, bottom)


def test_the_request_form_shows_every_bad_field_at_once_under_the_field(
        page: Page, console_url: str, stage: Backstage) -> None:
    page.set_viewport_size({"width": 1280, "height": 1500})  # the whole form in a screenshot
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Request access")
    start_at = page.get_by_role("group", name="Start (UTC)")
    expect(shown(start_at)).to_have_count(0)  # "Start later" is off
    expect(shown(page.get_by_role("combobox", name="Duration"))).to_have_value("2 h")
    start = stage.last_event_id()
    shown(page.get_by_label("Customer id")).fill("cust 53;")
    shown(page.get_by_label("Ticket")).fill("JIRA-7")
    shown(page.get_by_label("Justification")).fill("pls")
    page.get_by_role("button", name="Submit request").click()
    wait_for_app(page)
    customer, scopes = shown(page.get_by_label("Customer id")), shown(page.get_by_label(
        "Data scopes"))
    below(page.get_by_text("must be a customer id"), customer, scopes)
    below(page.get_by_text("choose at least one scope"), scopes,
          shown(page.get_by_label("Justification")))
    expect(page.get_by_text("must look like SUP-1234 or INC-1234")).to_be_visible()
    expect(page.get_by_text("is too short: at least 10 characters (this has 3)")).to_be_visible()
    expect(page.get_by_text("Choose the data scopes and actions to see how many approvers")
           ).to_be_visible()
    expect(page.get_by_text("filed")).to_have_count(0)
    screenshot(page, "forms-1-request-every-error")
    refusals = refused(stage, "request.created", after=start)
    assert [r.split(":")[0] for r in refusals[0].split("; ")] == [
        "customer", "scopes", "justification", "ticket"]
    assert stage.actions(after=start) == ["request.created"] and len(refusals) == 1

    page.get_by_text("Start later").click()
    wait_for_app(page)
    expect(shown(page.get_by_role("group", name="Start (UTC)"))).to_be_visible()
    shown(page.get_by_label("Customer id")).fill(CUSTOMER)
    shown(page.get_by_label("Ticket")).fill("SUP-7")
    choose(page, "Data scopes", "contacts")
    expect(page.get_by_text("Needs 1 approver other than you before the grant is issued"))\
        .to_be_visible()  # said before submitting
    choose(page, "Actions", "export")
    expect(page.get_by_text("Needs 2 approvers other than you (export raises it from 1)"))\
        .to_be_visible()
    shown(page.get_by_label("Justification")).fill("SUP-7: the customer cannot sign in")
    page.get_by_role("button", name="Submit request").click()
    wait_for_app(page)
    expect(page.get_by_text("Request 1 filed")).to_be_visible()
    expect(page.get_by_text("must be a customer id")).to_have_count(0)
    for field in ("Customer id", "Ticket", "Justification"):  # emptied: nothing stale
        expect(shown(page.get_by_label(field, exact=True))).to_have_value("")
    expect(shown(start_at)).to_have_count(0)
    screenshot(page, "forms-2-request-filed")
    assert stage.actions(after=start) == ["request.created", "request.created"]

    # The same request again (a second tab, or typed again): refused, naming the first.
    shown(page.get_by_label("Customer id")).fill(CUSTOMER)
    shown(page.get_by_label("Ticket")).fill("SUP-7")
    choose(page, "Data scopes", "contacts")
    shown(page.get_by_label("Justification")).fill("SUP-7: the customer cannot sign in")
    page.get_by_role("button", name="Submit request").click()
    wait_for_app(page)
    expect(page.get_by_text(f"you already asked for this: your request 1 for customer "
                            f"{CUSTOMER} in production under ticket SUP-7 (contacts) is "
                            "still pending")).to_be_visible()
    screenshot(page, "forms-2a-same-request-refused")
    assert stage.actions(after=start) == ["request.created"] * 3
    assert "your request 1" in refused(stage, "request.created", after=start)[-1]


def test_break_glass_has_its_own_form_and_the_review_card_shows_what_happened(
        page: Page, browser: Browser, console_url: str, stage: Backstage) -> None:
    page.set_viewport_size({"width": 1280, "height": 1200})
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Request access")
    page.get_by_role("tab", name="Break-glass (emergency)").click()
    expect(page.get_by_text("Policy for break-glass in production: at most 1 h")).to_be_visible()
    expect(page.get_by_text("It skips the 1 to 2 approvers a request here would need (by "
                            "scope: choose the scopes to see)")).to_be_visible()
    expect(shown(page.get_by_label("Justification"))).to_have_count(0)  # not the request form
    start = stage.last_event_id()
    page.get_by_role("button", name="Break the glass").click()  # empty: one error a field
    wait_for_app(page)
    reason = shown(page.get_by_label("Emergency reason"))
    below(page.get_by_text("is required: 10 to 1000 characters"), reason,
          page.get_by_role("button", name="Break the glass"))
    expect(page.get_by_text("must be 3 to 500 characters")).to_have_count(0)  # one rule
    screenshot(page, "forms-3a-break-glass-empty")
    assert stage.actions(after=start) == ["breakglass.activated"]  # the refusal, once

    shown(page.get_by_label("Customer id")).fill(CUSTOMER)
    shown(page.get_by_label("Incident ticket")).fill("INC-4242")
    choose(page, "Data scopes", "contacts")
    expect(page.get_by_text("It skips the 1 approver contacts would need")).to_be_visible()
    actions = shown(page.get_by_role("combobox", name="Actions"))
    expect(actions).to_be_disabled()  # policy: break-glass in production carries read only
    expect(page.get_by_text("Break-glass here carries only read; ask an approver for more.")
           ).to_be_visible()
    reason.fill("INC-4242: sign-in outage for the customer, on call")
    screenshot(page, "forms-3-break-glass-form")
    start = stage.last_event_id()
    page.get_by_role("button", name="Break the glass").click()
    wait_for_app(page)
    expect(page.get_by_text("Confirm: Open break-glass access to customer cust-0053 in "
                            "production now: contacts; read; 1 h")).to_be_visible()
    assert stage.actions(after=start) == []  # nothing opens before the confirmation
    confirm(page, "Open break-glass access to customer cust-0053")
    expect(page.get_by_text("Break-glass grant 1 is active for 1 h")).to_be_visible()
    expect(shown(page.get_by_label("Emergency reason"))).to_have_value("")  # used: emptied
    screenshot(page, "forms-4-break-glass-active")
    assert stage.actions(after=start) == ["grant.issued", "breakglass.activated"]

    broker.read(stage.gh, stage.principal("sam.support"), 1, CUSTOMER, "contacts")
    admin = browser.new_context(viewport={"width": 1280, "height": 1400})
    ada = admin.new_page()
    stage.sign_in(ada, console_url, "ada.admin")
    open_page(ada, "Approvals")
    card = ada.locator("#stMain")
    for seen in ("Break-glass grant 1 by Sam Support · customer cust-0053 · production · "
                 "ticket INC-4242 · review required",
                 "Emergency reasonINC-4242: sign-in outage for the customer, on call",
                 "Activated 20", "(1 h) · now active · scopes contacts · actions read",
                 "Rules bypassedapprovals: 1 distinct human approver for production contacts "
                 "with read", "Every use of the grant, from the audit log (1)"):
        expect(card).to_contain_text(seen)
    expect(card.get_by_test_id("stDataFrame")).to_have_count(1)
    screenshot(ada, "forms-5-break-glass-review-card")
    before = stage.last_event_id()
    ada.get_by_label("Review note").fill("INC-4242 confirmed; one read of contacts")
    ada.get_by_role("button", name="Record review").click()
    wait_for_app(ada)
    expect(ada.get_by_text("Break-glass grant 1: review recorded.")).to_be_visible()
    expect(ada.get_by_text("Break-glass to review")).to_have_count(0)
    expect(ada.get_by_role("heading", name="Requests")).to_have_count(1)  # nothing stale
    screenshot(ada, "forms-6-break-glass-reviewed")
    assert stage.actions(after=before) == ["breakglass.reviewed"]
    admin.close()

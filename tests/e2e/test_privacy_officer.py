"""The privacy officer in a real browser (issue 16): file an access request for a data subject,
verify the identity, prepare the package, withhold an item with a reason and release it; then
an admin reads what an erasure the officer proposed would delete, rejects it with a reason the
officer reads, and approves it once proposed again. Screenshots in test-artifacts/e2e/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from access.data import broker
from access.dsr import requests as dsr
from access.dsr import rights
from tests.access.dsr.support import Subject, subject_of
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import choose, expand, open_page
from tests.e2e.test_privacy_rights import confirm_with_code


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Backstage, Subject]]:
    """Sam read cust-0042's contacts under a grant (a consultation to report); request 1, an
    erasure for a contact of cust-0007, waits for an admin's approval."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "pia.privacy"):
        backstage.enroll(sub)
    grant_id = backstage.grant("sam.support", ["ada.admin"], customer_id="cust-0042",
                               environment="production", scopes=["contacts"],
                               actions=["read"], duration=timedelta(hours=1),
                               ticket="SUP-4242", justification="SUP-4242: contact bounced")
    broker.read(backstage.gh, backstage.principal("sam.support"), grant_id, "cust-0042",
                "contacts")
    pia = backstage.principal("pia.privacy")
    erasure = dsr.file(backstage.gh, pia, "erasure", "gdpr",
                       subject_of(backstage.gh, "cust-0007").email)
    dsr.verify_identity(backstage.gh, pia, erasure, "signed letter checked against the contract")
    rights.propose_erasure(backstage.gh, pia, erasure)
    yield backstage, subject_of(backstage.gh, "cust-0042")
    backstage.gh.engine.dispose()


def test_the_privacy_officer_answers_an_access_request_and_an_admin_approves_an_erasure(
        page: Page, browser: Browser, console_url: str,
        stage: tuple[Backstage, Subject]) -> None:
    backstage, person = stage
    backstage.sign_in(page, console_url, "pia.privacy")
    open_page(page, "Data subjects")
    expect(page.get_by_role("heading", name="Data-subject requests")).to_be_visible()
    expand(page, "File a request")
    page.get_by_label("The subject's email (used to find them; not stored)").fill(person.email)
    page.get_by_role("button", name="File", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Request 2: access (GDPR)")).to_be_visible()
    screenshot(page, "privacy-1-filed")

    page.get_by_label("How the requester's identity was verified").fill(
        "replied from the address on file with the account PIN")
    page.get_by_role("button", name="Record identity as verified", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Identity recorded as verified.")).to_be_visible()

    page.get_by_role("button", name="Prepare the access package for review").click()
    wait_for_app(page)
    expect(page.get_by_text("Package for request 2 prepared: review it below.")).to_be_visible()
    expect(page.get_by_text("Staff consultations")).to_be_visible()
    page.get_by_label("Reason for withholding it").fill(
        "Art. 15(4): the name field also names a colleague")
    page.get_by_role("button", name="Withhold", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("the package above shows it withheld")).to_be_visible()
    expect(page.get_by_text("Withheld", exact=True)).to_be_visible()  # the package's list
    expect(page.get_by_label("Reason for withholding it")).to_have_value("")  # none stale
    # the withheld name is no longer offered: the picker moved on to the next item
    expect(page.get_by_role("combobox", name="Withhold")).not_to_have_value(
        re.compile(r":full_name$"))
    screenshot(page, "privacy-2-reviewed")

    page.get_by_role("button", name="Release the package", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Released request 2")).to_be_visible()
    expect(page.get_by_role("button", name="Download dsr-2.json")).to_be_visible()
    screenshot(page, "privacy-3-released")
    actions = backstage.actions("dsr.")
    assert "dsr.redacted" in actions and actions[-2:] == ["dsr.subject_read", "dsr.released"]

    admin = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    admin.set_default_timeout(20_000)
    backstage.sign_in(admin, console_url, "ada.admin")
    backstage.age_step_up("ada.admin")  # a decision on an erasure asks for a fresh code
    open_page(admin, "Data subjects")
    expect(admin.get_by_role("heading", name="Request 1: erasure (GDPR)")).to_be_visible()
    # what will be erased, before any button: the tables and rows, and whose data
    expect(admin.get_by_text("Waiting for a second person (proposed by Pia Privacy): erase "
                             "the subject's data")).to_be_visible()
    erased = admin.get_by_role("table").filter(has_text="contact_email_index")
    expect(erased).to_contain_text("cust-0007")
    screenshot(admin, "privacy-4a-erasure-waiting")

    before = backstage.last_event_id()
    expand(admin, "Reject: send it back to the privacy officer")
    why = "legal hold: the contract dispute with cust-0007 is open"
    admin.get_by_label("Reason for rejecting").fill(why)
    admin.get_by_role("button", name="Reject", exact=True).click()
    wait_for_app(admin)
    confirm_with_code(admin, backstage, "ada.admin", "Reject request 1's proposal (erase the "
                      "subject's data): nothing is changed")
    expect(admin.get_by_text("Rejected: request 1 is back with its privacy officer")
           ).to_be_visible()
    screenshot(admin, "privacy-4b-erasure-rejected")

    open_page(page, "Data subjects")  # Pia reads why, and proposes again once settled
    choose(page, "Request", "1")
    expect(page.get_by_text(f"Rejected by Ada Admin: {why}.")).to_be_visible()
    screenshot(page, "privacy-5-rejection-read")
    page.get_by_role("button", name="Propose erasure", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Proposed: an admin approves it.")).to_be_visible()

    open_page(admin, "Data subjects")
    expect(erased).to_contain_text("cust-0007")
    admin.get_by_role("button", name="Approve: erase the subject's data").click()
    wait_for_app(admin)
    summary = ("Approve request 1: erase the subject's data (1 row in contacts and 1 in "
               "contact_email_index, cust-0007). This cannot be undone.")
    expect(admin.get_by_text(f"Confirm: {summary}")).to_be_visible()  # the code is fresh
    screenshot(admin, "privacy-4c-erasure-confirm")
    admin.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(admin)
    expect(admin.get_by_text("Erased: 1 row in contacts and 1 in contact_email_index "
                             "(cust-0007). The evidence is kept on the request.")).to_be_visible()
    expand(admin, "Evidence kept on the request")
    expect(admin.get_by_role("table").filter(has_text="approved by")).to_contain_text(
        "contact_email_index 1, contacts 1")
    screenshot(admin, "privacy-4d-erasure-approved")
    admin.context.close()
    events = backstage.events(after=before)
    assert [(e["action"], e["actor_sub"]) for e in events] == [
        ("auth.mfa.step_up", "ada.admin"), ("dsr.approval_rejected", "ada.admin"),
        ("dsr.erasure_proposed", "pia.privacy"), ("dsr.approved", "ada.admin"),
        ("dsr.erased", "ada.admin")]
    assert events[1]["reason"] == why

"""The data-subject rights beyond access and erasure (tests/e2e/test_privacy_officer.py), in a
real browser on one console for the module: rectification approved by an admin with a fresh
code; restriction of a subject as support meets it on the Customer data page; portability's
JSON, CSV and schema downloads; an objection restricting while open, then upheld or
overridden; the one extension granted, and refused after the first month; handing a request
to another privacy officer. Each journey checks the log holds exactly what the person did.
Screenshots in test-artifacts/e2e/ (privacy-rights-*)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from access.data import broker
from access.dsr import requests as dsr
from access.dsr.clock import GDPR_EXTENSION_RULE, add_months
from access.identity import users
from access.ops.demo import PERSONAS
from access.schema import SubjectRestriction
from access.workflow import queries
from tests.access.dsr.support import Subject, subject_of
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import ROOT, screenshot, wait_for_app
from tests.e2e.flows import choose, expand, open_page
from tests.e2e.test_customer_data import table_rows

# customers of the demo data, one journey each (the module shares one console)
# (RESTRICTED has four contacts whatever the day, so the read shows one row held among others)
RECTIFIED, RESTRICTED, PORTED, OBJECTED, UPHELD, EXTENDED, ASSIGNED = (
    "cust-0031", "cust-0033", "cust-0034", "cust-0035", "cust-0036", "cust-0037", "cust-0039")
# people the demo provider does not serve: privacy officers who never sign in here
OFFICERS = {"pete.privacy": "Pete Privacy", "pat.privacy": "Pat Privacy"}


@pytest.fixture(scope="module")
def shared(module_consoles: tuple[Callable[..., str], Path],
           idp: str) -> Iterator[tuple[str, Backstage]]:
    """One console. Sam (support) holds a grant (read, reveal, export) on the contacts of
    RECTIFIED, RESTRICTED and OBJECTED; Pete is a second privacy officer, Pat a third who was
    disabled."""
    start, root = module_consoles
    url = start(ROOT / "streamlit_app.py")
    with pytest.MonkeyPatch.context() as patch:
        for sub, name in OFFICERS.items():
            patch.setitem(PERSONAS, sub, {"email": f"{sub}@example.test", "name": name,
                                          "groups": ["privacy"]})
        stage = backstage_for(url, root, idp, patch)
        for sub in ("pia.privacy", "ada.admin", "alan.admin", "sam.support", *OFFICERS):
            stage.enroll(sub)
        pat = stage.people["pat.privacy"].principal
        admin = replace(stage.principal("alan.admin"), step_up_at=stage.gh.now())
        users.disable(stage.gh, admin, pat.user_id, "left the privacy team")
        for customer in (RECTIFIED, RESTRICTED, OBJECTED):
            stage.grant("sam.support", ["ada.admin", "alan.admin"], customer_id=customer,
                        environment="production", scopes=["contacts"],
                        actions=["read", "reveal", "export"], duration=timedelta(hours=4),
                        ticket="SUP-5100", justification=f"SUP-5100: {customer}'s contacts")
        yield url, stage
        stage.gh.engine.dispose()


def on_data_subjects(page: Page, shared: tuple[str, Backstage]) -> None:
    """Pia, the privacy officer, signed in on the Data subjects page."""
    console_url, stage = shared
    stage.sign_in(page, console_url, "pia.privacy")
    open_page(page, "Data subjects")


def second_page(browser: Browser) -> Page:
    """Another person's browser beside the first."""
    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    other.set_default_timeout(20_000)
    return other


def grant_of(stage: Backstage, customer: str) -> int:
    """Sam's grant on `customer`."""
    return next(g.id for g in queries.my_grants(stage.gh, stage.principal("sam.support"))
                if g.customer_id == customer)


def contact_row(stage: Backstage, person: Subject) -> dict[str, object]:
    """The subject's contact row as support's read serves it (the Customer data page's
    service), through Sam's grant."""
    view = broker.read(stage.gh, stage.principal("sam.support"),
                       grant_of(stage, person.customer_id), person.customer_id, "contacts")
    frame = view.tables["contacts"]
    return dict(frame[frame["id"] == person.contact_id].iloc[0])


def file_request(page: Page, kind: str, email: str, grounds: str | None = None) -> int:
    """File a GDPR request of `kind` for the subject `email` on the page; its id."""
    address = page.get_by_label("The subject's email (used to find them; not stored)")
    if not address.is_visible():  # open when there was no open request
        page.get_by_text("File a request", exact=True).click()
        wait_for_app(page)
    choose(page, "Right", kind)
    address.fill(email)
    if grounds:
        page.get_by_label("Grounds (objections only)").fill(grounds)
    page.get_by_role("button", name="File", exact=True).click()
    wait_for_app(page)
    heading = page.get_by_role("heading", name=re.compile(rf"^Request \d+: {kind} \(GDPR\)"))
    expect(heading).to_be_visible()
    expect(address).not_to_be_visible()  # the form folded away
    expect(address).to_have_value("")  # and emptied: the email does not stay on screen
    return int(re.findall(r"\d+", heading.inner_text())[0])


def pick(page: Page, dsr_id: int, kind: str) -> None:
    choose(page, "Request", str(dsr_id))
    expect(page.get_by_role("heading", name=f"Request {dsr_id}: {kind} (GDPR)")).to_be_visible()


def offered(page: Page, label: str) -> list[str]:
    """What the selectbox `label` offers: its list opened (again if a click landed while the
    page reran), read, and closed."""
    options = page.get_by_role("option")
    for _ in range(3):
        page.get_by_role("combobox", name=label).click()
        try:
            expect(options.first).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    names = options.all_inner_texts()
    page.keyboard.press("Escape")
    return names


def verify_identity(page: Page) -> None:
    page.get_by_label("How the requester's identity was verified").fill(
        "replied from the address on file with the account PIN")
    page.get_by_role("button", name="Record identity as verified", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Identity recorded as verified.")).to_be_visible()


def confirm_with_code(page: Page, stage: Backstage, sub: str, summary: str) -> None:
    """The step asked for a fresh code: enter it, then confirm what will happen."""
    expect(page.get_by_text(f"{summary}: this needs a fresh code")).to_be_visible()
    stage.enter_code(page, sub, "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text(f"Confirm: {summary}")).to_be_visible()
    page.get_by_role("button", name="Confirm", exact=True).click()
    wait_for_app(page)


def test_rectification_is_applied_after_an_admin_approves_with_a_fresh_code(
        page: Page, browser: Browser, shared: tuple[str, Backstage]) -> None:
    console_url, stage = shared
    person = subject_of(stage.gh, RECTIFIED)
    corrected = {"full_name": "Quinn Corrected-Name", "job_title": "Head of Corrected Titles"}
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    dsr_id = file_request(page, "rectification", person.email)
    verify_identity(page)
    page.get_by_label("full_name", exact=True).fill(corrected["full_name"])
    page.get_by_label("job_title", exact=True).fill(corrected["job_title"])
    screenshot(page, "privacy-rights-1a-rectification-form")
    page.get_by_role("button", name="Propose the correction", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Proposed: a second person approves it.")).to_be_visible()
    expect(page.get_by_text("status awaiting approval")).to_be_visible()
    page.get_by_text("Proposed: a second person approves it.").scroll_into_view_if_needed()
    screenshot(page, "privacy-rights-1b-rectification-proposed")
    assert stage.actions(after=start) == [
        "dsr.filed", "dsr.identity_verified", "dsr.rectification_proposed"]

    admin = second_page(browser)
    stage.sign_in(admin, console_url, "ada.admin")
    stage.age_step_up("ada.admin")  # the approval itself asks for a fresh code
    open_page(admin, "Data subjects")
    pick(admin, dsr_id, "rectification")
    approved = stage.last_event_id()
    expect(admin.get_by_text("Waiting for a second person (proposed by Pia Privacy): correct "
                             "full_name, job_title")).to_be_visible()  # fields, never values
    admin.get_by_role("button", name="Approve: correct full_name, job_title").click()
    wait_for_app(admin)
    assert stage.actions(after=approved) == []  # nothing before the code
    admin.get_by_label("6-digit code").scroll_into_view_if_needed()
    screenshot(admin, "privacy-rights-2a-approval-asks-for-a-code")
    confirm_with_code(admin, stage, "ada.admin",
                      f"Approve request {dsr_id}: correct full_name, job_title "
                      f"(1 row in contacts, {RECTIFIED})")
    expect(admin.get_by_text(f"Applied: full_name, job_title corrected, 1 row in contacts "
                             f"({RECTIFIED}).")).to_be_visible()
    expect(admin.get_by_text("outcome: rectified")).to_be_visible()
    screenshot(admin, "privacy-rights-2b-rectification-approved")
    admin.context.close()
    events = stage.events(after=approved)
    assert [(e["action"], e["actor_sub"]) for e in events] == [
        ("auth.mfa.step_up", "ada.admin"), ("dsr.approved", "ada.admin"),
        ("dsr.rectified", "ada.admin")]
    proposed = stage.events(after=start, prefix="dsr.rectification_proposed")
    assert proposed[0]["details"]["fields"] == events[2]["details"]["fields"] == [
        "full_name", "job_title"]  # which fields changed ...
    logged = json.dumps(stage.events(after=start), default=str)
    assert not any(value in logged for value in corrected.values())  # ... never their values

    row = contact_row(stage, person)  # what support's read now serves
    assert row["job_title"] == corrected["job_title"]  # internal: in clear
    assert row["full_name"] == "Q•••"  # pii: its initial, masked as before


def test_a_restricted_subject_is_masked_for_support_and_refused_reveal_and_export(
        page: Page, browser: Browser, shared: tuple[str, Backstage]) -> None:
    console_url, stage = shared
    person = subject_of(stage.gh, RESTRICTED)
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    dsr_id = file_request(page, "restriction", person.email)
    page.get_by_label("Reason for restricting").fill("Art. 18(1)(a): contests the accuracy")
    page.get_by_role("button", name="Restrict the subject's data", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Restricted: support sees the subject's rows masked")
           ).to_be_visible()
    expect(page.get_by_text("outcome: restricted")).to_be_visible()
    expect(page.get_by_text("The subject's rows are held under this request")).to_be_visible()
    screenshot(page, "privacy-rights-3-restricted")
    assert stage.actions(after=start) == ["dsr.filed", "dsr.restricted"]

    support = second_page(browser)
    stage.sign_in(support, console_url, "sam.support")
    read_at = stage.last_event_id()
    open_page(support, "Customer data")
    choose(support, "Grant", f"Grant {grant_of(stage, RESTRICTED)} · {RESTRICTED} · "
                             "production · ticket SUP-5100")
    support.get_by_text("contacts", exact=True).click()
    wait_for_app(support)
    support.get_by_role("button", name="Read", exact=True).click()
    wait_for_app(support)
    rows = {row["id"]: row for row in table_rows(support)}
    held = rows.pop(str(person.contact_id))
    assert {k: v for k, v in held.items() if k not in ("id", "customer_id")} == {
        "full_name": broker.MASK, "email": broker.MASK, "phone": broker.MASK,
        "job_title": broker.MASK}  # the whole row, even the column shown in clear to others
    assert rows and all(r["job_title"] != broker.MASK for r in rows.values())
    note = support.get_by_test_id("stAlertContentWarning").filter(has_text="masked whole")
    expect(note).to_contain_text(
        f"Contact row(s) {person.contact_id} are masked whole: the data subject's processing "
        f"is restricted (data-subject request {dsr_id}, GDPR Art. 18/21). They cannot be "
        "revealed or exported.")
    note.scroll_into_view_if_needed()
    screenshot(support, "privacy-rights-3a-support-read-says-why-a-row-is-masked")

    expand(support, "Reveal masked columns")
    choose(support, "Columns", "contacts.email", exact=False)
    support.get_by_label("Reason", exact=True).fill("SUP-5100: confirm the sign-in address")
    support.get_by_role("button", name="Reveal", exact=True).click()
    wait_for_app(support)
    why = (f"contacts row(s) {person.contact_id} belong to a data subject whose processing is "
           f"restricted (data-subject request {dsr_id}, GDPR Art. 18/21)")
    refusal = support.get_by_test_id("stAlertContentError")
    expect(refusal).to_contain_text(why)
    refusal.scroll_into_view_if_needed()
    screenshot(support, "privacy-rights-4-support-reveal-refused")
    support.get_by_role("button", name="Export CSV", exact=True).click()
    # the reveal's refusal says the same words: wait for the export's own refusal
    stage.await_actions(["data.read", "data.denied", "data.denied"], "data.", read_at)
    wait_for_app(support)
    expect(support.get_by_test_id("stAlertContentError")).to_contain_text(
        "they cannot be revealed or exported")
    expect(support.get_by_role("button", name="Download CSV")).to_have_count(0)
    support.get_by_test_id("stAlertContentError").scroll_into_view_if_needed()
    screenshot(support, "privacy-rights-5-support-export-refused")
    support.context.close()
    events = stage.events(after=read_at, prefix="data.")
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("data.read", "success"), ("data.denied", "denied"), ("data.denied", "denied")]
    assert all(why in e["details"]["why"] for e in events[1:])


def test_portability_downloads_json_and_csv_with_their_schema(
        page: Page, shared: tuple[str, Backstage]) -> None:
    stage = shared[1]
    person = subject_of(stage.gh, PORTED)
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    dsr_id = file_request(page, "portability", person.email)
    verify_identity(page)
    stage.age_step_up("pia.privacy")
    page.get_by_role("button", name="Export the subject's data", exact=True).click()
    wait_for_app(page)
    confirm_with_code(page, stage, "pia.privacy",
                      f"Export the data of request {dsr_id} for the verified requester")
    expect(page.get_by_text(f"Exported request {dsr_id}: the data as JSON and CSV")
           ).to_be_visible()
    files = {}
    for name in (f"dsr-{dsr_id}.json", f"dsr-{dsr_id}.csv", f"dsr-{dsr_id}.schema.json"):
        with page.expect_download() as download:
            page.get_by_role("button", name=f"Download {name}", exact=True).click()
        assert download.value.suggested_filename == name
        files[name] = Path(download.value.path()).read_text("utf-8")
    screenshot(page, "privacy-rights-6-portability-exported")

    schema = json.loads(files[f"dsr-{dsr_id}.schema.json"])
    record = schema["properties"]["records"]["items"]
    assert record["required"] == ["customer_id", "full_name", "email", "phone", "job_title"]
    records = json.loads(files[f"dsr-{dsr_id}.json"])["records"]
    mine = [r for r in records if r["email"] == person.email]
    assert len(mine) == 1 and mine[0]["customer_id"] == PORTED
    assert all(set(r) == set(record["required"]) for r in records)  # as the schema says
    table = list(csv.DictReader(io.StringIO(files[f"dsr-{dsr_id}.csv"])))
    assert list(table[0]) == record["required"]
    assert [dict(r) for r in table] == [{k: r[k] or "" for k in record["required"]}
                                        for r in records]  # the same records as the JSON
    assert stage.actions(after=start) == [
        "dsr.filed", "dsr.identity_verified", "auth.mfa.step_up", "dsr.exported"]


def test_an_objection_restricts_while_open_then_is_overridden_or_upheld_with_a_reason(
        page: Page, shared: tuple[str, Backstage]) -> None:
    stage = shared[1]
    person = subject_of(stage.gh, OBJECTED)
    upheld_id = dsr.file(stage.gh, stage.principal("pia.privacy"), "objection", "gdpr",
                         subject_of(stage.gh, UPHELD).email,
                         grounds="objects to profiling for upsell campaigns")
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    dsr_id = file_request(page, "objection", person.email,
                          grounds="objects to processing for product analytics")
    expect(page.get_by_text("grounds: objects to processing for product analytics")
           ).to_be_visible()
    expect(page.get_by_text("The subject's rows are held under this request")).to_be_visible()
    screenshot(page, "privacy-rights-7-objection-filed")
    assert [(e["action"], e["target_id"]) for e in stage.events(after=start)] == [
        ("dsr.filed", str(dsr_id)), ("dsr.restricted", str(dsr_id))]
    assert contact_row(stage, person)["job_title"] == broker.MASK  # held while open

    decided = stage.last_event_id()
    page.get_by_text("overridden", exact=True).click()
    page.get_by_label("Reason", exact=True).fill(
        "Compelling grounds: analytics of billing events is a legal duty")
    page.get_by_role("button", name="Decide", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Objection overridden: the hold on the subject's rows is lifted.")
           ).to_be_visible()
    expect(page.get_by_text("outcome: overridden (Compelling grounds: analytics of billing "
                            "events is a legal duty)")).to_be_visible()
    expect(page.get_by_text("The subject's rows are held under this request")).to_have_count(0)
    screenshot(page, "privacy-rights-8-objection-overridden")
    events = stage.events(after=decided)
    assert [(e["action"], e["details"]["outcome"], e["details"]["upheld"], e["reason"])
            for e in events] == [("dsr.objection_decided", "overridden", False,
                                  "Compelling grounds: analytics of billing events is a "
                                  "legal duty")]
    assert contact_row(stage, person)["job_title"] != broker.MASK  # the hold is lifted

    decided = stage.last_event_id()
    pick(page, upheld_id, "objection")
    page.get_by_label("Reason", exact=True).fill("No compelling grounds for upsell profiling")
    page.get_by_role("button", name="Decide", exact=True).click()  # "upheld" is the default
    wait_for_app(page)
    expect(page.get_by_text("Objection upheld: the subject's rows stay held.")).to_be_visible()
    expect(page.get_by_text("The subject's rows are held under this request")).to_be_visible()
    expect(page.get_by_text("Lift the restriction")).to_be_visible()  # the hold stays
    screenshot(page, "privacy-rights-9-objection-upheld")
    assert [(e["action"], e["details"]["upheld"]) for e in stage.events(after=decided)] == [
        ("dsr.objection_decided", True)]
    with stage.gh.read() as db:
        assert db.scalars(select(SubjectRestriction.contact_id).where(
            SubjectRestriction.dsr_id == upheld_id)).all()


def test_the_one_extension_is_granted_in_the_first_month_and_refused_after_it(
        page: Page, shared: tuple[str, Backstage]) -> None:
    stage = shared[1]
    pia, email = stage.principal("pia.privacy"), subject_of(stage.gh, EXTENDED).email
    fresh = dsr.file(stage.gh, pia, "access", "gdpr", email)
    late = dsr.file(stage.gh, pia, "access", "gdpr", email,  # a letter opened late
                    received_at=stage.gh.now() - timedelta(days=32))
    received = dsr.detail(stage.gh, pia, fresh).received_at
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    pick(page, fresh, "access")
    expand(page, "Extend (once, while the first period runs)")
    page.get_by_label("Reason for the extension").fill(
        "Complex: the subject is a contact at three customers")
    page.get_by_role("button", name="Extend", exact=True).click()
    wait_for_app(page)
    due = add_months(add_months(received, 1), 2)
    expect(page.get_by_text(f"Now due {due:%Y-%m-%d}.")).to_be_visible()
    expect(page.get_by_text("extended: Complex: the subject is a contact at three customers")
           ).to_be_visible()
    expect(page.get_by_text("Extend (once, while the first period runs)")).to_have_count(0)
    screenshot(page, "privacy-rights-10-extended")
    assert stage.actions(after=start) == ["dsr.extended"]

    refused_at = stage.last_event_id()
    pick(page, late, "access")
    expect(page.get_by_test_id("stMetricValue").filter(has_text="overdue")).to_be_visible()
    expand(page, "Extend (once, while the first period runs)")
    page.get_by_label("Reason for the extension").fill("The letter was opened late")
    page.get_by_role("button", name="Extend", exact=True).click()
    wait_for_app(page)
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text(f"extension: {GDPR_EXTENSION_RULE}; the first period of "
                                  f"request {late} ended")
    error.scroll_into_view_if_needed()
    screenshot(page, "privacy-rights-11-extension-refused")
    events = stage.events(after=refused_at)
    assert [(e["action"], e["outcome"], e["target_id"]) for e in events] == [
        ("dsr.refused", "denied", str(late))]
    assert GDPR_EXTENSION_RULE in events[0]["details"]["why"]
    assert not dsr.detail(stage.gh, pia, late).extended


def test_a_privacy_officer_hands_a_request_to_another(
        page: Page, shared: tuple[str, Backstage]) -> None:
    stage = shared[1]
    pia = stage.principal("pia.privacy")
    dsr_id = dsr.file(stage.gh, pia, "access", "gdpr", subject_of(stage.gh, ASSIGNED).email)
    on_data_subjects(page, shared)
    start = stage.last_event_id()
    pick(page, dsr_id, "access")
    expect(page.get_by_text("assigned to Pia Privacy")).to_be_visible()
    expand(page, "Assign to another privacy officer")
    assert offered(page, "Privacy officer") == ["Pete Privacy"]  # not Pia (hers), not Pat
    choose(page, "Privacy officer", "Pete Privacy")               # (disabled)
    page.get_by_label("Reason (optional)").fill("Pete covers this customer's region")
    page.get_by_role("button", name="Assign", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(f"Request {dsr_id} assigned to Pete Privacy.")).to_be_visible()
    expect(page.get_by_test_id("stCaptionContainer").filter(has_text="assigned to Pete Privacy")
           ).to_be_visible()  # the request's facts, redrawn by the same run
    expect(page.get_by_label("Reason (optional)")).to_have_value("")  # no stale reason
    assert [r["assignee"] for r in table_rows(page) if r["id"] == str(dsr_id)] == [
        "Pete Privacy"]  # and the list
    screenshot(page, "privacy-rights-12-assigned")
    events = stage.events(after=start)
    assert [(e["action"], e["target_id"], e["details"]["assignee"], e["reason"])
            for e in events] == [("dsr.assigned", str(dsr_id), f"{stage.issuer}|pete.privacy",
                                  "Pete covers this customer's region")]
    assert dsr.detail(stage.gh, pia, dsr_id).assignee == "Pete Privacy"

"""Support works with customer data in a real browser: read (partly masked), reveal, export
with and without columns in clear, and what the log recorded of it (exactly the deliberate
acts, once each). Paging past the row cap: test_customer_data_paging.py."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.workflow import grants
from audit.schema import events_table
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import screenshot, wait_for_app
from tests.e2e.flows import choose, confirm, download, expand, open_page

CUSTOMER = "cust-0053"
CLEAR_REASON = "SUP-3001: the customer asked for their contact sheet"


@pytest.fixture
def stage(console_url: str, tmp_path: Path, idp: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam (support) holds a live grant on CUSTOMER's contacts and account: read, reveal,
    export; the admins approved it."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    grant_id = backstage.grant("sam.support", ["ada.admin", "alan.admin"], customer_id=CUSTOMER,
                    environment="production", scopes=["contacts", "account"],
                    actions=["read", "reveal", "export"], duration=timedelta(hours=4),
                    justification="SUP-3001: the customer cannot sign in", ticket="SUP-3001")
    backstage.grant_id = grant_id
    yield backstage
    backstage.gh.engine.dispose()


@pytest.fixture
def stage_without_reveal(console_url: str, tmp_path: Path, idp: str,
                         monkeypatch: pytest.MonkeyPatch) -> Iterator[Backstage]:
    """Sam holds a live grant on CUSTOMER's contacts that allows read and export only."""
    backstage = backstage_for(console_url, tmp_path, idp, monkeypatch)
    for sub in ("sam.support", "ada.admin", "alan.admin"):
        backstage.enroll(sub)
    backstage.grant_id = backstage.grant(
        "sam.support", ["ada.admin", "alan.admin"], customer_id=CUSTOMER,
        environment="production", scopes=["contacts"], actions=["read", "export"],
        duration=timedelta(hours=4), justification="SUP-3002: export the contact list",
        ticket="SUP-3002")
    yield backstage
    backstage.gh.engine.dispose()


def table_rows(page: Page, index: int = 0) -> list[dict[str, str]]:
    """What the person reads in the `index`th plain table: one dict per row, by header."""
    table = page.get_by_test_id("stTable").nth(index)
    expect(table.locator("tbody tr").first).to_be_visible()  # rendered, not half-drawn
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    return [dict(zip(headers, [c.strip() for c in row.locator("th, td").all_inner_texts()],
                     strict=True)) for row in table.locator("tbody tr").all()]


def downloaded(page: Page) -> tuple[str, list[str], list[dict[str, str]]]:
    """Click Download CSV: the file's name, its watermark line and its contacts rows."""
    with tempfile.TemporaryDirectory(prefix="gh-export-") as folder:
        saved = download(page, "Download CSV", Path(folder))[1]
        lines = list(csv.reader(io.StringIO(saved.read_text("utf-8"))))
    header = [name.removeprefix("contacts.") for name in lines[1]]
    return saved.name, lines[0], [dict(zip(header, line, strict=True)) for line in lines[2:]]


def after_label(cells: list[str], label: str) -> str:
    return cells[cells.index(label) + 1]


def details_of_last(stage: Backstage, action: str) -> tuple[dict[str, object], str | None]:
    e = events_table.c
    with stage.gh.engine.connect() as conn:
        row = conn.execute(select(e.details, e.reason).where(e.action == action)
                           .order_by(e.id.desc()).limit(1)).one()
    return (json.loads(row.details) if isinstance(row.details, str) else row.details), row.reason


def all_event_text(stage: Backstage, after: int) -> str:
    with stage.gh.engine.connect() as conn:
        return repr(conn.execute(select(events_table).where(events_table.c.id > after)).all())


def test_support_reveals_a_masked_column_and_sees_it(page: Page, console_url: str,
                                                     stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    expect(page.get_by_test_id("stTable")).to_have_count(1)
    wait_for_app(page)
    before = stage.last_event_id()
    expand(page, "Reveal masked columns")
    expect(page.get_by_role("combobox", name="Columns", exact=True)).to_be_visible()
    choose(page, "Columns", "contacts.email", exact=False)
    page.get_by_label("Reason", exact=True).fill("SUP-3001: confirm the sign-in address")
    page.get_by_role("button", name="Reveal", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("Revealed contacts.email")).to_be_visible()
    expect(page.get_by_text("This app has encountered an error")).to_have_count(0)
    expect(page.get_by_test_id("stTable").first).not_to_contain_text("•••@")  # redrawn
    emails = [row["email"] for row in table_rows(page)]
    assert emails and all("@" in e and "•" not in e for e in emails)  # in clear
    assert all(row["phone"].startswith("••••") for row in table_rows(page))  # still masked
    page.get_by_test_id("stTable").first.scroll_into_view_if_needed()
    screenshot(page, "customer-data-1-revealed")
    assert stage.actions(after=before) == ["data.revealed"]


def test_a_read_happens_only_on_click_and_is_logged_once(page: Page, console_url: str,
                                                        stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    start = stage.last_event_id()
    open_page(page, "Customer data")
    expect(page.get_by_text("Click Read to see")).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_have_count(0)
    assert stage.actions("data.", after=start) == []  # opening the page reads nothing

    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="contacts")).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_have_count(1)
    screenshot(page, "customer-data-2-read")

    expand(page, "Reveal masked columns")  # other widgets: no read
    page.get_by_label("Reason", exact=True).fill("just typing")
    page.get_by_text("account", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_test_id("stTable")).to_have_count(0)  # not read for this scope
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_test_id("stTable")).to_have_count(1)  # still on screen, not re-read
    assert stage.actions("data.", after=start) == ["data.read"]

    page.get_by_role("button", name="Export CSV", exact=True).click()
    wait_for_app(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV", exact=True).click()
    assert re.fullmatch(rf"{CUSTOMER}-contacts-grant-{stage.grant_id}-\d{{8}}T\d{{6}}Z\.csv",
                        download.value.suggested_filename)
    wait_for_app(page)
    screenshot(page, "customer-data-3-exported")
    assert stage.actions("data.", after=start) == ["data.read", "data.exported"]

    open_page(page, "My access")  # leaving the page drops what was read
    open_page(page, "Customer data")
    expect(page.get_by_text("Click Read to see")).to_be_visible()
    assert stage.actions("data.", after=start) == ["data.read", "data.exported"]


def test_a_revoked_grant_takes_its_data_off_the_open_page(page: Page, console_url: str,
                                                         stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    start = stage.last_event_id()
    page.get_by_role("button", name="Read", exact=True).click()
    expect(page.get_by_test_id("stTable")).to_have_count(1)

    grants.revoke(stage.gh, stage.principal("ada.admin"), stage.grant_id,
                  "Ticket SUP-3001 closed")  # as an admin would, from another browser
    revoked = page.get_by_text(f"Grant {stage.grant_id} ({CUSTOMER}) was revoked by Ada Admin")
    expect(revoked).to_be_visible(timeout=20_000)  # the page re-checks every 5 s
    expect(page.get_by_text("Ticket SUP-3001 closed")).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_text("You hold no active grant")).to_be_visible()
    expect(page.get_by_text("min left")).to_have_count(0)
    screenshot(page, "customer-data-4-revoked")
    assert stage.actions(after=start) == ["data.read", "grant.revoked"]



def read_contacts(page: Page) -> None:
    page.get_by_text("contacts", exact=True).click()
    wait_for_app(page)
    page.get_by_role("button", name="Read", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="contacts")).to_be_visible()


def test_a_read_shows_the_part_each_mask_rule_allows(page: Page, console_url: str,
                                                     stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    start = stage.last_event_id()
    read_contacts(page)
    rows = table_rows(page)
    assert rows and all(r["customer_id"] == CUSTOMER for r in rows)
    for row in rows:
        assert re.fullmatch(r"•••@[a-z0-9.-]+\.example", row["email"]), row  # the domain
        assert re.fullmatch(r"••••\d{4}", row["phone"]), row                 # the last four
        assert re.fullmatch(r"\w•••", row["full_name"]), row                 # the initial
        assert "•" not in row["job_title"], row                             # internal: clear
    expect(page.get_by_text(f"All {len(rows)} rows of contacts are shown.")).to_be_visible()
    expect(page.get_by_text("Masked: contacts.full_name, contacts.email, contacts.phone")
           ).to_be_visible()
    screenshot(page, "customer-data-5-partial-masks")
    assert stage.actions(after=start) == ["data.read"]


def test_an_export_carries_masked_or_revealed_columns_as_chosen(page: Page, console_url: str,
                                                                stage: Backstage) -> None:
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    read_contacts(page)
    start = stage.last_event_id()
    page.get_by_role("button", name="Export CSV", exact=True).click()  # nothing chosen
    wait_for_app(page)
    name, watermark, masked_rows = downloaded(page)
    assert name.startswith(f"{CUSTOMER}-contacts-grant-{stage.grant_id}-")
    assert not name.endswith("-revealed.csv")
    assert (after_label(watermark, "by"), after_label(watermark, "grant"),
            after_label(watermark, "revealed")) == ("sam.support", str(stage.grant_id), "none")
    assert masked_rows and all(r["email"].startswith("•••@") for r in masked_rows)
    expect(page.get_by_text("In clear in this file: none: all masked.")).to_be_visible()
    assert stage.actions(after=start) == ["data.exported"]

    stage.age_step_up("sam.support")  # columns in clear: a reason and a fresh code
    start = stage.last_event_id()
    choose(page, "Columns in clear in the file (optional)", "contacts.email", exact=False)
    page.get_by_label("Reason for the columns in clear").fill(CLEAR_REASON)
    page.get_by_role("button", name="Export CSV", exact=True).click()
    wait_for_app(page)
    asked = (f"Export {CUSTOMER}'s contacts (rows 1–{len(masked_rows)} of "
             f"{len(masked_rows)}) as CSV under grant {stage.grant_id}, with contacts.email "
             f"in clear, for the reason “{CLEAR_REASON}”")
    expect(page.get_by_text(asked + ": this needs a fresh code")).to_be_visible()
    page.get_by_label("6-digit code").scroll_into_view_if_needed()
    screenshot(page, "customer-data-6-export-in-clear-asks-for-a-code")
    assert stage.actions(after=start) == []  # nothing exported before the code
    stage.enter_code(page, "sam.support", "Confirm with code")
    wait_for_app(page)
    expect(page.get_by_text("Confirm: " + asked)).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV")).to_have_count(0)  # no stale file
    confirm(page, asked)
    expect(page.get_by_text("In clear in this file: contacts.email (every other column "
                            "masked).")).to_be_visible()
    expect(page.get_by_text(re.compile(r"-revealed\.csv: rows 1–\d+ of \d+, [\d,]+ bytes\.")
                            )).to_be_visible()
    name, watermark, clear_rows = downloaded(page)
    # the choice was used once: nothing stays selected for the next export
    expect(page.get_by_role("button", name="Remove contacts.email")).to_have_count(0)
    expect(page.get_by_label("Reason for the columns in clear")).to_have_value("")
    page.get_by_text("In clear in this file").scroll_into_view_if_needed()
    screenshot(page, "customer-data-7-exported-in-clear")
    assert name.endswith("-revealed.csv")
    assert after_label(watermark, "revealed") == "contacts.email"
    assert after_label(watermark, "by") == "sam.support"
    emails = [r["email"] for r in clear_rows]
    assert all("@" in e and "•" not in e for e in emails)
    assert ["•••@" + e.rpartition("@")[2] for e in emails] == [r["email"] for r in masked_rows]
    assert [r["phone"] for r in clear_rows] == [r["phone"] for r in masked_rows]  # masked
    assert stage.actions(after=start) == ["auth.mfa.step_up", "data.exported"]
    details, reason = details_of_last(stage, "data.exported")
    assert (details["revealed"], reason) == (["contacts.email"], CLEAR_REASON)
    assert not any(e in all_event_text(stage, start) for e in emails)  # names, never values


def test_without_reveal_an_export_offers_no_columns_in_clear(
        page: Page, console_url: str, stage_without_reveal: Backstage) -> None:
    stage = stage_without_reveal
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    read_contacts(page)
    start = stage.last_event_id()
    expect(page.get_by_text("Reveal masked columns")).to_have_count(0)
    expect(page.get_by_role("combobox", name="Columns in clear in the file (optional)")
           ).to_have_count(0)
    expect(page.get_by_label("Reason for the columns in clear")).to_have_count(0)
    page.get_by_role("button", name="Export CSV", exact=True).click()
    wait_for_app(page)
    name, watermark, rows = downloaded(page)
    page.get_by_text(f"{name}: rows").scroll_into_view_if_needed()
    screenshot(page, "customer-data-8-export-without-reveal")
    assert after_label(watermark, "revealed") == "none"
    assert rows and all(r["email"].startswith("•••@") and r["phone"].startswith("••••")
                        for r in rows)
    assert stage.actions(after=start) == ["data.exported"]


def test_missing_input_is_refused_at_its_button_and_a_choice_in_clear_survives_it(
        page: Page, console_url: str, stage: Backstage) -> None:
    """Reveal with nothing chosen, and an export in clear without its reason, with a stale
    code: each refused at its button naming the field and the rule, before any code; one
    logged refusal each; the export's choice stays to be completed, then the file says
    which columns are in clear."""
    stage.sign_in(page, console_url, "sam.support")
    open_page(page, "Customer data")
    read_contacts(page)
    stage.age_step_up("sam.support")
    start = stage.last_event_id()
    expand(page, "Reveal masked columns")
    page.get_by_role("button", name="Reveal", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text("columns: choose at least one revealable column")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_count(0)
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_have_count(0)
    screenshot(page, "customer-data-9-reveal-refused-at-the-button")
    assert stage.actions(after=start) == ["data.denied"]

    choose(page, "Columns in clear in the file (optional)", "contacts.phone", exact=False)
    page.get_by_role("button", name="Export CSV", exact=True).click()  # no reason
    wait_for_app(page)
    expect(page.get_by_text("reason: must be 3 to 500 characters")).to_be_visible()
    expect(page.get_by_label("6-digit code")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove contacts.phone")).to_have_count(1)  # kept
    expect(page.get_by_role("button", name="Download CSV")).to_have_count(0)
    page.get_by_text("reason: must be 3 to 500 characters").scroll_into_view_if_needed()
    screenshot(page, "customer-data-10-export-in-clear-without-a-reason")
    assert stage.actions(after=start) == ["data.denied", "data.denied"]

    page.get_by_label("Reason for the columns in clear").fill(CLEAR_REASON)
    page.get_by_role("button", name="Export CSV", exact=True).click()
    wait_for_app(page)
    stage.enter_code(page, "sam.support", "Confirm with code")
    wait_for_app(page)
    confirm(page, f"Export {CUSTOMER}'s contacts")
    expect(page.get_by_text("In clear in this file: contacts.phone (every other column "
                            "masked).")).to_be_visible()
    _, watermark, rows = downloaded(page)
    assert after_label(watermark, "revealed") == "contacts.phone"
    assert rows and all("•" not in r["phone"] and r["email"].startswith("•••@") for r in rows)
    page.get_by_text("In clear in this file").scroll_into_view_if_needed()
    screenshot(page, "customer-data-11-export-says-what-is-in-clear")
    assert stage.actions(after=start) == ["data.denied", "data.denied", "auth.mfa.step_up",
                                          "data.exported"]


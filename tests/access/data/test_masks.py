"""Masks people can work with: each column shown by its catalog rule, exports that carry
revealed columns under a grant that allows it, and paging past `[broker] max_rows`; on both
engines."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from access.context import Gatehouse
from access.data import broker
from access.data.masks import MASK, MaskRule, masked
from access.errors import Denied, InvalidInput
from access.settings.config import BrokerPolicy
from access.workflow import create_request, decide_request
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team

CUSTOMER = "cust-0001"
CONTACTS = ["contacts.full_name", "contacts.email", "contacts.phone"]

# The rules themselves


@pytest.mark.parametrize(("rule", "value", "shown"), [
    (MaskRule.FULL, "Jane Doe", MASK),
    (MaskRule.FULL, 123456, MASK),
    (MaskRule.LAST4, "+44 20 7946 0123", "••••0123"),
    (MaskRule.LAST4, "4242", "••••4242"),
    (MaskRule.LAST4, "12-3", MASK),  # fewer than four: nothing
    (MaskRule.LAST4, 1234567, "••••4567"),
    (MaskRule.EMAIL_DOMAIN, "jane.doe@acme.example", "•••@acme.example"),
    (MaskRule.EMAIL_DOMAIN, "a@b@acme.example", "•••@acme.example"),
    (MaskRule.EMAIL_DOMAIN, "no-at-sign", MASK),
    (MaskRule.EMAIL_DOMAIN, "@acme.example", MASK),
    (MaskRule.INITIAL, " Jane Doe", "J•••"),
    (MaskRule.INITIAL, "  ", MASK),
    (MaskRule.NONE, "Jane Doe", "Jane Doe"),
])
def test_each_rule_shows_what_its_docstring_says(rule: MaskRule, value: object,
                                                 shown: str) -> None:
    assert masked(rule, value) == shown


@pytest.mark.parametrize("rule", list(MaskRule))
def test_an_absent_value_stays_absent(rule: MaskRule) -> None:
    assert masked(rule, None) is None


@pytest.mark.parametrize("rule", [MaskRule.FULL, MaskRule.LAST4, MaskRule.EMAIL_DOMAIN,
                                  MaskRule.INITIAL])
def test_no_rule_tells_the_length_of_a_value(rule: MaskRule) -> None:
    short, long = "Jo Li 5551@x.example", "Maximilian Oberhauser-Lindqvist 5551@x.example"
    assert len(str(masked(rule, short))) == len(str(masked(rule, long)))


# Through the broker, on both engines


@pytest.fixture
def gh(gh_any: Gatehouse, tmp_path: Path, clock: FakeClock) -> Gatehouse:
    return attach_customer_data(gh_any, tmp_path, clock, customers=4)


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def grant_for(gh: Gatehouse, people: Team, actions: tuple[str, ...]) -> int:
    request_id = create_request.create(gh, people.sam, draft(
        customer_id=CUSTOMER, scopes=["contacts", "billing", "subscriptions"],
        actions=list(actions), duration=timedelta(hours=1)))
    for admin in (people.ada, people.alan):
        decision = decide_request.decide(gh, admin, request_id, approve=True)
        if decision.grant_id:
            return decision.grant_id
    raise AssertionError("not granted")


def in_clear(gh: Gatehouse, people: Team, grant_id: int, scope: str) -> broker.DataView:
    columns = sorted(broker.read(gh, people.sam, grant_id, CUSTOMER, scope).revealable)
    return broker.reveal(gh, people.sam, grant_id, CUSTOMER, scope, columns,
                         "compare the masks with the values")


def test_a_read_shows_each_column_by_its_catalog_rule(gh: Gatehouse, people: Team) -> None:
    grant_id = grant_for(gh, people, ("read", "reveal"))
    assert gh.data is not None
    for scope in ("contacts", "billing"):
        shown = broker.read(gh, people.sam, grant_id, CUSTOMER, scope)
        clear = in_clear(gh, people, grant_id, scope)
        for table in gh.data.catalog.tables_for(scope):
            for column in table.columns:
                expected = [None if v is None else masked(column.mask, v)
                            for v in clear.tables[table.name][column.name]]
                assert list(shown.tables[table.name][column.name]) == expected, column
    contacts = broker.read(gh, people.sam, grant_id, CUSTOMER, "contacts").tables["contacts"]
    assert all(name[0].isalpha() and name[1:] == "•••" for name in contacts["full_name"])
    assert all(email.startswith("•••@") for email in contacts["email"])
    assert all(len(phone) == 8 and phone[4:].isdigit() for phone in contacts["phone"])
    invoices = broker.read(gh, people.sam, grant_id, CUSTOMER, "billing").tables["invoices"]
    assert set(invoices["amount_cents"]) == {MASK}
    assert all(card[4:].isdigit() for card in invoices["card_last4"] if card)


def exported_rows(data: bytes) -> tuple[list[str], pd.DataFrame]:
    lines = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return lines[0], pd.DataFrame(lines[2:], columns=lines[1])


def test_an_export_carries_revealed_columns_logged_by_name_only(gh: Gatehouse,
                                                                people: Team) -> None:
    grant_id = grant_for(gh, people, ("read", "reveal", "export"))
    clear = in_clear(gh, people, grant_id, "contacts").tables["contacts"]
    before = len(events(gh))
    data = broker.export_csv(gh, people.sam, grant_id, CUSTOMER, "contacts",
                             columns=["contacts.email"], reason="SUP-1234: mail merge fix")
    watermark, rows = exported_rows(data)
    assert list(rows["contacts.email"]) == list(clear["email"])  # in clear
    assert all(p.startswith(MASK) for p in rows["contacts.phone"])  # still masked
    assert watermark[watermark.index("revealed") + 1] == "contacts.email"
    assert watermark[watermark.index("by") + 1] == people.sam.sub
    new = events(gh)[before:]
    assert [e["action"] for e in new] == ["data.exported"]
    assert new[0]["details"]["revealed"] == ["contacts.email"]
    assert new[0]["reason"] == "SUP-1234: mail merge fix"
    assert "contacts.phone" in new[0]["details"]["columns"]
    assert not any(email in repr(new) for email in clear["email"])


def test_a_masked_export_says_so_in_its_watermark(gh: Gatehouse, people: Team) -> None:
    grant_id = grant_for(gh, people, ("read", "export"))
    watermark, rows = exported_rows(broker.export_csv(gh, people.sam, grant_id, CUSTOMER,
                                                      "contacts"))
    assert watermark[watermark.index("revealed") + 1] == "none"
    assert all(e.startswith("•••@") for e in rows["contacts.email"])
    assert "revealed" not in events(gh, "data.exported")[-1]["details"]


def test_an_export_in_clear_without_the_reveal_action_is_refused_and_recorded(
        gh: Gatehouse, people: Team) -> None:
    grant_id = grant_for(gh, people, ("read", "export"))
    before = len(events(gh))
    with pytest.raises(Denied, match="does not allow 'reveal'"):
        broker.export_csv(gh, people.sam, grant_id, CUSTOMER, "contacts",
                          columns=["contacts.email"], reason="SUP-1234: mail merge fix")
    new = events(gh)[before:]
    assert [(e["action"], e["outcome"]) for e in new] == [("data.denied", "denied")]
    assert "does not allow 'reveal'" in new[0]["details"]["why"]


@pytest.mark.parametrize(("columns", "reason", "field"), [
    (["contacts.email"], "", "reason"),
    (["contacts.email"], None, "reason"),
    (["contacts.job_title"], "SUP-1234: mail merge fix", "columns"),
    ("contacts.email", "SUP-1234: mail merge fix", "columns"),
])
def test_a_bad_choice_of_revealed_columns_is_refused_and_recorded(
        gh: Gatehouse, people: Team, columns: object, reason: str | None, field: str) -> None:
    grant_id = grant_for(gh, people, ("read", "reveal", "export"))
    before = len(events(gh))
    with pytest.raises(InvalidInput) as caught:
        broker.export_csv(gh, people.sam, grant_id, CUSTOMER, "contacts",
                          columns=columns, reason=reason)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert [e["action"] for e in events(gh)[before:]] == ["data.denied"]


def test_paging_serves_every_row_once_and_logs_one_read_per_page(gh: Gatehouse,
                                                                 people: Team) -> None:
    grant_id = grant_for(gh, people, ("read",))
    whole = broker.read(gh, people.sam, grant_id, CUSTOMER, "subscriptions")
    assert not whole.truncated and whole.pages == 1 and whole.total_rows == whole.row_count
    size = max(2, whole.row_count // 3)
    paged = replace(gh, config=replace(gh.config, broker=BrokerPolicy(max_rows=size)))
    seen: dict[str, list[object]] = {name: [] for name in whole.tables}
    before, page = len(events(gh)), 0
    while True:
        page += 1
        view = broker.read(paged, people.sam, grant_id, CUSTOMER, "subscriptions", page=page)
        assert (view.page, view.total_rows, view.first_row) == (page, whole.total_rows,
                                                                 (page - 1) * size + 1)
        assert view.row_count == min(size, whole.total_rows - (page - 1) * size)
        for name, frame in view.tables.items():
            seen[name] += list(frame["id"])
        if not view.truncated:
            break
    assert page == view.pages >= 3
    assert seen == {name: list(frame["id"]) for name, frame in whole.tables.items()}
    reads = events(gh)[before:]
    assert [e["action"] for e in reads] == ["data.read"] * page
    assert [e["details"]["first_row"] for e in reads] == [1 + i * size for i in range(page)]


@pytest.mark.parametrize("page", [0, -1, True, "2", broker.MAX_PAGE + 1])
def test_a_page_out_of_range_is_refused_and_recorded(gh: Gatehouse, people: Team,
                                                     page: object) -> None:
    grant_id = grant_for(gh, people, ("read",))
    before = len(events(gh))
    with pytest.raises(InvalidInput) as caught:
        broker.read(gh, people.sam, grant_id, CUSTOMER, "contacts", page=page)  # type: ignore[arg-type]
    assert caught.value.field == "page"
    assert [e["action"] for e in events(gh)[before:]] == ["data.denied"]

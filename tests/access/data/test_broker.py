"""The broker: the only read path, bound to one customer, masked, and every read logged."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from access.context import Gatehouse
from access.data import broker
from access.data.customer_db.schema import Contact
from access.errors import Denied, InvalidInput, StepUpRequired
from access.settings.config import BrokerPolicy
from access.workflow import create_request, decide_request, grants
from audit.export_stream import neutralize
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import Team, draft, events, team


@pytest.fixture
def gh(gh: Gatehouse, tmp_path: Path, clock: FakeClock) -> Gatehouse:
    return attach_customer_data(gh, tmp_path, clock)


@pytest.fixture
def people(gh: Gatehouse, idp: LocalIdP) -> Team:
    return team(gh, idp)


def grant_for(gh: Gatehouse, people: Team, customer: str = "cust-0001",
              scopes: tuple[str, ...] = ("contacts", "billing"),
              actions: tuple[str, ...] = ("read",)) -> int:
    request_id = create_request.create(gh, people.sam, draft(
        customer_id=customer, scopes=list(scopes), actions=list(actions),
        duration=timedelta(hours=1)))
    decision = None
    for admin in (people.ada, people.alan):
        decision = decide_request.decide(gh, admin, request_id, approve=True)
        if decision.grant_id:
            return decision.grant_id
    raise AssertionError(f"not granted: {decision}")


def test_a_read_returns_masked_rows_of_one_customer_and_one_event(gh: Gatehouse,
                                                                  people: Team) -> None:
    grant_id = grant_for(gh, people)
    before = len(events(gh))
    view = broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    contacts = view.tables["contacts"]
    assert len(contacts) >= 1 and set(contacts["customer_id"]) == {"cust-0001"}
    assert all(e.startswith("•••@") for e in contacts["email"])
    assert "contacts.email" in view.masked
    new = events(gh)[before:]
    assert [e["action"] for e in new] == ["data.read"]
    event = new[0]
    assert (event["customer_id"], event["grant_id"], event["ticket"]) == \
        ("cust-0001", str(grant_id), "SUP-1234")
    assert event["details"]["row_count"] == len(contacts)
    assert "contacts.email" in event["details"]["columns"]


def test_masking_follows_the_catalog_rules(gh: Gatehouse, people: Team) -> None:
    scopes = ("account", "contacts", "subscriptions", "telemetry", "devices", "bot_runs")
    grant_id = grant_for(gh, people, scopes=scopes)
    assert gh.data is not None
    for scope in scopes:
        view = broker.read(gh, people.sam, grant_id, "cust-0001", scope)
        for table in gh.data.catalog.tables_for(scope):
            frame = view.tables[table.name]
            for column in table.columns:
                values = {str(v) for v in frame[column.name] if v is not None}
                if column.masked:
                    assert all(v.startswith(("•••", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                               and "•••" in v for v in values), (table.name, column.name)
                    assert f"{table.name}.{column.name}" in view.masked
                elif values:
                    assert not any("•••" in v for v in values), (table.name, column.name)


CROSS_TENANT = ["cust-0002", "cust-0001' OR '1'='1", "%", "cust-000_", "CUST-0001"]


@pytest.mark.parametrize("customer", CROSS_TENANT)
def test_a_grant_for_one_customer_reads_no_other(gh: Gatehouse, people: Team,
                                                 customer: str) -> None:
    grant_id = grant_for(gh, people)
    with pytest.raises(Denied, match="another customer"):
        broker.read(gh, people.sam, grant_id, customer, "contacts")
    denied = events(gh, "data.")[-1]
    assert denied["action"] == "data.denied" and denied["outcome"] == "denied"
    assert "another customer" in denied["details"]["why"]


@pytest.mark.parametrize("scope", ["contacts; DROP TABLE contacts", "customer_keys",
                                   "contacts' OR 1=1 --", "../account", "", "x" * 10_000,
                                   "billing"])
def test_crafted_or_ungranted_scopes_are_denied_and_logged(gh: Gatehouse, people: Team,
                                                           scope: str) -> None:
    grant_id = grant_for(gh, people, scopes=("contacts",))
    with pytest.raises(Denied):
        broker.read(gh, people.sam, grant_id, "cust-0001", scope)
    assert events(gh, "data.")[-1]["action"] == "data.denied"
    assert gh.data is not None
    with gh.data.engine("production").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM contacts")).scalar()


def test_expired_and_revoked_grants_are_refused_on_the_next_read(
        gh: Gatehouse, people: Team, clock: FakeClock) -> None:
    first, second = grant_for(gh, people), grant_for(gh, people, customer="cust-0003")
    broker.read(gh, people.sam, second, "cust-0003", "contacts")
    grants.revoke(gh, people.ada, second, "ticket closed")
    with pytest.raises(Denied, match="revoked"):
        broker.read(gh, people.sam, second, "cust-0003", "contacts")
    clock.advance(hours=1)
    with pytest.raises(Denied, match="expired"):
        broker.read(gh, people.sam, first, "cust-0001", "contacts")


def test_another_holder_cannot_use_a_grant(gh: Gatehouse, people: Team) -> None:
    grant_id = grant_for(gh, people)
    with pytest.raises(Denied, match="no grant"):
        broker.read(gh, people.sky, grant_id, "cust-0001", "contacts")


def test_a_value_moved_from_another_customer_does_not_decrypt(gh: Gatehouse,
                                                              people: Team) -> None:
    """Sealed values are bound to customer, table, column and row, under per-customer keys."""
    grant_id = grant_for(gh, people)
    assert gh.data is not None
    engine = gh.data.engine("production")
    with engine.begin() as conn:
        stolen = conn.execute(select(Contact.email).where(Contact.customer_id == "cust-0002")
                              .limit(1)).scalar_one()
        target = conn.execute(select(Contact.id).where(Contact.customer_id == "cust-0001")
                              .limit(1)).scalar_one()
        conn.execute(update(Contact).where(Contact.id == target).values(email=stolen))
    with pytest.raises(Denied):
        broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")


def test_reveal_needs_the_action_a_fresh_code_and_a_reason(gh: Gatehouse, people: Team,
                                                          clock: FakeClock) -> None:
    read_only = grant_for(gh, people)
    with pytest.raises(Denied, match="does not allow 'reveal'"):
        broker.reveal(gh, people.sam, read_only, "cust-0001", "contacts", ["contacts.email"],
                      "customer asked to confirm email")
    grant_id = grant_for(gh, people, customer="cust-0004", actions=("read", "reveal"))
    with pytest.raises(InvalidInput, match="reason"):
        broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts", ["contacts.email"], "")
    with pytest.raises(InvalidInput, match="columns"):
        broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts",
                      ["contacts.job_title"], "confirm the job title")
    clock.advance(minutes=6)
    with pytest.raises(StepUpRequired):
        broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts", ["contacts.email"],
                      "customer asked to confirm email")
    people.step_up(gh, "sam")
    view = broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts", ["contacts.email"],
                         "customer asked to confirm email")
    emails = list(view.tables["contacts"]["email"])
    assert all("@" in e for e in emails)
    assert all(p.startswith(broker.MASK) for p in view.tables["contacts"]["phone"])
    assert "contacts.phone" in view.masked and "contacts.email" not in view.masked
    event = events(gh, "data.revealed")[-1]
    assert event["details"]["columns"] == ["contacts.email"]
    assert event["reason"] == "customer asked to confirm email"
    assert not any(e in repr(events(gh)) for e in emails)  # values never logged


def test_export_is_watermarked_neutralised_and_logged(gh: Gatehouse, people: Team) -> None:
    grant_id = grant_for(gh, people, actions=("read", "export"))
    assert gh.data is not None
    with gh.data.engine("production").begin() as conn:
        conn.execute(update(Contact).where(Contact.customer_id == "cust-0001")
                     .values(job_title='=HYPERLINK("http://evil","x")'))
    data = broker.export_csv(gh, people.sam, grant_id, "cust-0001", "contacts").decode()
    first, header, row = data.splitlines()[:3]
    assert next(csv.reader([first]))[:3] == ["# Gatehouse export, confidential", "by", "sam"]
    assert f'"grant","{grant_id}"' in first
    assert "contacts.email" in header
    assert "'=HYPERLINK" in row and "•••@" in row
    event = events(gh, "data.exported")[-1]
    assert event["details"]["format"] == "csv" and event["details"]["row_count"] >= 1


@pytest.mark.parametrize("sub", [",=cmd", "=cmd|' /C calc'!A0", '"=1+1', "a\n=HYPERLINK(1)"])
def test_every_watermark_field_is_quoted_and_neutralised(gh: Gatehouse, people: Team,
                                                         sub: str) -> None:
    grant_id = grant_for(gh, people, actions=("read", "export"))
    odd = replace(people.sam, sub=sub, iss="=evil")
    data = broker.export_csv(gh, odd, grant_id, "cust-0001", "contacts").decode()
    first = data.split("\n")[0]
    assert first.startswith('"') and first.endswith('"')  # every field quoted
    cells = next(csv.reader([first]))
    assert cells[1:5] == ["by", str(neutralize(sub.replace("\n", "\\n"))), "issuer", "'=evil"]
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)


def test_a_read_serves_at_most_max_rows_of_a_scope_and_says_so(gh: Gatehouse,
                                                              people: Team) -> None:
    grant_id = grant_for(gh, people)
    full = broker.read(gh, people.sam, grant_id, "cust-0001", "billing")
    assert full.row_count >= 3 and not full.truncated
    most = full.row_count - 2
    limited = replace(gh, config=replace(gh.config, broker=BrokerPolicy(max_rows=most)))
    view = broker.read(limited, people.sam, grant_id, "cust-0001", "billing")
    assert (view.row_count, view.truncated) == (most, True)
    assert events(gh, "data.read")[-1]["details"]["row_count"] == most


def test_decrypting_holds_no_write_lock_on_the_console_database(
        gh: Gatehouse, people: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    grant_id = grant_for(gh, people)
    database = gh.engine.url.database
    assert database
    writable_while_decrypting = []
    real = vars(broker)["open_value"]

    def opening(*args: object) -> object:
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if anyone holds the write lock
            other.execute("ROLLBACK")
            writable_while_decrypting.append(True)
        except sqlite3.OperationalError:
            writable_while_decrypting.append(False)
        finally:
            other.close()
        return real(*args)

    monkeypatch.setattr(broker, "open_value", opening)
    broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    assert writable_while_decrypting and all(writable_while_decrypting)
    assert events(gh, "data.read")  # and the read was still recorded


def test_a_revocation_between_the_read_and_its_event_returns_nothing(
        gh: Gatehouse, people: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    grant_id = grant_for(gh, people)
    real = broker._fetch

    def fetch_then_revoked(*args: object) -> broker.DataView:
        view = real(*args)  # type: ignore[arg-type]
        grants.revoke(gh, people.step_up(gh, "ada"), grant_id, "revoked mid-read")
        return view

    monkeypatch.setattr(broker, "_fetch", fetch_then_revoked)
    with pytest.raises(Denied, match="revoked"):
        broker.read(gh, people.sam, grant_id, "cust-0001", "contacts")
    assert events(gh, "data.read") == []
    assert events(gh, "data.denied")[-1]["details"]["why"].endswith("is revoked")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(value: str) -> None:
    assert neutralize(value) == "'" + value
    assert neutralize(-5) == -5 and neutralize("plain") == "plain"


@pytest.mark.parametrize("entry", ["read", "reveal", "export", "read-denied",
                                   "reveal-denied", "export-denied"])
def test_every_broker_entry_point_leaves_exactly_one_event(gh: Gatehouse, people: Team,
                                                           entry: str) -> None:
    actions = ("read",) if entry.endswith("denied") else ("read", "reveal", "export")
    customer = "cust-0005"
    grant_id = grant_for(gh, people, customer=customer, actions=actions)
    call: Callable[[str], object] = {
        "read": lambda c: broker.read(gh, people.sam, grant_id, c, "contacts"),
        "reveal": lambda c: broker.reveal(gh, people.sam, grant_id, c, "contacts",
                                          ["contacts.email"], "confirm the address"),
        "export": lambda c: broker.export_csv(gh, people.sam, grant_id, c, "contacts"),
    }[entry.removesuffix("-denied")]
    before = len(events(gh))
    if entry.endswith("denied"):
        with pytest.raises(Denied):
            call("cust-0006" if entry == "read-denied" else customer)
    else:
        call(customer)
    assert len(events(gh)) == before + 1


@pytest.fixture
def gh_both(gh_any: Gatehouse, tmp_path: Path, clock: FakeClock) -> Gatehouse:
    """The broker over customer data, its console database on both engines."""
    return attach_customer_data(gh_any, tmp_path, clock)


def denials(gh: Gatehouse, after: int) -> list[tuple[str, str | None]]:
    """(why, reason) of every `data.denied` event after the first `after` events."""
    return [(e["details"]["why"], e["reason"]) for e in events(gh)[after:]
            if e["action"] == "data.denied"]


@pytest.mark.parametrize(("columns", "reason", "rule"), [
    ([], "confirm the address", "columns: choose at least one revealable column"),
    (["contacts.email"], "", "reason: must be 3 to 500 characters"),
    (["contacts.job_title"], "confirm the job title", "columns: 'contacts.job_title' is not "
                                                      "revealable"),
])
def test_a_page_checks_a_reveal_before_any_code_exactly_as_reveal_does(
        gh_both: Gatehouse, idp: LocalIdP, clock: FakeClock, columns: list[str], reason: str,
        rule: str) -> None:
    gh = gh_both
    people = team(gh, idp)
    grant_id = grant_for(gh, people, customer="cust-0004", actions=("read", "reveal"))
    clock.advance(minutes=6)  # the code is stale: checking the input needs none
    before = len(events(gh))
    with pytest.raises(InvalidInput) as checked:
        broker.check_reveal(gh, people.sam, grant_id, "cust-0004", "contacts", columns, reason)
    assert str(checked.value).startswith(rule)
    by_check = denials(gh, before)
    assert [why for why, _ in by_check] == [str(checked.value)]  # one event, naming the rule
    assert len(events(gh)) == before + 1  # and nothing else: no read, no step-up

    people.step_up(gh, "sam")  # the service itself, with a fresh code: the same one event
    before = len(events(gh))
    with pytest.raises(InvalidInput) as served:
        broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts", columns, reason)
    assert str(served.value) == str(checked.value)
    assert denials(gh, before) == by_check


def test_input_that_holds_passes_the_check_silently_and_reads_nothing(
        gh_both: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    gh = gh_both
    people = team(gh, idp)
    grant_id = grant_for(gh, people, customer="cust-0004", actions=("read", "reveal", "export"))
    clock.advance(minutes=6)
    before = len(events(gh))
    broker.check_reveal(gh, people.sam, grant_id, "cust-0004", "contacts", ["contacts.email"],
                        "confirm the address")
    broker.check_export(gh, people.sam, grant_id, "cust-0004", "contacts")  # masked: no input
    broker.check_export(gh, people.sam, grant_id, "cust-0004", "contacts",
                        columns=["contacts.phone"], reason="the customer asked for it")
    assert len(events(gh)) == before
    with pytest.raises(StepUpRequired):  # the action itself still needs its code
        broker.reveal(gh, people.sam, grant_id, "cust-0004", "contacts", ["contacts.email"],
                      "confirm the address")


def test_an_export_in_clear_without_a_reason_is_refused_by_its_check_once(
        gh_both: Gatehouse, idp: LocalIdP) -> None:
    gh = gh_both
    people = team(gh, idp)
    grant_id = grant_for(gh, people, customer="cust-0004", actions=("read", "reveal", "export"))
    before = len(events(gh))
    with pytest.raises(InvalidInput, match="reason: must be 3 to 500 characters"):
        broker.check_export(gh, people.sam, grant_id, "cust-0004", "contacts",
                            columns=["contacts.phone"], reason="")
    assert [e["action"] for e in events(gh)[before:]] == ["data.denied"]
    assert events(gh)[-1]["details"]["action"] == "export"

"""The auditor pages through Streamlit's AppTest, signed in at a real local OpenID provider:
filters, pages that neither skip nor repeat while events arrive, the timeline, customer and
activity views, export, verification, and pages nobody else can open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from audit.engine import write_engine
from audit.events import Actor, AuditEvent
from audit.log import append
from audit.schema import events_table
from audit.vocabulary import Outcome
from tests.support.audit_helpers import recorded, seal_with_settings
from tests.support.audit_history import ISS, MONDAY, History
from tests.support.console_helpers import console, enrolled, labelled

LOG = "console/pages/audit_log.py"
# Constructed histories lie in the real past: the auditor's own events (sign-in, searches) are
# stamped by the real clock and must be the newest, as they would be in production.
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
AUDITOR_PAGES = [LOG, "console/pages/audit_activity.py", "console/pages/audit_grant.py",
                 "console/pages/audit_customer.py", "console/pages/audit_verify.py"]


def shown_ids(at: AppTest) -> list[int]:
    return [int(i) for i in at.dataframe[0].value["id"]]


def newest_first(engine: Engine) -> list[int]:
    e = events_table.c
    with engine.connect() as conn:
        return list(conn.execute(select(e.id).order_by(e.ts_us.desc(), e.id.desc())).scalars())


def test_the_auditor_filters_the_log(oidc: str, console_engine: Engine) -> None:
    h = History(console_engine, PAST)
    wanted = [h.read("sam", timedelta(minutes=i), grant="7", customer="cust-7") for i in range(3)]
    h.read("sky", timedelta(minutes=5), grant="8", customer="cust-8")
    h.add("data.denied", "sky", timedelta(minutes=6), Outcome.DENIED, customer_id="cust-7")
    at = enrolled(oidc, "audrey.auditor", LOG)
    assert not at.exception and len(shown_ids(at)) > 5
    labelled(at.text_input, "Customer").input("cust-7")
    labelled(at.selectbox, "Action").select("data.read")
    labelled(at.button, "Search").click().run()
    assert shown_ids(at) == wanted[::-1]
    labelled(at.selectbox, "Outcome").select("denied")
    labelled(at.selectbox, "Action").select("any")
    labelled(at.button, "Search").click().run()
    assert len(shown_ids(at)) == 1
    assert [e["details"]["filters"] for e in recorded(console_engine, "audit.searched")][-2:] == [
        "log: action=data.read customer=cust-7", "log: outcome=denied customer=cust-7"]


def test_the_form_shows_the_filter_in_force_after_the_auditor_comes_back(
        oidc: str, console_engine: Engine) -> None:
    h = History(console_engine, PAST)
    h.add("data.denied", "sky", timedelta(minutes=6), Outcome.DENIED, customer_id="cust-7")
    at = enrolled(oidc, "audrey.auditor", LOG)
    labelled(at.selectbox, "Outcome").select("denied")
    labelled(at.text_input, "Customer").input("cust-7")
    labelled(at.button, "Search").click().run()
    at.switch_page("console/pages/audit_verify.py").run()  # Streamlit forgets the boxes here
    at.switch_page(LOG).run()
    assert "outcome=denied customer=cust-7" in at.caption[0].value
    assert labelled(at.selectbox, "Outcome").value == "denied"  # not "any"
    assert labelled(at.text_input, "Customer").value == "cust-7"
    assert labelled(at.selectbox, "Action").value == "any"
    assert len(shown_ids(at)) == 1


def test_a_bad_filter_names_the_box_and_searches_nothing(oidc: str,
                                                        console_engine: Engine) -> None:
    at = enrolled(oidc, "audrey.auditor", LOG)
    searches = len(recorded(console_engine, "audit.searched"))
    labelled(at.text_input, "Customer").input("cust-%")
    labelled(at.button, "Search").click().run()
    assert "**customer**: must be a customer id" in at.error[0].value
    assert len(recorded(console_engine, "audit.searched")) == searches


def test_the_time_range_is_utc(oidc: str, console_engine: Engine) -> None:
    h = History(console_engine)
    inside = h.read("sam", timedelta(hours=1))
    h.read("sam", timedelta(hours=3))
    at = enrolled(oidc, "audrey.auditor", LOG)
    labelled(at.datetime_input, "From (UTC)").set_value(
        (MONDAY + timedelta(minutes=30)).replace(tzinfo=None))
    labelled(at.datetime_input, "To (UTC)").set_value(
        (MONDAY + timedelta(hours=2)).replace(tzinfo=None))
    labelled(at.button, "Search").click().run()
    assert shown_ids(at) == [inside]


def test_paging_neither_skips_nor_repeats_while_new_events_arrive(
        oidc: str, console_engine: Engine) -> None:
    h = History(console_engine, PAST)
    for i in range(60):  # 60 events in 20 distinct microseconds: ties broken by id
        h.read("sam", timedelta(seconds=i // 3), grant=str(i % 4))
    at = enrolled(oidc, "audrey.auditor")
    existing = newest_first(console_engine)  # everything there when the first page loads
    at.switch_page(LOG).run()
    seen = shown_ids(at)
    pages = 1
    while not labelled(at.button, "Older").disabled:
        h.read("sky", timedelta(days=1, seconds=pages))  # newer events arrive meanwhile ...
        labelled(at.button, "Older").click().run()       # ... and the auditor's own searches
        seen += shown_ids(at)
        pages += 1
    assert seen == existing and len(set(seen)) == len(seen)
    assert pages == -(-len(existing) // 25)
    labelled(at.button, "Newer").click().run()  # back up one page: the same rows as before
    assert shown_ids(at) == existing[(pages - 2) * 25:(pages - 1) * 25]


def test_the_auditor_exports_what_matches_and_the_export_is_recorded(
        oidc: str, console_engine: Engine) -> None:
    h = History(console_engine, PAST)
    for i in range(3):
        h.read("sam", timedelta(minutes=i), grant="7", customer="cust-7")
    at = enrolled(oidc, "audrey.auditor", LOG)  # just enrolled: the code counts as step-up
    labelled(at.text_input, "Customer").input("cust-7")
    labelled(at.button, "Search").click().run()
    labelled(at.radio, "Format").set_value(labelled(at.radio, "Format").options[0])
    labelled(at.button, "Export").click().run()
    assert not at.exception
    assert "3 events exported (CSV, 1 file(s))" in at.success[0].value
    [button] = at.download_button
    assert re.fullmatch(r"Download gatehouse-audit-export-cust-7-\d{8}T\d{6}Z\.csv "
                        r"\(\d+(\.\d)? (B|KB)\)", button.label), button.label
    exported = recorded(console_engine, "audit.exported")[-1]
    assert exported["details"] == {"filters": "customer=cust-7", "format": "csv",
                                   "row_count": 3}


def test_one_event_shows_its_details_and_inclusion_proof(oidc: str,
                                                        console_engine: Engine) -> None:
    event_id = History(console_engine, PAST).read("sam", grant="7")
    seal_with_settings(console_engine)
    at = enrolled(oidc, "audrey.auditor", LOG)
    row = shown_ids(at).index(event_id)
    # as a click on the row would (AppTest cannot click into the grid)
    table = at.dataframe[0].key
    assert table is not None
    at.session_state[table] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert any("sam at" in t.value for t in at.text)  # the dialog: who, in full
    labelled(at.button, "Check its inclusion proof").click().run()
    assert f"Event {event_id} is leaf 0 of the signed checkpoint" in at.success[0].value
    assert recorded(console_engine, "audit.proof")[-1]["details"]["intact"] is True


def test_the_grant_timeline_and_the_customer_view(oidc: str, console_engine: Engine) -> None:
    h = History(console_engine, PAST)
    h.add("request.created", "sam", request_id="7", customer_id="cust-7", ticket="SUP-7",
          details={"scopes": ["billing"]})
    h.add("request.approved", "ada", timedelta(minutes=5), request_id="7",
          customer_id="cust-7", ticket="SUP-7", details={"approvals": 1})
    h.add("grant.issued", "ada", timedelta(minutes=5), request_id="7", grant_id="7",
          customer_id="cust-7", ticket="SUP-7")
    for i in range(2):
        h.read("sam", timedelta(minutes=10 + i), grant="7", customer="cust-7", ticket="SUP-7")
    at = enrolled(oidc, "audrey.auditor", "console/pages/audit_grant.py")
    labelled(at.text_input, "Grant").input("7")
    labelled(at.button, "Show").click().run()
    assert "requested by Sam · approved by Ada" in at.text[0].value
    assert [m.value for m in at.metric] == ["2", "0", "0", "0"]
    assert list(at.dataframe[0].value["action"]) == [
        "request.created", "request.approved", "grant.issued", "data.read", "data.read"]

    at.switch_page("console/pages/audit_customer.py").run()
    labelled(at.text_input, "Customer").input("cust-7").run()
    table = at.dataframe[0].value
    assert list(table["subject"]) == ["sam"] and list(table["reads"]) == [2]
    assert list(table["ticket"]) == ["SUP-7"]


def test_an_empty_to_box_counts_up_to_each_run(oidc: str, console_engine: Engine) -> None:
    History(console_engine, PAST).read("sam", customer="cust-7")
    at = enrolled(oidc, "audrey.auditor", "console/pages/audit_customer.py")
    assert labelled(at.datetime_input, "To (UTC), empty: now").value is None
    for _ in range(2):  # the first run and a later one (a page left open, then rerun)
        labelled(at.text_input, "Customer").input("cust-7").run()
        ran = datetime.now(UTC)
        summary = recorded(console_engine, "audit.searched")[-1]["details"]["filters"]
        until = datetime.strptime(re.search(r"until=(\S+)", summary)[1],  # type: ignore[index]
                                  "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
        # up to the run, not to a moment fixed when the page was first opened
        assert ran - timedelta(minutes=1) < until <= ran
        at.text_input[0].input("")  # so the next input is a change
        at.run()


def test_activity_draws_three_charts_and_lists_anomaly_flags(oidc: str,
                                                            console_engine: Engine) -> None:
    # A Monday 2 to 8 days ago, 02:00 UTC: inside the default 14-day window, outside
    # working hours.
    monday = (PAST - timedelta(days=PAST.weekday())).replace(hour=2, minute=0, second=0)
    assert monday.weekday() == 0
    h = History(console_engine, monday)
    h.read("sam")
    h.add("data.denied", "sky", timedelta(hours=1), Outcome.DENIED, customer_id="cust-1")
    # as in production, a sealer has run (days-old unsealed events would be a `seal_lag` flag)
    seal_with_settings(console_engine)
    at = enrolled(oidc, "audrey.auditor", "console/pages/audit_activity.py")
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 3
    flags = at.dataframe[0].value
    assert list(flags["rule"]) == ["off_hours_access"] and list(flags["subject"]) == [
        "actor sam"]


def test_verification_from_the_page(oidc: str, console_engine: Engine) -> None:
    History(console_engine, PAST).read("sam")
    at = enrolled(oidc, "audrey.auditor")
    seal_with_settings(console_engine)
    at.switch_page("console/pages/audit_verify.py").run()
    assert "Newest signed checkpoint" in at.markdown[0].value
    assert "gatehouse/audit" in at.code[0].value
    labelled(at.button, "Verify now").click().run()
    assert at.success[0].value.startswith("Intact:")
    assert not any("intact:" in c.value for c in at.code)  # said once, not twice
    assert recorded(console_engine, "audit.verified")[-1]["details"]["intact"] is True
    labelled(at.number_input, "Event id").set_value(999_999)
    labelled(at.button, "Check inclusion proof").click().run()
    assert at.error[0].value == "**event**: no event 999999"
    labelled(at.button, "Build the verifiable bundle").click().run()
    assert "Bundle of" in at.success[-1].value and len(at.download_button) == 1


@pytest.mark.parametrize("sub", ["sam.support", "ada.admin"])
def test_requesters_and_approvers_cannot_open_the_auditor_pages(
        oidc: str, console_engine: Engine, sub: str) -> None:
    at = enrolled(oidc, sub)
    for page in AUDITOR_PAGES:
        # not in this role's navigation
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page).run()
        direct = console(oidc, page)
        direct.user = at.user
        direct.run()
        assert "Not allowed" in direct.error[0].value, page
        assert not direct.dataframe and not direct.metric and not direct.download_button
    denied = recorded(console_engine, "auth.page.denied")
    assert [e["actor_sub"] for e in denied] == [sub] * len(AUDITOR_PAGES)
    assert not recorded(console_engine, "audit.searched")


def test_display_names_on_the_timeline_are_text_never_markup(oidc: str,
                                                            console_engine: Engine) -> None:
    hostile = "Mallory ![x](http://evil.example/pixel.png) **cust-0001**"
    with write_engine(console_engine).begin() as conn:
        append(conn, AuditEvent("request.created", Actor(ISS, "mallory", hostile, ("requester",)),
                                request_id="9", customer_id="cust-9", ts=PAST))
        append(conn, AuditEvent("grant.issued", Actor(ISS, "ada", "Ada", ("approver",)),
                                request_id="9", grant_id="9", customer_id="cust-9", ts=PAST))
    at = enrolled(oidc, "audrey.auditor", "console/pages/audit_grant.py")
    labelled(at.text_input, "Grant").input("9")
    labelled(at.button, "Show").click().run()
    assert f"requested by {hostile}" in at.text[0].value
    assert all("evil.example" not in m.value for m in at.markdown)

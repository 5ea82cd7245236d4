"""Transparency report (auditors and the privacy officer): a customer's access-transparency
report for a period, to download as JSON (for the customer, verifiable offline), HTML (the
same, readable) and the opening (full records, naming staff: for the customer's auditor or a
regulator only). Generating is one event; so is each download."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from access import transparency_report
from access.authz import Action
from access.errors import GatehouseError
from access.transparency_report import TransparencyReport
from console.errors import show_error
from console.gate import page
from console.markup import literal

_ACTION = {"data.read": "read", "data.revealed": "reveal", "data.exported": "export"}

gh, viewer = page(Action.TRANSPARENCY_REPORT)
st.title("Transparency report")
st.caption("Every consultation of one customer's data in a period, staff shown as role and "
           "pseudonym, with the signed checkpoint and an inclusion proof per event: the "
           "customer verifies it offline with `python -m audit verify-report`.")


def _day(value: object, fallback: date) -> date:
    return value if isinstance(value, date) else fallback


def _file(report: TransparencyReport, part: str) -> Callable[[], bytes]:
    return functools.partial(transparency_report.handed_out, gh, viewer, report, part)


with st.form("transparency"):
    who, start, end, go = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
    today = gh.now().date()
    customer = who.text_input("Customer", placeholder="cust-0042").strip()
    first = _day(start.date_input("From (UTC day)", value=today - timedelta(days=90)), today)
    last = _day(end.date_input("To (UTC day, included)", value=today), today)
    generate = go.form_submit_button("Generate", type="primary", width="stretch")

if generate:
    # One click, one report, one audit event; reruns (a download) show the same report.
    since = datetime.combine(first, time(), UTC)
    until = datetime.combine(last + timedelta(days=1), time(), UTC)
    try:
        st.session_state["transparency_report"] = transparency_report.generate(
            gh, viewer, customer, since, until)
    except GatehouseError as exc:
        st.session_state.pop("transparency_report", None)
        show_error(exc)
        st.stop()

report: TransparencyReport | None = st.session_state.get("transparency_report")
if report is None:
    st.info("Type a customer id and a period, then Generate.")
    st.stop()

st.success(f"{literal(report.customer_id)}, {report.since:%Y-%m-%d} to "
           f"{report.last_day:%Y-%m-%d}: {report.rows} consultation(s), "
           f"cut against the signed checkpoint of tree size {report.tree_size}.",
           icon=":material/verified:")
if report.unsealed:
    st.warning(f"{report.unsealed} more consultation(s) in the period are too recent for the "
               "signed checkpoint and are not listed: generate again after the next seal.")
left, middle, right = st.columns(3)
# Each file is handed out when it is fetched, one `audit.exported` event per download (a
# deferred download: the callable runs on the click, and no event means no file).
left.download_button("Download report (JSON)", _file(report, "json"), f"{report.stem}.json",
                     mime="application/json", on_click="ignore", icon=":material/download:")
middle.download_button("Download report (HTML)", _file(report, "html"), f"{report.stem}.html",
                       mime="text/html", on_click="ignore", icon=":material/download:")
right.download_button("Download opening (names staff)", _file(report, "opening"),
                      f"{report.stem}-opening.json", mime="application/json",
                      on_click="ignore", icon=":material/download:",
                      help="Full records of the listed events: give it only to the customer's "
                           "auditor or a regulator, never to the customer.")
rows = json.loads(report.document)["body"]["rows"]
# Who, what and when first; the long texts last, so the pseudonyms are never scrolled away.
st.dataframe(pd.DataFrame([{
    "time (UTC)": r["time"][:19].replace("T", " "), "action": _ACTION.get(r["action"]),
    "scope": r.get("details.scope"), "ticket": r.get("ticket"), "staff": r["staff"],
    "role": r["actor_roles"], "grant": r.get("grant_id"), "event": r["event_id"],
    "justification": (r.get("justification") or {}).get("reason") or "",
    "reason": r.get("reason") or ""} for r in rows],
    columns=["time (UTC)", "action", "scope", "ticket", "staff", "role", "grant", "event",
             "justification", "reason"]), hide_index=True, width="stretch")
st.caption("The customer checks the JSON with the log's public key alone: "
           "`python -m audit verify-report REPORT.json --public-key gatehouse-audit.pub`. "
           "With `--opening OPENING.json` an auditor also checks every field shown.")

"""Widgets the auditor pages share: the filter form, the events table, downloads, a proof.

Display only: every number shown comes from `access.oversight`, which checks the role and
records the auditor's own searches, exports and verifications.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from access import oversight
from access.errors import GatehouseError
from access.oversight import ACTIONS, EventFilter, Outcome, ProofCheck, StoredEvent
from console.errors import show_error

ANY = "any"
T = TypeVar("T")


def utc(value: datetime | None) -> datetime | None:
    """A datetime typed in a box labelled UTC: naive means UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def remembered(key: str, ask: Any, compute: Callable[[], T]) -> T:
    """`compute()` once per distinct `ask`, kept for this browser session: a rerun caused by
    another widget shows the same result and writes no second audit event."""
    held = st.session_state.get(key)
    if held is None or held[0] != ask:
        held = (ask, compute())
        st.session_state[key] = held
    return held[1]


def filter_form(key: str) -> tuple[EventFilter, int]:
    """The log's filters in one form. Returns the filter in force (the last valid one
    submitted, initially none) and how many searches were submitted: each starts again from
    the top. An invalid submission is explained and leaves the filter in force as it was."""
    with st.form(key):
        start, end, who, what, outcome = st.columns([2, 2, 2, 2, 1])
        since = start.datetime_input("From (UTC)", value=None, key=f"{key}_since")
        until = end.datetime_input("To (UTC)", value=None, key=f"{key}_until")
        actor = who.text_input("Actor (subject)", key=f"{key}_actor")
        action = what.selectbox("Action", [ANY, *sorted(ACTIONS)], key=f"{key}_action")
        result = outcome.selectbox("Outcome", [ANY, *Outcome], key=f"{key}_outcome")
        customer, request, grant, ticket, go = st.columns([2, 2, 2, 2, 1],
                                                          vertical_alignment="bottom")
        values = {"customer": customer.text_input("Customer", key=f"{key}_customer"),
                  "request": request.text_input("Request", key=f"{key}_request"),
                  "grant": grant.text_input("Grant", key=f"{key}_grant"),
                  "ticket": ticket.text_input("Ticket", key=f"{key}_ticket")}
        submitted = go.form_submit_button("Search", type="primary", width="stretch")
    if submitted:
        try:
            st.session_state[f"{key}_filter"] = oversight.event_filter(
                since=utc(since), until=utc(until), actor=actor,
                action=None if action == ANY else action,
                outcome=None if result == ANY else str(result), **values)
            st.session_state[f"{key}_searches"] = st.session_state.get(f"{key}_searches", 0) + 1
        except GatehouseError as exc:
            show_error(exc)
    current: EventFilter = st.session_state.get(f"{key}_filter", EventFilter())
    return current, st.session_state.get(f"{key}_searches", 0)


def time_window(key: str, days: int, now: datetime) -> tuple[datetime, datetime]:
    """A From/To pair in UTC, by default the `days` days up to when the page was first opened
    (fixed for the session, so reruns do not move the window)."""
    start, end = st.session_state.setdefault(f"{key}_default", (
        (now - timedelta(days=days)).replace(tzinfo=None, second=0, microsecond=0),
        (now + timedelta(minutes=1)).replace(tzinfo=None, second=0, microsecond=0)))
    left, right = st.columns(2)
    since = left.datetime_input("From (UTC)", value=start, key=f"{key}_since")
    until = right.datetime_input("To (UTC)", value=end, key=f"{key}_until")
    return utc(since) or start.replace(tzinfo=UTC), utc(until) or end.replace(tzinfo=UTC)


def _what(event: StoredEvent) -> str:
    """A short line of what the details say (allow-listed fields only, never values)."""
    d = event.details
    parts = [f"{k}={d[k]}" for k in ("environment", "scope", "action", "row_count", "format",
                                     "filters", "why", "page") if d.get(k) not in (None, "")]
    return " · ".join(str(p) for p in parts)


def events_frame(events: Iterable[StoredEvent]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": e.id, "time (UTC)": e.ts.strftime("%Y-%m-%d %H:%M:%S"), "actor": e.actor,
        "action": e.action, "outcome": e.outcome, "customer": e.customer_id or "",
        "request": e.request_id or "", "grant": e.grant_id or "", "ticket": e.ticket or "",
        "what": _what(e), "reason": e.reason or ""} for e in events],
        columns=["id", "time (UTC)", "actor", "action", "outcome", "customer", "request",
                 "grant", "ticket", "what", "reason"])


def events_table(events: list[StoredEvent], columns: list[str] | None = None) -> None:
    st.dataframe(events_frame(events), hide_index=True, width="stretch",
                 column_order=columns)


def downloads(files: list[Path], mime: str, key: str) -> None:
    """One download button per file. Each reads its file only when clicked, so the console
    holds at most one part in memory, however large the export."""
    for i, path in enumerate(files):
        st.download_button(f"Download {path.name} ({path.stat().st_size / 1e6:.1f} MB)",
                           data=lambda p=path: p.read_bytes(),  # type: ignore[misc]
                           file_name=path.name, mime=mime, key=f"{key}_{i}",
                           on_click="ignore", icon=":material/download:")


def show_proof(check: ProofCheck) -> None:
    proof = check.proof
    verdict = (f"Event {proof.event_id} is leaf {proof.leaf_index} of the signed checkpoint "
               f"of size {proof.checkpoint.size}: the {len(proof.path)}-hash path leads to "
               "its root.")
    if check.holds:
        st.success(verdict, icon=":material/verified:")
    else:
        st.error(f"The inclusion proof of event {proof.event_id} does NOT verify.",
                 icon=":material/gpp_bad:")
    with st.expander("Proof (RFC 6962 inclusion path and the signed checkpoint)"):
        st.json(proof.to_json())

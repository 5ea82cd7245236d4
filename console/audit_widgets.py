"""Widgets the auditor pages share: the filter form, the events table, downloads, a proof.

Display only: every number shown comes from `access.oversight`, which checks the role and
records the auditor's own searches, exports and verifications.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from access import oversight
from access.errors import GatehouseError
from access.oversight import ACTIONS, EventFilter, Outcome, ProofCheck, StoredEvent
from console.errors import show_error
from console.formatting import stamp, when
from console.markup import literal

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
    the top. An invalid submission is explained and leaves the filter in force as it was.

    The boxes show the filter in force: Streamlit forgets a widget's value once its page is
    left, so coming back fills them in again from the filter (what was typed and refused
    stays only while the auditor is still on the page, to be corrected)."""
    current: EventFilter = st.session_state.get(f"{key}_filter", EventFilter())
    _show_in_boxes(key, current)
    with st.form(key):
        # Two rows sized for a 1280-pixel screen: the dates and the action's longest name
        # ("review.campaign.scheduled") in full.
        start, end, what, outcome = st.columns([3, 3, 3, 2])
        since = start.datetime_input("From (UTC)", value=None, key=f"{key}_since")
        until = end.datetime_input("To (UTC)", value=None, key=f"{key}_until")
        action = what.selectbox("Action", [ANY, *sorted(ACTIONS)], key=f"{key}_action")
        result = outcome.selectbox("Outcome", [ANY, *Outcome], key=f"{key}_outcome")
        who, customer, request, grant, ticket, go = st.columns([3, 3, 2, 2, 3, 2],
                                                               vertical_alignment="bottom")
        actor = who.text_input("Actor (subject)", key=f"{key}_actor")
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
    current = st.session_state.get(f"{key}_filter", EventFilter())
    return current, st.session_state.get(f"{key}_searches", 0)


def _show_in_boxes(key: str, flt: EventFilter) -> None:
    """Fill the form's boxes that Streamlit has forgotten with the filter in force."""
    shown: dict[str, object] = {
        "since": _naive(flt.since), "until": _naive(flt.until), "action": flt.action or ANY,
        "outcome": Outcome(flt.outcome) if flt.outcome else ANY, "actor": flt.actor or "",
        "customer": flt.customer or "", "request": flt.request or "",
        "grant": flt.grant or "", "ticket": flt.ticket or ""}
    for name, value in shown.items():
        st.session_state.setdefault(f"{key}_{name}", value)


def _naive(moment: datetime | None) -> datetime | None:
    """A UTC time as the boxes labelled UTC hold it."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def time_window(key: str, days: int, now: datetime) -> tuple[datetime, datetime]:
    """A From/To pair in UTC. From is by default `days` days before the page was first opened
    (fixed for the session, so reruns do not move it); To, left empty, means now: each run
    counts up to the moment it runs, so events arriving while the auditor stays on the page
    are counted at the next run. A To the auditor sets stays as set."""
    start = st.session_state.setdefault(
        f"{key}_default", (now - timedelta(days=days)).replace(tzinfo=None, second=0,
                                                               microsecond=0))
    left, right = st.columns(2)
    since = left.datetime_input("From (UTC)", value=start, key=f"{key}_since")
    until = right.datetime_input("To (UTC), empty: now", value=None, key=f"{key}_until",
                                 help="Left empty, every run counts up to the moment it runs.")
    return utc(since) or start.replace(tzinfo=UTC), utc(until) or now


def _what(event: StoredEvent) -> str:
    """A short line of what the details say (allow-listed fields only, never values)."""
    d = event.details
    # Most telling first: a narrow column shows the start of the line.
    parts = [f"{k}={d[k]}" for k in ("scope", "action", "row_count", "format", "filters", "why",
                                     "page", "environment") if d.get(k) not in (None, "")]
    return " · ".join(str(p) for p in parts)


EVENT_COLUMNS = ["id", "time (UTC)", "actor", "action", "outcome", "customer", "request",
                 "grant", "ticket", "what", "reason"]
# What the log table shows by default: sized to fit beside the sidebar on a 1280-pixel screen
# (about 820 px) without a horizontal scroll. The rest is in the frame (the table's column
# menu can show it) and in the event's dialog, which also has the reason in full.
LOG_COLUMNS = ["time (UTC)", "actor", "action", "outcome", "customer", "reason"]
_CONFIG: dict[str, Any] = {
    "id": st.column_config.NumberColumn("id", width=60, format="%d"),
    "time (UTC)": st.column_config.TextColumn(width=140),
    "actor": st.column_config.TextColumn(width=110),
    "action": st.column_config.TextColumn(width=180),
    "outcome": st.column_config.TextColumn(width=70),
    "customer": st.column_config.TextColumn(width=85),
    "request": st.column_config.TextColumn(width=65),
    "grant": st.column_config.TextColumn(width=60),
    "ticket": st.column_config.TextColumn(width=90),
    "what": st.column_config.TextColumn(width=160),
    "reason": st.column_config.TextColumn(
        "reason / justification", width=190,
        help="Select the row to read it in full, with the whole event"),
}


def events_frame(events: Iterable[StoredEvent]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": e.id, "time (UTC)": stamp(e.ts, seconds=True), "actor": e.actor,
        "action": e.action, "outcome": e.outcome, "customer": e.customer_id or "",
        "request": e.request_id or "", "grant": e.grant_id or "", "ticket": e.ticket or "",
        "what": _what(e), "reason": e.reason or ""} for e in events], columns=EVENT_COLUMNS)


ROW_PX = 35  # Streamlit's default row height; the header is one more row


def events_table(events: list[StoredEvent], key: str, columns: list[str] = LOG_COLUMNS,
                 rows: int = 25) -> StoredEvent | None:
    """The events, one per line, up to `rows` of them visible without scrolling (the page
    scrolls, not a small box). One row can be selected: returns its event, or None."""
    state = st.dataframe(events_frame(events), hide_index=True, width="stretch",
                         height=ROW_PX * (min(max(len(events), 1), rows) + 1) + 3,
                         column_order=columns, column_config=_CONFIG, key=key,
                         on_select="rerun", selection_mode="single-row")
    chosen = state.selection.rows
    return events[chosen[0]] if chosen and chosen[0] < len(events) else None


def _dismissed(key: str) -> None:
    st.session_state[f"{key}_dismissed"] = st.session_state.get(f"{key}_open")


def open_selected(key: str, event: StoredEvent | None,
                  prove: Callable[[int], ProofCheck]) -> None:
    """Open the selected event in a dialog, and keep it open until the person closes it;
    a closed event opens again only when its row is selected anew."""
    if event is None:
        st.session_state.pop(f"{key}_dismissed", None)
        return
    if st.session_state.get(f"{key}_dismissed") == event.id:
        return
    st.session_state[f"{key}_open"] = event.id
    st.dialog(f"Event {event.id}", width="large",
              on_dismiss=functools.partial(_dismissed, key))(event_details)(event, prove)


def event_details(event: StoredEvent, prove: Callable[[int], ProofCheck]) -> None:
    """Everything the log holds of one event, the reason in full and wrapped. Text that
    people or an identity provider typed is shown as text, never as markup."""
    st.markdown(f"**{when(event.ts, seconds=True)}** · `{event.action}` · {event.outcome}")
    who, about = st.columns(2)
    with who:
        st.caption("Who")
        st.text(f"{event.actor}\n{event.actor_sub} at {event.actor_iss}\n"
                f"roles: {event.actor_roles or '-'}\nsession: {event.session_id or '-'}\n"
                f"source IP: {event.source_ip or 'not recorded'}\n"
                f"user agent: {event.user_agent or 'not recorded'}")
    with about:
        st.caption("About")
        st.text(f"customer {event.customer_id or '-'} · request {event.request_id or '-'} · "
                f"grant {event.grant_id or '-'}\nticket {event.ticket or '-'}\n"
                f"target: {event.target_type or '-'} {event.target_id or ''}\n"
                f"policy version: {event.policy_version or '-'}")
    st.caption("Reason / justification")
    st.text(event.reason or "(none given)")
    st.caption("Details")
    st.code(json.dumps(event.details, ensure_ascii=False), language="json", wrap_lines=True)
    if st.button("Check its inclusion proof", key=f"prove_{event.id}"):
        try:
            show_proof(prove(event.id))
        except GatehouseError as exc:
            show_error(exc)


def human_size(size: int) -> str:
    """Bytes as a person reads them: "812 B", "3.5 KB", "35 KB", "1.2 MB" (powers of 1000)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{size} B"


def _serve(path: Path, directory: Path, files: tuple[Path, ...]) -> bytes:
    """The file's bytes, the file then deleted, and the export's directory with its last
    file: nothing of an export stays on the server once it has been downloaded."""
    data = oversight.read_export(path)
    path.unlink(missing_ok=True)
    if not any(p.exists() for p in files):
        oversight.remove_export(directory)
    return data


@dataclass(eq=False)
class ExportFiles:
    """One export's files in its private directory, waiting to be downloaded. Each file is
    deleted as it is served; whatever is left goes when this object does (the page keeps it
    with `console.step_up.keep`, so: a new export, leaving the page, the session ending), and
    after `EXPORT_TTL_S` at the latest."""

    directory: Path
    sizes: dict[Path, int]
    mime: str

    def __post_init__(self) -> None:
        weakref.finalize(self, oversight.remove_export, self.directory)

    @classmethod
    def of(cls, directory: Path, files: list[Path], mime: str) -> ExportFiles:
        return cls(directory, {p: p.stat().st_size for p in files}, mime)


def downloads(export: ExportFiles, key: str) -> None:
    """One download button per file, labelled with its name and real size; each reads its
    file only when clicked (the console holds at most one part in memory), and once served
    the button gives way, on the next run, to a line saying so.

    The click must not rerun the page: a rerun replaces the button's deferred file id, and
    when it wins the race with the browser's request for the file (it did, on a loaded
    machine) the file never comes while the page would already say "Downloaded"."""
    files = tuple(export.sizes)
    for i, (path, size) in enumerate(export.sizes.items()):
        if not path.exists():
            st.caption(f"Downloaded {literal(path.name)} ({human_size(size)}); removed from "
                       "the server.")
            continue
        # The callable holds paths only, never `export`: dropping that removes the files.
        st.download_button(f"Download {path.name} ({human_size(size)})",
                           data=functools.partial(_serve, path, export.directory, files),
                           file_name=path.name, mime=export.mime, key=f"{key}_{i}",
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

"""Audit log (auditors): filter, page newest first, look at one event, export what matches."""

from __future__ import annotations

import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from access.oversight import EventFilter, ExportFormat
from access.principal import Principal
from console.audit_widgets import downloads, events_table, filter_form, remembered, show_proof
from console.errors import show_error
from console.gate import page
from console.step_up import Ask, sensitive

gh, auditor = page(Action.AUDIT_VIEW)
st.title("Audit log")
flt, searches = filter_form("log")
size = st.session_state.get("log_rows", 25)
# The cursors of the pages walked so far (None: the top). Each search, and each change of
# page size, starts again from the top with fresh results.
pages = st.session_state.setdefault("log_pages", {}).setdefault((flt, size, searches), [None])

try:
    found = remembered("log_page", (flt, size, searches, pages[-1]),
                       lambda: oversight.search(gh, auditor, flt, pages[-1], size))
except GatehouseError as exc:
    show_error(exc)
    st.stop()
events_table(found.events)

newer, where, older, rows = st.columns([1, 3, 1, 1], vertical_alignment="center")
newer.button("Newer", disabled=len(pages) == 1, on_click=pages.pop, width="stretch")
where.caption(f"Page {len(pages)} · {flt.summary()} · newest first")
older.button("Older", disabled=found.next is None, on_click=pages.append,
             args=(found.next,), width="stretch")
rows.selectbox("Rows per page", [25, 50, 100, 200], key="log_rows",
               label_visibility="collapsed")

if found.events:
    with st.expander("One event: details and inclusion proof"):
        shown = {e.id: e for e in found.events}
        chosen = shown[st.selectbox(
            "Event", list(shown), key="log_event",
            format_func=lambda i: f"{i} · {shown[i].ts:%Y-%m-%d %H:%M:%S} · {shown[i].action}"
                                  f" · {shown[i].actor}") or found.events[0].id]
        st.json({"actor": f"{chosen.actor_sub} ({chosen.actor_iss})",
                 "roles": chosen.actor_roles, "session": chosen.session_id,
                 "source_ip": chosen.source_ip, "user_agent": chosen.user_agent,
                 "target": f"{chosen.target_type} {chosen.target_id}",
                 "policy_version": chosen.policy_version, "details": chosen.details},
                expanded=False)
        if st.button("Check its inclusion proof", key="log_prove"):
            try:
                show_proof(oversight.prove(gh, auditor, chosen.id))
            except GatehouseError as exc:
                show_error(exc)

with st.expander("Export every event that matches, oldest first"):
    fmt = st.radio("Format", list(ExportFormat), horizontal=True, key="log_format",
                   format_func=lambda f: f.value.upper())
    def export(export_filter: EventFilter, export_format: ExportFormat) -> Ask:
        def act(who: Principal) -> str:
            bar = st.progress(0.0, text="Counting the matching events…")
            try:
                written = oversight.export_events(
                    gh, who, export_filter, export_format, oversight.new_export_dir(),
                    lambda done, total: bar.progress(
                        min(done / max(total, 1), 1.0),
                        text=f"{done:,} of {total:,} events written"))
            finally:
                bar.empty()
            st.session_state["log_export_files"] = (written, export_format)
            return ""  # the files below say what was written
        return Ask(f"Export every event that matches as {export_format.value.upper()}", act)

    clicked = st.button("Export", type="primary", key="log_export")
    sensitive(gh, auditor, "log_export", export(flt, fmt) if clicked and fmt else None)
    if done := st.session_state.get("log_export_files"):
        written, written_fmt = done
        st.success(f"{written.rows:,} events exported ({written_fmt.value.upper()}, "
                   f"{len(written.parts)} file(s)); the export is in the audit log too.")
        downloads(written.parts, written_fmt.mime, "log_download")

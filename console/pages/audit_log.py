"""Audit log (auditors): filter, page newest first, open one event, export what matches."""

from __future__ import annotations

import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from access.oversight import EventFilter, ExportFormat
from access.principal import Principal
from console.audit_widgets import (
    ExportFiles,
    downloads,
    events_table,
    filter_form,
    open_selected,
    remembered,
)
from console.errors import show_error
from console.gate import page
from console.step_up import Ask, keep, kept, sensitive

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

where, newer, older, rows = st.columns([6, 1, 1, 1], vertical_alignment="center")
where.caption(f"Page {len(pages)} · {flt.summary()} · newest first · {len(found.events)} "
              "events shown · select a row to open the event")
newer.button("Newer", disabled=len(pages) == 1, on_click=pages.pop, width="stretch")
older.button("Older", disabled=found.next is None, on_click=pages.append,
             args=(found.next,), width="stretch")
rows.selectbox("Rows per page", [25, 50, 100, 200], key="log_rows",
               label_visibility="collapsed")
# A table per page of results: a row selected on one page is not selected on the next.
table = f"log_table_{abs(hash((flt, size, searches, pages[-1])))}"
chosen = events_table(found.events, table, rows=size)
open_selected(table, chosen, lambda event_id: oversight.prove(gh, auditor, event_id))


def export(export_filter: EventFilter, export_format: ExportFormat) -> Ask:
    def act(who: Principal) -> str:
        directory = oversight.new_export_dir()
        bar = st.progress(0.0, text="Counting the matching events…")
        try:
            written = oversight.export_events(
                gh, who, export_filter, export_format, directory,
                lambda done, total: bar.progress(min(done / max(total, 1), 1.0),
                                                 text=f"{done:,} of {total:,} events written"))
        except BaseException:
            oversight.remove_export(directory)
            raise
        finally:
            bar.empty()
        keep("log_export", (ExportFiles.of(directory, written.parts, export_format.mime),
                            written.rows, export_format))
        return ""  # the files below say what was written
    return Ask(f"Export every event that matches ({export_filter.summary()}) as "
               f"{export_format.value.upper()}", act)


def show_export() -> None:
    """The export this page keeps, if any. In a function, so no module-level name holds the
    files: dropping them from the page's keeping removes them from the server at once."""
    done = kept("log_export")
    if isinstance(done, tuple):
        files: ExportFiles = done[0]
        count: int = done[1]
        written_fmt: ExportFormat = done[2]
        st.success(f"{count:,} events exported ({written_fmt.value.upper()}, "
                   f"{len(files.sizes)} file(s)); the export is in the audit log too. Each "
                   "file is removed from the server once downloaded.")
        downloads(files, "log_download")


with st.expander("Export every event that matches, oldest first"):
    fmt = st.radio("Format", list(ExportFormat), horizontal=True, key="log_format",
                   format_func=lambda f: f.value.upper())
    clicked = st.button("Export", type="primary", key="log_export")
    sensitive(gh, auditor, "log_export", export(flt, fmt) if clicked and fmt else None)
    show_export()

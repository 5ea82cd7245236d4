"""Grant timeline (auditors): what was done with one grant, from request to last read."""

from __future__ import annotations

import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from console.audit_widgets import events_table, open_selected, remembered
from console.errors import show_error
from console.gate import page
from console.markup import literal

gh, auditor = page(Action.AUDIT_VIEW)
st.title("Grant timeline")
with st.form("grant_lookup"):
    box, go = st.columns([4, 1], vertical_alignment="bottom")
    typed = box.text_input("Grant", value=st.query_params.get("grant", ""), placeholder="17")
    go.form_submit_button("Show", type="primary", width="stretch")
if not typed.strip():
    st.info("Type a grant number: its request, approvals and every read, reveal and export "
            "made under it, in order.")
    st.stop()

try:
    found = remembered("grant_timeline", typed.strip(),
                       lambda: oversight.grant_timeline(gh, auditor, typed))
except GatehouseError as exc:
    show_error(exc)
    st.stop()
if found is None:
    st.warning(f"The audit log never mentions grant {literal(typed.strip())}.")
    st.stop()

st.subheader(f"Grant {found.grant_id}")
# Plain text: display names come from identity tokens and are never rendered as markup.
st.text(f"request {found.request_id or '-'} · customer {found.customer_id or '-'} · ticket "
        f"{found.ticket or '-'} · requested by {found.holder or '-'} · approved by "
        f"{', '.join(found.approvers) or 'nobody'}")
counts = found.counts
reads, reveals, exports, denied = st.columns(4)
reads.metric("Reads", counts["data.read"])
reveals.metric("Reveals", counts["data.revealed"])
exports.metric("Exports", counts["data.exported"])
denied.metric("Refused", counts["data.denied"])
if found.truncated:
    st.warning(f"Showing the first {len(found.events):,} of {counts.total():,} events; "
               "the audit log page filtered on this grant has them all.")
# Customer, ticket and grant are the same on every row: said once above.
st.caption("Every event under this grant, oldest first; select a row to open the event.")
table = f"grant_table_{found.grant_id}"
chosen = events_table(found.events, table,
                      ["time (UTC)", "actor", "action", "what", "reason"],
                      rows=100)
open_selected(table, chosen, lambda event_id: oversight.prove(gh, auditor, event_id))

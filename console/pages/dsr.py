"""Data-subject requests (privacy officer; admins see them and approve rectifications and
erasures): open requests by due date with their clock and assignee, filing a new one, and
the steps of the chosen one (`console.dsr_steps`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action, allowed
from access.dsr import requests as dsr
from access.errors import GatehouseError
from access.text import MAX_REASON
from console.dsr_steps import steps
from console.errors import show_error
from console.gate import page

FILING_OPEN = "dsr_filing_open"  # the filing expander's open state
FILED = "dsr_filed"  # set by a filing: the next run closes the expander

gh, principal = page(Action.DSR_VIEW)
st.title("Data-subject requests")
st.caption("GDPR: one month from receipt, one extension of up to two months while the first "
           "runs. CCPA: 45 days, one extension of 45. The subject is stored as a keyed blind "
           "index and a hint, never the email. Every step, and every refusal, is logged.")

open_requests = dsr.requests(gh, principal)
if open_requests:
    # a plain table: its cells wrap rather than cut the subject or the status short beside
    # the sidebar (a grid's columns are cut); an extension is in the request's facts
    st.table(pd.DataFrame([{
        "id": v.id, "right": v.kind, "law": v.jurisdiction.upper(),
        "subject": v.subject_hint, "due": f"{v.due_at:%Y-%m-%d}", "clock": str(v.clock),
        "identity": v.identity_state, "status": v.status.replace("_", " "),
        "assignee": v.assignee} for v in open_requests]), hide_index=True)
else:
    st.info("No open data-subject request.")

if allowed(principal, Action.DSR_FILE):
    if st.session_state.pop(FILED, False):
        # the new request shows below; the emptied form folds away rather than stand
        # between the list and the request it just filed
        st.session_state[FILING_OPEN] = False
    # cleared on submit: the email never stays on the screen
    with st.expander("File a request", expanded=not open_requests and
                     FILING_OPEN not in st.session_state, key=FILING_OPEN,
                     on_change="rerun"), st.form("dsr_file", clear_on_submit=True):
        kind = st.selectbox("Right", [str(k) for k in dsr.Kind])
        jurisdiction = st.radio("Jurisdiction", ["gdpr", "ccpa"], horizontal=True)
        email = st.text_input("The subject's email (used to find them; not stored)",
                              max_chars=254)
        grounds = st.text_input("Grounds (objections only)", max_chars=MAX_REASON)
        if st.form_submit_button("File", type="primary"):
            try:
                filed = dsr.file(gh, principal, kind, jurisdiction, email,
                                 grounds=grounds or None)
                st.session_state["dsr_pick"] = filed  # the new request is the one shown
                st.session_state[FILED] = True
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

# the chosen request stays shown after its step closed it (its result and downloads below)
chosen = st.session_state.get("dsr_pick")
options = sorted({v.id for v in open_requests} | ({chosen} if isinstance(chosen, int) else set()))
if options:
    picked = st.selectbox("Request", options, key="dsr_pick")
    steps(gh, principal, dsr.detail(gh, principal, picked))

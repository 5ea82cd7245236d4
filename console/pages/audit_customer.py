"""Customer access (auditors): who touched one customer's data, when, under which ticket."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from console.audit_widgets import remembered, time_window
from console.errors import show_error
from console.formatting import stamp
from console.gate import page
from console.markup import literal

gh, auditor = page(Action.AUDIT_VIEW)
st.title("Customer access")
customer = st.text_input("Customer", value=st.query_params.get("customer", ""),
                         placeholder="cust-0042").strip()
since, until = time_window("customer", days=90, now=gh.now())
if not customer:
    st.info("Type a customer id: every person who read, revealed, exported or was refused "
            "its data, with ticket, grant, and first and last time.")
    st.stop()

try:
    found = remembered("customer_access", (customer, since, until),
                       lambda: oversight.customer_access(gh, auditor, customer, since, until))
except GatehouseError as exc:
    show_error(exc)
    st.stop()

if not found:
    st.info(f"Nobody touched the data of {literal(customer)} in this window.")
st.dataframe(pd.DataFrame([{
    "who": a.actor_name or a.actor_sub, "subject": a.actor_sub, "ticket": a.ticket,
    "grant": a.grant_id, "first (UTC)": stamp(a.first),
    "last (UTC)": stamp(a.last), "reads": a.counts["data.read"],
    "reveals": a.counts["data.revealed"], "exports": a.counts["data.exported"],
    "refused": a.counts["data.denied"]} for a in found],
    columns=["who", "subject", "ticket", "grant", "first (UTC)", "last (UTC)", "reads",
             "reveals", "exports", "refused"]), hide_index=True, width="stretch",
    # Fits beside the sidebar on a 1280-pixel screen; the subject is one click away in the
    # table's column menu.
    column_order=["who", "ticket", "grant", "first (UTC)", "last (UTC)", "reads", "reveals",
                  "exports", "refused"],
    column_config={"who": st.column_config.TextColumn(width=130, help="Display name; the "
                                                      "subject is in the hidden column"),
                   "ticket": st.column_config.TextColumn(width=90),
                   "grant": st.column_config.TextColumn(width=60),
                   "first (UTC)": st.column_config.TextColumn(width=125),
                   "last (UTC)": st.column_config.TextColumn(width=125),
                   **{n: st.column_config.NumberColumn(width=60)
                      for n in ("reads", "reveals", "exports", "refused")}},
    height=35 * (min(max(len(found), 1), 25) + 1) + 3)
st.caption("Each row is one person under one ticket and grant. The grant timeline shows "
           "what was read and why; the audit log filtered on the customer shows every event.")

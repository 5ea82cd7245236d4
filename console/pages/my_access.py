"""My access (support): my grants with their time left, my requests."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.workflow import cancel_request, grants, queries
from console.errors import show_error
from console.gate import page

gh, me = page(Action.REQUEST_CREATE)
now = gh.now()
st.title("My access")

mine = queries.my_grants(gh, me)
live = [g for g in mine if g.is_live]
st.subheader("Grants")
if not live:
    st.info("No live grant. Request access for a ticket first.")
for g in live:
    left = g.ends_at - now
    minutes = int(left.total_seconds() // 60)
    st.write(f"**Grant {g.id}** · {g.environment} · customer `{g.customer_id}` · "
             f"{', '.join(g.scopes)} · {', '.join(g.actions)} · {g.state}, "
             f"ends {g.ends_at:%H:%M} UTC ({minutes // 60} h {minutes % 60} min left)")
    if st.button("Release now", key=f"release_{g.id}"):
        try:
            grants.release(gh, me, g.id)
            st.rerun()
        except GatehouseError as exc:
            show_error(exc)

st.subheader("Requests")
mine_requests = queries.my_requests(gh, me)
st.dataframe(pd.DataFrame([{
    "id": r.id, "status": r.status, "customer": r.customer_id, "environment": r.environment,
    "scopes": ", ".join(r.scopes), "actions": ", ".join(r.actions),
    "approvals": f"{r.approvals}/{r.approvals_required}", "ticket": r.ticket,
    "filed": r.created_at} for r in mine_requests]), hide_index=True, width="stretch")
pending = [r.id for r in mine_requests if r.is_pending]
if pending:
    with st.form("cancel"):
        choice = st.selectbox("Pending request", pending)
        if st.form_submit_button("Cancel request") and choice is not None:
            try:
                cancel_request.cancel(gh, me, choice)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

"""Grants (admins): who holds live access now; revoke with a reason."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.workflow import grants, queries
from console.errors import show_error
from console.gate import page

gh, admin = page(Action.GRANTS_VIEW_ALL)
st.title("Grants")
live = queries.all_grants(gh, admin)
st.dataframe(pd.DataFrame([{
    "grant": g.id, "holder": g.holder, "customer": g.customer_id, "environment": g.environment,
    "scopes": ", ".join(g.scopes), "actions": ", ".join(g.actions), "state": g.state,
    "ends": g.ends_at, "ticket": g.ticket, "break-glass": g.breakglass,
    "needs review": g.needs_review} for g in live]), hide_index=True, width="stretch")
revocable = [g.id for g in live if g.is_live]
if revocable:
    with st.form("revoke"):
        grant_id = st.selectbox("Grant", revocable)
        reason = st.text_input("Reason (required)")
        if st.form_submit_button("Revoke", type="primary") and grant_id is not None:
            try:
                grants.revoke(gh, admin, grant_id, reason)
                st.success(f"Grant {grant_id} revoked; the next read under it is refused.")
            except GatehouseError as exc:
                show_error(exc)

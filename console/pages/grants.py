"""Grants (admins): who holds live access now; revoke with a reason."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.principal import Principal
from access.workflow import grants, queries
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive, show_result

gh, admin = page(Action.GRANTS_VIEW_ALL)
st.title("Grants")
live = queries.all_grants(gh, admin)
if not live:
    st.info("No live grant, and no break-glass grant waiting for review.")
else:
    st.dataframe(pd.DataFrame([{
    "grant": g.id, "holder": g.holder, "customer": g.customer_id, "environment": g.environment,
    "scopes": ", ".join(g.scopes), "actions": ", ".join(g.actions), "state": g.state,
    "ends": g.ends_at, "ticket": g.ticket, "break-glass": g.breakglass,
    "needs review": g.needs_review} for g in live]), hide_index=True, width="stretch")


def revoke(grant: queries.GrantView, reason: str) -> Ask:
    def act(who: Principal) -> str:
        grants.revoke(gh, who, grant.id, reason)
        return f"Grant {grant.id} revoked; the next read under it is refused."
    return Ask(f"Revoke grant {grant.id} of {literal(grant.holder)} on `{grant.customer_id}`",
               act)


revocable = {g.id: g for g in live if g.is_live}
if revocable:
    with st.form("revoke"):
        grant_id = st.selectbox("Grant", list(revocable), format_func=lambda i: (
            f"Grant {i} · {revocable[i].holder} · {revocable[i].customer_id} · ticket "
            f"{revocable[i].ticket or '-'}"))
        reason = st.text_input("Reason (required)")
        asked = st.form_submit_button("Revoke", type="primary") and grant_id is not None
    sensitive(gh, admin, "revoke", revoke(revocable[grant_id], reason)
              if asked and grant_id is not None else None)
else:
    show_result("revoke")  # the grant it ended has left the list

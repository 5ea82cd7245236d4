"""My access (support): my grants with their time left, my requests."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.principal import Principal
from access.workflow import cancel_request, grants, queries
from console.errors import show_error
from console.formatting import duration, left, when
from console.gate import page
from console.step_up import Ask, results, sensitive, show_result

gh, me = page(Action.REQUEST_CREATE)
now = gh.now()
st.title("My access")


def release(g: queries.GrantView) -> Ask:
    def act(who: Principal) -> str:
        grants.release(gh, who, g.id)
        return f"Grant {g.id} released; reads under it are refused from now on."
    return Ask(f"Release grant {g.id} on customer `{g.customer_id}` now, "
               f"{left(g.ends_at, now)}: you can no longer read under it, and getting access "
               "again needs a new request", act, confirm=True)


mine = queries.my_grants(gh, me)
live = [g for g in mine if g.is_live]
st.subheader("Grants")
for key in results("release_"):  # a released grant has left the list; its result stays
    if int(key.removeprefix("release_")) not in {g.id for g in live}:
        show_result(key)
if not live:
    st.info("No live grant. Request access for a ticket first.")
for g in live:
    with st.container(border=True):
        st.write(f"**Grant {g.id}** · {g.environment} · customer `{g.customer_id}` · "
                 f"{', '.join(g.scopes)} · {', '.join(g.actions)} · {g.state}, "
                 f"ends {when(g.ends_at)} ({left(g.ends_at, now)})")
        ask = release(g) if st.button("Release now", key=f"release_{g.id}") else None
        sensitive(gh, me, f"release_{g.id}", ask)

st.subheader("Requests")
mine_requests = queries.my_requests(gh, me)
st.dataframe(pd.DataFrame([{
    "id": r.id, "status": str(r.status), "customer": r.customer_id, "env": r.environment,
    "scopes": ", ".join(r.scopes), "actions": ", ".join(r.actions),
    "duration": duration(r.duration), "approvals": f"{r.approvals}/{r.approvals_required}",
    "ticket": r.ticket or "-", "filed (UTC)": when(r.created_at).removesuffix(" UTC")}
    for r in mine_requests]), hide_index=True, width="stretch")
pending = [r.id for r in mine_requests if r.is_pending]
if pending:
    with st.form("cancel"):
        choice = st.selectbox("Pending request", pending, index=None,
                              placeholder="Choose a request")
        if st.form_submit_button("Cancel request") and choice is not None:
            try:
                cancel_request.cancel(gh, me, choice)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

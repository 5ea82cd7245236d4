"""Grants (admins): who holds live access now; revoke with a reason, after a confirmation
that names the grant, its holder and the reason (the revocation's own check of the reason runs
on the click, before the confirmation)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.principal import Principal
from access.text import MAX_REASON, checked_reason
from access.workflow import grants, queries
from console.formatting import stamp, when
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive, show_result

gh, admin = page(Action.GRANTS_VIEW_ALL)
st.title("Grants")
live = queries.all_grants(gh, admin)
# Widths in pixels that add up to less than the main column of a 1280 px screen, so nothing is
# cut off on the right: related fields share a column.
_WIDTHS = {"grant": 55, "holder": 120, "customer": 142, "access": 130, "state": 70,
           "ends (UTC)": 118, "ticket": 85, "break-glass": 100}
if not live:
    st.info("No live grant, and no break-glass grant waiting for review.")
else:
    st.dataframe(pd.DataFrame([{
        "grant": g.id, "holder": g.holder, "customer": f"{g.customer_id} ({g.environment})",
        "access": f"{', '.join(g.scopes)}: {', '.join(g.actions)}", "state": str(g.state),
        "ends (UTC)": stamp(g.ends_at), "ticket": g.ticket or "-",
        "break-glass": ("needs review" if g.needs_review else "yes") if g.breakglass else ""}
        for g in live]), hide_index=True, width="stretch", column_config={
            name: st.column_config.Column(width=px) for name, px in _WIDTHS.items()})


def label(g: queries.GrantView) -> str:
    return (f"Grant {g.id} · {g.holder} · {g.customer_id} ({g.environment}) · ticket "
            f"{g.ticket or '-'} · ends {when(g.ends_at)}")


def revoke(grant: queries.GrantView, reason: str) -> Ask:
    def act(who: Principal) -> str:
        grants.revoke(gh, who, grant.id, reason)
        return (f"Grant {grant.id} revoked; {grant.holder}'s next read under it is refused.")
    return Ask(f"Revoke grant {grant.id} of {literal(grant.holder)} on customer "
               f"`{grant.customer_id}` ({grant.environment}, ticket `{grant.ticket or '-'}`) "
               f"now, for the reason “{literal(reason.strip())}”: their access ends at once, "
               "the reason is recorded and shown to them", act, confirm=True,
               check=lambda _: checked_reason(reason),
               clear={"revoke_grant": None, "revoke_reason": ""})


revocable = {g.id: g for g in live if g.is_live}
if revocable:
    st.subheader("Revoke a grant")
    with st.form("revoke"):
        grant_id = st.selectbox("Grant", list(revocable), index=None,
                                placeholder="Choose a grant", key="revoke_grant",
                                format_func=lambda i: label(revocable[i]))
        reason = st.text_input("Reason (required)", max_chars=MAX_REASON, key="revoke_reason")
        asked = st.form_submit_button("Revoke", type="primary")
    if asked and grant_id is None:
        st.error("Choose the grant to revoke.", icon=":material/edit_off:")
    sensitive(gh, admin, "revoke", revoke(revocable[grant_id], reason)
              if asked and grant_id is not None else None)
else:
    show_result("revoke")  # the grant it ended has left the list

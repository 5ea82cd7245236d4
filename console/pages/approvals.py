"""Approvals (admins): decide pending requests; review break-glass access."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.principal import Principal
from access.workflow import break_glass, decide_request, queries
from console.errors import show_error
from console.gate import page
from console.markup import literal
from console.step_up import Act, Ask, results, sensitive, show_result

gh, admin = page(Action.APPROVALS_VIEW)


def decision(request_id: int, approve: bool, comment: str) -> Act:
    def act(approver: Principal) -> str:
        outcome = decide_request.decide(gh, approver, request_id, approve, comment)
        return (f"Request {request_id}: {outcome.status} "
                f"({outcome.approvals}/{outcome.approvals_required} approvals).")
    return act



st.title("Approvals")

for g in (g for g in queries.all_grants(gh, admin) if g.needs_review):
    with st.container(border=True):
        st.error(f"Break-glass grant {g.id}: {literal(g.holder)} on customer `{g.customer_id}` "
                 f"({', '.join(g.scopes)}), {g.state}. Review required.")
        note = st.text_input("Review note", key=f"review_note_{g.id}")
        if st.button("Record review", key=f"review_{g.id}"):
            try:
                break_glass.review(gh, admin, g.id, note)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

queue = queries.approval_queue(gh, admin)
for key in results("decide_"):  # decided requests whose card has left the queue
    if int(key.removeprefix("decide_")) not in {item.request.id for item in queue}:
        show_result(key)
if not queue:
    st.info("Nothing waiting for you.")
for item in queue:
    r = item.request
    with st.container(border=True):
        st.markdown(f"**Request {r.id}** by {literal(r.requester)} · `{r.environment}` · customer "
                    f"`{r.customer_id}` · ticket `{r.ticket or '-'}`")
        st.write(f"Scopes: {', '.join(r.scopes)} · actions: {', '.join(r.actions)} · "
                 f"{r.duration} · approvals {r.approvals}/{r.approvals_required} · "
                 f"policy `{r.policy_version[:12]}`")
        st.text(r.justification)  # plain text: a justification is never rendered as markup
        if item.history:
            st.caption(f"{literal(r.requester)}'s recent requests for this customer")
            st.dataframe(pd.DataFrame([{"id": h.id, "status": h.status, "filed": h.created_at,
                                        "scopes": ", ".join(h.scopes), "ticket": h.ticket}
                                       for h in item.history]), hide_index=True)
        comment = st.text_input("Comment", key=f"comment_{r.id}")
        approve, deny = st.columns(2)
        ask = None
        for column, verb, yes in ((approve, "Approve", True), (deny, "Deny", False)):
            if column.button(verb, key=f"{verb.lower()}_{r.id}",
                             type="primary" if yes else "secondary"):
                ask = Ask(f"{verb} request {r.id} for {r.requester}: {r.customer_id}, "
                          f"{r.environment}, {r.duration}", decision(r.id, yes, comment))
        sensitive(gh, admin, f"decide_{r.id}", ask)

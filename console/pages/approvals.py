"""Approvals (admins): decide pending requests; review break-glass access."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError, StepUpRequired
from access.workflow import break_glass, decide_request, queries
from console.errors import show_error
from console.gate import page
from console.markup import literal
from console.step_up import step_up_form

gh, admin = page(Action.APPROVALS_VIEW)
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
        if approve.button("Approve", key=f"approve_{r.id}", type="primary"):
            st.session_state["decision"] = (r.id, True, comment)
        if deny.button("Deny", key=f"deny_{r.id}"):
            st.session_state["decision"] = (r.id, False, comment)

if decision := st.session_state.get("decision"):
    request_id, approve, comment = decision
    try:
        outcome = decide_request.decide(gh, admin, request_id, approve, comment)
        del st.session_state["decision"]
        st.success(f"Request {request_id}: {outcome.status} "
                   f"({outcome.approvals}/{outcome.approvals_required} approvals).")
    except StepUpRequired as exc:
        show_error(exc)
        step_up_form(gh, admin, "decision")
    except GatehouseError as exc:
        del st.session_state["decision"]
        show_error(exc)

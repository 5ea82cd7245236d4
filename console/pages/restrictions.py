"""Restrictions (admins): pause all processing of one customer's data (GDPR Art. 18), or lift
such a pause. Each decision needs a reason and a fresh code."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.data import restrictions
from access.errors import GatehouseError, StepUpRequired
from access.text import MAX_REASON
from console.errors import show_error
from console.gate import page
from console.step_up import step_up_form

gh, admin = page(Action.RESTRICTIONS_VIEW)
st.title("Restrictions")
st.caption("A restricted customer's data is served to nobody, under any grant, and no access "
           "to it can be requested, approved or opened by break-glass until the restriction "
           "is lifted. Every refusal is logged.")

if done := st.session_state.pop("restriction_done", None):
    st.success(done)

in_force = restrictions.restrictions(gh, admin)
if in_force:
    st.dataframe(pd.DataFrame([{
        "customer": r.customer_id, "environment": r.environment, "reason": r.reason,
        "restricted by": r.restricted_by, "since": r.restricted_at} for r in in_force]),
        hide_index=True, width="stretch")
else:
    st.info("No customer is restricted.")

with st.form("restriction"):
    lift = st.radio("Decision", ["Restrict", "Lift"], horizontal=True)
    environment = st.selectbox("Environment", list(gh.policy.environments))
    customer = st.text_input("Customer id", max_chars=64)
    reason = st.text_input("Reason (required)", max_chars=MAX_REASON)
    submitted = st.form_submit_button("Apply", type="primary")
if submitted:
    st.session_state["pending_restriction"] = (lift == "Lift", environment, customer.strip(),
                                               reason)

if pending := st.session_state.get("pending_restriction"):
    lifting, environment, customer, reason = pending
    try:
        if lifting:
            restrictions.lift(gh, admin, environment, customer, reason)
        else:
            restrictions.restrict(gh, admin, environment, customer, reason)
        del st.session_state["pending_restriction"]
        st.session_state["restriction_done"] = (
            f"{'Lifted the restriction of' if lifting else 'Restricted'} customer "
            f"`{customer}` in {environment}.")
        st.rerun()  # the list above shows the change
    except StepUpRequired as exc:
        show_error(exc)
        step_up_form(gh, admin, "restriction")
    except GatehouseError as exc:
        del st.session_state["pending_restriction"]
        show_error(exc)

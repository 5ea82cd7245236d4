"""Restrictions (admins): pause all processing of one customer's data (GDPR Art. 18), or lift
such a pause. Each decision needs a reason, is checked on the click (customer, reason) and is
confirmed naming what it does, with a fresh code first when the last one is stale."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.data import restrictions
from access.principal import Principal
from access.text import MAX_REASON
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive

gh, admin = page(Action.RESTRICTIONS_VIEW)
st.title("Restrictions")
st.caption("A restricted customer's data is served to nobody, under any grant, and no access "
           "to it can be requested, approved or opened by break-glass until the restriction "
           "is lifted. Every refusal is logged.")

in_force = restrictions.restrictions(gh, admin)
if in_force:
    # Sized to fit beside the sidebar; the reason takes the rest, and the whole of it shows
    # on hover. "restricted by" names the subject (the issuer is the console's own).
    st.dataframe(pd.DataFrame([{
        "customer": r.customer_id, "environment": r.environment, "reason": r.reason,
        "restricted by": r.restricted_by.partition("|")[2] or r.restricted_by,
        "since (UTC)": f"{r.restricted_at:%Y-%m-%d %H:%M}"} for r in in_force]),
        hide_index=True, width="stretch", column_config={
            "customer": st.column_config.TextColumn(width=95),
            "environment": st.column_config.TextColumn(width=100),
            "restricted by": st.column_config.TextColumn(width=120),
            "since (UTC)": st.column_config.TextColumn(width=130)})
else:
    st.info("No customer is restricted.")

with st.form("restriction"):
    lift = st.radio("Decision", ["Restrict", "Lift"], horizontal=True)
    environment = st.selectbox("Environment", list(gh.policy.environments))
    customer = st.text_input("Customer id", max_chars=64, key="restriction_customer")
    reason = st.text_input("Reason (required)", max_chars=MAX_REASON, key="restriction_reason")
    submitted = st.form_submit_button("Apply", type="primary")


def decide(lifting: bool, environment: str, customer: str, reason: str) -> Ask:
    what = (f"{'Lift the restriction of' if lifting else 'Restrict'} customer `{customer}` "
            f"in {environment}, for the reason “{literal(reason.strip())}”: ")
    what += ("its data can be served, requested and approved again" if lifting else
             "nobody is served its data, under any grant, and no access to it can be "
             "requested, approved or opened by break-glass until the restriction is lifted")

    def act(who: Principal) -> str:
        (restrictions.lift if lifting else restrictions.restrict)(
            gh, who, environment, customer, reason)
        return f"{'Lifted the restriction of' if lifting else 'Restricted'} customer " \
               f"`{customer}` in {environment}."
    return Ask(what, act, confirm=True, needs_code=True,
               check=lambda _: restrictions.check(gh, environment, customer, reason, lifting),
               clear={"restriction_customer": "", "restriction_reason": ""})


sensitive(gh, admin, "restriction",
          decide(lift == "Lift", environment, customer.strip(), reason) if submitted else None)

"""Users (admins): disable or enable an account, reset an authenticator."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.identity import mfa, users
from access.principal import Principal
from access.text import MAX_REASON
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive

gh, admin = page(Action.USERS_VIEW)
st.title("Users")
people = users.list_users(gh, admin)
st.dataframe(pd.DataFrame([{
    "name": u.name, "subject": u.sub, "issuer": u.iss, "email": u.email, "mfa": u.mfa,
    "last sign-in": u.last_login_at, "disabled": u.disabled_at} for u in people]),
    hide_index=True, width="stretch")

labels = {u.id: f"{u.name} ({u.sub})" for u in people if u.id != admin.user_id}
with st.form("user_action"):
    target = st.selectbox("User", list(labels), format_func=labels.__getitem__)
    action = st.radio("Action", ["Disable", "Enable", "Reset authenticator"], horizontal=True)
    reason = st.text_input("Reason (required)", max_chars=MAX_REASON)
    submitted = st.form_submit_button("Apply", type="primary")


def user_action(target: int, action: str, reason: str) -> Ask:
    who = literal(labels[target])

    def act(me: Principal) -> str:
        if action == "Disable":
            ended = users.disable(gh, me, target, reason)
            return f"Disabled {who}; {ended} session(s) ended."
        if action == "Enable":
            users.enable(gh, me, target, reason)
            return f"Enabled {who}."
        mfa.reset(gh, me, target, reason)
        return f"Reset the authenticator of {who}; they enroll again at their next sign-in."
    return Ask(f"{action} {who}", act)


sensitive(gh, admin, "user_action",
          user_action(target, action, reason) if submitted and target is not None else None)

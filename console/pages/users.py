"""Users (admins): disable or enable an account, reset an authenticator."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.errors import GatehouseError, StepUpRequired
from access.identity import mfa, users
from access.text import MAX_REASON
from console.errors import show_error
from console.gate import page
from console.markup import literal
from console.step_up import step_up_form

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
if submitted and target is not None:
    st.session_state["pending_user_action"] = (target, action, reason)

if pending := st.session_state.get("pending_user_action"):
    target, action, reason = pending
    try:
        if action == "Disable":
            ended = users.disable(gh, admin, target, reason)
            st.success(f"Disabled {literal(labels[target])}; {ended} session(s) ended.")
        elif action == "Enable":
            users.enable(gh, admin, target, reason)
            st.success(f"Enabled {literal(labels[target])}.")
        else:
            mfa.reset(gh, admin, target, reason)
            st.success(f"Reset the authenticator of {literal(labels[target])}; they enroll "
                       "again at their next sign-in.")
        del st.session_state["pending_user_action"]
    except StepUpRequired as exc:
        show_error(exc)
        step_up_form(gh, admin, "users")
    except GatehouseError as exc:
        del st.session_state["pending_user_action"]
        show_error(exc)

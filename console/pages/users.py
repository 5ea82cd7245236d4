"""Users (admins): disable or enable an account, reset an authenticator.

Nothing is chosen for the admin: no person, no action. Each action needs a fresh code and an
explicit confirmation naming what will happen.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.identity import mfa, users
from access.principal import Principal
from access.text import MAX_REASON, checked_reason
from console.formatting import when
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive

gh, admin = page(Action.USERS_VIEW)
st.title("Users")
people = users.list_users(gh, admin)
st.dataframe(pd.DataFrame([{
    "name": u.name, "subject": u.sub, "email": u.email, "mfa": u.mfa,
    "last sign-in": when(u.last_login_at), "disabled": when(u.disabled_at) if u.disabled_at
    else "", "issuer": u.iss} for u in people]), hide_index=True, width="stretch")

EFFECTS = {  # what each action does, as the confirmation says it
    "Disable": "they are signed out everywhere at once and cannot sign in until enabled",
    "Enable": "they can sign in again",
    "Reset authenticator": "their authenticator stops working; they enroll a new one at "
                           "their next sign-in",
}
labels = {u.id: f"{u.name} ({u.sub})" for u in people if u.id != admin.user_id}
st.subheader("Change an account")
with st.form("user_action"):
    target = st.selectbox("User", list(labels), format_func=labels.__getitem__, index=None,
                          placeholder="Choose a person", key="user_target")
    action = st.radio("Action", list(EFFECTS), horizontal=True, index=None, key="user_verb")
    reason = st.text_input("Reason (required)", max_chars=MAX_REASON, key="user_reason")
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
    return Ask(f"{action} {who}, for the reason “{literal(reason.strip())}”: "
               f"{EFFECTS[action]}", act, confirm=True, needs_code=True,
               check=lambda _: checked_reason(reason),  # what all three services check
               clear={"user_target": None, "user_verb": None, "user_reason": ""})


missing = [name for name, value in (("User", target), ("Action", action)) if value is None]
if submitted and missing:
    st.error(f"Choose {' and '.join(missing).lower()} first.", icon=":material/edit_off:")
sensitive(gh, admin, "user_action", user_action(target, action, reason)
          if submitted and target is not None and action is not None else None)

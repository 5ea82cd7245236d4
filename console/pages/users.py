"""Users (admins): who can sign in (roles, authenticator, lock, last completed sign-in);
disable or enable an account, reset an authenticator, unlock an account locked by wrong codes.

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
from console.formatting import clock, day, stamp
from console.gate import page
from console.markup import literal
from console.step_up import Ask, sensitive, show_result

gh, admin = page(Action.USERS_VIEW)
st.title("Users")
people = users.list_users(gh, admin)
# --- the table (visibility): sized to fit beside the sidebar on a 1280-pixel screen ---


def account(u: users.UserView) -> str:
    """Whether the person can sign in now: disabled, locked out by wrong codes, or active."""
    if u.disabled_at is not None:
        return f"disabled since {day(u.disabled_at)}"
    return "active" if u.locked_until is None else f"locked until {clock(u.locked_until)}"


# (Streamlit draws a table a dozen pixels wider than its columns: they add up to 808.)
_WIDTHS = {"name": 103, "subject": 96, "email": 176, "roles": 78, "authenticator": 95,
           "account": 146, "last sign-in (UTC)": 114}
_HELP = {"roles": "What the identity provider granted at the person's latest sign-in (as "
                  "access reviews count a role's holders)",
         "account": "Locked: too many wrong codes; no code is taken until then (Unlock "
                    "below ends it now)",
         "last sign-in (UTC)": "The last sign-in completed with the second factor; signing "
                               "in at the identity provider alone does not count"}
issuers = sorted({u.iss for u in people})
st.dataframe(pd.DataFrame([{
    "name": u.name, "subject": u.sub, "email": u.email, "roles": ", ".join(u.roles) or "-",
    "authenticator": u.mfa, "account": account(u), "last sign-in (UTC)": stamp(u.signed_in_at),
    "issuer": u.iss} for u in people], columns=[*_WIDTHS, "issuer"]), hide_index=True,
    width="stretch", column_order=list(_WIDTHS) if len(issuers) == 1 else None,
    column_config={name: st.column_config.Column(width=px, help=_HELP.get(name))
                   for name, px in _WIDTHS.items()})
if len(issuers) == 1:
    st.caption(f"Everyone signs in at {literal(issuers[0])}.")
# --- end of the table ---

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


# --- unlock (visibility): its own block, apart from the changes above ---
locked = {u.id: u for u in people if u.locked_until is not None and u.id != admin.user_id}


def unlock(target: users.UserView, why: str) -> Ask:
    who = literal(f"{target.name} ({target.sub})")

    def act(me: Principal) -> str:
        mfa.unlock(gh, me, target.id, why)
        return f"Unlocked {who}; they can enter a code again."
    assert target.locked_until is not None
    return Ask(f"Unlock {who}: the lock until {clock(target.locked_until)} ends now and wrong "
               "codes count from zero again; their authenticator stays the same", act,
               confirm=True, needs_code=True, check=lambda _: checked_reason(why))


if locked:
    st.subheader("Unlock an account")
    st.caption("Too many wrong codes lock an account for a while. Unlock it once you know the "
               "codes were the person's own typing, not someone guessing with their password; "
               "if their phone is lost, reset the authenticator instead.")
    with st.form("unlock"):
        chosen = st.selectbox("Locked account", list(locked), index=None,
                              placeholder="Choose a person",
                              format_func=lambda i: f"{locked[i].name} ({locked[i].sub}), "
                                                    f"{account(locked[i])}")
        why = st.text_input("Reason for unlocking (required)", max_chars=MAX_REASON)
        asked = st.form_submit_button("Unlock", type="primary")
    if asked and chosen is None:
        st.error("Choose the account to unlock.", icon=":material/edit_off:")
    sensitive(gh, admin, "unlock", unlock(locked[chosen], why)
              if asked and chosen is not None else None)
else:
    show_result("unlock")  # the account it unlocked has left the list

"""Request access (support): the narrowest access a ticket needs, or break-glass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.principal import Principal
from access.workflow import break_glass, create_request
from access.workflow.policy import DataAction
from console.errors import show_error
from console.gate import page
from console.step_up import Ask, sensitive

gh, me = page(Action.REQUEST_CREATE)
policy = gh.policy
st.title("Request access")

with st.form("request"):
    customer = st.text_input("Customer id", placeholder="cust-0042")
    left, right = st.columns(2)
    environment = left.selectbox("Environment", list(policy.environments))
    ticket = right.text_input("Ticket", placeholder="SUP-1234")
    scopes = st.multiselect("Data scopes", list(policy.scopes))
    actions = st.multiselect("Actions", [a.value for a in DataAction],
                             default=[DataAction.READ.value])
    hours = left.number_input("Duration (hours)", min_value=0.25, max_value=720.0, value=2.0,
                              step=0.25)
    later = right.toggle("Start later")
    start = right.datetime_input("Start (UTC)", value=datetime.now(UTC) + timedelta(hours=1))
    justification = st.text_area("Justification", max_chars=policy.justification_max,
                                 placeholder="What the ticket needs and why")
    submitted = st.form_submit_button("Submit request", type="primary")
    with st.expander("Break-glass: emergency access without waiting for an approver"):
        st.warning("Only for an outage. It opens a short grant now, notifies every admin, and "
                   "stays flagged until an admin reviews it.")
        reason = st.text_input("Emergency reason")
        broken = st.form_submit_button("Break the glass")

draft = create_request.RequestDraft(
    customer_id=customer.strip(), environment=environment or "", scopes=scopes,
    actions=actions, duration=timedelta(hours=hours), justification=justification,
    ticket=ticket, starts_at=(start.replace(tzinfo=UTC) if start.tzinfo is None else start)
    if later and start else None)
if submitted:
    try:
        request_id = create_request.create(gh, me, draft)
        st.success(f"Request {request_id} filed. An admin will decide; see **My access**.")
    except GatehouseError as exc:
        show_error(exc)


def break_the_glass(draft: create_request.RequestDraft, reason: str) -> Ask:
    def act(who: Principal) -> str:
        grant_id = break_glass.activate(gh, who, draft, reason)
        return f"Break-glass grant {grant_id} is active; every admin was notified."
    return Ask(f"Open break-glass access to customer `{draft.customer_id}` in "
               f"{draft.environment} now ({', '.join(draft.scopes)})", act)


sensitive(gh, me, "breakglass", break_the_glass(draft, reason) if broken else None)

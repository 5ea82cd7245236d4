"""Request access (support): the narrowest access a ticket needs; break-glass on its own tab.

Every field error shows under its field, all at once (the services name each bad field). The
form says how many approvers the chosen scopes and actions need before it is submitted, and
is emptied once the request is filed (a second click files nothing: the service refuses a
request repeating one still pending).
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from access.authz import Action
from access.errors import GatehouseError, InvalidFields
from access.principal import Principal
from access.workflow import break_glass, create_request
from access.workflow.policy import DataAction
from console.errors import show_error
from console.formatting import duration
from console.gate import page
from console.request_fields import (
    Slots,
    approvals_needed,
    breakglass_limits,
    breakglass_options,
    duration_options,
    show_problems,
    start_time,
)
from console.step_up import Ask, sensitive, show_result, succeeded

gh, me = page(Action.REQUEST_CREATE)
policy = gh.policy
st.title("Request access")


# The request form's widgets and what each returns to once a request was filed: a new request
# starts from an empty form (the environment and duration stay as chosen).
FILED_CLEARS = {"rq_customer": "", "rq_ticket": "", "rq_scopes": [],
                "rq_actions": [DataAction.READ.value], "rq_why": "", "rq_later": False}


def request_form() -> None:
    slots: Slots = {}
    customer = st.text_input("Customer id", placeholder="cust-0042", max_chars=64,
                             key="rq_customer")
    slots["customer"] = st.container()
    left, right = st.columns(2)
    environment = left.selectbox("Environment", list(policy.environments), key="rq_env")
    slots["environment"] = left.container()
    ticket = right.text_input("Ticket", placeholder=policy.ticket_examples[0], key="rq_ticket",
                             max_chars=create_request.MAX_TICKET)
    slots["ticket"] = right.container()
    scopes = st.multiselect("Data scopes", list(policy.scopes), key="rq_scopes")
    slots["scopes"] = st.container()
    actions = st.multiselect("Actions", [a.value for a in DataAction],
                             default=[DataAction.READ.value], key="rq_actions")
    slots["actions"] = st.container()
    needs = approvals_needed(policy, environment or "", scopes, actions)
    st.info(needs or "Choose the data scopes and actions to see how many approvers this "
            "request needs.", icon=":material/how_to_reg:")
    left, right = st.columns(2)
    longest = max(policy.rule(environment, s).max_duration for s in policy.scopes) \
        if environment else timedelta(hours=8)
    options = duration_options(longest)
    span = left.selectbox("Duration", options, format_func=duration, key="rq_duration",
                          index=options.index(min(timedelta(hours=2), longest)))
    slots["duration"] = left.container()
    with right:
        starts_at = start_time()
        slots["starts_at"] = st.container()
    justification = st.text_area("Justification", max_chars=policy.justification_max,
                                 placeholder="What the ticket needs and why", key="rq_why")
    slots["justification"] = st.container()
    if not st.button("Submit request", type="primary"):
        show_result("request")
        return
    draft = create_request.RequestDraft(customer.strip(), environment or "", scopes, actions,
                                        span, justification, ticket, starts_at)
    try:
        request_id = create_request.create(gh, me, draft)
    except InvalidFields as exc:
        show_problems(exc, slots)
        return
    except GatehouseError as exc:
        show_error(exc)
        return
    succeeded("request", f"Request {request_id} filed for `{draft.customer_id}` "
                         f"({', '.join(scopes)}). An admin will decide; see **My access**.",
              FILED_CLEARS)


def breakglass_form() -> None:
    st.warning("Only for an outage. It opens a short grant now without an approver, notifies "
               "every admin, and stays flagged until an admin reviews it.",
               icon=":material/emergency:")
    offer = breakglass_options(policy)
    if not offer:
        st.info("The access policy allows break-glass in no environment.")
        return
    slots: Slots = {}
    customer = st.text_input("Customer id", placeholder="cust-0042", max_chars=64,
                             key="bg_customer")
    slots["customer"] = st.container()
    left, right = st.columns(2)
    environment = left.selectbox("Environment", list(offer), key="bg_env") or next(iter(offer))
    slots["environment"] = left.container()
    ticket = right.text_input("Incident ticket", placeholder=policy.ticket_examples[-1],
                             key="bg_ticket", max_chars=create_request.MAX_TICKET)
    slots["ticket"] = right.container()
    scopes = st.multiselect("Data scopes", offer[environment], key="bg_scopes")
    slots["scopes"] = st.container()
    limits = breakglass_limits(policy, environment, scopes)
    actions = breakglass_actions(limits.actions)
    slots["actions"] = st.container()
    span = st.selectbox("Duration", duration_options(limits.longest), format_func=duration,
                        index=len(duration_options(limits.longest)) - 1, key="bg_duration")
    slots["duration"] = st.container()
    reason = st.text_area("Emergency reason", placeholder="What is down, and why it cannot "
                          "wait for an approver", key="bg_reason",
                          max_chars=policy.justification_max)
    slots["justification"] = st.container()  # the emergency reason is the justification
    st.info(limits.summary, icon=":material/policy:")
    asked = st.button("Break the glass", type="primary")
    draft = create_request.RequestDraft(customer.strip(), environment, scopes, actions, span,
                                        reason, ticket)
    sensitive(gh, me, "breakglass", checked(draft, reason, slots) if asked else None,
              inputs={"Customer id": customer, "Environment": environment,
                      "Incident ticket": ticket, "Data scopes": tuple(scopes),
                      "Actions": tuple(actions), "Duration": span,
                      "Emergency reason": reason})


def breakglass_actions(allowed: list[str]) -> list[str]:
    """The actions a break-glass grant here may carry. When the policy allows one action
    only, it is stated, not offered as a list with nothing left to choose."""
    if len(allowed) > 1:
        return list(st.multiselect("Actions", allowed, default=allowed[:1], key="bg_actions"))
    st.multiselect("Actions", allowed, default=allowed, disabled=True, key="bg_actions_fixed",
                   help="Set by the policy for these scopes")
    st.caption(f"Break-glass here carries only {', '.join(allowed) or 'nothing'}; ask an "
               "approver for more.")
    return list(allowed)


def checked(draft: create_request.RequestDraft, reason: str, slots: Slots) -> Ask | None:
    """The break-glass to confirm, once its fields hold (else their errors, at the fields)."""
    try:
        break_glass.check(gh, me, draft, reason)
    except InvalidFields as exc:
        show_problems(exc, slots)
        return None
    except GatehouseError as exc:
        show_error(exc)
        return None

    def act(who: Principal) -> str:
        grant_id = break_glass.activate(gh, who, draft, reason)
        return (f"Break-glass grant {grant_id} is active for {duration(draft.duration)}; every "
                "admin was notified and one must review it.")
    return Ask(f"Open break-glass access to customer `{draft.customer_id}` in "
               f"{draft.environment} now: {', '.join(draft.scopes)}; "
               f"{', '.join(draft.actions)}; {duration(draft.duration)}", act,
               confirm=True, needs_code=True,
               clear={"bg_customer": "", "bg_ticket": "", "bg_scopes": [], "bg_reason": ""})


normal, emergency = st.tabs(["Request", "Break-glass (emergency)"])
with normal:
    request_form()
with emergency:
    breakglass_form()

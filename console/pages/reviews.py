"""My reviews (reviewers): the access-review items waiting for you, with the evidence from the
log in view; keep, revoke or hand over each in place (a fresh code for each)."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from access.authz import Action
from access.principal import Principal
from access.reviews import decisions
from access.reviews.queries import ItemView, my_items
from console.formatting import when
from console.gate import page
from console.markup import literal
from console.step_up import Act, Ask, results, sensitive, show_result

gh, reviewer = page(Action.VIEW_HOME)  # which items: the campaigns that name the reviewer

EVIDENCE = [("last_sign_in", "last sign-in"), ("requests", "requests"), ("grants", "grants"),
            ("reads", "reads"), ("reveals", "reveals"), ("exports", "exports"),
            ("customers", "customers"), ("tickets", "tickets"),
            ("approvals_decided", "approvals decided"), ("breakglass", "break-glass"),
            ("breakglass_reviewed", "break-glass reviewed"), ("anomaly_flags", "anomaly flags")]


def decide(item: ItemView, verb: str, comment: str) -> Act:
    def act(who: Principal) -> str:
        (decisions.keep if verb == "keep" else decisions.revoke)(gh, who, item.id, comment)
        return f"{verb.title()} recorded for {literal(item.label)} (campaign " \
               f"{item.campaign_id})."
    return act


def hand_over(item: ItemView, to: int, name: str, reason: str) -> Act:
    def act(who: Principal) -> str:
        decisions.reassign(gh, who, item.id, to, reason)
        return f"{literal(item.label)} (campaign {item.campaign_id}) handed over to " \
               f"{literal(name)}."
    return act


def handing(item: ItemView) -> Ask | None:
    """The hand-over control: another reviewer and a reason."""
    with st.expander("Hand over to another reviewer"):
        names = dict(item.reviewers)
        to = st.selectbox("Reviewer", list(names), format_func=lambda r: names[r],
                          key=f"review_to_{item.id}")
        reason = st.text_input("Reason", key=f"review_reason_{item.id}")
        if to is not None and st.button("Hand over", key=f"review_hand_{item.id}"):
            return Ask(f"Hand {literal(item.label)} (campaign {item.campaign_id}) to "
                       f"{literal(names[to])}", hand_over(item, to, names[to], reason))
    return None


# a break-glass or request-rule item is about an environment, not a person: its evidence is
# the requests and break-glass uses there (access.reviews.evidence, aggregate 4)
ENVIRONMENT_EVIDENCE = ("requests", "breakglass")


def evidence_line(item: ItemView) -> str:
    shown = EVIDENCE if item.kind not in ("breakglass", "request_rule") else \
        [(key, label) for key, label in EVIDENCE if key in ENVIRONMENT_EVIDENCE]
    values = {key: item.evidence.get(key) for key, _ in shown}
    if "last_sign_in" in values:
        last = values["last_sign_in"]
        values["last_sign_in"] = when(datetime.fromisoformat(str(last))) if last else "never"
    return " · ".join(f"{label} **{values[key]}**" for key, label in shown)


def window(item: ItemView) -> str:
    """"Evidence over the 90 days to 2026-11-30 22:59 UTC": it is taken when the campaign
    opens, so "the last 90 days" would be wrong a week later."""
    return f"Evidence over the {item.evidence.get('days')} days to " \
           f"{when(item.evidence_until)} (when the campaign opened)"


st.title("My reviews")
items = my_items(gh, reviewer)
for key in results("review_"):  # decided items whose card has left the list
    if int(key.removeprefix("review_")) not in {i.id for i in items}:
        show_result(key)
if not items:
    st.info("No access-review items wait for you.")
for item in items:
    with st.container(border=True, key=f"review_item_{item.id}"):
        st.markdown(f"**{literal(item.label)}** · campaign {item.campaign_id} "
                    f"({literal(item.campaign)}) · due {when(item.due_at)}")
        if item.handed:
            st.info(f"Handed to you by {literal(item.handed)}", icon=":material/forward:")
        st.caption(window(item))
        st.markdown(evidence_line(item))
        advice = st.error if item.recommendation == "revoke" else st.success
        advice(f"Recommendation: **{item.recommendation}** — {literal(item.reason)} "
               f"(rule `{item.rule}`)")
        comment = st.text_input("Comment", key=f"review_comment_{item.id}",
                                help="Required to keep against a revoke recommendation")
        keep, revoke = st.columns(2)
        ask = None
        for column, verb in ((keep, "keep"), (revoke, "revoke")):
            if column.button(verb.title(), key=f"review_{verb}_{item.id}",
                             type="primary" if verb == item.recommendation else "secondary"):
                ask = Ask(f"{verb.title()} {literal(item.label)} (campaign {item.campaign_id})",
                          decide(item, verb, comment))
        if item.reviewers:
            ask = handing(item) or ask
        sensitive(gh, reviewer, f"review_{item.id}", ask)

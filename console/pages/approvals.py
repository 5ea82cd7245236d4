"""Approvals (admins): review break-glass access; decide pending requests, newest first.

Approving and denying are confirmed: the confirmation names the request, the comment and what
the vote does (a code first only when the last one is stale). A comment or note typed after
asking withdraws the confirmation, saying so; a denial without a comment is refused at its
button, before any code. A card decided meanwhile (in another tab, or by another approver)
goes on the next run; a click on it, or a confirmation left waiting for it, decides nothing
and says who decided it and when."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access.authz import Action
from access.principal import Principal
from access.text import checked_reason
from access.workflow import break_glass, decide_request, queries
from access.workflow.states import RequestStatus
from console.formatting import duration, when
from console.gate import page
from console.markup import literal
from console.step_up import Act, Ask, abandoned, results, sensitive, show_result

gh, admin = page(Action.APPROVALS_VIEW)


def decision(request_id: int, approve: bool, comment: str) -> Act:
    def act(approver: Principal) -> str:
        outcome = decide_request.decide(gh, approver, request_id, approve, comment)
        return (f"Request {request_id}: {outcome.status} "
                f"({outcome.approvals}/{outcome.approvals_required} approvals).")
    return act


def reviewed(grant_id: int, note: str) -> Act:
    def act(reviewer: Principal) -> str:
        break_glass.review(gh, reviewer, grant_id, note)
        return f"Break-glass grant {grant_id}: review recorded."
    return act


def uses_table(case: break_glass.ReviewCase) -> None:
    if not case.uses:
        st.caption("Nothing was read under this grant.")
        return
    shown = "" if case.uses_total == len(case.uses) else f", the first {len(case.uses)} shown"
    st.caption(f"Every use of the grant, from the audit log ({case.uses_total}{shown})")
    st.dataframe(pd.DataFrame([{
        "time (UTC)": u.at.strftime("%Y-%m-%d %H:%M:%S"), "action": u.action,
        "scope": u.scope or "-", "outcome": u.outcome, "rows": u.row_count,
        "columns": columns(u)} for u in case.uses]), hide_index=True, width="stretch")


def columns(use: break_glass.GrantUse) -> str:
    """A reveal's columns by name (what was unmasked matters); a read's by count (the scope
    says which), so the table is never cut off on the right."""
    if use.action == "data.revealed":
        return ", ".join(use.columns)
    return f"{len(use.columns)} columns" if use.columns else "-"


def review_card(case: break_glass.ReviewCase) -> None:
    g = case.grant
    with st.container(border=True):
        st.error(f"**Break-glass grant {g.id}** by {literal(g.holder)} · customer "
                 f"`{g.customer_id}` · `{g.environment}` · ticket `{g.ticket or '-'}` · "
                 "review required", icon=":material/emergency:")
        st.write(f"Activated {when(case.activated_at)} · ends {when(g.ends_at)} "
                 f"({duration(g.ends_at - g.starts_at)}) · now {g.state} · scopes "
                 f"{', '.join(g.scopes)} · actions {', '.join(g.actions)}")
        st.markdown("**Emergency reason**")
        st.text(case.reason)  # typed by the holder: plain text, never markup
        st.markdown("**Rules bypassed**")
        st.text("\n".join(g.bypassed) or "-")
        uses_table(case)
        note, button = st.columns([4, 1], vertical_alignment="bottom")
        text = note.text_input("Review note", key=f"review_note_{g.id}")
        ask = Ask(f"Record the review of break-glass grant {g.id}, noting "
                  f"“{literal(text.strip())}”", reviewed(g.id, text),
                  check=lambda _: checked_reason(text)) \
            if button.button("Record review", key=f"review_{g.id}", width="stretch") else None
        sensitive(gh, admin, f"review_{g.id}", ask, inputs={"Review note": text})


def request_card(item: queries.QueueItem) -> None:
    r = item.request
    with st.container(border=True):
        st.markdown(f"**Request {r.id}** by {literal(r.requester)} · `{r.environment}` · "
                    f"customer `{r.customer_id}` · ticket `{r.ticket or '-'}`")
        st.write(f"Scopes {', '.join(r.scopes)} · actions {', '.join(r.actions)} · "
                 f"{duration(r.duration)} · approvals {r.approvals}/{r.approvals_required}")
        st.caption(f"Filed {when(r.created_at)} · expires {when(r.expires_at)} unless decided"
                   f"{' · starts ' + when(r.starts_at) if r.starts_at else ''} · policy "
                   f"`{r.policy_version[:12]}`")
        st.text(r.justification)  # plain text: a justification is never rendered as markup
        if item.history:
            with st.expander(f"{len(item.history)} earlier request(s) for this customer"):
                st.dataframe(pd.DataFrame([{
                    "id": h.id, "status": h.status, "filed": when(h.created_at),
                    "scopes": ", ".join(h.scopes), "ticket": h.ticket}
                    for h in item.history]), hide_index=True, width="stretch")
        comment, approve, deny = st.columns([4, 1, 1], vertical_alignment="bottom")
        text = comment.text_input("Comment", key=f"comment_{r.id}")
        ask = None
        for column, verb, yes in ((approve, "Approve", True), (deny, "Deny", False)):
            if column.button(verb, key=f"{verb.lower()}_{r.id}", width="stretch",
                             type="primary" if yes else "secondary", on_click=clicked,
                             args=(r.id,)):
                ask = deciding(r, yes, text)
        sensitive(gh, admin, f"decide_{r.id}", ask, inputs={"Comment": text})


def deciding(r: queries.RequestView, approve: bool, comment: str) -> Ask:
    """Approve or deny request `r`, confirmed: the confirmation says what the vote does."""
    verb = "Approve" if approve else "Deny"
    said = f", with the comment “{literal(comment.strip())}”" if comment.strip() else ""
    if not approve:
        effect = f"The request is denied at once and {literal(r.requester)} reads why"
    elif r.approvals + 1 >= r.approvals_required:
        effect = (f"The last approval needed ({r.approvals + 1} of {r.approvals_required}): "
                  f"the grant is issued at once")
    else:
        effect = (f"Approval {r.approvals + 1} of {r.approvals_required}: the request waits "
                  "for another approver")
    return Ask(f"{verb} request {r.id} for {literal(r.requester)}: `{r.customer_id}`, "
               f"{r.environment}, {', '.join(r.scopes)} ({', '.join(r.actions)}), "
               f"{duration(r.duration)}{said}. {effect}.",
               decision(r.id, approve, comment), confirm=True, needs_code=True,
               check=lambda _: decide_request.checked_comment(comment, approve),
               clear={f"comment_{r.id}": ""})


CLICKED = "approvals_clicked"  # the request whose Approve or Deny was clicked for this run


def clicked(request_id: int) -> None:
    """Approve's and Deny's on_click. Streamlit runs it before the page, even when this run
    no longer draws the card (decided meanwhile in another tab, or by another approver), so
    such a click is still known and answered (`show_stale`)."""
    st.session_state[CLICKED] = request_id


def show_stale(present: set[int]) -> None:
    """Say what became of a request the person acted on from a card that is gone: Approve or
    Deny clicked, or a code or confirmation left waiting, after it was decided elsewhere.
    Nothing is decided; what waited is withdrawn."""
    stale = {int(key.removeprefix("decide_"))
             for key in abandoned("decide_", {f"decide_{i}" for i in present})}
    if (request_id := st.session_state.pop(CLICKED, None)) is not None:
        stale.add(request_id)
    for request_id in sorted(stale - present):
        st.warning(already_decided(queries.request_standing(gh, admin, request_id)),
                   icon=":material/sync_problem:")


def already_decided(s: queries.RequestStanding) -> str:
    """Why a request left the queue: your own vote (it waits for another approver), its
    decision and by whom, or that it was cancelled or expired; and that nothing changed."""
    if s.my_vote is not None and s.status == RequestStatus.PENDING:
        return (f"You already {s.my_vote.did} request {s.id} (at {when(s.my_vote.at)}); it "
                "waits for another approver. Nothing was changed.")
    if s.decided_by is not None:
        return (f"Request {s.id} was already decided ({s.status} by {literal(s.decided_by)} "
                f"at {when(s.decided_at)}); nothing was changed.")
    return (f"Request {s.id} is no longer pending ({s.status} at {when(s.decided_at)}); "
            "nothing was changed.")


def show_gone(prefix: str, present: set[int]) -> None:
    """Results of actions whose card has left the page (decided, reviewed)."""
    for key in results(prefix):
        if int(key.removeprefix(prefix)) not in present:
            show_result(key)


st.title("Approvals")
# Two fixed sections: when the review section empties, the requests below keep their place on
# the page instead of shifting into it (no stale heading left behind for a moment).
reviews, requests = st.container(), st.container()
with reviews:
    cases = break_glass.open_reviews(gh, admin)
    show_gone("review_", {c.grant.id for c in cases})
    if cases:
        st.subheader("Break-glass to review")
    for case in cases:
        review_card(case)

with requests:
    st.subheader("Requests")
    queue = sorted(queries.approval_queue(gh, admin), key=lambda i: i.request.created_at,
                   reverse=True)  # newest first: the urgent one was probably just filed
    present = {item.request.id for item in queue}
    show_gone("decide_", present)
    show_stale(present)
    if not queue:
        st.info("Nothing waiting for you.")
    for item in queue:
        request_card(item)

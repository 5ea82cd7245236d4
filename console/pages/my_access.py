"""My access (support): my grants with their time left; my requests and what became of each
(who decided and why, whether the grant still holds or who ended it and why); cancel a
pending one."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from access.authz import Action
from access.principal import Principal
from access.workflow import cancel_request, grants, queries
from access.workflow.states import GrantState, RequestStatus
from console.formatting import duration, left, stamp, when
from console.gate import page
from console.markup import literal
from console.step_up import Ask, results, sensitive, show_result

RECENT = timedelta(days=1)  # how long My access says that an admin revoked a grant

gh, me = page(Action.REQUEST_CREATE)
now = gh.now()
st.title("My access")


def release(g: queries.GrantView) -> Ask:
    def act(who: Principal) -> str:
        grants.release(gh, who, g.id)
        return f"Grant {g.id} released; reads under it are refused from now on."
    return Ask(f"Release grant {g.id} on customer `{g.customer_id}` now, "
               f"{left(g.ends_at, now)}: you can no longer read under it, and getting access "
               "again needs a new request", act, confirm=True)


mine = queries.my_grants(gh, me)
live = [g for g in mine if g.is_live]
outcomes = queries.my_request_outcomes(gh, me)
st.subheader("Grants")
for key in results("release_"):  # a released grant has left the list; its result stays
    if int(key.removeprefix("release_")) not in {g.id for g in live}:
        show_result(key)
# A grant an admin ended is gone from the list: say so here, with their reason, for a day.
for o in outcomes:
    if o.grant_state == GrantState.REVOKED and o.grant_ended_at is not None \
            and now - o.grant_ended_at < RECENT:
        revoked = next(m for m in o.remarks if m.did == "revoked")
        st.warning(f"Grant {o.grant_id} on customer `{o.request.customer_id}` (ticket "
                   f"{literal(o.request.ticket or '-')}) was revoked by "
                   f"{literal(revoked.who)} at {when(revoked.at)}: "
                   f"“{literal(revoked.words or '')}”", icon=":material/block:")
if not live:
    st.info("No live grant. Request access for a ticket first.")
for g in live:
    with st.container(border=True):
        st.write(f"**Grant {g.id}** · {g.environment} · customer `{g.customer_id}` · "
                 f"{', '.join(g.scopes)} · {', '.join(g.actions)} · {g.state}, "
                 f"ends {when(g.ends_at)} ({left(g.ends_at, now)})")
        ask = release(g) if st.button("Release now", key=f"release_{g.id}") else None
        sensitive(gh, me, f"release_{g.id}", ask)


def standing(o: queries.RequestOutcome) -> str:
    """Where the request stands now, in a few words: its decision, then its grant's state."""
    r = o.request
    votes = f"{r.approvals}/{r.approvals_required} approvals"
    if r.status == RequestStatus.PENDING:
        return f"pending ({votes})"
    if r.status == RequestStatus.EXPIRED:
        return "expired undecided"
    if r.status != RequestStatus.APPROVED:
        return str(r.status)
    decided = "break-glass" if r.breakglass else f"approved ({votes})"
    return decided if o.grant_id is None else f"{decided}; grant {o.grant_id} {o.grant_state}"


def remarks(o: queries.RequestOutcome) -> str:
    """Who did what to it, and in what words; the decision of a break-glass is its own."""
    said = [f"{m.who} {m.did}" + (f": “{m.words}”" if m.words else "") for m in o.remarks]
    if o.grant_state in (GrantState.RELEASED, GrantState.EXPIRED) and o.grant_ended_at:
        said.append(f"{o.grant_state} {stamp(o.grant_ended_at)}")
    return "; ".join(said) or "-"


st.subheader("Requests")
if not outcomes:
    st.info("No request yet.")
# Sized to fit beside the sidebar on a 1280-pixel screen (about 820 px); rows taller than
# 4rem let Streamlit wrap a long cell over four lines, and selecting a row shows it in full.
ROW_PX = 84
# (The row selector takes about 32 px more: the columns add up to 772.)
_WIDTHS = {"request": 60, "customer": 90, "access": 145, "ticket": 80, "filed (UTC)": 92,
           "state": 120, "what happened": 185}
table = st.dataframe(pd.DataFrame([{
    "request": o.request.id, "customer": f"{o.request.customer_id} {o.request.environment}",
    "access": f"{', '.join(o.request.scopes)}: {', '.join(o.request.actions)} for "
              f"{duration(o.request.duration)}",
    "ticket": o.request.ticket or "-", "filed (UTC)": stamp(o.request.created_at),
    "state": standing(o), "what happened": remarks(o)} for o in outcomes],
    columns=list(_WIDTHS)), hide_index=True, width="stretch", row_height=ROW_PX,
    height=ROW_PX * min(max(len(outcomes), 1), 6) + 38, key="my_requests",
    on_select="rerun", selection_mode="single-row",
    column_config={name: st.column_config.Column(width=px) for name, px in _WIDTHS.items()})
if outcomes:
    st.caption("Select a request to read everything said about it in full.")
chosen = table.selection.rows
if chosen and chosen[0] < len(outcomes):
    o = outcomes[chosen[0]]
    with st.container(border=True):
        st.markdown(f"**Request {o.request.id}** · {standing(o)}")
        # Plain text: what people typed is never markdown.
        st.text("\n".join([f"filed {when(o.request.created_at)}, ticket "
                           f"{o.request.ticket or '-'}: {o.request.justification}",
                           *(f"{when(m.at)}: {m.who} {m.did}" + (f": {m.words}" if m.words
                                                                  else "")
                             for m in o.remarks)]))


def cancel(r: queries.RequestView) -> Ask:
    def act(who: Principal) -> str:
        cancel_request.cancel(gh, who, r.id)
        return f"Request {r.id} cancelled; it has left the approvers' queue."
    return Ask(f"Cancel request {r.id} ({literal(label(r))}): it leaves the approvers' queue, and "
               "asking again needs a new request", act, confirm=True)


def label(r: queries.RequestView) -> str:
    return (f"customer {r.customer_id} · ticket {r.ticket or '-'} · {', '.join(r.scopes)}: "
            f"{', '.join(r.actions)}")


pending = {o.request.id: o.request for o in outcomes if o.request.is_pending}
if pending:
    with st.form("cancel"):
        choice = st.selectbox("Pending request", list(pending), index=None,
                              placeholder="Choose a request",
                              format_func=lambda i: f"Request {i} · {label(pending[i])}")
        asked = st.form_submit_button("Cancel request")
    if asked and choice is None:
        st.error("Choose the request to cancel.", icon=":material/edit_off:")
    sensitive(gh, me, "cancel", cancel(pending[choice])
              if asked and choice is not None else None)
else:
    show_result("cancel")  # the request it cancelled was the last pending one

"""Customer data (support): read under one of your live grants; reveal or export if allowed."""

from __future__ import annotations

import streamlit as st

from access.authz import Action
from access.data import broker
from access.errors import GatehouseError, StepUpRequired
from access.workflow import queries
from access.workflow.policy import DataAction
from access.workflow.states import GrantState
from console.errors import show_error
from console.gate import page
from console.step_up import step_up_form

gh, me = page(Action.DATA_READ)
st.title("Customer data")
live = [g for g in queries.my_grants(gh, me) if g.state == GrantState.ACTIVE]
if not live:
    st.info("You hold no active grant. Request access for a ticket first.")
    st.stop()

labels = {g.id: f"Grant {g.id} · {g.customer_id} · {g.environment} · ticket {g.ticket or '-'}"
          for g in live}
grant_id = st.selectbox("Grant", list(labels), format_func=labels.__getitem__)
grant = next(g for g in live if g.id == grant_id)


@st.fragment(run_every=15)
def countdown() -> None:
    seconds = max(0, int((grant.ends_at - gh.now()).total_seconds()))
    st.caption(f"Access ends at {grant.ends_at:%H:%M} UTC: {seconds // 3600} h "
               f"{seconds % 3600 // 60} min left. Every read is logged.")


countdown()
scope = st.radio("Scope", grant.scopes, horizontal=True)


def show(view: broker.DataView) -> None:
    for table, frame in view.tables.items():
        st.subheader(table)
        if view.revealed:  # a few rows in clear: a plain table, nothing hidden in a scroller
            st.table(frame.set_index(frame.columns[0]))
        else:
            st.dataframe(frame, hide_index=True, width="stretch")


try:
    view = broker.read(gh, me, grant.id, grant.customer_id, scope)
except GatehouseError as exc:
    show_error(exc)
    st.stop()

if grant.allows(DataAction.REVEAL) and view.masked:
    with st.expander("Reveal masked columns (needs a reason and a fresh code)"), \
            st.form("reveal_form"):
        columns = st.multiselect("Columns", list(view.masked))
        reason = st.text_input("Reason")
        if st.form_submit_button("Reveal"):
            st.session_state["reveal"] = (grant.id, scope, columns, reason)
if (pending := st.session_state.get("reveal")) and pending[:2] == (grant.id, scope):
    try:
        view = broker.reveal(gh, me, grant.id, grant.customer_id, scope, pending[2], pending[3])
        del st.session_state["reveal"]
        st.success(f"Revealed {', '.join(view.revealed)}: this is logged.")
    except StepUpRequired as exc:
        show_error(exc)
        step_up_form(gh, me, "reveal")
    except GatehouseError as exc:
        del st.session_state["reveal"]
        show_error(exc)
show(view)

if grant.allows(DataAction.EXPORT):
    if st.button("Prepare CSV export"):
        st.session_state["export"] = (grant.id, scope)
    if st.session_state.get("export") == (grant.id, scope):
        try:
            data = broker.export_csv(gh, me, grant.id, grant.customer_id, scope)
            del st.session_state["export"]
            st.download_button("Download CSV", data, f"{grant.customer_id}-{scope}.csv",
                               mime="text/csv")
        except StepUpRequired as exc:
            show_error(exc)
            step_up_form(gh, me, "export")
        except GatehouseError as exc:
            del st.session_state["export"]
            show_error(exc)

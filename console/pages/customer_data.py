"""Customer data (support): read under one of your live grants; reveal or export if allowed.

Nothing is read by opening the page or by any other click: a read happens when the person
picks a grant and a scope and clicks Read, is logged once, and stays on screen (kept for this
page, never re-read) until they read again or leave.
"""

from __future__ import annotations

import streamlit as st

from access.authz import Action
from access.data import broker
from access.errors import GatehouseError
from access.principal import Principal
from access.workflow import queries
from access.workflow.policy import DataAction
from access.workflow.states import GrantState
from console.errors import show_error
from console.gate import page
from console.markup import literal
from console.step_up import Ask, keep, kept, sensitive

WATCH_SECONDS = 5  # how soon an open page notices that its grant ended

gh, me = page(Action.DATA_READ)
st.title("Customer data")
if ended := kept("grant_ended"):
    st.error(str(ended), icon=":material/lock:")
live = [g for g in queries.my_grants(gh, me) if g.state == GrantState.ACTIVE]
if not live:
    st.info("You hold no active grant. Request access for a ticket first.")
    st.stop()

labels = {g.id: f"Grant {g.id} · {g.customer_id} · {g.environment} · ticket {g.ticket or '-'}"
          for g in live}
grant_id = st.selectbox("Grant", list(labels), format_func=labels.__getitem__)
grant = next(g for g in live if g.id == grant_id)


def ending(standing: queries.GrantStanding) -> str:
    when = "" if standing.ended_at is None else f" at {standing.ended_at:%H:%M} UTC"
    if standing.state == GrantState.REVOKED:
        return (f"Grant {grant.id} ({grant.customer_id}) was revoked by "
                f"{literal(standing.revoked_by or '?')}{when}: "
                f"{literal(standing.revoke_reason or '')}. Its data is no longer shown.")
    return f"Grant {grant.id} ({grant.customer_id}) has {standing.state}{when}; its data is " \
           "no longer shown."


@st.fragment(run_every=WATCH_SECONDS)
def watch() -> None:
    """The grant's time left, re-checked on a timer (no data read): when the grant has ended,
    everything read under it leaves the screen and the person is told why."""
    standing = queries.my_grant_standing(gh, me, grant.id)
    if standing.state != GrantState.ACTIVE:
        for key in ("data_view", "export"):
            keep(key, None)
        keep("grant_ended", ending(standing))
        st.rerun()
    seconds = max(0, int((grant.ends_at - gh.now()).total_seconds()))
    st.caption(f"Access ends at {grant.ends_at:%H:%M} UTC: {seconds // 3600} h "
               f"{seconds % 3600 // 60} min left. Every read is logged.")


watch()
scope = st.radio("Scope", grant.scopes, horizontal=True)
where = (grant.id, scope)
if st.button("Read", type="primary", icon=":material/visibility:"):
    keep("grant_ended", None)
    try:
        keep("data_view", (where, broker.read(gh, me, grant.id, grant.customer_id, scope)))
    except GatehouseError as exc:
        show_error(exc)
held = kept("data_view")
view = held[1] if isinstance(held, tuple) and held[0] == where else None
if view is None:
    st.info(f"Click **Read** to see `{grant.customer_id}`'s {scope} (the read is logged).")
    st.stop()
assert isinstance(view, broker.DataView)


def reveal(columns: list[str], reason: str) -> Ask:
    def act(who: Principal) -> str:
        shown = broker.reveal(gh, who, grant.id, grant.customer_id, scope, columns, reason)
        keep("data_view", (where, shown))
        return f"Revealed {', '.join(shown.revealed)}: this is logged."
    return Ask(f"Reveal {', '.join(columns) or 'no column'} of customer `{grant.customer_id}` "
               f"under grant {grant.id}", act)


if grant.allows(DataAction.REVEAL) and view.masked:
    with st.expander("Reveal masked columns (needs a reason and a fresh code)"), \
            st.form("reveal_form"):
        columns = st.multiselect("Columns", list(view.masked))
        reason = st.text_input("Reason")
        asked = st.form_submit_button("Reveal")
    sensitive(gh, me, "reveal", reveal(columns, reason) if asked else None)

for table, frame in view.tables.items():
    st.subheader(table)
    if view.revealed:  # a few rows in clear: a plain table, nothing hidden in a scroller
        st.table(frame.set_index(frame.columns[0]))
    else:
        st.dataframe(frame, hide_index=True, width="stretch")


def export(who: Principal) -> str:
    keep("export", (where, broker.export_csv(gh, who, grant.id, grant.customer_id, scope)))
    return ""  # the download button below is the result


if grant.allows(DataAction.EXPORT):
    clicked = st.button("Export CSV", icon=":material/download:")
    sensitive(gh, me, "export", Ask(f"Export `{grant.customer_id}`'s {scope} as CSV under "
                                    f"grant {grant.id}", export) if clicked else None)
    done = kept("export")
    if isinstance(done, tuple) and done[0] == where:
        st.download_button("Download CSV", done[1], f"{grant.customer_id}-{scope}.csv",
                           mime="text/csv", on_click="ignore")

"""Customer data (support): read under one of your live grants; reveal or export if allowed.

Nothing is read by opening the page or by any other click: a read happens when the person
picks a grant and a scope and clicks Read, is logged once, and stays on screen (kept for this
page, never re-read) until they read again or leave. A scope with more rows than one read
serves says so, and each further page is again a click and one logged read. Columns show
what their catalog mask rule allows; an export may carry columns in clear only where the
grant allows reveal, chosen with a reason and confirmed (with a fresh code), and the download
says plainly which columns of its file are in clear. Refused input (no column, no reason) is
refused at its button before any code is asked for, and the choice stays for the person to
correct; once used, it is emptied. A contact row masked whole because its data subject's
processing is restricted is named beside the table, with the data-subject request holding it.
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
PLAIN_ROWS = 50  # a table of at most this many rows is shown whole, without a scroller

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


def read_page(number: int) -> bool:
    """Read page `number` of the scope (one logged read) and keep it on screen; whether it
    was served. What was exported from an earlier read is dropped with it."""
    try:
        served = broker.read(gh, me, grant.id, grant.customer_id, scope, page=number)
    except GatehouseError as exc:
        show_error(exc)
        return False
    keep("grant_ended", None)
    keep("data_view", (where, served))
    keep("export", None)
    return True


if st.button("Read", type="primary", icon=":material/visibility:"):
    read_page(1)
held = kept("data_view")
if not (isinstance(held, tuple) and held[0] == where and isinstance(held[1], broker.DataView)):
    st.info(f"Click **Read** to see `{grant.customer_id}`'s {scope} (the read is logged).")
    st.stop()
view: broker.DataView = held[1]


def rows_shown(shown: broker.DataView) -> str:
    if not shown.row_count:
        return f"no rows (the scope has {shown.total_rows:,})"
    return f"rows {shown.first_row:,}–{shown.last_row:,} of {shown.total_rows:,}"


def paging(shown: broker.DataView) -> None:
    """Where this page sits among the scope's rows; a cut-off view says so and offers the
    next page. Each page is a deliberate read: a click, one logged event."""
    if shown.pages == 1:
        st.caption(f"The one row of {scope} is shown." if shown.total_rows == 1 else
                   f"All {shown.total_rows:,} rows of {scope} are shown.")
        return
    st.warning(f"Truncated: showing {rows_shown(shown)} (page {shown.page} of "
               f"{shown.pages}). One read serves at most {shown.page_size:,} rows; each "
               "further page is a read of its own, and is logged.",
               icon=":material/vertical_align_bottom:")
    back, on, _ = st.columns([1, 1, 3])
    if back.button("Previous page", icon=":material/chevron_left:", disabled=shown.page == 1,
                   width="stretch") and read_page(shown.page - 1):
        st.rerun()
    if on.button("Next page", icon=":material/chevron_right:", disabled=not shown.truncated,
                 width="stretch") and read_page(shown.page + 1):
        st.rerun()


paging(view)


def reveal(columns: list[str], reason: str) -> Ask:
    def act(who: Principal) -> str:
        shown = broker.reveal(gh, who, grant.id, grant.customer_id, scope, columns, reason,
                              page=view.page)
        keep("data_view", (where, shown))
        return f"Revealed {', '.join(shown.revealed)}: this is logged."
    return Ask(f"Reveal {', '.join(columns)} of customer `{grant.customer_id}` "
               f"({rows_shown(view)}) under grant {grant.id}, for the reason "
               f"“{literal(reason.strip())}”", act,
               check=lambda who: broker.check_reveal(gh, who, grant.id, grant.customer_id,
                                                     scope, columns, reason, page=view.page),
               clear={REVEAL_COLUMNS: [], REVEAL_REASON: ""})


# The choice survives a refusal (the person corrects it) and is emptied once it was used; the
# keys name the grant and scope, so a choice never outlives the columns it was made among.
REVEAL_COLUMNS = f"reveal_columns_{grant.id}_{scope}"
REVEAL_REASON = f"reveal_reason_{grant.id}_{scope}"
hidden = [c for c in view.masked if c in view.revealable]
if grant.allows(DataAction.REVEAL) and hidden:
    with st.expander("Reveal masked columns (needs a reason and a fresh code)"), \
            st.form("reveal_form"):
        columns = st.multiselect("Columns", hidden, key=REVEAL_COLUMNS)
        reason = st.text_input("Reason", key=REVEAL_REASON)
        asked = st.form_submit_button("Reveal")
    sensitive(gh, me, "reveal", reveal(columns, reason) if asked else None)

if view.masked:
    st.caption(f"Masked: {', '.join(view.masked)} (only the part each column's rule allows "
               "is shown).")
if view.held:  # the broker says which rows a hold masked, and why; only numbers, never values
    st.warning(f"Contact row(s) {', '.join(map(str, view.held))} are masked whole: the data "
               f"subject's processing is restricted (data-subject request "
               f"{', '.join(map(str, view.held_by))}, GDPR Art. 18/21). They cannot be "
               "revealed or exported.", icon=":material/lock_person:")
for table, frame in view.tables.items():
    st.subheader(table)
    # Rows in clear, or few rows: a plain table, every value in view and nothing hidden in a
    # scroller; a long page scrolls in a grid.
    if view.revealed or len(frame) <= PLAIN_ROWS:
        st.table(frame, hide_index=True)
    else:
        st.dataframe(frame, hide_index=True, width="stretch")
if view.revealed and view.truncated:
    st.caption("The next page is read masked again: reveal there if you need to.")


def export(columns: list[str], reason: str) -> Ask:
    """Export the page on screen, with `columns` in clear (none: masked as shown). With
    columns in clear it is consequential: confirmed, as revealing them is, with its reason."""
    def act(who: Principal) -> str:
        data = broker.export_csv(gh, who, grant.id, grant.customer_id, scope, page=view.page,
                                 columns=columns, reason=reason if columns else None)
        name = f"{grant.customer_id}-{scope}-grant-{grant.id}-{gh.now():%Y%m%dT%H%M%SZ}"
        keep("export", (where, data, f"{name}{'-revealed' if columns else ''}.csv",
                        rows_shown(view), tuple(columns)))
        return ""  # the download button below is the result
    what = f"Export `{grant.customer_id}`'s {scope} ({rows_shown(view)}) as CSV under grant " \
           f"{grant.id}"
    if not columns:
        return Ask(f"{what}, masked", act)
    return Ask(f"{what}, with {', '.join(columns)} in clear, for the reason "
               f"“{literal(reason.strip())}”", act, confirm=True, needs_code=True,
               check=lambda who: broker.check_export(gh, who, grant.id, grant.customer_id,
                                                     scope, page=view.page, columns=columns,
                                                     reason=reason),
               clear={EXPORT_COLUMNS: [], EXPORT_REASON: ""})


EXPORT_COLUMNS = f"export_columns_{grant.id}_{scope}"
EXPORT_REASON = f"export_reason_{grant.id}_{scope}"


def export_form() -> Ask | None:
    """The export control: with a choice of columns in clear (and its reason) only where the
    grant allows reveal. The choice survives a refusal and is emptied once it was used."""
    if not (grant.allows(DataAction.REVEAL) and view.revealable):
        clicked = st.button("Export CSV", icon=":material/download:")
        return export([], "") if clicked else None
    with st.form("export_form"):
        st.markdown("**Export this page as CSV** (watermarked with your name)")
        columns = st.multiselect("Columns in clear in the file (optional)",
                                 list(view.revealable), key=EXPORT_COLUMNS)
        reason = st.text_input("Reason for the columns in clear", key=EXPORT_REASON)
        asked = st.form_submit_button("Export CSV", icon=":material/download:")
    return export(columns, reason) if asked else None


def download(data: bytes, file_name: str, rows: str, clear: tuple[str, ...]) -> None:
    """The file, and beside it, plainly, which of its columns are in clear."""
    st.download_button("Download CSV", data, file_name, mime="text/csv", on_click="ignore",
                       icon=":material/file_download:")
    if clear:
        st.warning(f"In clear in this file: **{', '.join(clear)}** (every other column "
                   "masked).", icon=":material/visibility:")
    else:
        st.info("In clear in this file: **none: all masked**.", icon=":material/visibility_off:")
    st.caption(f"{file_name}: {rows}, {len(data):,} bytes.")


if grant.allows(DataAction.EXPORT):
    asked_export = export_form()
    if asked_export is not None:
        keep("export", None)  # the file of an earlier export never stands for this one
    sensitive(gh, me, "export", asked_export)
    done = kept("export")
    if isinstance(done, tuple) and done[0] == where:
        download(*done[1:])

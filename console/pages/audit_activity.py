"""Activity (auditors): the anomaly flags of a window, and what happened in it, in charts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from console.audit_widgets import remembered, time_window
from console.errors import show_error
from console.formatting import stamp
from console.gate import page

FLAG_ROW_PX = 84  # four lines of detail

gh, auditor = page(Action.AUDIT_VIEW)
st.title("Activity")
since, until = time_window("activity", days=14, now=gh.now())
try:
    window = oversight.event_filter(since=since, until=until)
    found = remembered("activity_counts", window,
                       lambda: oversight.activity(gh, auditor, window))
    flags = remembered("activity_flags", window,
                       lambda: oversight.anomalies(gh, auditor, since, until))
except GatehouseError as exc:
    show_error(exc)
    st.stop()

st.subheader(f"Anomaly flags ({len(flags)})")
st.caption(f"Rules and thresholds from `[anomalies]` in the configuration; working hours "
           f"{gh.config.anomalies.working_hours()}. A flag is a lead: open the grant, customer "
           "or events it names.")
if not flags:
    st.success("No rule raised a flag in this window.", icon=":material/check_circle:")
else:
    st.dataframe(pd.DataFrame([{
        "rule": f.rule, "subject": f.subject, "first seen (UTC)": stamp(f.at),
        "detail": f.detail, "evidence": ", ".join(map(str, f.evidence))}
        for f in flags]), hide_index=True, width="stretch",
        # Fits beside the sidebar on a 1280-pixel screen; rows taller than 4rem let
        # Streamlit wrap the detail over the row's four lines.
        column_config={"rule": st.column_config.TextColumn(width=140),
                       "subject": st.column_config.TextColumn(width=125),
                       "first seen (UTC)": st.column_config.TextColumn(width=125),
                       "detail": st.column_config.TextColumn(width=330),
                       "evidence": st.column_config.TextColumn(width=95,
                                                               help="The event ids")},
        row_height=FLAG_ROW_PX, height=FLAG_ROW_PX * min(len(flags), 10) + 38)

st.subheader("Activity")


def below(columns: int) -> alt.Legend:
    """A legend under its chart, in `columns`: as long as the chart needs, never cut off
    (at the side it had the chart's height, and a ninth kind of action fell off)."""
    return alt.Legend(orient="bottom", columns=columns)


daily = pd.DataFrame([vars(d) for d in found.daily], columns=["day", "action", "outcome",
                                                               "events"])
daily["kind"] = daily["action"].str.split(".").str[0]  # auth, request, grant, data, audit, …
actors = pd.DataFrame([vars(a) for a in found.actors], columns=["actor_sub", "actor_name",
                                                                 "action", "events"])
day = alt.X("day:T", title=None, timeUnit="utcyearmonthdate")
st.caption("Events per day (UTC), by kind of action")
st.altair_chart(alt.Chart(daily).mark_bar().encode(
    x=day, y=alt.Y("sum(events):Q", title="events"),
    color=alt.Color("kind:N", title=None, legend=below(8)),
    tooltip=["day:T", "action:N", "outcome:N", "events:Q"]).properties(height=180),
    width="stretch")
denials_chart, reads_chart = st.columns(2)
with denials_chart:
    st.caption("Denials per day, by action")
    denied = daily[daily.outcome == "denied"]
    if denied.empty:
        st.info("No denial in this window.", icon=":material/check_circle:")
    else:
        st.altair_chart(alt.Chart(denied).mark_bar().encode(
            x=day, y=alt.Y("sum(events):Q", title="denials"),
            color=alt.Color("action:N", title=None, legend=below(2)),
            tooltip=["day:T", "action:N", "events:Q"])
            .properties(height=160), width="stretch")
with reads_chart:
    st.caption("Customer-data accesses per person")
    st.altair_chart(alt.Chart(actors).mark_bar().encode(
        y=alt.Y("actor_sub:N", title=None, sort="-x"), x=alt.X("sum(events):Q", title=None),
        color=alt.Color("action:N", title=None, legend=below(3)),
        tooltip=["actor_sub:N", "action:N", "events:Q"]).properties(height=160),
        width="stretch")

"""Home: who you are here, what waits for you (a line and a link per kind of thing), and
your session. Opening it records nothing (`access.waiting`)."""

from __future__ import annotations

import streamlit as st

from access.authz import Action, allowed
from access.dsr.clock import clock_state
from access.waiting import Waiting, Waits, waiting_for
from console.app import PAGES
from console.formatting import day, soon, when
from console.gate import page
from console.markup import literal

gh, principal = page(Action.VIEW_HOME)
now = gh.now()
st.title(f"Welcome, {literal(principal.name or principal.sub)}")
st.write("Your roles: " + ", ".join(f"**{r}**" for r in sorted(principal.roles)))


# What each kind says for one and for several ({n}: how many; {at}, {due}, {legal}: its
# soonest time, {legal} with the data-subject clock's state), in counts, times and fixed words
# only (never text a person typed); and the url path of the page where the person acts.
SAYS: dict[Waits, tuple[str, str, str]] = {
    Waits.LIVE_GRANTS: ("1 live grant, ends at {at}",
                        "{n} live grants, the first ends at {at}", "data"),
    Waits.OWN_PENDING: ("1 request of yours waits for approval",
                        "{n} requests of yours wait for approval", "my-access"),
    Waits.DECISIONS: ("1 request waits for your decision, lapses undecided at {at}",
                      "{n} requests wait for your decision, the first lapses undecided at {at}",
                      "approvals"),
    Waits.BREAKGLASS_REVIEWS: ("1 break-glass grant awaits review",
                               "{n} break-glass grants await review", "approvals"),
    Waits.LOCKED_ACCOUNTS: ("1 account locked by wrong codes, unlocks at {at}",
                            "{n} accounts locked by wrong codes, the first unlocks at {at}",
                            "users"),
    Waits.DSR_APPROVALS: ("1 data-subject request waits for your approval, {legal}",
                          "{n} data-subject requests wait for your approval, the nearest {legal}",
                          "dsr"),
    Waits.REVIEW_ITEMS: ("1 access-review item waits for your decision, {due}",
                         "{n} access-review items wait for your decision, the nearest {due}",
                         "reviews"),
    Waits.OWN_DSRS: ("1 open data-subject request is yours, {legal}",
                     "{n} open data-subject requests are yours, the nearest {legal}", "dsr"),
}


def says(w: Waiting) -> str:
    """The line of `w`: how many, and its soonest time in words."""
    one, many, _ = SAYS[w.what]
    line = one if w.count == 1 else many
    if w.soonest is None:
        return line.format(n=w.count)
    due = f"due {day(w.soonest)}"
    return line.format(n=w.count, at=soon(w.soonest, now), due=due,
                       legal=f"{due} ({clock_state(w.soonest, None, now, gh.config.dsr)})")


def link(url: str, label: str) -> None:
    """A link to the navigation's page at `url`, naming it (a page link looks like text)."""
    script, title, icon = next((script, title, icon) for script, title, icon, path, _ in PAGES
                               if path == url)
    st.page_link(script, label=f"{label} → {title}", icon=icon)


st.subheader("What waits for you")
waiting = waiting_for(gh, principal)
for w in waiting:
    link(SAYS[w.what][2], says(w))
if not waiting:
    st.write("Nothing waits for you.")
if allowed(principal, Action.AUDIT_VERIFY):
    link("audit-verify", "Check the audit log's integrity")

st.caption(f"Signed in as {literal(principal.sub)} at {literal(principal.iss)}. "
           f"This session ends at {when(principal.session_expires_at)}, or after "
           f"{int(gh.config.sessions.idle.total_seconds() // 60)} idle minutes.")

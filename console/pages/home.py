"""Home: who you are here, what your roles let you do, and your session."""

from __future__ import annotations

import streamlit as st

from access.authz import Action
from console.formatting import when
from console.gate import page
from console.markup import literal

gh, principal = page(Action.VIEW_HOME)
st.title(f"Welcome, {literal(principal.name or principal.sub)}")
st.write("Your roles: " + ", ".join(f"**{r}**" for r in sorted(principal.roles)))
st.caption(f"Signed in as {literal(principal.sub)} at {literal(principal.iss)}. "
           f"This session ends at {when(principal.session_expires_at)}, or after "
           f"{int(gh.config.sessions.idle.total_seconds() // 60)} idle minutes.")

"""The one place domain errors become what a person sees."""

from __future__ import annotations

import streamlit as st

from access.authz import StepUpRequired
from access.errors import AuthenticationFailed, Conflict, Denied, GatehouseError, InvalidInput


def show_error(exc: GatehouseError) -> None:
    """Explain `exc` plainly. Messages of our errors never carry secrets, so they are shown."""
    if isinstance(exc, InvalidInput):
        st.error(f"**{exc.field}**: {exc.rule}", icon=":material/edit_off:")
    elif isinstance(exc, StepUpRequired):
        st.warning(f"{exc} — enter a code from your authenticator app below.",
                   icon=":material/lock_clock:")
    elif isinstance(exc, Denied):
        st.error(f"Not allowed: {exc}", icon=":material/block:")
    elif isinstance(exc, Conflict):
        st.warning(f"{exc}", icon=":material/sync_problem:")
    elif isinstance(exc, AuthenticationFailed):
        st.error(f"{exc}", icon=":material/key_off:")
    else:
        st.error(f"{exc}")

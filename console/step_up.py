"""Step-up: a fresh authenticator code before a sensitive action."""

from __future__ import annotations

import streamlit as st

from access.context import Gatehouse
from access.errors import GatehouseError
from access.identity import mfa
from access.principal import Principal
from console.errors import show_error


def step_up_form(gh: Gatehouse, principal: Principal, key: str) -> None:
    """A code form; on success the session's step-up time is renewed and the page reruns."""
    with st.form(f"step_up_{key}"):
        code = st.text_input("6-digit code", max_chars=6, key=f"step_up_code_{key}")
        if st.form_submit_button("Confirm with code"):
            try:
                mfa.verify_code(gh, principal, code)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

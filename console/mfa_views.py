"""The second factor: enroll an authenticator, or enter its code (or a recovery code)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from access.context import Gatehouse
from access.errors import GatehouseError
from access.identity import mfa
from access.principal import Principal
from console.errors import show_error


def mfa_pending(principal: Principal) -> bool:
    """Whether this run must show the MFA step: not verified yet, or recovery codes to show."""
    return not principal.mfa_verified or "recovery_codes" in st.session_state


def mfa_step(gh: Gatehouse, principal: Principal, who: Callable[[], None]) -> None:
    """The code screen; `who` draws, under the title, who is signing in and a way out."""
    st.title("Two-step verification")
    who()
    if codes := st.session_state.get("recovery_codes"):
        _show_recovery_codes(codes)
    elif mfa.status(gh, principal.user_id) == "active":
        _verify(gh, principal)
    else:
        _enroll(gh, principal)


def _enroll(gh: Gatehouse, principal: Principal) -> None:
    enrollment = mfa.begin_enrollment(gh, principal)
    st.write("Scan this code with your authenticator app (or type the key), then enter the "
             "6-digit code it shows.")
    st.image(enrollment.qr_png, width=220)
    st.caption("Key")
    st.code(enrollment.secret, language=None)
    with st.form("enroll"):
        code = st.text_input("6-digit code", max_chars=6, key="enroll_code")
        if st.form_submit_button("Activate", type="primary"):
            try:
                _, st.session_state["recovery_codes"] = mfa.activate(gh, principal, code)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)


def _show_recovery_codes(codes: list[str]) -> None:
    st.success("Your authenticator is active.")
    st.write("Recovery codes: each works once if you lose your phone. Store them now; they "
             "are not shown again.")
    st.code("\n".join(codes), language=None)
    if st.button("Continue", type="primary"):
        del st.session_state["recovery_codes"]
        st.rerun()


def _verify(gh: Gatehouse, principal: Principal) -> None:
    with st.form("verify"):
        code = st.text_input("6-digit code", max_chars=6, key="verify_code")
        if st.form_submit_button("Verify", type="primary"):
            try:
                mfa.verify_code(gh, principal, code)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)
    with st.expander("Lost your phone? Use a recovery code"), st.form("recover"):
        recovery = st.text_input("Recovery code", key="recovery_code")
        if st.form_submit_button("Use recovery code"):
            try:
                mfa.use_recovery_code(gh, principal, recovery)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)

"""The second factor: enroll an authenticator, or enter its code (or a recovery code)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import streamlit as st

from access.context import Gatehouse
from access.errors import GatehouseError
from access.identity import mfa
from access.principal import Principal
from console.errors import show_error
from console.formatting import when


def mfa_pending(principal: Principal) -> bool:
    """Whether this run must show the MFA step: not verified yet, or recovery codes to show."""
    return not principal.mfa_verified or _CODES in st.session_state


# The recovery codes just issued and when, shown until Continue: kept in this browser
# session's memory only (never on disk, in a log or in the database, which keeps hashes).
_CODES = "recovery_codes"


def mfa_step(gh: Gatehouse, principal: Principal, who: Callable[[], None]) -> None:
    """The code screen; `who` draws, under the title, who is signing in and a way out."""
    st.title("Two-step verification")
    who()
    if issued := st.session_state.get(_CODES):
        _show_recovery_codes(principal, *issued)
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
                _, codes = mfa.activate(gh, principal, code)
                st.session_state[_CODES] = (codes, gh.now())
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)


def _show_recovery_codes(principal: Principal, codes: list[str], issued: datetime) -> None:
    st.success("Your authenticator is active.")
    st.write("Recovery codes: each works once if you lose your phone. Store them now; they "
             "are not shown again.")
    st.code("\n".join(codes), language=None)
    # The file is made here, in memory (Streamlit serves a download button's bytes from its
    # in-memory media store), so the codes never reach the server's disk. "ignore": the
    # download does not rerun the script, so the screen stays as it is.
    name, text = _recovery_file(principal, codes, issued)
    st.download_button("Download recovery codes", text.encode(), name, mime="text/plain",
                       on_click="ignore", icon=":material/file_download:")
    if st.button("Continue", type="primary"):
        del st.session_state[_CODES]
        st.rerun()


_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _recovery_file(principal: Principal, codes: list[str], issued: datetime) -> tuple[str, str]:
    """The recovery codes as a small text file: its name and its text, which names the
    account and when the codes were issued, then holds one code a line."""
    # Names come from the identity provider: a line break or other control character in
    # them must not add lines that read like codes.
    account = _LINE_BREAKING.sub(" ", f"{principal.name or principal.sub} ({principal.sub})")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", principal.sub).strip("-.") or "account"
    text = "\n".join([
        "Gatehouse recovery codes",
        f"Account: {account}",
        f"Issued: {when(issued)}",
        "Each code works once, in place of a code from your authenticator app.",
        "",
        *codes, ""])
    return f"gatehouse-recovery-codes-{slug}-{issued:%Y%m%dT%H%M%SZ}.txt", text


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

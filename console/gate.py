"""The gate every page run passes: signed in (OIDC), a live server-side session, MFA, role.

Streamlit's cookie says who signed in at the identity provider; only `access.identity.sessions`
decides whether that login still counts. Anything short of a verified principal stops the
script here, so pages never run for an incomplete sign-in.
"""

from __future__ import annotations

from typing import NoReturn

import streamlit as st

from access.authz import Action
from access.context import Gatehouse
from access.errors import Denied, GatehouseError
from access.identity import sessions
from access.principal import Principal
from console.errors import show_error
from console.mfa_views import mfa_pending, mfa_step
from console.services import services


def _stop() -> NoReturn:
    st.stop()
    raise AssertionError("unreachable")  # st.stop raises; this keeps type checkers honest


def signed_in() -> tuple[Gatehouse, Principal]:
    """The verified principal of this browser, or a sign-in / MFA screen and a stop."""
    if not st.user.get("is_logged_in", False):
        _sign_in_screen()
    try:
        gh = services()
        token = st.user.tokens["id"]
        principal = sessions.resume(gh, token, *_client())
    except (KeyError, GatehouseError) as exc:
        _refused(exc)
    if mfa_pending(principal):
        mfa_step(gh, principal)
        _stop()
    return gh, principal


def _client() -> tuple[str | None, str | None]:
    """The browser's address and user agent, when Streamlit knows them."""
    ip, agent = st.context.ip_address, st.context.headers.get("User-Agent")
    return (ip if isinstance(ip, str) else None, agent if isinstance(agent, str) else None)


def page(action: Action) -> tuple[Gatehouse, Principal]:
    """Gate a page on `action`: navigation hides pages, but each page checks for itself."""
    gh, principal = signed_in()
    try:
        gh.authorize(principal, action)
    except Denied as exc:
        show_error(exc)
        _stop()
    return gh, principal


def _sign_in_screen() -> NoReturn:
    st.title("Gatehouse")
    st.write("Access to production customer data, granted per ticket and logged.")
    st.button("Sign in", type="primary", on_click=st.login)
    _stop()


def _refused(exc: Exception) -> NoReturn:
    st.title("Gatehouse")
    if isinstance(exc, GatehouseError):
        show_error(exc)
    else:
        st.error("The identity provider did not pass an ID token: set `expose_tokens = "
                 "\"id\"` in the [auth] section of .streamlit/secrets.toml.")
    st.button("Sign out", on_click=st.logout)
    _stop()


def sign_out(gh: Gatehouse, principal: Principal) -> None:
    sessions.logout(gh, principal)
    st.logout()

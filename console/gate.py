"""The gate every page run passes: signed in (OIDC), a live server-side session, MFA, role.

Streamlit's cookie says who signed in at the identity provider; only `access.identity.sessions`
decides whether that login still counts. Anything short of a verified principal stops the
script here, so pages never run for an incomplete sign-in.
"""

from __future__ import annotations

import functools
import os
from typing import NoReturn
from urllib.parse import urlsplit

import streamlit as st

from access.authz import Action
from access.context import Gatehouse
from access.errors import Denied, GatehouseError, InvalidIdToken
from access.identity import sessions
from access.identity.client_ip import (
    TRUSTED_PROXIES_ENV,
    Network,
    client_ip,
    parse_trusted_proxies,
)
from access.principal import Principal
from console.errors import show_error
from console.markup import literal
from console.mfa_views import mfa_pending, mfa_step
from console.services import services
from console.signin_watch import PEER_HEADER

# What the sign-in screen says after the provider callback refused a sign-in
# (`?signin=<reason>`, set by console/signin_watch.py; the reasons are
# access.identity.refusals.REASONS). Each says what happened and what to do; none quotes the
# token. An unknown reason (a hand-made URL) shows nothing.
REFUSED = {
    "audience": "The identity provider issued this sign-in for another application, not "
                "Gatehouse.",
    "issuer": "The sign-in came from an identity provider Gatehouse does not trust.",
    "expired": "The sign-in had already expired when it reached Gatehouse. Check that this "
               "computer's clock is right.",
    "key": "The sign-in was signed with a key Gatehouse's identity provider does not publish.",
    "signature": "The sign-in's signature does not match Gatehouse's identity provider.",
    "nonce": "The sign-in does not belong to the attempt this browser started.",
    "claims": "The sign-in is missing information Gatehouse requires.",
    "provider": "The identity provider did not sign you in.",
    "replayed": "This sign-in was already used or has expired.",
    "exchange": "Gatehouse could not complete the sign-in with the identity provider.",
    "rejected": "Gatehouse could not accept this sign-in.",
}
_AGAIN = "The attempt was refused and recorded. Sign in again; if this repeats, tell your admin."


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
        # The code screen answers any URL, and its rerun after a good code loses the path;
        # remember the page the person opened, for the navigation to go there next.
        st.session_state.setdefault(WANTED_PAGE, _opened_page())
        mfa_step(gh, principal, lambda: _signed_in_as(gh, principal))
        _stop()
    return gh, principal


WANTED_PAGE = "wanted_page"


def _opened_page() -> str | None:
    """The URL path segment the browser opened (a fresh session has registered no pages yet,
    so `st.context.url` is the browser's URL as it is)."""
    url = st.context.url
    return urlsplit(url).path.strip("/").rsplit("/", 1)[-1] or None if url else None


def _client() -> tuple[str | None, str | None]:
    """The browser's address (access.identity.client_ip, behind GATEHOUSE_TRUSTED_PROXIES)
    and user agent, when Streamlit knows them.

    The peer is `st.context.ip_address`, which is None for a loopback peer (streamlit 1.67);
    then the address our server middleware stamped on the connection (console/signin_watch.py,
    which drops any such header the client sent)."""
    headers = st.context.headers
    peer = st.context.ip_address or headers.get(PEER_HEADER)
    forwarded = {"X-Forwarded-For": ",".join(headers.get_all("X-Forwarded-For"))}
    ip = client_ip(peer if isinstance(peer, str) else None, forwarded,
                   _trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV, "")))
    agent = headers.get("User-Agent")
    return ip, agent if isinstance(agent, str) else None


@functools.lru_cache(maxsize=4)
def _trusted_proxies(setting: str) -> tuple[Network, ...]:
    return parse_trusted_proxies(setting)


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
    if (refused := _refused_at_callback()) in REFUSED:
        st.error(f"**Sign-in refused.** {REFUSED[refused]} {_AGAIN}", icon=":material/key_off:")
    st.button("Sign in", type="primary", on_click=st.login)
    _stop()


def _refused_at_callback() -> str:
    """The reason of a sign-in the provider callback just refused, kept for this browser
    session (the query parameter is removed, so a reload or a shared URL shows nothing)."""
    if "signin" in st.query_params:
        st.session_state["signin_refused"] = st.query_params["signin"][:16]
        del st.query_params["signin"]
    refused = st.session_state.get("signin_refused")
    return refused if isinstance(refused, str) else ""


def _refused(exc: Exception) -> NoReturn:
    st.title("Gatehouse")
    if isinstance(exc, InvalidIdToken):
        st.error(f"**Sign-in refused.** Gatehouse's own check of the sign-in failed: {exc}. "
                 "The attempt was recorded. Sign out, then sign in again; if this repeats, "
                 "tell your admin.", icon=":material/key_off:")
    elif isinstance(exc, GatehouseError):
        show_error(exc)
    else:
        st.error("The identity provider did not pass an ID token: set `expose_tokens = "
                 "\"id\"` in the [auth] section of .streamlit/secrets.toml.")
    if isinstance(exc, sessions.SessionEnded) and exc.why != sessions.USER_DISABLED:
        # Signed out elsewhere, timed out, or the authenticator was reset: a new sign-in at
        # the provider brings a new ID token, hence a new session (and, after a reset, the
        # enrollment screen). Streamlit's cookie still names the old login, so "Sign in" from
        # the sign-in screen is never shown here; this is its place.
        with st.container(horizontal=True):
            st.button("Sign in again", type="primary", on_click=st.login)
            st.button("Sign out", on_click=st.logout)
    else:
        st.button("Sign out", on_click=st.logout)
    _stop()


def _signed_in_as(gh: Gatehouse, principal: Principal) -> None:
    """Who the code screen is for, and the way out for the wrong persona."""
    text, out = st.columns([5, 1], vertical_alignment="center")
    text.write(f"Signing in as **{literal(principal.name)}** ({literal(principal.sub)}). "
               "Not you? Sign out and sign in as yourself.")
    out.button("Sign out", key="sign_out_mfa", on_click=sign_out, args=(gh, principal))


def sign_out(gh: Gatehouse, principal: Principal) -> None:
    sessions.logout(gh, principal)
    st.logout()

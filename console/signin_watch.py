"""ASGI middleware around the console's server (`st.App(middleware=...)` in streamlit_app.py).

Why a middleware: Streamlit's OIDC callback (`/oauth2callback`, streamlit 1.67
starlette_auth_routes.py) catches every rejection of the token exchange (wrong audience,
foreign key, wrong issuer, expired...), logs a warning and redirects to `/` with no query
parameter, no cookie and nothing in `st.user`: the app script cannot tell a refused sign-in from
a first visit. `st.App` is Streamlit's public way to add middleware, so nothing of Streamlit is
patched. Three jobs, each on one route:

- `/oauth2callback`: a callback that carried a sign-in (`code` or `error`) but set no login
  cookie was refused. The reason comes from the exception Authlib raised, which Streamlit's
  route logs with `exc_info`; a logging handler collects it for the request being watched
  (a context variable, so concurrent callbacks never mix). One `auth.login.failed` event is
  written (access.identity.refusals) and the redirect gains `?signin=<reason>`, which the
  sign-in screen turns into a message. A successful callback is sent to the page the person
  first asked for (below).
- `/auth/login`: remembers the page the person was on (Referer, same origin, one path
  segment) in a short-lived cookie, so a deep link survives the trip to the provider.
- websocket: stamps the connection's peer address into `X-Gatehouse-Peer`, replacing any
  such header the client sent, because `st.context.ip_address` is None for loopback peers.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access.identity.client_ip import TRUSTED_PROXIES_ENV, client_ip, parse_trusted_proxies
from access.identity.refusals import callback_refusal, record_callback_refusal

__all__ = ["NEXT_COOKIE", "PEER_HEADER", "SignInWatch", "next_page_cookie"]

PEER_HEADER = "x-gatehouse-peer"
NEXT_COOKIE = "gatehouse_next"
_USER_COOKIE = "_streamlit_user"  # streamlit starlette_server_config.USER_COOKIE_NAME
_AUTH_LOGGER = "streamlit.web.server.starlette.starlette_auth_routes"
_PAGE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
log = logging.getLogger("gatehouse.console")


@dataclass
class _Watched:
    error: BaseException | None = None


_WATCHED: ContextVar[_Watched | None] = ContextVar("gatehouse_callback", default=None)


class _CollectRejection(logging.Handler):
    """Keeps the exception of a warning Streamlit's auth routes log while a callback we watch
    is being handled; everything else passes untouched."""

    def emit(self, record: logging.LogRecord) -> None:
        watched = _WATCHED.get()
        if watched is not None and record.exc_info and record.exc_info[1] is not None:
            watched.error = record.exc_info[1]


def _install_collector() -> None:
    logger = logging.getLogger(_AUTH_LOGGER)
    if not any(isinstance(h, _CollectRejection) for h in logger.handlers):
        logger.addHandler(_CollectRejection(logging.WARNING))


class SignInWatch:
    """The middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _install_collector()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope = _stamp_peer(scope)
        elif scope["type"] == "http" and scope["path"].endswith("/oauth2callback"):
            await _watch_callback(self.app, scope, receive, send)
            return
        elif scope["type"] == "http" and scope["path"].endswith("/auth/login"):
            send = _remembering_next_page(scope, send)
        await self.app(scope, receive, send)


def _stamp_peer(scope: Scope) -> Scope:
    client = scope.get("client")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != PEER_HEADER.encode()]
    if client:
        headers.append((PEER_HEADER.encode(), str(client[0]).encode("latin-1")))
    return {**scope, "headers": headers}


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, repeated ones joined with commas (as HTTP allows)."""
    joined: dict[str, str] = {}
    for key, value in scope["headers"]:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        joined[name] = f"{joined[name]},{text}" if name in joined else text
    return joined


def next_page_cookie(cookies: dict[str, str]) -> str | None:
    """The remembered page from the request's cookies, when it is a plausible page path."""
    page = cookies.get(NEXT_COOKIE)
    return page if page is not None and _PAGE.fullmatch(page) else None


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header means no cookies to us
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _remembering_next_page(scope: Scope, send: Send) -> Send:
    headers = _headers(scope)
    referer = urlsplit(headers.get("referer", ""))
    page = referer.path.strip("/")
    same_origin = referer.netloc == headers.get("host")
    cookie = (f"{NEXT_COOKIE}={page}; Path=/; HttpOnly; SameSite=Lax; Max-Age=900"
              if same_origin and _PAGE.fullmatch(page)
              else f"{NEXT_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")

    async def send_with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"],
                                              (b"set-cookie", cookie.encode("latin-1"))]}
        await send(message)

    return send_with_cookie


async def _watch_callback(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "code" not in query and "error" not in query:
        # The provider's return after sign-out (or a bare visit): not a sign-in attempt.
        await app(scope, receive, send)
        return
    watched = _Watched()
    token = _WATCHED.set(watched)

    async def judged(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = await _judge(scope, message, watched, query)
        await send(message)

    try:
        await app(scope, receive, judged)
    finally:
        _WATCHED.reset(token)


def _signed_in(message: Message) -> bool:
    """Whether Streamlit's response sets a (non-empty) login cookie."""
    for key, value in message.get("headers", []):
        if key.lower() != b"set-cookie":
            continue
        text = value.decode("latin-1")
        name, _, rest = text.partition("=")
        if name.strip() == _USER_COOKIE and not rest.startswith(('""', ";")) \
                and "max-age=0" not in rest.lower():
            return True
    return False


async def _judge(scope: Scope, message: Message, watched: _Watched,
                 query: dict[str, list[str]]) -> Message:
    headers = _headers(scope)
    page = next_page_cookie(_cookies(headers))
    if _signed_in(message):
        return _redirect(message, page, {}, clear_next=page is not None)
    slug = callback_refusal(watched.error, "error" in query,
                            state_known=watched.error is not None)
    await run_in_threadpool(_record, slug, scope, headers)
    return _redirect(message, page, {"signin": slug}, clear_next=False)


def _record(slug: str, scope: Scope, headers: dict[str, str]) -> None:
    try:
        from console.services import services  # deferred: the module reads Streamlit secrets

        peer = scope.get("client")
        ip = client_ip(peer[0] if peer else None, headers,
                       parse_trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV)))
        record_callback_refusal(services(), slug, ip, headers.get("user-agent"))
    except Exception:  # a malformed Cookie header means no cookies to us
        # The person still gets the message; the failure to record is loud in the server log.
        log.exception("could not record a refused sign-in (%s)", slug)


def _redirect(message: Message, page: str | None, params: dict[str, str],
              clear_next: bool) -> Message:
    headers: list[tuple[bytes, bytes]] = []
    for key, value in message.get("headers", []):
        if key.lower() == b"location":
            value = _relocated(value.decode("latin-1"), page, params).encode("latin-1")
        headers.append((key, value))
    if clear_next:
        headers.append((b"set-cookie",
                        f"{NEXT_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0".encode()))
    out: dict[str, Any] = {**message, "headers": headers}
    return out


def _relocated(location: str, page: str | None, params: dict[str, str]) -> str:
    """Streamlit's redirect to the app's root, sent to `page` with `params` instead."""
    parts = urlsplit(location)
    path = parts.path if page is None else f"{parts.path.rstrip('/')}/{page}"
    return urlunsplit(parts._replace(path=path, query=urlencode(params)))

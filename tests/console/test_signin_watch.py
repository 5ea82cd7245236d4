"""The server middleware's own rules, on real ASGI scopes: the peer stamp cannot be forged,
and only a sign-in callback that set no login cookie counts as refused."""

from __future__ import annotations

import asyncio
from typing import Any

from console.signin_watch import PEER_HEADER, SignInWatch, next_page_cookie


def seen_headers(scope_type: str, headers: list[tuple[bytes, bytes]],
                 client: tuple[str, int] | None) -> list[tuple[bytes, bytes]]:
    """The headers the app behind the middleware receives."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["headers"] = scope["headers"]

    scope = {"type": scope_type, "path": "/_stcore/stream", "headers": headers,
             "client": client}
    asyncio.run(SignInWatch(app)(scope, None, None))  # type: ignore[arg-type]
    return list(seen["headers"])


def test_the_peer_stamp_replaces_whatever_the_client_sent() -> None:
    forged = [(b"host", b"localhost"), (PEER_HEADER.encode(), b"10.0.0.1"),
              (b"X-Gatehouse-Peer", b"10.0.0.2")]
    headers = seen_headers("websocket", forged, ("198.51.100.9", 5555))
    assert [v for k, v in headers if k.lower() == PEER_HEADER.encode()] == [b"198.51.100.9"]
    assert (b"host", b"localhost") in headers


def test_without_a_known_peer_there_is_no_stamp_at_all() -> None:
    headers = seen_headers("websocket", [(PEER_HEADER.encode(), b"10.0.0.1")], None)
    assert [k for k, _ in headers if k.lower() == PEER_HEADER.encode()] == []


def test_a_remembered_page_must_look_like_a_page() -> None:
    assert next_page_cookie({"gatehouse_next": "approvals"}) == "approvals"
    for bad in ["//evil.example", "https:", "a/b", "../x", "", "A" * 50, "x y"]:
        assert next_page_cookie({"gatehouse_next": bad}) is None

"""Outgoing webhooks through the outbox, against a real HTTP receiver on 127.0.0.1: messages
are inert Block Kit data, and hostile receivers (trickling, endless, redirecting) cost one
delivery attempt, never the worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from access.context import Gatehouse
from access.errors import InvalidInput
from access.schema import Notification
from access.workflow.notify import (
    DEADLINE_S,
    LEASE,
    DeliveryReport,
    Kind,
    deliver_pending,
    enqueue,
    post_json,
    slack_message,
    webhook_url_from_env,
)
from audit.schema import events_table
from tests.support.identity_helpers import FakeClock

SECRET_PATH = "/hooks/T000/SECRET-TOKEN"
NOTHING = DeliveryReport(0, 0, 0)


class Receiver:
    """A webhook receiver that records every body it is sent and can be told to answer 500 to
    the next N requests, to hang (past the client's deadline), to hang up without answering,
    to trickle its answer a byte a second, to stream an endless body or to redirect."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.content_types: list[str] = []
        self.fail_next = 0
        self.mode = "answer"
        self.release = threading.Event()
        self.location = ""
        self.redirect_status = 307
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.received]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.lock:
                receiver.received.append(body)
                receiver.content_types.append(self.headers["Content-Type"])
                failing = receiver.fail_next > 0
                receiver.fail_next -= int(failing)
            if receiver.mode == "hang":
                receiver.release.wait(10)
            if receiver.mode in HOSTILE:
                with contextlib.suppress(OSError):  # the client hung up, as it should
                    HOSTILE[receiver.mode](self, receiver)
                self.close_connection = True
                return
            if receiver.mode != "answer":
                self.close_connection = True  # hang up without a status line
                return
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def trickle(handler: BaseHTTPRequestHandler, receiver: Receiver) -> None:
    """A status line and then a header that never ends, one byte a second (for hours)."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
        handler.wfile.write(bytes([byte]))
        if receiver.release.wait(1):
            return


def endless(handler: BaseHTTPRequestHandler, receiver: Receiver) -> None:
    """200 at once, then a chunked body that never ends (slowly: 100 KB/s, to spare memory
    when it is run against a client that would buffer it)."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not receiver.release.wait(0.01):
        handler.wfile.write(b"400\r\n" + b"x" * 0x400 + b"\r\n")


def redirect(handler: BaseHTTPRequestHandler, receiver: Receiver) -> None:
    handler.send_response(receiver.redirect_status)
    handler.send_header("Location", receiver.location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


HOSTILE = {"trickle": trickle, "endless": endless, "redirect": redirect}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


def notify(gh: Gatehouse, text: str = "Request 7 needs approval", **fields: str) -> None:
    with gh.write() as db:
        enqueue(gh, db, Kind.REQUEST_CREATED, text, fields)


def only_row(gh: Gatehouse) -> Notification:
    with gh.read() as db:
        return db.execute(select(Notification)).scalar_one()


def failure_events(gh: Gatehouse) -> list[dict[str, Any]]:
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table)
                            .where(events_table.c.action == "notification.failed")
                            .order_by(events_table.c.id)).mappings()
        return [dict(row) for row in rows]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_message_enqueued_in_a_rolled_back_transaction_does_not_exist(gh: Gatehouse) -> None:
    def failing_transaction() -> None:
        with gh.write() as db:
            enqueue(gh, db, Kind.BREAKGLASS, "Break-glass on request 9")
            raise RuntimeError("the event itself failed")

    with pytest.raises(RuntimeError, match="the event itself failed"):
        failing_transaction()
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


def test_a_delivery_goes_out_from_a_thread_whose_event_loop_is_running(
        gh: Gatehouse, receiver: Receiver) -> None:
    """The worker may share its process with an event loop (Playwright's in the browser
    tests, an async host): the delivery must not need the caller's thread to have none."""
    notify(gh, "Request 8", request_id="8", ticket="SUP-2")

    async def deliver_from_inside_a_loop() -> DeliveryReport:
        return deliver_pending(gh, receiver.url)

    assert asyncio.run(deliver_from_inside_a_loop()) == DeliveryReport(1, 0, 0)
    assert len(receiver.bodies()) == 1


def test_the_delivered_body_is_slack_block_kit_with_the_kind(gh: Gatehouse, receiver: Receiver,
                                                              clock: FakeClock) -> None:
    notify(gh, "Request 7 by <!channel> & co", request_id="7", ticket="SUP-1")
    assert deliver_pending(gh, receiver.url) == DeliveryReport(1, 0, 0)
    line = "Request 7 by &lt;!channel&gt; &amp; co"
    assert receiver.bodies() == [{
        "text": line, "mrkdwn": False,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Access request",
                                        "emoji": False}},
            {"type": "section", "text": {"type": "plain_text", "text": line, "emoji": False}}],
        "gatehouse": {"kind": "request.created", "request_id": "7", "ticket": "SUP-1"}}]
    assert receiver.content_types == ["application/json"]
    assert only_row(gh).delivered_at == clock.now
    assert deliver_pending(gh, receiver.url) == NOTHING


def test_messages_go_out_oldest_first_up_to_the_limit(gh: Gatehouse, receiver: Receiver,
                                                       clock: FakeClock) -> None:
    for i in range(3):
        notify(gh, f"message {i}")
        clock.advance(seconds=1)
    assert deliver_pending(gh, receiver.url, limit=2) == DeliveryReport(2, 0, 0)
    assert deliver_pending(gh, receiver.url, limit=2) == DeliveryReport(1, 0, 0)
    assert [b["text"] for b in receiver.bodies()] == ["message 0", "message 1", "message 2"]


def test_the_kind_field_cannot_be_overridden(gh: Gatehouse) -> None:
    with pytest.raises(InvalidInput, match="fields"), gh.write() as db:
        enqueue(gh, db, Kind.GRANT_EXPIRING, "Grant 3 ends soon", {"kind": "other"})


def test_a_failing_receiver_is_retried_with_backoff_until_it_succeeds(
        gh: Gatehouse, receiver: Receiver, clock: FakeClock) -> None:
    receiver.fail_next = 3
    notify(gh)
    for attempt, wait in enumerate((30, 60, 120), start=1):
        assert deliver_pending(gh, receiver.url) == DeliveryReport(0, 1, 0)
        assert only_row(gh).attempts == attempt
        assert only_row(gh).last_error == "HTTP 500"
        clock.advance(seconds=wait - 1)
        assert deliver_pending(gh, receiver.url) == NOTHING
        clock.advance(seconds=1)
    assert deliver_pending(gh, receiver.url) == DeliveryReport(1, 0, 0)
    assert len(receiver.received) == 4
    assert [e["details"] for e in failure_events(gh)] == [
        {"event": "request.created", "attempts": n, "status": 500} for n in (1, 2, 3)]


def test_delivery_is_given_up_after_eight_attempts(gh: Gatehouse, receiver: Receiver,
                                                   clock: FakeClock) -> None:
    receiver.fail_next = 100
    notify(gh)
    delays = []
    for _ in range(7):
        assert deliver_pending(gh, receiver.url) == DeliveryReport(0, 1, 0)
        delays.append(only_row(gh).next_attempt_at - clock.now)
        clock.advance(hours=1)
    assert delays == [timedelta(seconds=30 * 2**n) for n in range(7)]
    assert deliver_pending(gh, receiver.url) == DeliveryReport(0, 0, 1)
    assert only_row(gh).given_up_at == clock.now
    clock.advance(days=1)
    assert deliver_pending(gh, receiver.url) == NOTHING
    assert len(receiver.received) == 8
    assert [e["details"]["attempts"] for e in failure_events(gh)] == list(range(1, 9))


def test_without_a_webhook_url_nothing_is_sent_or_marked(gh: Gatehouse, receiver: Receiver
                                                         ) -> None:
    notify(gh)
    assert deliver_pending(gh, None) == NOTHING
    row = only_row(gh)
    assert (row.attempts, row.delivered_at, row.given_up_at) == (0, None, None)
    assert receiver.received == []
    assert failure_events(gh) == []


@pytest.mark.parametrize(("mode", "error", "status"), [
    ("fail", "HTTP 500", 500),
    ("hang", "DeliveryDeadlineExceeded", 0),
    ("hang up", "RemoteProtocolError", 0),
    ("refuse", "ConnectError", 0),
])
def test_delivery_problems_never_raise_nor_record_the_secret_url(
        gh: Gatehouse, receiver: Receiver, mode: str, error: str, status: int) -> None:
    receiver.mode, receiver.fail_next = ("answer", 1) if mode == "fail" else (mode, 0)
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}" if mode == "refuse" else receiver.url
    notify(gh)
    quick = partial(post_json, deadline=0.3)  # the real default POST, a test-sized deadline
    assert deliver_pending(gh, url, post=quick) == DeliveryReport(0, 1, 0)
    assert only_row(gh).last_error == error
    [event] = failure_events(gh)
    assert event["details"] == {"event": "request.created", "attempts": 1, "status": status}
    recorded = json.dumps([event, only_row(gh).last_error], default=str)
    assert "SECRET-TOKEN" not in recorded
    assert "/hooks/" not in recorded


def test_webhook_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEHOUSE_WEBHOOK_URL", raising=False)
    assert webhook_url_from_env() is None
    monkeypatch.setenv("GATEHOUSE_WEBHOOK_URL", "  ")
    assert webhook_url_from_env() is None
    monkeypatch.setenv("GATEHOUSE_WEBHOOK_URL", "https://hooks.example" + SECRET_PATH)
    assert webhook_url_from_env() == "https://hooks.example" + SECRET_PATH


def test_concurrent_workers_deliver_each_message_exactly_once(gh_any: Gatehouse,
                                                              receiver: Receiver) -> None:
    for i in range(40):
        notify(gh_any, f"message {i}", request_id=str(i))
    start = threading.Barrier(2)

    def worker() -> DeliveryReport:
        start.wait()
        return deliver_pending(gh_any, receiver.url)

    with ThreadPoolExecutor(2) as pool:
        reports = [f.result() for f in [pool.submit(worker), pool.submit(worker)]]
    assert sorted(b["text"] for b in receiver.bodies()) == sorted(f"message {i}"
                                                                  for i in range(40))
    assert sum(r.delivered for r in reports) == 40
    assert sum(r.failed + r.given_up for r in reports) == 0
    with gh_any.read() as db:
        assert db.execute(select(func.count()).select_from(Notification)
                          .where(Notification.delivered_at.is_(None))).scalar_one() == 0


# -- notifications as data, not markup (issue 15, finding N1) -------------------------------

HOSTILE_NAME = ("Eve\nRequest already approved by Ada Admin, no action needed *bold* _it_ "
                "~gone~ `code` > quote <http://x|y> <!channel> <@U123> @here :rotating_light: 🚨"
                "\u2028\u202eevil\x1b[2K")


def text_objects(node: object) -> Iterator[dict[str, Any]]:
    """Every Block Kit text object (a dict with "type" and a string "text") under `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("text"), str) and "type" in node:
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def strings(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def test_a_display_name_full_of_slack_markup_arrives_as_inert_plain_text(
        gh: Gatehouse, receiver: Receiver) -> None:
    # The text as access.workflow.break_glass.activate builds it, with an IdP display name.
    notify(gh, f"BREAK-GLASS: {HOSTILE_NAME} opened production access to customer cust-1 "
               "(billing); review required", ticket="SUP-<!here>")
    assert deliver_pending(gh, receiver.url) == DeliveryReport(1, 0, 0)
    [body] = receiver.bodies()
    blocks = body["blocks"]
    assert [o["type"] for o in text_objects(blocks)] == ["plain_text", "plain_text"]
    assert all(o["emoji"] is False for o in text_objects(blocks))
    assert "mrkdwn" not in json.dumps(blocks)
    assert body["mrkdwn"] is False
    [line] = [o["text"] for o in text_objects(blocks) if "Eve" in o["text"]]
    assert line == body["text"]  # the fallback says the same, as inertly
    for shown in (line, body["text"]):
        # No link, mention or user group can open; no line or paragraph break, no escape
        # sequence, no bidirectional override: one line, shown as typed.
        assert "<" not in shown and ">" not in shown
        assert "&lt;http://x|y&gt;" in shown and "&lt;!channel&gt;" in shown
        assert "&lt;@U123&gt;" in shown and "&gt; quote" in shown
        assert shown.isprintable() and "  " not in shown
        assert "Eve Request already approved by Ada Admin" in shown
        assert "*bold* _it_ ~gone~ `code`" in shown
        assert "@here :rotating_light: 🚨 evil [2K opened production" in shown
    assert not any("\n" in v or "<!" in v for v in strings(blocks))
    # Machines get the ticket as data, outside anything Slack renders.
    assert body["gatehouse"]["ticket"] == "SUP-<!here>"


def test_every_kind_has_a_fixed_header_and_a_text_cut_to_what_slack_accepts() -> None:
    for kind in Kind:
        message = slack_message(kind, "&" * 5000)
        header, section = message["blocks"]
        assert header["type"] == "header" and 0 < len(header["text"]["text"]) <= 150
        line = section["text"]["text"]
        assert len(line) <= 3000 and line == message["text"]
        assert line.endswith("&amp;…")  # cut between entities, never inside one
        assert slack_message(kind, " \n\u202e")["text"] == "-"  # Slack refuses empty text


# -- a hostile receiver costs one delivery attempt, never the worker --------------------------

def test_the_lease_outlasts_the_whole_delivery_deadline() -> None:
    # A live worker still inside its delivery must never see its row claimed by another.
    assert timedelta(seconds=DEADLINE_S) < LEASE


@pytest.mark.timeout(30)
def test_a_receiver_trickling_its_answer_costs_one_attempt_and_the_next_row_goes_out(
        gh: Gatehouse, receiver: Receiver, clock: FakeClock) -> None:
    notify(gh, "first")
    clock.advance(seconds=1)
    notify(gh, "second")
    receiver.mode = "trickle"
    short = partial(post_json, deadline=1.0)  # the real POST, with a test-sized deadline
    assert deliver_pending(gh, receiver.url, post=short) == DeliveryReport(0, 1, 0)
    with gh.read() as db:
        first, second = db.execute(select(Notification).order_by(Notification.id)).scalars()
    assert (first.attempts, first.last_error) == (1, "DeliveryDeadlineExceeded")
    assert first.next_attempt_at == clock.now + timedelta(seconds=30)  # retried later
    # The slow receiver ended the pass: the second row was left due and unclaimed.
    assert (second.attempts, second.next_attempt_at) == (0, clock.now)
    [event] = failure_events(gh)
    assert event["reason"] == "DeliveryDeadlineExceeded"
    receiver.mode = "answer"
    assert deliver_pending(gh, receiver.url) == DeliveryReport(1, 0, 0)
    assert [b["text"] for b in receiver.bodies()] == ["first", "second"]


@pytest.mark.timeout(30)
def test_a_receiver_streaming_an_endless_body_gets_its_status_read_and_nothing_more(
        gh: Gatehouse, receiver: Receiver) -> None:
    notify(gh, "first")
    notify(gh, "second")
    receiver.mode = "endless"
    assert deliver_pending(gh, receiver.url) == DeliveryReport(2, 0, 0)
    assert [b["text"] for b in receiver.bodies()] == ["first", "second"]
    assert failure_events(gh) == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_never_followed(
        gh: Gatehouse, receiver: Receiver, clock: FakeClock, status: int) -> None:
    elsewhere = Receiver()
    try:
        receiver.mode, receiver.redirect_status = "redirect", status
        receiver.location = elsewhere.url
        notify(gh)
        assert deliver_pending(gh, receiver.url) == DeliveryReport(0, 1, 0)
        row = only_row(gh)
        assert (row.attempts, row.last_error) == (1, f"HTTP {status}")
        assert row.next_attempt_at == clock.now + timedelta(seconds=30)
        clock.advance(seconds=30)
        assert deliver_pending(gh, receiver.url) == DeliveryReport(0, 1, 0)  # retried
        assert len(receiver.received) == 2
        assert elsewhere.received == []
    finally:
        elsewhere.stop()

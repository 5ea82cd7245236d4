"""Outgoing webhooks through the outbox, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

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
    DeliveryReport,
    Kind,
    deliver_pending,
    enqueue,
    post_json,
    webhook_url_from_env,
)
from audit.schema import events_table
from tests.identity_helpers import FakeClock

SECRET_PATH = "/hooks/T000/SECRET-TOKEN"
NOTHING = DeliveryReport(0, 0, 0)


class Receiver:
    """A webhook receiver that records every body it is sent and can be told to answer 500 to
    the next N requests, to hang (past the client's timeout) or to hang up without answering."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.content_types: list[str] = []
        self.fail_next = 0
        self.mode = "answer"
        self.release = threading.Event()
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
            if receiver.mode != "answer":
                self.close_connection = True  # hang up without a status line
                return
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


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
    with pytest.raises(RuntimeError), gh.write() as db:
        enqueue(gh, db, Kind.BREAKGLASS, "Break-glass on request 9")
        raise RuntimeError("the event itself failed")
    with gh.read() as db:
        assert db.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


def test_the_delivered_body_is_slack_json_with_the_kind(gh: Gatehouse, receiver: Receiver,
                                                         clock: FakeClock) -> None:
    notify(gh, "Request 7 by <!channel> & co", request_id="7", ticket="SUP-1")
    assert deliver_pending(gh, receiver.url) == DeliveryReport(1, 0, 0)
    assert receiver.bodies() == [{
        "text": "Request 7 by &lt;!channel&gt; &amp; co",
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
    ("hang", "ReadTimeout", 0),
    ("hang up", "RemoteProtocolError", 0),
    ("refuse", "ConnectError", 0),
])
def test_delivery_problems_never_raise_nor_record_the_secret_url(
        gh: Gatehouse, receiver: Receiver, mode: str, error: str, status: int) -> None:
    receiver.mode, receiver.fail_next = ("answer", 1) if mode == "fail" else (mode, 0)
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}" if mode == "refuse" else receiver.url
    notify(gh)
    quick = partial(post_json, timeout=0.3)  # the real default POST, with a test-sized timeout
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

"""Optional outgoing webhooks (Slack-compatible JSON), through an outbox.

`enqueue()` writes a `Notification` row in the caller's transaction, so a message exists if and
only if the event it announces committed. `deliver_pending()` posts due rows later, from a worker:
a slow, failing or absent receiver never blocks a request, an approval or a break-glass.
Delivery is at least once: a worker that dies between the POST and recording it re-sends after
the lease runs out.

Messages are data, not markup (issue 15, finding N1): the text, which quotes display names,
tickets and customer ids, travels only as Block Kit `plain_text` (emoji shortcodes off) and in an
inert fallback; nothing a person or an IdP typed can become a link, a mention, formatting or a
line break. A delivery has one total deadline and reads only the status line, so a slow or
endless receiver costs one attempt, never the worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from access.context import Gatehouse, system_event
from access.errors import InvalidInput
from access.schema import Notification
from audit.vocabulary import Outcome

__all__ = ["DEADLINE_S", "LEASE", "DeliveryDeadlineExceeded", "DeliveryReport", "Kind",
           "deliver_pending", "enqueue", "post_json", "slack_message", "webhook_url_from_env"]

# The whole of one delivery: connect, send the body, read the status line and headers.
DEADLINE_S = 10.0
# Longer than any delivery can take (DEADLINE_S), so a live worker never loses its row to another.
LEASE = timedelta(seconds=60)
if LEASE.total_seconds() <= DEADLINE_S:  # not `assert`: it must hold under python -O too
    raise RuntimeError("notify.LEASE must be longer than notify.DEADLINE_S")
# Slack refuses a text object longer than 3000 characters (a header's, 150): a message it
# refuses would be retried until given up, so longer text is cut, visibly.
MAX_TEXT = 3000
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
MAX_ATTEMPTS = 8

Post = Callable[[str, bytes], int]
_Result = Literal["delivered", "failed", "given_up"]


class Kind(StrEnum):
    REQUEST_CREATED = "request.created"
    REQUEST_DECIDED = "request.decided"
    GRANT_EXPIRING = "grant.expiring"
    BREAKGLASS = "breakglass.activated"
    SEAL_LAG = "audit.seal_lag"
    DSR_DUE = "dsr.due_soon"
    REVIEW = "review.campaign"          # an access review started, is due soon, or closed
    ROLE_SUSPENDED = "review.role_suspended"  # a review revoked a role: the IdP change to make


# Fixed words, the message's header: the one line of a message no user text reaches.
_TITLES = {Kind.REQUEST_CREATED: "Access request", Kind.REQUEST_DECIDED: "Request decided",
          Kind.GRANT_EXPIRING: "Grant ending soon", Kind.BREAKGLASS: "Break-glass access",
          Kind.SEAL_LAG: "Audit log not sealed", Kind.DSR_DUE: "Data-subject request due",
          Kind.REVIEW: "Access review",
          Kind.ROLE_SUSPENDED: "Role revoked by a review"}


class DeliveryDeadlineExceeded(Exception):
    """The receiver did not answer with a status line within `DEADLINE_S` in all."""


@dataclass(frozen=True)
class DeliveryReport:
    """Rows handled by one `deliver_pending` call; each is counted once. `failed` rows will be
    retried; `given_up` rows failed their last attempt and will not be."""

    delivered: int
    failed: int
    given_up: int


def enqueue(gh: Gatehouse, db: Session, kind: Kind, text: str,
            fields: Mapping[str, str] | None = None) -> None:
    """Add one message to the outbox in the caller's transaction `db`; it is due at once.

    `text` may quote what people and the IdP typed (names, tickets, customer ids, reasons): it
    is treated as data. The body (`slack_message`) is Slack's incoming-webhook shape, plus a
    `gatehouse` object, `{"kind": kind, **fields}`, that Slack ignores and other receivers can
    parse. Webhook receivers sit outside our trust boundary, so `text` and `fields` may carry
    only ids, names of scopes, counts and ticket references, never customer data values, codes
    or tokens. Raises `InvalidInput` if `fields` tries to replace "kind".
    """
    extra = dict(fields or {})
    if "kind" in extra:
        raise InvalidInput("fields", "'kind' is reserved for the notification kind")
    payload = json.dumps(slack_message(kind, text) | {"gatehouse": {"kind": str(kind), **extra}})
    now = gh.now()
    db.add(Notification(kind=str(kind), payload=payload, created_at=now, attempts=0,
                        next_attempt_at=now))


def deliver_pending(gh: Gatehouse, webhook_url: str | None, post: Post | None = None,
                    limit: int = 50) -> DeliveryReport:
    """POST up to `limit` due messages, oldest first, to `webhook_url`; success is a 2xx.

    With no URL (webhooks not configured) nothing is touched. Each row is claimed, then its
    result recorded, in short write transactions of its own; the POST runs outside any
    transaction. A row claimed by a concurrent worker is skipped. A failure (a 3xx included:
    redirects are not followed) is retried after 30 s, doubling up to 1 h, and given up after 8
    attempts; each failure is audited as `notification.failed`. A delivery that times out
    ends the pass, so a slow receiver holds the worker for one `DEADLINE_S`, not one per row.
    Never raises for delivery problems; database errors propagate.
    """
    if webhook_url is None:
        return DeliveryReport(0, 0, 0)
    send = post or post_json
    with gh.read() as db:
        due = db.execute(select(Notification.id, Notification.next_attempt_at,
                                Notification.payload)
                         .where(Notification.delivered_at.is_(None),
                                Notification.given_up_at.is_(None),
                                Notification.next_attempt_at <= gh.now())
                         .order_by(Notification.created_at, Notification.id)
                         .limit(limit)).all()
    results: Counter[_Result] = Counter()
    for row_id, due_at, payload in due:
        if not _claim(gh, row_id, due_at):
            continue
        status, error = _send(send, webhook_url, payload.encode())
        results[_record(gh, row_id, status, error)] += 1
        if error in _SLOW:
            break  # the receiver is slow: the rest wait for the next pass, unclaimed
    return DeliveryReport(results["delivered"], results["failed"], results["given_up"])


def slack_message(kind: Kind, text: str) -> dict[str, Any]:
    """Slack's message for `text`: Block Kit in which every text object is `plain_text` with
    emoji shortcodes left as typed, plus a `text` fallback (notifications, old clients) with
    mrkdwn off. Both are `inert`, so nothing in `text` can link, mention, format, break a line
    or start what looks like a second message. The header holds only the kind's fixed title."""
    line = _inert(text) or "-"  # Slack refuses an empty text object
    return {"text": line, "mrkdwn": False,
            "blocks": [{"type": "header", "text": _plain_text(_TITLES[kind])},
                       {"type": "section", "text": _plain_text(line)}]}


def post_json(url: str, body: bytes, deadline: float = DEADLINE_S) -> int:
    """POST `body` as JSON and return the HTTP status, all within `deadline` seconds.

    Only the status line and headers are read; the body, however long, is never read and the
    connection is closed. Redirects are not followed (a 3xx is returned like any status).
    Raises `DeliveryDeadlineExceeded` past the deadline, and httpx errors: refused or dropped
    connections, malformed responses, bad URLs.
    """
    # The total deadline is asyncio's: cancelling the request at the deadline interrupts
    # whichever connect, write or read is waiting and closes the socket, on the same thread.
    # httpx's own timeouts apply per read, so a receiver sending a byte a second never trips
    # them; a watchdog thread could stop a blocking read only by closing the socket under the
    # thread still using it. The loop runs on a thread of its own because asyncio.run refuses
    # a thread whose loop is already running (a caller's, e.g. Playwright's in the tests).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook") as pool:
        posting = pool.submit(_post_within, url, body, deadline)
    try:
        return posting.result()
    except TimeoutError:
        raise DeliveryDeadlineExceeded from None


def _post_within(url: str, body: bytes, deadline: float) -> int:
    return asyncio.run(asyncio.wait_for(_status_of_post(url, body, deadline), deadline))


async def _status_of_post(url: str, body: bytes, deadline: float) -> int:
    # httpx's per-phase timeouts are only a backstop, set so the total deadline fires first.
    async with (httpx.AsyncClient(follow_redirects=False, timeout=2 * deadline) as client,
                client.stream("POST", url, content=body,
                              headers={"Content-Type": "application/json"}) as response):
        return response.status_code  # leaving the body unread closes the connection


def webhook_url_from_env() -> str | None:
    """GATEHOUSE_WEBHOOK_URL, or None when unset or blank (webhooks off)."""
    return os.environ.get("GATEHOUSE_WEBHOOK_URL", "").strip() or None


def _plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def _inert(text: str) -> str:
    """`text` on one line, at most `MAX_TEXT` long, that Slack shows as typed.

    Slack parses <...> as links and mentions (`<!channel>`, `<http://x|y>`) in every text
    field, so & < > become entities, as Slack asks. Control characters (newlines included) and
    other line or paragraph separators become spaces and runs of spaces one, so no line can
    pose as a second message; format characters (bidirectional overrides, zero-width) go, so
    nothing reorders or hides what is shown."""
    kept = "".join(" " if unicodedata.category(c) in _SPACES else c for c in text
                   if unicodedata.category(c) != "Cf")
    pieces = [_ENTITIES.get(c, c) for c in " ".join(kept.split())]
    if sum(map(len, pieces)) <= MAX_TEXT:
        return "".join(pieces)
    cut, size = [], 1  # cut between characters, never inside an entity; 1 for the ellipsis
    for piece in pieces:
        if size + len(piece) > MAX_TEXT:
            break
        cut.append(piece)
        size += len(piece)
    return "".join(cut) + "…"


_SPACES = frozenset({"Cc", "Zl", "Zp", "Zs"})
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _claim(gh: Gatehouse, row_id: int, due_at: datetime) -> bool:
    """Lease the row if it is still as we read it; of racing workers exactly one wins."""
    with gh.write() as db:
        claimed = db.execute(update(Notification).where(
            Notification.id == row_id, Notification.next_attempt_at == due_at,
            Notification.delivered_at.is_(None), Notification.given_up_at.is_(None))
            .values(next_attempt_at=gh.now() + LEASE))
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _send(send: Post, url: str, body: bytes) -> tuple[int, str | None]:
    """(HTTP status or 0, error or None). The error names a status or an exception class only:
    exception messages can quote the URL, and webhook URLs are secrets."""
    try:
        status = send(url, body)
    except Exception as exc:  # whatever the receiver or network does is a delivery problem
        return 0, type(exc).__name__
    return status, None if 200 <= status < 300 else f"HTTP {status}"


_SLOW = frozenset({DeliveryDeadlineExceeded.__name__})  # a whole deadline spent on one row


def _record(gh: Gatehouse, row_id: int, status: int, error: str | None) -> _Result:
    with gh.write() as db:
        row = db.get_one(Notification, row_id)
        now = gh.now()
        if error is None:
            row.delivered_at = now
            return "delivered"
        row.attempts += 1
        row.last_error = error
        if row.attempts >= MAX_ATTEMPTS:
            row.given_up_at = now
        else:
            row.next_attempt_at = now + min(FIRST_RETRY * 2 ** (row.attempts - 1), MAX_RETRY)
        gh.audit(db, system_event("notification.failed", outcome=Outcome.ERROR,
                                  target_type="notification", target_id=str(row_id),
                                  reason=error, details={"event": row.kind,
                                                         "attempts": row.attempts,
                                                         "status": status}))
        return "given_up" if row.given_up_at else "failed"

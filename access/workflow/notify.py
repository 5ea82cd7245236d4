"""Optional outgoing webhooks (Slack-compatible JSON), through an outbox.

`enqueue()` writes a `Notification` row in the caller's transaction, so a message exists if and
only if the event it announces committed. `deliver_pending()` posts due rows later, from a worker:
a slow, failing or absent receiver never blocks a request, an approval or a break-glass.
Delivery is at least once: a worker that dies between the POST and recording it re-sends after
the lease runs out.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from access.context import Gatehouse, system_event
from access.errors import InvalidInput
from access.schema import Notification
from audit.vocabulary import Outcome

__all__ = ["DeliveryReport", "Kind", "deliver_pending", "enqueue", "post_json",
           "webhook_url_from_env"]

TIMEOUT_S = 5.0
# Longer than any POST can take (TIMEOUT_S), so a live worker never loses its row to another.
LEASE = timedelta(seconds=60)
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

    The body is `{"text": text, "gatehouse": {"kind": kind, **fields}}`: Slack's incoming-webhook
    shape, plus an object Slack ignores and other receivers can parse. Webhook receivers sit
    outside our trust boundary, so `text` and `fields` may carry only ids, names of scopes,
    counts and ticket references, never customer data values, codes or tokens.
    Raises `InvalidInput` if `fields` tries to replace "kind".
    """
    extra = dict(fields or {})
    if "kind" in extra:
        raise InvalidInput("fields", "'kind' is reserved for the notification kind")
    payload = json.dumps({"text": _slack_escaped(text),
                          "gatehouse": {"kind": str(kind), **extra}})
    now = gh.now()
    db.add(Notification(kind=str(kind), payload=payload, created_at=now, attempts=0,
                        next_attempt_at=now))


def deliver_pending(gh: Gatehouse, webhook_url: str | None, post: Post | None = None,
                    limit: int = 50) -> DeliveryReport:
    """POST up to `limit` due messages, oldest first, to `webhook_url`; success is a 2xx.

    With no URL (webhooks not configured) nothing is touched. Each row is claimed, then its
    result recorded, in short write transactions of its own; the POST runs outside any
    transaction. A row claimed by a concurrent worker is skipped. A failure is retried after
    30 s, doubling up to 1 h, and given up after 8 attempts; each failure is audited as
    `notification.failed`. Never raises for delivery problems; database errors propagate.
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
        if _claim(gh, row_id, due_at):
            status, error = _send(send, webhook_url, payload.encode())
            results[_record(gh, row_id, status, error)] += 1
    return DeliveryReport(results["delivered"], results["failed"], results["given_up"])


def post_json(url: str, body: bytes, timeout: float = TIMEOUT_S) -> int:
    """POST `body` as JSON and return the HTTP status (redirects are not followed).
    Raises httpx errors: timeouts, refused or dropped connections, bad URLs."""
    return httpx.post(url, content=body, headers={"Content-Type": "application/json"},
                      timeout=timeout).status_code


def webhook_url_from_env() -> str | None:
    """GATEHOUSE_WEBHOOK_URL, or None when unset or blank (webhooks off)."""
    return os.environ.get("GATEHOUSE_WEBHOOK_URL", "").strip() or None


def _slack_escaped(text: str) -> str:
    # Slack reads <...> as links and mentions; escaping stops a ticket reference such as
    # "<!channel>" from paging a whole channel.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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

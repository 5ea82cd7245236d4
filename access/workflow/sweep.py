"""The background sweep: expires stale requests, records grant expiries, opens scheduled
access-review campaigns at their start, reminds reviewers and closes campaigns at their due
date, delivers webhooks.

Nothing here is needed for safety (grants are checked against the clock when used, and a
decision expires a stale request itself, `expire_if_due`); it keeps the record complete and
the notifications flowing. One pass is `sweep()`; `run()` is the worker (`python -m access
worker`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.context import Gatehouse
from access.dsr.reminders import announce_due_soon
from access.reviews import campaigns, closing
from access.schema import AccessRequest, Grant, Notification
from access.workflow import notify
from access.workflow.events import request_event
from access.workflow.states import RequestStatus, transition
from audit.events import to_micros
from audit.settings import load_settings
from audit.status import oldest_unsealed

__all__ = ["SweepReport", "announce_seal_lag", "expire", "expire_if_due", "expire_pending",
           "record_expiries", "run", "sweep"]


@dataclass(frozen=True)
class SweepReport:
    requests_expired: int
    grants_expired: int
    seal_lag_announced: bool
    notifications: notify.DeliveryReport
    dsr_reminders: int = 0     # data-subject requests announced as due soon
    reviews_closed: int = 0    # access-review campaigns closed at their due date
    reviews_reminded: int = 0  # campaigns whose reviewers got a reminder
    reviews_opened: int = 0    # scheduled campaigns opened at their start


def sweep(gh: Gatehouse, webhook_url: str | None) -> SweepReport:
    expired, ended = expire_pending(gh), record_expiries(gh)
    lag = announce_seal_lag(gh, load_settings().seal_lag_warning_us)
    # reminders and reviews first, so their notices go out in this same pass
    dsr_due = announce_due_soon(gh)
    opened = campaigns.open_due(gh)  # before closing: one whose start and due date both
    reminded, closed = closing.remind_due(gh), closing.close_due(gh)  # passed still runs
    return SweepReport(expired, ended, lag, notify.deliver_pending(gh, webhook_url),
                       dsr_reminders=dsr_due, reviews_closed=closed, reviews_reminded=reminded,
                       reviews_opened=opened)


def announce_seal_lag(gh: Gatehouse, threshold_us: int) -> bool:
    """Put a webhook message in the outbox when the oldest unsealed event has waited longer
    than `threshold_us`, once per stalled event (a sealer that stays down is not announced
    every sweep); returns whether it did. A stalled sealer widens the window in which a
    database owner could remove events unseen, so the admins hear of it, not only the
    auditors on the Activity page."""
    with gh.read() as db:  # the usual case, all sealed or young, takes no write lock
        oldest = oldest_unsealed(db.connection())
    if oldest is None:
        return False
    event_id, ts_us = oldest
    waited_s = (to_micros(gh.now()) - ts_us) // 1_000_000
    if waited_s * 1_000_000 <= threshold_us:
        return False
    with gh.write() as db:
        if _announced(db, event_id):  # checked under the write lock: one message per stall
            return False
        notify.enqueue(gh, db, notify.Kind.SEAL_LAG,
                       f"The audit log has sealed nothing for {waited_s // 60} min: event "
                       f"{event_id} has waited {waited_s} s (is the sealer running?)",
                       {_STALLED: str(event_id)})
    return True


_STALLED = "oldest_unsealed_event"


def _announced(db: Session, event_id: int) -> bool:
    mark = json.dumps({_STALLED: str(event_id)})[1:-1]  # as `enqueue` writes the field
    return db.execute(select(Notification.id).where(
        Notification.kind == notify.Kind.SEAL_LAG,
        Notification.payload.contains(mark)).limit(1)).first() is not None


def run(gh: Gatehouse, stop: threading.Event, interval: float = 10.0) -> None:
    """Sweep every `interval` seconds until `stop` is set."""
    webhook = notify.webhook_url_from_env()
    while not stop.is_set():
        sweep(gh, webhook)
        stop.wait(interval)


def expire(gh: Gatehouse, db: Session, request: AccessRequest) -> None:
    transition(request, RequestStatus.EXPIRED, gh.now())
    gh.audit(db, request_event(None, "request.expired", request))


def expire_if_due(gh: Gatehouse, db: Session, request: AccessRequest) -> None:
    """A pending request past its time-to-live is expired here and now (the caller commits
    that), whether or not the sweeper has come by."""
    if request.status == RequestStatus.PENDING and gh.now() >= request.expires_at:
        expire(gh, db, request)


def expire_pending(gh: Gatehouse) -> int:
    """Expire pending requests whose time-to-live has passed; return how many.

    The rows are locked as they are read (FOR UPDATE, as decisions lock them): a request a
    decision is changing right now is re-read once that decision commits and skipped if it is
    no longer pending, so an approval is never overwritten and no expiry is recorded twice."""
    with gh.write() as db:
        due = db.execute(select(AccessRequest).where(
            AccessRequest.status == RequestStatus.PENDING, AccessRequest.expires_at <= gh.now())
            .order_by(AccessRequest.id).with_for_update()).scalars().all()
        for request in due:
            expire(gh, db, request)
    return len(due)


def record_expiries(gh: Gatehouse, warn_before: timedelta = timedelta(minutes=15)) -> int:
    """Record `grant.expired` for grants that ran out, and announce those about to.
    Records what the clock already enforces; returns how many expiries it recorded.

    Grant rows are locked as they are read, as revoke() and release() lock them: a grant
    being revoked or released right now, or swept by another sweeper, is re-read once that
    transaction commits and skipped, so every grant gets exactly one ending event. (In id
    order, so two sweepers always lock in the same order and never deadlock.)"""
    now = gh.now()
    with gh.write() as db:
        ended = db.execute(select(Grant, AccessRequest)
                           .join(AccessRequest, AccessRequest.id == Grant.request_id)
                           .where(Grant.ends_at <= now, Grant.expiry_recorded_at.is_(None),
                                  Grant.revoked_at.is_(None), Grant.released_at.is_(None))
                           .order_by(Grant.id).with_for_update(of=Grant)).all()
        for grant, request in ended:
            grant.expiry_recorded_at = now
            gh.audit(db, request_event(None, "grant.expired", request, grant=grant))
        soon = db.execute(select(Grant).where(
            Grant.ends_at > now, Grant.ends_at <= now + warn_before,
            Grant.expiring_notified_at.is_(None), Grant.revoked_at.is_(None),
            Grant.released_at.is_(None)).order_by(Grant.id).with_for_update()).scalars().all()
        for grant in soon:
            grant.expiring_notified_at = now
            notify.enqueue(gh, db, notify.Kind.GRANT_EXPIRING,
                           f"Grant {grant.id} on customer {grant.customer_id} ends at "
                           f"{grant.ends_at:%H:%M} UTC", {"grant_id": str(grant.id)})
    return len(ended)

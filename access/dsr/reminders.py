"""The webhook reminder before a data-subject request falls due: once per request, when it is
open and due within `[dsr] notify_days_before` days, the sweeper puts one message in the
outbox (`access.workflow.notify`) and records a `dsr.due_soon` event. The message names the
request, its kind, jurisdiction and due date, never the subject."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select

from access.context import Gatehouse, system_event
from access.schema import DataSubjectRequest
from access.workflow import notify

__all__ = ["announce_due_soon"]


def announce_due_soon(gh: Gatehouse) -> int:
    """Queue the reminders now due; how many."""
    horizon = gh.now() + timedelta(days=gh.config.dsr.notify_days_before)
    with gh.read() as db:  # the usual case, nothing to announce, takes no write lock
        due = db.scalar(select(DataSubjectRequest.id).where(*_waiting(horizon)).limit(1))
    if due is None:
        return 0
    with gh.write() as db:
        rows = db.scalars(select(DataSubjectRequest).where(*_waiting(horizon))
                          .with_for_update()).all()
        for dsr in rows:
            dsr.due_notified_at = gh.now()
            text = (f"Data-subject request {dsr.id} ({dsr.kind}, {dsr.jurisdiction.upper()}) "
                    f"is due {dsr.due_at:%Y-%m-%d %H:%M} UTC")
            notify.enqueue(gh, db, notify.Kind.DSR_DUE, text,
                           {"dsr": str(dsr.id), "due_at": dsr.due_at.isoformat()})
            gh.audit(db, system_event("dsr.due_soon", target_type="dsr",
                                      target_id=str(dsr.id),
                                      details={"kind": dsr.kind, "status": dsr.status,
                                               "due_at": dsr.due_at.isoformat()}))
        return len(rows)


def _waiting(horizon: datetime) -> list[ColumnElement[bool]]:
    return [DataSubjectRequest.status != "closed", DataSubjectRequest.due_notified_at.is_(None),
            DataSubjectRequest.due_at <= horizon]

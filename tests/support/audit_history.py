"""Constructed audit histories: events at chosen times, written through the real append path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from audit.engine import write_engine
from audit.events import Actor, AuditEvent
from audit.log import append
from audit.vocabulary import Outcome

ISS = "https://idp.example"
# A Monday, 10:00 UTC: inside default working hours.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def actor(sub: str, role: str = "requester") -> Actor:
    return Actor(ISS, sub, sub.replace(".", " ").title(), (role,))


class History:
    """`add()` appends one event at `start + at` (one transaction each) and returns its id."""

    def __init__(self, engine: Engine, start: datetime = MONDAY) -> None:
        self.engine, self.start = write_engine(engine), start

    def add(self, action: str, who: str = "alice", at: timedelta = timedelta(),
            outcome: Outcome = Outcome.SUCCESS, **fields: Any) -> int:
        event = AuditEvent(action, actor(who), outcome, ts=self.start + at, **fields)
        with self.engine.begin() as conn:
            return append(conn, event)

    def read(self, who: str = "alice", at: timedelta = timedelta(), grant: str = "1",
             customer: str = "cust-1", ticket: str | None = "SUP-1",
             action: str = "data.read") -> int:
        """A served customer-data access under `grant`."""
        return self.add(action, who, at, customer_id=customer, grant_id=grant,
                        request_id=grant, ticket=ticket, target_type="customer",
                        target_id=customer, details={"scope": "billing", "row_count": 3})

"""Access-review helpers: a seeded usage history written through the real append path, and
campaign drafts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from access.context import Gatehouse
from access.principal import Principal
from access.reviews.campaigns import CampaignDraft
from access.schema import ReviewItem
from audit.events import AuditEvent
from audit.log import append


def draft(gh: Gatehouse, **changes: Any) -> CampaignDraft:
    base = CampaignDraft(name="Q4 access review", scopes=["role:requester", "role:approver"],
                         due_at=gh.now() + timedelta(days=14), default_decision="keep")
    return replace(base, **changes)


def seed(gh: Gatehouse, who: Principal, action: str, days_ago: float, n: int = 1,
         **fields: Any) -> None:
    """`n` events by `who`, `days_ago` before the clock's now (one transaction)."""
    at: datetime = gh.now() - timedelta(days=days_ago)
    with gh.write() as db:
        for i in range(n):
            append(db, AuditEvent(action, who.actor, ts=at + timedelta(seconds=i), **fields))


def reads(gh: Gatehouse, who: Principal, customers: int, tickets: int,
          days_ago: float = 3, grant: str = "1", each: int = 1) -> None:
    """`each` reads of each of `customers` distinct customers, spread over `tickets` tickets,
    under `grant` (one transaction)."""
    at: datetime = gh.now() - timedelta(days=days_ago)
    with gh.write() as db:
        for n in range(customers * each):
            customer = f"cust-{n % customers:04d}"
            append(db, AuditEvent(
                "data.read", who.actor, ts=at + timedelta(seconds=n), customer_id=customer,
                ticket=f"SUP-{n % customers % tickets + 1}", grant_id=grant,
                target_type="customer", target_id=customer,
                details={"scope": "billing", "row_count": 1}))


def items(gh: Gatehouse, campaign_id: int) -> dict[str, ReviewItem]:
    """The campaign's items by label."""
    with gh.read() as db:
        rows = db.execute(select(ReviewItem).where(ReviewItem.campaign_id == campaign_id)
                          ).scalars().all()
    return {item.label: item for item in rows}

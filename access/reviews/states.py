"""The lifecycle of a review campaign and of its items, and the one rule that moves them.

A campaign:

    scheduled ──open (the sweep at its start)──▶ open ──close (an admin, or the sweep at
        │                                          │                the due date)──▶ closed
        └──────cancel (an admin, with a reason)────┴──▶ cancelled

A campaign defined with a start in the future waits as scheduled, without items: its items
and their evidence are computed when it opens. One starting now is open at once. A cancelled
campaign ends there: the decisions made stay recorded, nothing is defaulted or applied, the
items nobody decided stay pending, and a recurring one opens no successor.

An item:

    pending ──keep──▶ kept
       └─────revoke──▶ revoked

Reassigning changes who reviews a pending item, not its state. Every move not drawn here is
refused with `Conflict` ("campaign 3 is already closed", "item 9 is already kept"): nothing is
decided twice and nothing is decided after its campaign closed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from access.errors import Conflict
from access.schema import ReviewCampaign, ReviewItem

__all__ = ["CampaignStatus", "ItemStatus", "cancel", "close", "decide", "open_scheduled",
           "unless_cancellable", "unless_open", "unless_pending"]


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    REVOKED = "revoked"


_CAMPAIGN_MOVES = {
    CampaignStatus.SCHEDULED: frozenset({CampaignStatus.OPEN, CampaignStatus.CANCELLED}),
    CampaignStatus.OPEN: frozenset({CampaignStatus.CLOSED, CampaignStatus.CANCELLED}),
    CampaignStatus.CLOSED: frozenset[CampaignStatus](),
    CampaignStatus.CANCELLED: frozenset[CampaignStatus]()}
_ITEM_MOVES = {ItemStatus.PENDING: frozenset({ItemStatus.KEPT, ItemStatus.REVOKED}),
               ItemStatus.KEPT: frozenset[ItemStatus](),
               ItemStatus.REVOKED: frozenset[ItemStatus]()}


def _refused(campaign: ReviewCampaign) -> Conflict:
    if campaign.status == CampaignStatus.SCHEDULED:
        return Conflict(f"campaign {campaign.id} is scheduled: it has not started yet")
    return Conflict(f"campaign {campaign.id} is already {campaign.status}")


def unless_open(campaign: ReviewCampaign) -> None:
    """Raise `Conflict` unless `campaign` takes decisions now."""
    if campaign.status != CampaignStatus.OPEN:
        raise _refused(campaign)


def unless_pending(item: ReviewItem) -> None:
    """Raise `Conflict` unless `item` is still waiting for a decision."""
    if item.status != ItemStatus.PENDING:
        raise Conflict(f"item {item.id} is already {item.status}")


def open_scheduled(campaign: ReviewCampaign) -> None:
    """Move a scheduled `campaign` to open (the sweep, once its start has come)."""
    if CampaignStatus.OPEN not in _CAMPAIGN_MOVES[CampaignStatus(campaign.status)]:
        raise _refused(campaign)
    campaign.status = CampaignStatus.OPEN


def close(campaign: ReviewCampaign, at: datetime, by: int | None) -> None:
    """Move `campaign` to closed at `at` (by a person, or None: the sweep)."""
    if CampaignStatus.CLOSED not in _CAMPAIGN_MOVES[CampaignStatus(campaign.status)]:
        raise _refused(campaign)
    campaign.status, campaign.closed_at, campaign.closed_by = CampaignStatus.CLOSED, at, by


def unless_cancellable(campaign: ReviewCampaign) -> None:
    """Raise `Conflict` unless `campaign` may still be cancelled (scheduled or open)."""
    if CampaignStatus.CANCELLED not in _CAMPAIGN_MOVES[CampaignStatus(campaign.status)]:
        raise _refused(campaign)


def cancel(campaign: ReviewCampaign, at: datetime, by: int, reason: str) -> None:
    """Move a scheduled or open `campaign` to cancelled at `at` by admin `by`, for `reason`."""
    unless_cancellable(campaign)
    campaign.status, campaign.closed_at, campaign.closed_by = CampaignStatus.CANCELLED, at, by
    campaign.cancel_reason = reason


def decide(item: ReviewItem, to: ItemStatus, at: datetime, by: int | None) -> None:
    """Move `item` to kept or revoked at `at`; the only place an item's status changes."""
    if to not in _ITEM_MOVES[ItemStatus(item.status)]:
        raise Conflict(f"item {item.id} is already {item.status}")
    item.status, item.decided_at, item.decided_by = to, at, by

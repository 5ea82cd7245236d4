"""What the review pages show: a reviewer's open items, and each campaign's progress."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.principal import Principal
from access.reviews.applying import idp_changes
from access.reviews.campaigns import Preview, scope_now
from access.reviews.states import CampaignStatus, ItemStatus
from access.schema import ReviewCampaign, ReviewDecision, ReviewItem, User

__all__ = ["CampaignView", "ItemView", "campaign_items", "campaigns", "my_items"]


@dataclass(frozen=True)
class ItemView:
    id: int
    campaign_id: int
    campaign: str
    due_at: datetime
    label: str
    kind: str
    evidence: dict[str, Any]
    recommendation: str
    rule: str
    reason: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    applied: str | None
    # whom the item may be handed to: the campaign's other reviewers, never its subject
    reviewers: tuple[tuple[int, str], ...] = ()
    handed: str | None = None  # "Ada Admin: <reason>" when the item was handed to its reviewer
    # the end of the evidence window: the evidence is taken once, when the campaign opens
    evidence_until: datetime | None = None


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    status: str
    scopes: list[str]
    starts_at: datetime
    due_at: datetime
    default_decision: str
    auto_apply: bool
    recur_months: int
    items: int
    decided: int
    reviewers: list[str]
    overdue_reviewers: list[str]  # with items left once the reminders have started
    counts: dict[str, int]
    ended_by: str | None = None      # who closed or cancelled it (None: Gatehouse, or open)
    ended_at: datetime | None = None
    cancel_reason: str | None = None
    # a scheduled campaign's scope as it stands now (its items are taken when it opens)
    in_scope: Preview | None = None


def _names(db: Session) -> dict[int, str]:
    return {uid: name or sub for uid, name, sub in
            db.execute(select(User.id, User.display_name, User.sub))}


def _view(item: ReviewItem, campaign: ReviewCampaign, names: dict[int, str],
          viewer: int | None = None, handed: str | None = None) -> ItemView:
    decided_by = names.get(item.decided_by) if item.decided_by else (
        "Gatehouse (default)" if item.decided_at else None)
    return ItemView(item.id, campaign.id, campaign.name, campaign.due_at, item.label,
                    item.kind, json.loads(item.evidence), item.recommendation, item.rule,
                    item.reason, item.status, decided_by, item.decided_at, item.comment,
                    item.applied, tuple((r, names.get(r, str(r))) for r in
                                        map(int, campaign.reviewer_ids.split())
                                        if r not in (item.user_id, viewer)), handed,
                    campaign.starts_at)


def my_items(gh: Gatehouse, reviewer: Principal) -> list[ItemView]:
    """The pending items `reviewer` may decide now: open campaigns naming them as a reviewer,
    never their own access, not handed to someone else."""
    gh.authorize(reviewer, Action.VIEW_HOME)
    with gh.read() as db:
        rows = db.execute(
            select(ReviewItem, ReviewCampaign)
            .join(ReviewCampaign, ReviewCampaign.id == ReviewItem.campaign_id)
            .where(ReviewCampaign.status == CampaignStatus.OPEN,
                   ReviewItem.status == ItemStatus.PENDING)
            .order_by(ReviewCampaign.due_at, ReviewItem.id)).all()
        names = _names(db)
        mine = str(reviewer.user_id)
        found = [(item, campaign) for item, campaign in rows
                 if mine in campaign.reviewer_ids.split() and item.user_id != reviewer.user_id
                 and item.reviewer_id in (None, reviewer.user_id)]
        handed = _handed(db, [item.id for item, _ in found if item.reviewer_id], names)
    return [_view(item, campaign, names, reviewer.user_id, handed.get(item.id))
            for item, campaign in found]


def _handed(db: Session, item_ids: list[int], names: dict[int, str]) -> dict[int, str]:
    """Who handed each of `item_ids` to its reviewer, and why (the latest hand-over)."""
    if not item_ids:
        return {}
    rows = db.execute(select(ReviewDecision).where(
        ReviewDecision.item_id.in_(item_ids), ReviewDecision.decision == "reassign")
        .order_by(ReviewDecision.id)).scalars()
    return {r.item_id: f"{names.get(r.by_user_id or 0, 'Gatehouse')}: {r.comment}"
            for r in rows}


def campaigns(gh: Gatehouse, viewer: Principal) -> list[CampaignView]:
    """Every campaign, newest first, with its progress (admins and auditors)."""
    gh.authorize(viewer, Action.REVIEWS_VIEW)
    with gh.read() as db:
        found = db.execute(select(ReviewCampaign).order_by(ReviewCampaign.id.desc())
                           ).scalars().all()
        items = db.execute(select(ReviewItem)).scalars().all()
        names = _names(db)
        scoped = {c.id: scope_now(db, gh.policy, c.scopes.split()) for c in found
                  if c.status == CampaignStatus.SCHEDULED}
    return [_campaign(gh.now(), c, [i for i in items if i.campaign_id == c.id], names,
                      scoped.get(c.id)) for c in found]


def _campaign(now: datetime, c: ReviewCampaign, items: list[ReviewItem],
              names: dict[int, str], in_scope: Preview | None) -> CampaignView:
    reviewers = [int(i) for i in c.reviewer_ids.split()]
    days = [int(d) for d in c.remind_days.split()] or [0]
    reminding = c.status == CampaignStatus.OPEN and now >= c.due_at - timedelta(days=max(days))
    pending = [i for i in items if i.status == ItemStatus.PENDING]
    overdue = sorted({names.get(r, str(r)) for r in reviewers for i in pending
                      if reminding and r != i.user_id and i.reviewer_id in (None, r)})
    return CampaignView(c.id, c.name, c.status, c.scopes.split(), c.starts_at, c.due_at,
                        c.default_decision, c.auto_apply, c.recur_months, len(items),
                        len(items) - len(pending), [names.get(r, str(r)) for r in reviewers],
                        overdue, json.loads(c.summary) if c.summary else {},
                        names.get(c.closed_by) if c.closed_by else None, c.closed_at,
                        c.cancel_reason, in_scope)


def campaign_items(gh: Gatehouse, viewer: Principal,
                   campaign_id: int) -> tuple[list[ItemView], list[str]]:
    """A campaign's items with their decisions, and the IdP changes still to make."""
    gh.authorize(viewer, Action.REVIEWS_VIEW)
    with gh.read() as db:
        rows = db.execute(select(ReviewItem, ReviewCampaign)
                          .join(ReviewCampaign, ReviewCampaign.id == ReviewItem.campaign_id)
                          .where(ReviewItem.campaign_id == campaign_id)
                          .order_by(ReviewItem.id)).all()
        names = _names(db)
        changes = idp_changes(gh, db)
    return [_view(item, campaign, names) for item, campaign in rows], changes

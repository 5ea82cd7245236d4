"""Cancelling a campaign (admins): a scheduled one before it opens, or an open one before it
closes, with a reason and a fresh code (`Action.REVIEWS_CANCEL` is in STEP_UP).

Cancelling ends the campaign as it stands: the decisions already made stay recorded (their
events and `review_decisions` rows are untouched), nothing is given the default decision and
nothing is applied (a revoke already decided says "not applied: the campaign was cancelled"),
the items nobody decided stay pending, and a recurring campaign opens no successor. The
campaign's status becomes `cancelled` with its reason, time and admin; decisions on its items
are refused from then on like after a close. One `review.campaign.cancelled` event records it
(its reason, the counts), and a webhook notice tells the reviewers.

`check` says what cancelling would do now, for the confirmation, without a fresh code.
Refused, by both, each leaving a denied `review.campaign.cancelled` event: a missing or bad
reason (naming the field `reason`), a campaign that is already closed or cancelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, Refuse
from access.errors import Conflict, GatehouseError, InvalidInput
from access.principal import Principal
from access.reviews.campaigns import by
from access.reviews.states import CampaignStatus, ItemStatus, cancel, unless_cancellable
from access.schema import ReviewCampaign, ReviewItem
from access.text import as_logged, checked_reason
from access.workflow import notify
from audit.vocabulary import Outcome

__all__ = ["NOT_APPLIED", "Cancelling", "cancel_campaign", "check"]

NOT_APPLIED = "not applied: the campaign was cancelled"
EVENT = "review.campaign.cancelled"


@dataclass(frozen=True)
class Cancelling:
    """What cancelling a campaign does, as it stands now."""

    campaign_id: int
    name: str
    status: str     # scheduled or open
    items: int
    kept: int
    revoked: int

    @property
    def decided(self) -> str:
        """How many items were decided (kept or revoked), in words: "2 decisions"."""
        n = self.kept + self.revoked
        return f"{n} decision{'' if n == 1 else 's'}"

    @property
    def summary(self) -> str:
        """The confirmation, in words."""
        if self.status == CampaignStatus.SCHEDULED:
            return f"Cancel campaign {self.campaign_id} ({self.name}) before it opens"
        undecided = self.items - self.kept - self.revoked
        return (f"Cancel campaign {self.campaign_id} ({self.name}): the decisions made stay "
                f"recorded and are not applied ({self.kept} kept, {self.revoked} revoked); no "
                f"default for the {undecided} undecided item{'' if undecided == 1 else 's'}")


def check(gh: Gatehouse, admin: Principal, campaign_id: int, reason: str) -> Cancelling:
    """What cancelling `campaign_id` for `reason` would do now. Needs the admin's role, not a
    fresh code; refuses as `cancel_campaign` does (recorded)."""
    gh.authorize(admin, Action.REVIEWS_MANAGE)
    with gh.deciding() as (db, refuse):
        campaign = _locked(db, campaign_id)
        _checked(admin, campaign, reason, refuse)
        return _now(db, campaign)


def cancel_campaign(gh: Gatehouse, admin: Principal, campaign_id: int,
                    reason: str) -> Cancelling:
    """Cancel a scheduled or open campaign for `reason` (see the module contract); returns
    what it ended with."""
    gh.authorize(admin, Action.REVIEWS_CANCEL)
    with gh.deciding() as (db, refuse):
        campaign = _locked(db, campaign_id)
        why = _checked(admin, campaign, reason, refuse)
        ended = _now(db, campaign)
        cancel(campaign, gh.now(), admin.user_id, why)
        for item in _items(db, campaign.id):
            if item.status == ItemStatus.REVOKED:
                item.applied = NOT_APPLIED
        counts = {"items": ended.items, "kept": ended.kept, "revoked": ended.revoked}
        campaign.summary = json.dumps(counts, sort_keys=True)
        gh.audit(db, by(admin, EVENT, target_type="review_campaign", target_id=str(campaign.id),
                        reason=why, details={"campaign_id": campaign.id, **counts}))
        notify.enqueue(gh, db, notify.Kind.REVIEW, f"Access review {campaign.id} "
                       f"({campaign.name}) was cancelled by {admin.name or admin.sub}: "
                       f"{ended.decided} recorded, nothing applied",
                       {"campaign_id": str(campaign.id)})
    return ended


def _locked(db: Session, campaign_id: int) -> ReviewCampaign:
    campaign = db.get(ReviewCampaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise InvalidInput("campaign", "no such campaign")
    return campaign


def _checked(admin: Principal, campaign: ReviewCampaign, reason: str, refuse: Refuse) -> str:
    """The trimmed reason; refuses (recorded) a bad one, or a campaign that has ended."""
    problem: GatehouseError
    try:
        unless_cancellable(campaign)
        return checked_reason(reason)
    except (Conflict, InvalidInput) as exc:
        problem = exc
    refuse(problem, by(admin, EVENT, Outcome.DENIED, target_type="review_campaign",
                       target_id=str(campaign.id), reason=as_logged(str(problem), 500),
                       details={"campaign_id": campaign.id,
                                **({"field": problem.field}
                                   if isinstance(problem, InvalidInput) else {})}))


def _items(db: Session, campaign_id: int) -> list[ReviewItem]:
    return list(db.execute(select(ReviewItem).where(ReviewItem.campaign_id == campaign_id)
                           .order_by(ReviewItem.id)).scalars())


def _now(db: Session, campaign: ReviewCampaign) -> Cancelling:
    items = _items(db, campaign.id)
    return Cancelling(campaign.id, campaign.name, campaign.status, len(items),
                      sum(i.status == ItemStatus.KEPT for i in items),
                      sum(i.status == ItemStatus.REVOKED for i in items))

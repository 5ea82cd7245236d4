"""The end of a campaign, by an admin or by the sweep at the due date.

Closing gives every item nobody reviewed the campaign's default decision (an event each, by
Gatehouse), applies every revoke if the campaign applies automatically (an event each), stores
the counts, records `review.campaign.closed` and, for a recurring campaign, defines the next one
with the same definition. Reminders before the due date go to the webhook.

An admin closing early needs a fresh code (`Action.REVIEWS_CLOSE` is in STEP_UP) and first
sees what the close does (`check`, no code): how many undecided items get the default and,
for a default revoke, how many people that takes access from. Those numbers can only fall
between the check and the close (a decision is never undone), so they are an upper bound.

A recurring campaign keeps its cadence whenever it closes: the next one starts one period
after this one started (counted in calendar months from the first campaign of the series, so
a start on the 30th is not pulled to the 28th for good) and is due as long after its start as
this one was. Closed early, the next one waits as scheduled until its start; closed so late
that the next one would already be due, the series skips whole periods.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, system_event
from access.errors import InvalidInput
from access.principal import Principal
from access.reviews.applying import apply_revoke
from access.reviews.campaigns import by, draft_of, open_campaign
from access.reviews.decisions import item_event
from access.reviews.scope import plan
from access.reviews.states import CampaignStatus, ItemStatus, close, decide, unless_open
from access.schema import ReviewCampaign, ReviewDecision, ReviewItem
from access.workflow import notify

__all__ = ["Closing", "check", "close_as_operator", "close_campaign", "close_due",
           "in_words", "months_later", "next_dates", "remind_due"]


@dataclass(frozen=True)
class Closing:
    """What closing an open campaign now does, for the confirmation."""

    campaign_id: int
    name: str
    default_decision: str   # keep or revoke
    undecided: int          # items that get the default
    people: int             # distinct people among them (who lose access on a default revoke)
    auto_apply: bool
    next_starts_at: datetime | None  # the next occurrence of a recurring campaign

    @property
    def summary(self) -> str:
        """The confirmation, in words."""
        said = f"Close campaign {self.campaign_id} ({self.name}) now: " + _items(self.undecided)
        if not self.undecided:
            said += " undecided, nothing gets the default"
        elif self.default_decision == "keep":
            said += " nobody reviewed get the default keep"
        elif self.auto_apply:
            said += (f" nobody reviewed get the default revoke: {_people(self.people)} "
                     f"lose access at once")
        else:
            said += (f" nobody reviewed get the default revoke ({_people(self.people)}; "
                     "recorded, not applied: the campaign does not apply decisions)")
        if self.next_starts_at is not None:
            said += f"; the next one starts {self.next_starts_at:%Y-%m-%d %H:%M} UTC"
        return said


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def check(gh: Gatehouse, admin: Principal, campaign_id: int) -> Closing:
    """What closing `campaign_id` now would do. Needs the admin's role, not a fresh code;
    `Conflict` unless the campaign is open."""
    gh.authorize(admin, Action.REVIEWS_MANAGE)
    with gh.read() as db:
        campaign = db.get(ReviewCampaign, campaign_id)
        if campaign is None:
            raise InvalidInput("campaign", "no such campaign")
        unless_open(campaign)
        pending = db.execute(select(ReviewItem).where(
            ReviewItem.campaign_id == campaign.id,
            ReviewItem.status == ItemStatus.PENDING)).scalars().all()
        upcoming = next_dates(db, campaign, gh.now())
    return Closing(campaign.id, campaign.name, campaign.default_decision, len(pending),
                   len({i.user_id for i in pending if i.user_id is not None}),
                   campaign.auto_apply, upcoming[0] if upcoming else None)


def close_campaign(gh: Gatehouse, admin: Principal, campaign_id: int) -> dict[str, int]:
    """Close an open campaign now (before or at its due date); returns its counts. Needs a
    fresh code (`StepUpRequired`)."""
    gh.authorize(admin, Action.REVIEWS_CLOSE)
    with gh.write() as db:
        campaign = db.get(ReviewCampaign, campaign_id, with_for_update=True)
        if campaign is None:
            raise InvalidInput("campaign", "no such campaign")
        return _close(gh, db, campaign, admin)


def close_as_operator(gh: Gatehouse, campaign_id: int) -> dict[str, int]:
    """`close_campaign` from the operator's command line, by Gatehouse."""
    with gh.write() as db:
        campaign = db.get(ReviewCampaign, campaign_id, with_for_update=True)
        if campaign is None:
            raise InvalidInput("campaign", "no such campaign")
        return _close(gh, db, campaign, None)


def close_due(gh: Gatehouse) -> int:
    """The sweep's step: close every open campaign whose due date has passed; how many."""
    with gh.read() as db:
        due = db.execute(select(ReviewCampaign.id).where(
            ReviewCampaign.status == CampaignStatus.OPEN,
            ReviewCampaign.due_at <= gh.now())).scalars().all()
    for campaign_id in due:
        with gh.write() as db:
            campaign = db.get_one(ReviewCampaign, campaign_id, with_for_update=True)
            if campaign.status == CampaignStatus.OPEN:  # an admin may have closed it
                _close(gh, db, campaign, None)
    return len(due)


def _close(gh: Gatehouse, db: Session, campaign: ReviewCampaign,
           admin: Principal | None) -> dict[str, int]:
    close(campaign, gh.now(), admin.user_id if admin else None)
    items = db.execute(select(ReviewItem).where(ReviewItem.campaign_id == campaign.id)
                       .order_by(ReviewItem.id)).scalars().all()
    defaulted = sum(_default(gh, db, campaign, item) for item in items
                    if item.status == ItemStatus.PENDING)
    applied = 0
    for item in items:
        if item.status == ItemStatus.REVOKED and campaign.auto_apply:
            apply_revoke(gh, db, item)
            applied += 1
        elif item.status == ItemStatus.REVOKED:
            item.applied = "not applied: the campaign does not apply decisions automatically"
    counts = {"items": len(items), "kept": _n(items, ItemStatus.KEPT),
              "revoked": _n(items, ItemStatus.REVOKED), "defaulted": defaulted,
              "applied": applied}
    campaign.summary = json.dumps(counts, sort_keys=True)
    next_id = _recur(gh, db, campaign)
    details = {"campaign_id": campaign.id, **counts,
               **({"next_campaign_id": next_id} if next_id else {})}
    gh.audit(db, by(admin, "review.campaign.closed", target_type="review_campaign",
                    target_id=str(campaign.id), details=details))
    notify.enqueue(gh, db, notify.Kind.REVIEW, f"Access review {campaign.id} "
                   f"({campaign.name}) closed: {in_words(counts, campaign.default_decision)}",
                   {"campaign_id": str(campaign.id)})
    return counts


def in_words(counts: dict[str, int], default_decision: str) -> str:
    """A closed campaign's counts that cannot be misread: "5 items: 5 kept (1 of them by
    default), 0 revoked, 0 applied" (the defaults all went one way: the campaign's)."""
    def n(key: str) -> int:
        return counts.get(key, 0)
    defaulted = f" ({n('defaulted')} of them by default)" if n("defaulted") else ""
    kept = f"{n('kept')} kept{defaulted if default_decision == 'keep' else ''}"
    revoked = f"{n('revoked')} revoked{defaulted if default_decision == 'revoke' else ''}"
    return f"{_items(n('items'))}: {kept}, {revoked}, {n('applied')} applied"


def _n(items: Sequence[ReviewItem], status: ItemStatus) -> int:
    return sum(1 for item in items if item.status == status)


def _default(gh: Gatehouse, db: Session, campaign: ReviewCampaign, item: ReviewItem) -> int:
    """Give an unreviewed item the campaign's default decision (an event by Gatehouse)."""
    verb = campaign.default_decision
    decide(item, ItemStatus.KEPT if verb == "keep" else ItemStatus.REVOKED, gh.now(), None)
    item.comment = (f"not reviewed by the due date: default {verb}"
                    if gh.now() >= campaign.due_at else
                    f"not reviewed before the campaign was closed early (due "
                    f"{campaign.due_at:%Y-%m-%d %H:%M} UTC): default {verb}")
    item.event_id = gh.audit(db, item_event(
        None, "review.decided", item, reason=item.comment, at=item.decided_at, decision=verb,
        recommendation=item.recommendation, rule=item.rule, default=True))
    db.add(ReviewDecision(item_id=item.id, decision=verb, by_user_id=None, at=gh.now(),
                          comment=item.comment, event_id=item.event_id))
    return 1


def months_later(at: datetime, months: int) -> datetime:
    """`at` moved by whole calendar months, the day clamped to the month's last day
    (January 31 + 1 month: February 28 or 29)."""
    month = at.month - 1 + months
    year, month = at.year + month // 12, month % 12 + 1
    return at.replace(year=year, month=month,
                      day=min(at.day, calendar.monthrange(year, month)[1]))


def next_dates(db: Session, campaign: ReviewCampaign,
               now: datetime) -> tuple[datetime, datetime] | None:
    """The start and due date of the occurrence after `campaign` (None if it does not recur):
    see the module contract. Counted from the series' first campaign, so clamping a day to a
    short month never shifts the later ones."""
    if not campaign.recur_months:
        return None
    first, steps = campaign, 1
    while first.previous_id is not None:
        first, steps = db.get_one(ReviewCampaign, first.previous_id), steps + 1
    length = campaign.due_at - campaign.starts_at
    starts = months_later(first.starts_at, steps * campaign.recur_months)
    while starts + length <= now:  # closed after the next one's due date: skip a period
        steps += 1
        starts = months_later(first.starts_at, steps * campaign.recur_months)
    return starts, starts + length


def _recur(gh: Gatehouse, db: Session, campaign: ReviewCampaign) -> int | None:
    upcoming = next_dates(db, campaign, gh.now())
    if upcoming is None:
        return None
    draft = draft_of(campaign, *upcoming)
    reviewer_ids = [int(i) for i in campaign.reviewer_ids.split()]
    planned = plan(db, gh.policy, draft.scopes)
    return open_campaign(gh, db, draft, reviewer_ids, planned, None, campaign.id).id


def remind_due(gh: Gatehouse) -> int:
    """The sweep's step: a webhook reminder for each open campaign that has reached one of its
    reminder days before the due date and still has pending items (once per reminder day)."""
    reminded = 0
    with gh.write() as db:
        campaigns = db.execute(select(ReviewCampaign).where(
            ReviewCampaign.status == CampaignStatus.OPEN)).scalars().all()
        for campaign in campaigns:
            if _remind(gh, db, campaign):
                reminded += 1
    return reminded


def _remind(gh: Gatehouse, db: Session, campaign: ReviewCampaign) -> bool:
    now = gh.now()
    marks = [campaign.due_at - timedelta(days=int(d)) for d in campaign.remind_days.split()]
    reached = [m for m in marks if m <= now < campaign.due_at]
    if not reached or (campaign.reminded_at is not None and campaign.reminded_at >= max(reached)):
        return False
    pending = db.execute(select(ReviewItem.id).where(
        ReviewItem.campaign_id == campaign.id,
        ReviewItem.status == ItemStatus.PENDING)).scalars().all()
    if not pending:
        return False
    campaign.reminded_at = now
    notify.enqueue(gh, db, notify.Kind.REVIEW, f"Access review {campaign.id} "
                   f"({campaign.name}): {len(pending)} items still to review, due "
                   f"{campaign.due_at:%Y-%m-%d %H:%M} UTC", {"campaign_id": str(campaign.id)})
    gh.audit(db, system_event("review.reminded", target_type="review_campaign",
                              target_id=str(campaign.id),
                              details={"campaign_id": campaign.id, "items": len(pending)}))
    return True

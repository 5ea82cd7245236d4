"""Defining and starting a campaign (admins). A bad draft is refused naming its field, with a
denied `review.campaign.started` event, and nothing is stored.

A campaign starts now, or at a start in the future (before its due date; a start already
past means now). A future one is stored as scheduled with a `review.campaign.scheduled`
event and no items; the sweep opens it at its start (`open_due`), computing its items and
evidence then, with the same `review.campaign.started` event and webhook notice as a campaign
started at once. Its reviewers are resolved when it is defined.

A default decision of revoke takes access from everyone nobody reviewed, so `start` needs the
admin to confirm how many people that could be (`Preview.people`): `confirm_people` must
equal it as counted from the scope at the moment `start` runs, so a number confirmed before
someone gained the role is refused, and the refusal says the number now. A scheduled
campaign's scope is taken again when it opens; its start notice says how many people a
default revoke could then take access from. At the close, the default goes to the items
still undecided then (`closing`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for, system_event
from access.errors import InvalidInput
from access.principal import Principal, Role
from access.reviews.evidence import gather
from access.reviews.scope import SCOPES, Planned, holders, item_row, plan
from access.reviews.states import CampaignStatus, open_scheduled
from access.schema import ReviewCampaign, User
from access.text import as_logged, storable
from access.workflow import notify
from access.workflow.policy import Policy
from audit.events import AuditEvent
from audit.vocabulary import Outcome

__all__ = ["RECURRENCE", "CampaignDraft", "Preview", "by", "draft_of", "open_campaign",
           "open_due", "preview", "scope_now", "start", "start_as_operator", "summary"]

RECURRENCE = {0: "does not recur", 1: "monthly", 3: "quarterly", 6: "half-yearly",
              12: "yearly"}
ADMINS = "admins"


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    scopes: Sequence[str]
    due_at: datetime
    default_decision: str           # "keep" or "revoke": no default, chosen explicitly
    auto_apply: bool = True         # apply the decisions when the campaign closes
    reviewers: str = ADMINS         # "admins", or the subjects of a named group of people
    look_back_days: int | None = None   # None: `[reviews] look_back_days`
    remind_days: Sequence[int] = field(default=(7, 1))  # days before the due date
    recur_months: int = 0
    starts_at: datetime | None = None   # None, or a time already past: now


@dataclass(frozen=True)
class Preview:
    items: int
    people: int  # distinct people whose access is under review (and could be revoked)


def preview(gh: Gatehouse, admin: Principal, draft: CampaignDraft) -> Preview:
    """How many items and people `draft` would review, for the confirmation; `InvalidInput`
    naming the field for a draft `start` would refuse (not recorded: nothing was asked)."""
    gh.authorize(admin, Action.REVIEWS_MANAGE)
    _check(gh, draft)
    with gh.read() as db:
        planned = plan(db, gh.policy, draft.scopes)
        _reviewers(db, draft.reviewers, planned)
    return _count(planned)


def _count(planned: list[Planned]) -> Preview:
    return Preview(len(planned), len({p.user_id for p in planned if p.user_id is not None}))


def scope_now(db: Session, policy: Policy, scopes: Sequence[str]) -> Preview:
    """How many items and people `scopes` hold at this moment (for a scheduled campaign's
    card: its items are taken when it opens)."""
    return _count(plan(db, policy, scopes))


def start(gh: Gatehouse, admin: Principal, draft: CampaignDraft,
          confirm_people: int | None = None) -> int:
    """Open a campaign now, or schedule it for its start; returns its id. See the module
    contract for refusals."""
    gh.authorize(admin, Action.REVIEWS_MANAGE)
    return _start(gh, admin, draft, confirm_people)


def start_as_operator(gh: Gatehouse, draft: CampaignDraft,
                      confirm_people: int | None = None) -> int:
    """`start` from the operator's command line (`python -m access review start`): the same
    checks and events, by Gatehouse rather than a signed-in admin."""
    return _start(gh, None, draft, confirm_people)


def _start(gh: Gatehouse, admin: Principal | None, draft: CampaignDraft,
           confirm_people: int | None) -> int:
    try:
        _check(gh, draft)
    except InvalidInput as exc:
        gh.refuse(exc, _refused(admin, exc))
    with gh.deciding() as (db, refuse):
        planned = plan(db, gh.policy, draft.scopes)
        try:
            _confirmed(draft, _count(planned), confirm_people)
            reviewer_ids = _reviewers(db, draft.reviewers, planned)
        except InvalidInput as exc:
            refuse(exc, _refused(admin, exc))
        campaign = open_campaign(gh, db, draft, reviewer_ids, planned, admin, None)
    return campaign.id


def by(actor: Principal | None, action: str, outcome: Outcome = Outcome.SUCCESS,
       **fields: Any) -> AuditEvent:
    """An event by `actor`, or by Gatehouse itself when None (the sweep, the CLI)."""
    if actor is None:
        return system_event(action, outcome=outcome, **fields)
    return event_for(actor, action, outcome, **fields)


def _refused(admin: Principal | None, exc: InvalidInput) -> AuditEvent:
    return by(admin, "review.campaign.started", Outcome.DENIED,
              target_type="review_campaign", reason=as_logged(str(exc), 500),
              details={"field": exc.field})


def _check(gh: Gatehouse, draft: CampaignDraft) -> None:
    name = draft.name.strip() if isinstance(draft.name, str) else ""
    if not 3 <= len(name) <= 120 or not storable(name):
        raise InvalidInput("name", "must be 3 to 120 characters")
    if not draft.scopes or any(s not in SCOPES for s in draft.scopes) or \
            len(set(draft.scopes)) != len(draft.scopes):
        raise InvalidInput("scopes", f"must name one or more of {', '.join(SCOPES)}")
    if draft.due_at <= gh.now():
        raise InvalidInput("due_at", "must be in the future")
    _check_start(draft)
    if draft.default_decision not in ("keep", "revoke"):
        raise InvalidInput("default_decision", "choose keep or revoke explicitly")
    if draft.look_back_days is not None and not 1 <= draft.look_back_days <= 730:
        raise InvalidInput("look_back_days", "must be 1 to 730 days")
    if any(not 0 <= d <= 90 for d in draft.remind_days):
        raise InvalidInput("remind_days", "must be 0 to 90 days before the due date")
    if draft.recur_months not in RECURRENCE:
        raise InvalidInput("recur_months", f"must be one of {sorted(RECURRENCE)}")


def _check_start(draft: CampaignDraft) -> None:
    if draft.starts_at is None:
        return
    if not isinstance(draft.starts_at, datetime) or draft.starts_at.utcoffset() is None:
        raise InvalidInput("starts_at", "must be a date and time with a time zone")
    if draft.starts_at >= draft.due_at:
        raise InvalidInput("starts_at", "must be before the due date")


def _confirmed(draft: CampaignDraft, seen: Preview, confirm_people: int | None) -> None:
    if draft.default_decision == "revoke" and confirm_people != seen.people:
        raise InvalidInput("confirm_people", f"default revoke would take access from up to "
                           f"{seen.people} people nobody reviews: confirm {seen.people}")


def _reviewers(db: Session, reviewers: str, planned: list[Planned]) -> list[int]:
    """The reviewers' user ids: the admins, or the named subjects. Every person under review
    needs a reviewer other than themselves."""
    if not isinstance(reviewers, str) or not reviewers.strip():
        raise InvalidInput("reviewers", "must name at least one reviewer")
    if reviewers.strip() == ADMINS:
        ids = [u.id for u in holders(db, Role.APPROVER)]
    else:
        ids = _named(db, reviewers.replace(",", " ").split())
    if not ids:
        raise InvalidInput("reviewers", "no reviewer: nobody holds the approver role")
    for item in planned:
        if item.user_id is not None and set(ids) <= {item.user_id}:
            raise InvalidInput("reviewers", f"{item.label} has no reviewer but themselves")
    return ids


def _named(db: Session, subjects: list[str]) -> list[int]:
    ids = []
    for sub in subjects:
        found = db.execute(select(User.id).where(User.sub == sub,
                                                 User.disabled_at.is_(None))).scalars().all()
        if len(found) != 1:
            raise InvalidInput("reviewers", f"{as_logged(sub, 64)!r} is not one enabled user")
        ids.append(found[0])
    return ids


def open_campaign(gh: Gatehouse, db: Session, draft: CampaignDraft, reviewer_ids: list[int],
                  planned: list[Planned], admin: Principal | None,
                  previous_id: int | None) -> ReviewCampaign:
    """Store the campaign. If its start has come, open it now (`_begin`); otherwise record
    that it is scheduled and leave it to the sweep."""
    now = gh.now()
    starts = max(draft.starts_at or now, now)
    campaign = ReviewCampaign(
        name=draft.name.strip(), scopes=" ".join(draft.scopes), reviewers=draft.reviewers,
        reviewer_ids=" ".join(map(str, reviewer_ids)), starts_at=starts, due_at=draft.due_at,
        look_back_days=draft.look_back_days or gh.config.reviews.look_back_days,
        remind_days=" ".join(map(str, draft.remind_days)),
        default_decision=draft.default_decision, auto_apply=draft.auto_apply,
        recur_months=draft.recur_months, status=CampaignStatus.SCHEDULED,
        created_by=admin.user_id if admin else None, created_at=now, previous_id=previous_id)
    db.add(campaign)
    db.flush()
    if starts > now:
        gh.audit(db, by(admin, "review.campaign.scheduled", target_type="review_campaign",
                        target_id=str(campaign.id),
                        details={**_described(campaign, planned),
                                 "starts_at": starts.isoformat()}))
    else:
        _begin(gh, db, campaign, planned, admin)
    return campaign


def _described(campaign: ReviewCampaign, planned: list[Planned]) -> dict[str, Any]:
    return {"campaign_id": campaign.id, "scopes": campaign.scopes.split(),
            "items": len(planned), "people": _count(planned).people,
            "default_decision": campaign.default_decision,
            "due_at": campaign.due_at.isoformat()}


def _begin(gh: Gatehouse, db: Session, campaign: ReviewCampaign, planned: list[Planned],
           admin: Principal | None) -> None:
    """Open `campaign`: its items with their evidence (one aggregate per source over the
    window ending now), the start recorded and announced."""
    open_scheduled(campaign)
    now = gh.now()
    usage = gather(db.connection(), now, campaign.look_back_days, gh.config.anomalies)
    db.add_all([item_row(p, campaign.id, usage, gh.config.reviews, now) for p in planned])
    gh.audit(db, by(admin, "review.campaign.started", target_type="review_campaign",
                    target_id=str(campaign.id), details=_described(campaign, planned)))
    # a scheduled campaign's scope is taken now: say again what a default revoke could take
    risk = f"; default revoke: up to {_count(planned).people} people lose access if nobody " \
           "reviews them" if campaign.default_decision == "revoke" else ""
    notify.enqueue(gh, db, notify.Kind.REVIEW, f"Access review {campaign.id} "
                   f"({campaign.name}) started: {len(planned)} items, due "
                   f"{campaign.due_at:%Y-%m-%d}{risk}", {"campaign_id": str(campaign.id)})


def open_due(gh: Gatehouse) -> int:
    """The sweep's step: open every scheduled campaign whose start has come (by Gatehouse,
    with the scope as it stands now); how many."""
    with gh.read() as db:
        due = db.execute(select(ReviewCampaign.id).where(
            ReviewCampaign.status == CampaignStatus.SCHEDULED,
            ReviewCampaign.starts_at <= gh.now()).order_by(ReviewCampaign.id)).scalars().all()
    for campaign_id in due:
        with gh.write() as db:
            campaign = db.get_one(ReviewCampaign, campaign_id, with_for_update=True)
            if campaign.status == CampaignStatus.SCHEDULED:  # another sweeper may have
                _begin(gh, db, campaign, plan(db, gh.policy, campaign.scopes.split()), None)
    return len(due)


def draft_of(campaign: ReviewCampaign, starts_at: datetime, due_at: datetime) -> CampaignDraft:
    """The definition of `campaign` again, from `starts_at` (a time already past: now) to
    `due_at` (for recurrence)."""
    return CampaignDraft(
        name=campaign.name, scopes=campaign.scopes.split(), due_at=due_at,
        default_decision=campaign.default_decision, auto_apply=campaign.auto_apply,
        reviewers=campaign.reviewers, look_back_days=campaign.look_back_days,
        remind_days=[int(d) for d in campaign.remind_days.split()],
        recur_months=campaign.recur_months, starts_at=starts_at)


def summary(campaign: ReviewCampaign) -> dict[str, int]:
    return dict(json.loads(campaign.summary)) if campaign.summary else {}

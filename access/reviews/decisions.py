"""Reviewers' decisions on items: keep or revoke with a comment, or hand the item to another
reviewer. Each needs a fresh code (`Action.REVIEW_DECIDE` is in STEP_UP) and is one audit event.

Refused, each leaving a denied `review.decided` / `review.reassigned` event: deciding one's own
access, an item one is not a reviewer of, an item of a campaign not open (scheduled, closed or
cancelled), an item already decided, keeping against a revoke recommendation without a
comment, handing over without a reason (`access.text.checked_reason`), to the item's subject
or to someone who is not one of the campaign's reviewers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, Refuse, event_for, system_event
from access.errors import Conflict, Denied, GatehouseError, InvalidInput
from access.principal import Principal
from access.reviews.states import ItemStatus, decide, unless_open, unless_pending
from access.schema import ReviewCampaign, ReviewDecision, ReviewItem
from access.text import UNSTORABLE_RULE, checked_reason, storable
from audit.events import AuditEvent
from audit.vocabulary import Outcome

__all__ = ["MAX_COMMENT", "item_event", "keep", "reassign", "revoke"]

MAX_COMMENT = 1000


def keep(gh: Gatehouse, reviewer: Principal, item_id: int, comment: str = "") -> None:
    _decide(gh, reviewer, item_id, ItemStatus.KEPT, comment)


def revoke(gh: Gatehouse, reviewer: Principal, item_id: int, comment: str = "") -> None:
    _decide(gh, reviewer, item_id, ItemStatus.REVOKED, comment)


def item_event(actor: Principal | None, action: str, item: ReviewItem,
               outcome: Outcome = Outcome.SUCCESS, reason: str | None = None,
               at: datetime | None = None, **details: object) -> AuditEvent:
    """The audit event of something done to `item` (by Gatehouse when `actor` is None), at
    `at` when given: a decision's event carries exactly the item's `decided_at`, so the
    evidence pack's time is the logged one."""
    fields = {"target_type": "review_item", "target_id": str(item.id), "reason": reason, "ts": at,
              "details": {"campaign_id": item.campaign_id, "item_id": item.id,
                          "subject": item.label, **details}}
    if actor is None:
        return system_event(action, outcome=outcome, **fields)
    return event_for(actor, action, outcome, **fields)


def _decide(gh: Gatehouse, reviewer: Principal, item_id: int, to: ItemStatus,
            comment: str) -> None:
    gh.authorize(reviewer, Action.REVIEW_DECIDE)
    verb = "keep" if to == ItemStatus.KEPT else "revoke"
    with gh.deciding() as (db, refuse):
        item, campaign = _load(db, item_id)
        _may_review(reviewer, item, campaign, "review.decided", refuse, verb)
        note = _comment(comment, required=to == ItemStatus.KEPT and
                        item.recommendation == "revoke")
        if isinstance(note, InvalidInput):
            refuse(note, item_event(reviewer, "review.decided", item, Outcome.DENIED,
                                    str(note), decision=verb, field="comment"))
        decide(item, to, gh.now(), reviewer.user_id)
        item.comment = note
        event_id = gh.audit(db, item_event(
            reviewer, "review.decided", item, reason=note, at=item.decided_at, decision=verb,
            recommendation=item.recommendation, rule=item.rule, default=False))
        item.event_id = event_id
        db.add(ReviewDecision(item_id=item.id, decision=verb, by_user_id=reviewer.user_id,
                              at=gh.now(), comment=note, event_id=event_id))


def reassign(gh: Gatehouse, reviewer: Principal, item_id: int, to_user_id: int,
             reason: str) -> None:
    """Hand a pending item to another of the campaign's reviewers, saying why."""
    gh.authorize(reviewer, Action.REVIEW_DECIDE)
    with gh.deciding() as (db, refuse):
        item, campaign = _load(db, item_id)
        _may_review(reviewer, item, campaign, "review.reassigned", refuse, "reassign")
        try:
            why = checked_reason(reason)
            _check_target(item, campaign, to_user_id)
        except InvalidInput as problem:
            refuse(problem, item_event(reviewer, "review.reassigned", item, Outcome.DENIED,
                                       str(problem), reviewer=to_user_id, field=problem.field))
        item.reviewer_id = to_user_id
        event_id = gh.audit(db, item_event(reviewer, "review.reassigned", item,
                                              reason=why, reviewer=to_user_id))
        db.add(ReviewDecision(item_id=item.id, decision="reassign",
                              by_user_id=reviewer.user_id, at=gh.now(), comment=why,
                              event_id=event_id))


def _check_target(item: ReviewItem, campaign: ReviewCampaign, to_user_id: int) -> None:
    """The reviewer an item is handed to: one of the campaign's, never its subject."""
    if to_user_id == item.user_id:
        raise InvalidInput("reviewer", "nobody reviews their own access")
    if str(to_user_id) not in campaign.reviewer_ids.split():
        raise InvalidInput("reviewer", "must be one of the campaign's reviewers")


def _load(db: Session, item_id: int) -> tuple[ReviewItem, ReviewCampaign]:
    found = db.execute(select(ReviewItem, ReviewCampaign)
                       .join(ReviewCampaign, ReviewCampaign.id == ReviewItem.campaign_id)
                       .where(ReviewItem.id == item_id).with_for_update()).first()
    if found is None:
        raise InvalidInput("item", "no such review item")
    return found[0], found[1]


def _may_review(reviewer: Principal, item: ReviewItem, campaign: ReviewCampaign, action: str,
                refuse: Refuse, verb: str) -> None:
    """Refuse (recorded) unless `reviewer` may act on `item` now."""
    problem: GatehouseError | None = None
    if item.user_id == reviewer.user_id:
        problem = Denied("nobody reviews their own access")
    elif str(reviewer.user_id) not in campaign.reviewer_ids.split() or \
            item.reviewer_id not in (None, reviewer.user_id):
        problem = Denied("you are not a reviewer of this item")
    else:
        try:
            unless_open(campaign)
            unless_pending(item)
        except Conflict as exc:
            problem = exc
    if problem is not None:
        refuse(problem, item_event(reviewer, action, item, Outcome.DENIED, str(problem),
                                   decision=verb))


def _comment(text: str, required: bool) -> str | InvalidInput | None:
    """The trimmed comment, or the `InvalidInput` that refuses it."""
    value = (text or "").strip()
    if required and len(value) < 3:
        return InvalidInput("comment", "is required here: say why (3+ characters)")
    if len(value) > MAX_COMMENT:
        return InvalidInput("comment", f"must be at most {MAX_COMMENT} characters")
    if not storable(value):
        return InvalidInput("comment", UNSTORABLE_RULE)
    return value or None

"""The evidence pack of a closed campaign: every item, its evidence, recommendation, decision,
who decided and when, and what was applied — as a proved report (`audit.proved`, records
inline, so an auditor who may see names checks every bound field) and as CSV.

Each item row cites its decision event: `python -m audit verify-report PACK.json --public-key
KEY.pem` checks the signed checkpoint, an RFC 6962 inclusion proof of every decision event, and
that the row's decision, recommendation, rule, comment, decider and time are the logged ones.
The campaign must be closed and its decisions sealed under a checkpoint; otherwise the pack
is refused naming why (and the refusal is an event). Cutting a pack records `audit.exported`
(target: the campaign).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.errors import InvalidInput
from access.oversight import _trust  # the one reader of the pinned public key
from access.principal import Principal
from access.reviews.campaigns import by
from access.reviews.states import CampaignStatus
from access.schema import ReviewCampaign, ReviewItem, User
from audit.checkpoint import Checkpoint, fingerprint
from audit.events import to_micros
from audit.export_stream import neutralize
from audit.proof import NotSealed
from audit.proved import ProofFailed, build, dumps, iso_time, newest_checkpoint
from audit.vocabulary import Outcome

__all__ = ["CSV_COLUMNS", "HOW_TO_VERIFY", "KIND", "EvidencePack", "evidence_pack",
           "pack_as_operator"]

KIND = "access-review-evidence"
CSV_COLUMNS = ("item_id", "subject", "kind", "role", "environment", "recommendation", "rule",
               "reason", "decision", "default", "comment", "decided_by", "decided_at",
               "applied", "event_id", "evidence")
HOW_TO_VERIFY = ("python -m audit verify-report PACK.json --public-key gatehouse-audit.pub "
                 "checks the signed checkpoint, the inclusion proof of every decision event "
                 "and every bound field of every item against the logged record.")


@dataclass(frozen=True)
class EvidencePack:
    campaign_id: int
    document: bytes  # the proved report (JSON, records inline)
    csv: bytes       # the same items, one row each (not proved: for spreadsheets)
    items: int
    tree_size: int


def evidence_pack(gh: Gatehouse, principal: Principal, campaign_id: int) -> EvidencePack:
    """The pack of a closed campaign, cut against the newest signed checkpoint."""
    gh.authorize(principal, Action.REVIEWS_VIEW)
    return _cut(gh, principal, campaign_id)


def pack_as_operator(gh: Gatehouse, campaign_id: int) -> EvidencePack:
    """`evidence_pack` from the operator's command line, recorded as by Gatehouse."""
    return _cut(gh, None, campaign_id)


def _cut(gh: Gatehouse, principal: Principal | None, campaign_id: int) -> EvidencePack:
    _, public = _trust()
    try:
        with gh.read() as db:  # body and proofs read in one transaction: one moment
            checkpoint = newest_checkpoint(db.connection(), public)
            body = _body(gh, db, campaign_id, checkpoint, fingerprint(public))
            proved = build(db.connection(), checkpoint, KIND, body, inline_opening=True)
    except (NotSealed, ProofFailed) as exc:
        gh.refuse(InvalidInput("checkpoint", f"{exc}: the decisions must be sealed first"),
                  _event(principal, campaign_id, Outcome.ERROR, str(exc)))
    except InvalidInput as bad:
        gh.refuse(bad, _event(principal, campaign_id, Outcome.DENIED, str(bad)))
    with gh.write() as db:
        gh.audit(db, _event(principal, campaign_id, details={
            "format": "proved-json+csv", "row_count": len(body["items"]),
            "tree_size": checkpoint.size}))
    return EvidencePack(campaign_id, dumps(proved.document), _csv(body["items"]),
                        len(body["items"]), checkpoint.size)


def _event(principal: Principal | None, campaign_id: int, outcome: Outcome = Outcome.SUCCESS,
           reason: str | None = None, details: dict[str, Any] | None = None) -> Any:
    return by(principal, "audit.exported", outcome, target_type="review_campaign",
              target_id=str(campaign_id), reason=reason, details=details or {})


def _body(gh: Gatehouse, db: Session, campaign_id: int, checkpoint: Checkpoint,
          key_fingerprint: str) -> dict[str, Any]:
    campaign = db.get(ReviewCampaign, campaign_id)
    if campaign is None:
        raise InvalidInput("campaign", "no such campaign")
    if campaign.status != CampaignStatus.CLOSED:
        raise InvalidInput("campaign", "is not closed yet: a pack covers a finished campaign")
    names: dict[int, str] = {uid: sub for uid, sub in db.execute(select(User.id, User.sub))}
    items = db.execute(select(ReviewItem).where(ReviewItem.campaign_id == campaign_id)
                       .order_by(ReviewItem.id)).scalars().all()
    return {
        "title": "Access review evidence pack",
        "campaign": _campaign(campaign, names),
        "generated_at": iso_time(to_micros(gh.now())),
        "checkpoint_time": iso_time(checkpoint.ts_us),
        "public_key_fingerprint": key_fingerprint,
        "how_to_verify": HOW_TO_VERIFY,
        "items": [_item(item, names) for item in items],
    }


def _campaign(c: ReviewCampaign, names: dict[int, str]) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "scopes": c.scopes.split(),
            "reviewers": [names.get(int(i), i) for i in c.reviewer_ids.split()],
            "starts_at": _time(c.starts_at), "due_at": _time(c.due_at),
            "closed_at": _time(c.closed_at), "default_decision": c.default_decision,
            "auto_apply": c.auto_apply, "look_back_days": c.look_back_days,
            "recurs_every_months": c.recur_months, "counts": json.loads(c.summary or "{}")}


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_time(to_micros(value))


def _item(item: ReviewItem, names: dict[int, str]) -> dict[str, Any]:
    """One citing row: the keys named like the event's fields are bound to its record."""
    verb = "keep" if item.status == "kept" else "revoke"
    return {
        "event_id": item.event_id, "action": "review.decided",
        "target_id": str(item.id), "reason": item.comment,
        "details.decision": verb, "details.recommendation": item.recommendation,
        "details.rule": item.rule, "details.default": item.decided_by is None,
        "actor_sub": names[item.decided_by] if item.decided_by else "system",
        "time": iso_time(to_micros(item.decided_at)) if item.decided_at else None,
        # presentation: what the item was and what the decision changed
        "subject": item.label, "kind": item.kind, "role": item.role,
        "environment": item.environment, "reason_for_recommendation": item.reason,
        "evidence": json.loads(item.evidence), "applied": item.applied,
    }


def _csv(items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in items:
        values = {**row, "item_id": row["target_id"], "decision": row["details.decision"],
                  "recommendation": row["details.recommendation"],
                  "rule": row["details.rule"], "default": row["details.default"],
                  "comment": row["reason"], "decided_by": row["actor_sub"],
                  "decided_at": row["time"], "reason": row["reason_for_recommendation"],
                  "evidence": json.dumps(row["evidence"], sort_keys=True)}
        writer.writerow([neutralize(values[c]) for c in CSV_COLUMNS])
    return out.getvalue().encode("utf-8")

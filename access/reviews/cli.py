"""`python -m access review ...`: start, list, close a campaign and cut its evidence pack from
the operator's shell (for a scheduler, or when nobody can sign in). Actions are recorded as
by Gatehouse, with the same checks as the console's."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from access.reviews import campaigns, closing, pack
from access.reviews.scope import SCOPES
from access.reviews.states import CampaignStatus
from access.runtime import build_for_cli
from access.schema import ReviewCampaign

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    review = sub.add_parser("review", help="access-review campaigns: start, list, close, pack")
    verbs = review.add_subparsers(dest="verb", required=True)
    start = verbs.add_parser("start", help="open a campaign now, or schedule it (--start)")
    start.add_argument("--name", required=True)
    start.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES))
    start.add_argument("--due", required=True, help="due date, ISO 8601 (UTC if no zone)")
    start.add_argument("--start", help="start, ISO 8601 (UTC if no zone), before the due "
                                      "date; the worker's sweep opens it then (default: now)")
    start.add_argument("--default", required=True, choices=["keep", "revoke"],
                       help="the decision for items nobody reviewed")
    start.add_argument("--confirm-people", type=int,
                       help="with --default revoke: how many people could lose access")
    start.add_argument("--reviewers", default="admins",
                       help='"admins", or the subjects of the reviewers, comma-separated')
    start.add_argument("--recur-months", type=int, default=0, help="3: quarterly")
    start.add_argument("--look-back-days", type=int)
    start.add_argument("--no-auto-apply", action="store_true")
    start.set_defaults(run=_start)
    verbs.add_parser("list", help="every campaign and its state").set_defaults(run=_list)
    close = verbs.add_parser("close", help="close a campaign now (defaults apply)")
    close.add_argument("campaign", type=int)
    close.set_defaults(run=_close)
    cut = verbs.add_parser("pack", help="write the evidence pack (JSON and CSV)")
    cut.add_argument("campaign", type=int)
    cut.add_argument("--out", type=Path, default=Path("."))
    cut.set_defaults(run=_pack)


def _when(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _start(args: argparse.Namespace) -> None:
    draft = campaigns.CampaignDraft(
        name=args.name, scopes=args.scope, due_at=_when(args.due),
        starts_at=_when(args.start) if args.start else None,
        default_decision=args.default, auto_apply=not args.no_auto_apply,
        reviewers=args.reviewers, look_back_days=args.look_back_days,
        recur_months=args.recur_months)
    gh = build_for_cli()
    campaign_id = campaigns.start_as_operator(gh, draft, args.confirm_people)
    with gh.read() as db:
        campaign = db.get_one(ReviewCampaign, campaign_id)
        starts, status = campaign.starts_at, campaign.status
    print(f"campaign {campaign_id} " + (f"scheduled to start {starts:%Y-%m-%d %H:%M} UTC"
                                        if status == CampaignStatus.SCHEDULED else "started"))


def _list(_args: argparse.Namespace) -> None:
    with build_for_cli().read() as db:
        for c in db.execute(select(ReviewCampaign).order_by(ReviewCampaign.id)).scalars():
            print(f"{c.id}\t{c.status}\tstarts {c.starts_at:%Y-%m-%d}\tdue {c.due_at:%Y-%m-%d}"
                  f"\t{c.name}\t{c.summary or ''}")


def _close(args: argparse.Namespace) -> None:
    print(closing.close_as_operator(build_for_cli(), args.campaign))


def _pack(args: argparse.Namespace) -> None:
    cut = pack.pack_as_operator(build_for_cli(), args.campaign)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"access-review-{cut.campaign_id}"
    stem.with_suffix(".json").write_bytes(cut.document)
    stem.with_suffix(".csv").write_bytes(cut.csv)
    print(f"wrote {stem}.json (verify: python -m audit verify-report {stem}.json "
          f"--public-key PEM) and {stem}.csv; {cut.items} items, tree size {cut.tree_size}")

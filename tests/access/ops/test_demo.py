"""`python -m access seed-demo` drives a real history through the services, once."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from access.context import Gatehouse
from access.identity import mfa
from access.ops.demo import NEWCOMERS, PERSONAS, seed_demo
from access.reviews.closing import months_later
from access.schema import AccessRequest, Grant, ReviewCampaign, ReviewItem, User
from access.workflow import queries, sweep
from audit.database import verify_database
from audit.events import to_micros
from audit.sealer import seal_pending
from tests.support.workflow_helpers import events

ISSUER = "http://localhost:9400"


def test_seeding_tells_a_story_through_the_real_services(
        gh: Gatehouse, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    assert seed_demo(gh, ISSUER).startswith("seeded 6 people")
    with gh.read() as db:
        statuses = dict(db.execute(select(AccessRequest.status, func.count())
                                   .group_by(AccessRequest.status)).all())
    assert {"approved", "denied", "pending", "expired"} <= set(statuses)
    actions = {e["action"] for e in events(gh)}
    assert {"request.created", "request.approved", "request.denied", "grant.issued",
            "grant.expired", "breakglass.activated", "breakglass.reviewed",
            "auth.mfa.enrolled"} <= actions
    seal_pending(gh.engine, signing_key, checkpoint_dir)
    assert verify_database(gh.engine, signing_key.public_key(), checkpoint_dir).ok
    assert max(e["ts_us"] for e in events(gh)) <= to_micros(gh.now())  # nothing in the future


def test_the_seeded_console_is_alive_now(gh: Gatehouse) -> None:
    seed_demo(gh, ISSUER)
    with gh.read() as db:
        ada_id = db.execute(select(User.id).where(User.sub == "ada.admin")).scalar_one()
        pending = db.execute(select(func.count()).select_from(AccessRequest).where(
            AccessRequest.status == "pending", AccessRequest.requester_id != ada_id,
            AccessRequest.expires_at > gh.now())).scalar_one()
    assert pending >= 3
    with gh.read() as db:
        live = [g for g in queries.views(gh, db, Grant.id.is_not(None)) if g.state == "active"]
    assert [(g.holder, g.customer_id) for g in live] == [("Sam Support", "cust-0042")]
    assert sweep.expire_pending(gh) == 0  # nothing stale left behind


def test_seeding_twice_changes_nothing(gh: Gatehouse) -> None:
    seed_demo(gh, ISSUER)
    before = len(events(gh))
    assert "not seeding" in seed_demo(gh, ISSUER)
    assert len(events(gh)) == before


def test_every_persona_with_a_role_is_enrolled_except_the_newcomer(gh: Gatehouse) -> None:
    """What the README promises a newcomer: codes from `demo-code` for the seeded personas,
    an enrollment screen for nell.newcomer."""
    seed_demo(gh, ISSUER)
    with gh.read() as db:
        subs = set(db.execute(select(User.sub)).scalars())
    assert subs == {"sam.support", "sky.support", "ada.admin", "alan.admin", "audrey.auditor",
                    "pia.privacy"}
    for sub in sorted(subs):
        assert len(mfa.demo_code(gh, ISSUER, sub)) == 6
    assert "nell.newcomer" in PERSONAS and "nell.newcomer" in NEWCOMERS
def test_the_demo_has_a_finished_quarterly_review_its_next_quarter_and_a_running_one(
        gh: Gatehouse) -> None:
    seed_demo(gh, ISSUER)
    with gh.read() as db:
        found = db.execute(select(ReviewCampaign).order_by(ReviewCampaign.id)).scalars().all()
    assert [(c.status, c.recur_months) for c in found] == [
        ("closed", 3), ("scheduled", 3), ("open", 0)]
    assert found[1].previous_id == found[0].id
    assert found[1].starts_at == months_later(found[0].starts_at, 3)
    assert found[2].due_at > gh.now()
    with gh.read() as db:
        running = db.execute(select(ReviewItem.status).where(
            ReviewItem.campaign_id == found[2].id)).scalars().all()
    assert running and set(running) == {"pending"}
    counts = json.loads(found[0].summary or "{}")
    assert counts["defaulted"] == 1 and counts["kept"] == counts["items"] > 4

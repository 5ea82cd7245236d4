"""The access-review pages through Streamlit's AppTest, signed in at a real local OpenID
provider: an admin defines and starts a campaign, decides an item on the Reviews page with the
evidence in view, closes the campaign; the auditor cuts the evidence pack, which verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from audit.checkpoint import generate_keypair, load_private_key
from audit.engine import make_engine
from audit.proved import verify
from audit.schema import events_table
from audit.sealer import seal_pending
from audit.settings import load_settings
from tests.support.console_helpers import console, signed_in, submit_code

CAMPAIGNS = "console/pages/review_campaigns.py"
REVIEWS = "console/pages/reviews.py"
EVIDENCE = "console/pages/review_evidence.py"


@pytest.fixture
def engine(data_dir: Path) -> Engine:
    settings = load_settings()
    generate_keypair(settings.signing_key_path, settings.public_key_path)
    return make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")


def enrolled(oidc: str, sub: str, page: str | None = None) -> AppTest:
    at = signed_in(console(oidc), oidc, sub).run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    return at.switch_page(page).run() if page else at


def labelled(widgets: Any, label: str) -> Any:
    return next(w for w in widgets if w.label == label)


def actions(engine: Engine, prefix: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.id)).mappings().all()
    return [dict(r) for r in rows if r["action"].startswith(prefix)]


def test_admin_starts_reviews_closes_and_the_auditor_cuts_a_verified_pack(
        oidc: str, engine: Engine) -> None:
    enrolled(oidc, "sam.support")  # a requester Gatehouse has seen: a role holder
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    assert not ada.exception
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("revoke")
    labelled(ada.button, "Check").click().run()
    assert "1 item, 1 person under review" in ada.info[0].value
    assert "up to **1 person** lose their access" in ada.warning[0].value
    assert not [b for b in ada.button if b.label == "Start campaign"]  # confirm first
    labelled(ada.checkbox, "I understand: up to 1 person could lose access").check().run()
    labelled(ada.button, "Start campaign").click().run()
    assert "Campaign 1 started." in ada.success[0].value

    ada.switch_page(REVIEWS).run()
    assert "Sam Support\\: requester" in ada.markdown[0].value  # literal(): escaped markup
    assert "reads **0**" in ada.markdown[1].value  # the evidence, in view
    assert "no customer\\-data access in 90 days" in ada.error[0].value
    labelled(ada.text_input, "Comment").input("moved to the engineering team")
    labelled(ada.button, "Revoke").click().run()
    assert "Revoke recorded for Sam Support\\: requester (campaign 1)." in ada.success[0].value
    assert "No access-review items wait for you." in ada.info[0].value

    ada.switch_page(CAMPAIGNS).run()
    labelled(ada.button, "Close now (defaults apply)").click().run()
    assert "Confirm:** Close campaign 1" in ada.info[-1].value  # nothing closed yet
    assert actions(engine, "review.campaign.closed") == []
    labelled(ada.button, "Confirm").click().run()
    assert "Campaign 1 closed: 1 item: 0 kept, 1 revoked" in ada.success[-1].value
    decided = actions(engine, "review.decided")
    assert [(e["actor_sub"], e["details"]["decision"]) for e in decided] == [
        ("ada.admin", "revoke")]

    settings = load_settings()
    seal_pending(engine, load_private_key(settings.signing_key_path), settings.checkpoint_dir)
    audrey = enrolled(oidc, "audrey.auditor", EVIDENCE)
    labelled(audrey.button, "Cut evidence pack").click().run()
    assert not audrey.exception and "1 items" in audrey.success[0].value
    assert [getattr(b, "label", None) for b in audrey.get("download_button")] == [
        "Download pack (JSON, proved)", "Download items (CSV)"]
    cut = audrey.session_state["review_pack"]
    public = load_private_key(settings.signing_key_path).public_key()
    assert verify(json.loads(cut.document), public).ok


def test_a_campaign_without_reviewers_is_refused_naming_the_field(
        oidc: str, engine: Engine) -> None:
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    labelled(ada.text_input, "Reviewers").input(" ")
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("keep")
    labelled(ada.button, "Check").click().run()
    assert "reviewers" in ada.error[0].value


def test_a_break_glass_item_shows_the_environment_evidence_not_a_persons(
        oidc: str, engine: Engine) -> None:
    enrolled(oidc, "alan.admin")
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    labelled(ada.multiselect, "What is reviewed").set_value(["breakglass"])
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("keep")
    labelled(ada.button, "Check").click().run()
    labelled(ada.button, "Start campaign").click().run()
    ada.switch_page(REVIEWS).run()
    assert "break\\-glass in production" in ada.markdown[0].value
    assert ada.markdown[1].value == "requests **0** · break-glass **0**"  # no person fields
    assert ada.caption[0].value.startswith("Evidence over the 90 days to ")


def test_a_reviewer_hands_an_item_to_another_admin(oidc: str, engine: Engine) -> None:
    enrolled(oidc, "sam.support")
    enrolled(oidc, "alan.admin")
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("keep")
    labelled(ada.button, "Check").click().run()
    labelled(ada.button, "Start campaign").click().run()
    ada.switch_page(REVIEWS).run()
    assert labelled(ada.selectbox, "Reviewer").value is not None
    labelled(ada.text_input, "Reason").input("Alan leads the billing team")
    labelled(ada.button, "Hand over").click().run()
    assert not ada.exception
    assert "Sam Support\\: requester (campaign 1) handed over to Alan Admin." in \
        ada.success[0].value
    assert "No access-review items wait for you." in ada.info[0].value
    handed = actions(engine, "review.reassigned")
    assert [(e["actor_sub"], e["reason"]) for e in handed] == [
        ("ada.admin", "Alan leads the billing team")]


def test_a_campaign_with_a_later_start_shows_as_scheduled(oidc: str, engine: Engine) -> None:
    enrolled(oidc, "sam.support")
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    start = labelled(ada.date_input, "Start date (UTC; today starts now)")
    due = labelled(ada.date_input, "Due date (UTC, end of day)")
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("keep")
    start.set_value(due.value + timedelta(days=1))
    labelled(ada.button, "Check").click().run()
    assert "**starts_at**: must be before the due date" in ada.error[0].value
    later = datetime.now(UTC).date() + timedelta(days=3)
    labelled(ada.date_input, "Start date (UTC; today starts now)").set_value(later)
    labelled(ada.button, "Check").click().run()
    assert f"starts {later:%Y-%m-%d} 00:00 UTC" in ada.info[0].value
    labelled(ada.button, "Start campaign").click().run()
    assert not ada.exception
    assert f"Campaign 1 scheduled: starts {later:%Y-%m-%d} 00:00 UTC." in ada.success[0].value
    card = next(m.value for m in ada.markdown if m.value.startswith("**1."))
    assert f"· scheduled · starts {later:%Y-%m-%d} 00:00 UTC ·" in card
    assert any(c.value.startswith("Scheduled: it opens at its start") for c in ada.caption)
    assert [e["action"] for e in actions(engine, "review.campaign.")] == [
        "review.campaign.scheduled"]
    ada.switch_page(REVIEWS).run()
    assert "No access-review items wait for you." in ada.info[0].value


def test_the_default_revoke_confirmation_counts_who_is_in_scope_when_it_shows(
        oidc: str, engine: Engine) -> None:
    enrolled(oidc, "sam.support")
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("revoke")
    labelled(ada.button, "Check").click().run()
    assert "up to **1 person** lose their access" in ada.warning[0].value
    labelled(ada.checkbox, "I understand: up to 1 person could lose access").check().run()
    enrolled(oidc, "sky.support")  # signs in as support before Ada starts the campaign
    ada.run()
    assert "2 items, 2 people under review" in ada.info[0].value
    assert "up to **2 people** lose their access" in ada.warning[0].value
    assert [c.label for c in ada.checkbox if c.label.startswith("I understand")] == [
        "I understand: up to 2 people could lose access"]
    assert not [b for b in ada.button if b.label == "Start campaign"]  # tick the new number
    labelled(ada.checkbox, "I understand: up to 2 people could lose access").check().run()
    labelled(ada.button, "Start campaign").click().run()
    assert "Campaign 1 started." in ada.success[0].value
    started = actions(engine, "review.campaign.started")
    assert [(e["outcome"], e["details"]["people"]) for e in started] == [("success", 2)]


def test_an_admin_cancels_a_running_campaign_with_a_reason_and_confirms(
        oidc: str, engine: Engine) -> None:
    enrolled(oidc, "sam.support")
    ada = enrolled(oidc, "ada.admin", CAMPAIGNS)
    labelled(ada.radio, "Items nobody reviewed by the due date").set_value("keep")
    labelled(ada.button, "Check").click().run()
    labelled(ada.button, "Start campaign").click().run()
    labelled(ada.button, "Cancel campaign").click().run()
    assert "**reason**: must be 3 to 500 characters" in ada.error[0].value
    assert not [b for b in ada.button if b.label == "Confirm"]  # nothing to confirm
    labelled(ada.text_input, "Reason for cancelling").input("scope should have been auditors")
    labelled(ada.button, "Cancel campaign").click().run()
    confirm = ada.info[-1].value.replace("\\", "")  # literal(): the markup escapes undone
    assert confirm.startswith("**Confirm:** Cancel campaign 1 (Access review")
    assert "the decisions made stay recorded and are not applied (0 kept, 0 revoked); no " \
           "default for the 1 undecided item. Reason: scope should have been auditors" in confirm
    labelled(ada.button, "Confirm").click().run()
    assert not ada.exception
    assert "Campaign 1 cancelled: 0 decisions stay recorded" in ada.success[0].value
    card = next(m.value for m in ada.markdown if m.value.startswith("**1."))
    assert "· cancelled ·" in card
    assert "Cancelled" in ada.warning[0].value and \
        "scope should have been auditors" in ada.warning[0].value
    assert not [b for b in ada.button if b.label in ("Close now (defaults apply)",
                                                     "Cancel campaign")]
    cancelled = actions(engine, "review.campaign.cancelled")
    assert [(e["outcome"], e["reason"]) for e in cancelled] == [
        ("denied", "reason: must be 3 to 500 characters"),
        ("success", "scope should have been auditors")]

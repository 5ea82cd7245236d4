"""Access reviews in a real browser, beyond the main journey (test_access_review.py): a
reviewer hands an item to another reviewer, who then finds it under My reviews; an admin
cancels a scheduled campaign from its card and a running one, each with a reason, a fresh code
and a confirmation. One console for the module; the scene is set through the services and
every step a person takes happens in the browser, with exactly its events in the log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from access.reviews import campaigns, decisions
from access.schema import ReviewItem
from tests.e2e.backstage import Backstage, backstage_for
from tests.e2e.conftest import ROOT, screenshot, wait_for_app
from tests.e2e.flows import expand, open_page


@pytest.fixture(scope="module")
def shared(module_consoles: tuple[Callable[..., str], Path],
           idp: str) -> Iterator[tuple[str, Backstage]]:
    """One console for the module, with Sam and Sky (support), Ada and Alan (admins)."""
    start, root = module_consoles
    url = start(ROOT / "streamlit_app.py")
    with pytest.MonkeyPatch.context() as patch:
        stage = backstage_for(url, root, idp, patch)
        for sub in ("sam.support", "sky.support", "ada.admin", "alan.admin"):
            stage.enroll(sub)
        yield url, stage
        stage.gh.engine.dispose()


@pytest.fixture
def console_url(shared: tuple[str, Backstage]) -> str:
    return shared[0]


@pytest.fixture
def stage(shared: tuple[str, Backstage]) -> Backstage:
    return shared[1]


def start(stage: Backstage, **draft: object) -> int:
    """A campaign Ada defined (the scene, set through the service)."""
    plan = campaigns.CampaignDraft(**{  # type: ignore[arg-type]
        "name": "Support roles Q1", "scopes": ["role:requester"], "default_decision": "keep",
        "due_at": stage.gh.now() + timedelta(days=14), **draft})
    people = campaigns.preview(stage.gh, stage.principal("ada.admin"), plan).people
    return campaigns.start(stage.gh, stage.principal("ada.admin"), plan, people)


def item_of(stage: Backstage, campaign_id: int, label: str) -> int:
    with stage.gh.read() as db:
        return db.execute(select(ReviewItem.id).where(
            ReviewItem.campaign_id == campaign_id, ReviewItem.label == label)).scalar_one()


def card(page: Page, key: str) -> Locator:
    """The keyed container `key` (a review item's or a campaign's card)."""
    found = page.locator(f".st-key-{key}")
    expect(found).to_have_count(1)
    return found


def hand_over_to(page: Page, item: Locator, reviewers: list[str], choice: str) -> None:
    """In `item`'s hand-over box, see exactly `reviewers` offered and pick `choice` (retried:
    a click that lands while the page reruns leaves the list shut)."""
    expand(item, "Hand over to another reviewer")
    combo = item.get_by_role("combobox", name="Reviewer")
    for _ in range(3):
        combo.click()
        try:
            expect(page.get_by_role("option")).to_have_text(reviewers, timeout=3_000)
            page.get_by_role("option", name=choice, exact=True).click(timeout=3_000)
            wait_for_app(page)
            expect(combo).to_have_value(choice)
            return
        except (AssertionError, PlaywrightTimeout):
            page.keyboard.press("Escape")
    raise AssertionError(f"{choice} never showed among the reviewers")


def confirm(page: Page) -> None:
    """Press the one Confirm, and wait until the confirmation has gone (the rerun after the
    action keeps the last screen's elements until it reaches them)."""
    button = page.get_by_role("button", name="Confirm", exact=True)
    expect(button).to_have_count(1)
    button.click()
    wait_for_app(page)
    expect(button).to_have_count(0)


def shot(page: Page, shown: Locator, name: str) -> None:
    """A screenshot with `shown` in view (the main area scrolls, not the page)."""
    shown.scroll_into_view_if_needed()
    screenshot(page, name)


def test_a_reviewer_hands_an_item_to_another_reviewer_who_then_finds_it_under_my_reviews(
        page: Page, browser: Browser, console_url: str, stage: Backstage) -> None:
    campaign_id = start(stage, reviewers="ada.admin alan.admin sky.support")
    sams = item_of(stage, campaign_id, "Sam Support: requester")
    skys = item_of(stage, campaign_id, "Sky Support: requester")
    stage.sign_in(page, console_url, "ada.admin")
    stage.age_step_up("ada.admin")
    open_page(page, "My reviews")

    # Sky's own item can go to Alan only: never to Sky, never back to Ada
    hand_over_to(page, card(page, f"review_item_{skys}"), ["Alan Admin"], "Alan Admin")
    sam = card(page, f"review_item_{sams}")
    hand_over_to(page, sam, ["Alan Admin", "Sky Support"], "Sky Support")
    sam.get_by_label("Reason", exact=True).fill("Sky runs the billing rota Sam is on")
    shot(page, sam, "review-handover-1-chosen")
    before = stage.last_event_id()
    sam.get_by_role("button", name="Hand over", exact=True).click()
    wait_for_app(page)
    expect(sam.get_by_text(f"Hand Sam Support: requester (campaign {campaign_id}) to Sky "
                           "Support: this needs a fresh code")).to_be_visible()
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(sam.get_by_text(f"Confirm: Hand Sam Support: requester (campaign {campaign_id}) to "
                           "Sky Support")).to_be_visible()
    shot(page, sam, "review-handover-2-confirm")
    assert stage.actions(after=before) == ["auth.mfa.step_up"]  # nothing handed over yet
    confirm(page)
    done = page.get_by_text(f"Sam Support: requester (campaign {campaign_id}) handed over to "
                            "Sky Support.")
    expect(done).to_be_visible()
    expect(page.locator(f".st-key-review_item_{sams}")).to_have_count(0)  # no longer Ada's
    expect(card(page, f"review_item_{skys}")).to_be_visible()
    shot(page, done, "review-handover-3-handed")
    handed = stage.events("review.", after=before)
    assert [(e["action"], e["outcome"], e["actor_sub"], e["reason"], e["details"]["reviewer"])
            for e in handed] == [
        ("review.reassigned", "success", "ada.admin", "Sky runs the billing rota Sam is on",
         stage.principal("sky.support").user_id)]

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    sky = context.new_page()  # Sky, in her own browser
    stage.sign_in(sky, console_url, "sky.support")
    open_page(sky, "My reviews")
    theirs = card(sky, f"review_item_{sams}")
    expect(theirs).to_contain_text("Sam Support: requester")
    expect(theirs).to_contain_text("Handed to you by Ada Admin: Sky runs the billing rota Sam "
                                   "is on")
    expect(sky.locator(f".st-key-review_item_{skys}")).to_have_count(0)  # never her own
    screenshot(sky, "review-handover-4-other-reviewer")
    context.close()


def test_an_admin_cancels_a_scheduled_and_a_running_campaign_with_a_reason_and_a_code(
        page: Page, console_url: str, stage: Backstage) -> None:
    later = start(stage, name="Support roles Q2", default_decision="revoke",
                  starts_at=stage.gh.now() + timedelta(days=3))
    running = start(stage, name="Break-glass review", scopes=["breakglass"],
                    reviewers="alan.admin")
    glass = item_of(stage, running, "break-glass in production")
    alan = replace(stage.principal("alan.admin"), step_up_at=stage.gh.now())
    decisions.revoke(stage.gh, alan, glass, "no emergency this quarter")
    stage.sign_in(page, console_url, "ada.admin")
    stage.age_step_up("ada.admin")
    open_page(page, "Access reviews")

    scheduled = card(page, f"campaign_{later}")
    expect(scheduled).to_contain_text(f"{later}. Support roles Q2 · scheduled")
    expect(scheduled).to_contain_text("In scope now: 2 items, 2 people; default revoke: up "
                                      "to 2 people lose access if nobody reviews them")
    shot(page, scheduled, "review-cancel-1-scheduled-card")
    before = stage.last_event_id()
    expand(scheduled, "Cancel this campaign")
    scheduled.get_by_role("button", name="Cancel campaign", exact=True).click()
    wait_for_app(page)  # no reason: refused at once, naming the field, before any code
    expect(scheduled.get_by_text("reason: must be 3 to 500 characters")).to_be_visible()
    scheduled.get_by_label("Reason for cancelling").fill("merged into the yearly review")
    scheduled.get_by_role("button", name="Cancel campaign", exact=True).click()
    wait_for_app(page)
    expect(scheduled.get_by_text(f"Cancel campaign {later} (Support roles Q2) before it "
                                 "opens. Reason: merged into the yearly review: this needs a "
                                 "fresh code")).to_be_visible()
    stage.enter_code(page, "ada.admin", "Confirm with code")
    wait_for_app(page)
    expect(scheduled.get_by_text(f"Confirm: Cancel campaign {later} (Support roles Q2) "
                                 "before it opens. Reason: merged into the yearly review")
           ).to_be_visible()
    shot(page, scheduled, "review-cancel-2-confirm")
    confirm(page)
    expect(scheduled.get_by_text(f"Campaign {later} cancelled before it opened.")
           ).to_be_visible()
    expect(scheduled).to_contain_text(f"{later}. Support roles Q2 · cancelled")
    expect(scheduled).to_contain_text("by Ada Admin before it opened: merged into the yearly "
                                      "review.")
    expect(scheduled.get_by_text("Cancel this campaign")).to_have_count(0)
    shot(page, scheduled, "review-cancel-3-scheduled-cancelled")

    active = card(page, f"campaign_{running}")
    expect(active).to_contain_text("1 of 1 items decided")
    expand(active, "Cancel this campaign")
    active.get_by_label("Reason for cancelling").fill("policy rewritten: review it afresh")
    active.get_by_role("button", name="Cancel campaign", exact=True).click()
    wait_for_app(page)  # the code is fresh: straight to the confirmation
    expect(active.get_by_text(f"Confirm: Cancel campaign {running} (Break-glass review): the "
                              "decisions made stay recorded and are not applied (0 kept, 1 "
                              "revoked); no default for the 0 undecided items. Reason: policy "
                              "rewritten: review it afresh")).to_be_visible()
    confirm(page)
    expect(active.get_by_text(f"Campaign {running} cancelled: 1 decision stays recorded, "
                              "nothing was applied.")).to_be_visible()
    expect(active).to_contain_text(f"{running}. Break-glass review · cancelled")
    expect(active).to_contain_text("0 kept and 1 revoked stay recorded, nothing applied; 0 "
                                   "items never decided.")
    shot(page, active, "review-cancel-4-running-cancelled")

    cancelled = stage.events(after=before)
    assert [(e["action"], e["outcome"], e["reason"], (e["details"] or {}).get("campaign_id"))
            for e in cancelled] == [
        ("review.campaign.cancelled", "denied", "reason: must be 3 to 500 characters", later),
        ("auth.mfa.step_up", "success", None, None),
        ("review.campaign.cancelled", "success", "merged into the yearly review", later),
        ("review.campaign.cancelled", "success", "policy rewritten: review it afresh", running)]
    assert stage.actions("review.applied") == []  # the revoke was recorded, never applied

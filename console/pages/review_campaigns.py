"""Access reviews (admins; auditors read): define a campaign (starting now, or scheduled for a
later start), follow its progress and overdue reviewers, close it, or cancel it (scheduled or
running) with a reason and a fresh code. A default of revoke asks to confirm how many people
could lose access, counted from the scope at that moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from access.authz import Action, allowed
from access.errors import GatehouseError
from access.principal import Principal
from access.reviews import campaigns, cancelling, closing
from access.reviews.queries import CampaignView, campaign_items
from access.reviews.queries import campaigns as all_campaigns
from access.reviews.scope import SCOPES
from console.errors import show_error
from console.formatting import when
from console.gate import page
from console.markup import literal
from console.step_up import Act, Ask, sensitive, show_result

gh, viewer = page(Action.REVIEWS_VIEW)
st.title("Access reviews")


def _draft() -> campaigns.CampaignDraft | None:
    """The definition form; the draft once submitted."""
    with st.form("campaign"):
        quarter = (gh.now().month - 1) // 3 + 1
        name = st.text_input("Name", value=f"Access review {gh.now():%Y} Q{quarter}")
        scopes = st.multiselect("What is reviewed", list(SCOPES), default=["role:requester"])
        left, right = st.columns(2)
        start = left.date_input("Start date (UTC; today starts now)", value=gh.now().date())
        due = right.date_input("Due date (UTC, end of day)",
                               value=gh.now().date() + timedelta(days=14))
        reviewers = left.text_input("Reviewers", value="admins",
                                     help='"admins", or the reviewers\' subjects, comma-separated')
        default = right.radio("Items nobody reviewed by the due date", ["keep", "revoke"],
                             index=None, help="Revoke takes access from everyone nobody "
                                              "reviewed")
        recur = left.selectbox("Recurrence", list(campaigns.RECURRENCE),
                                format_func=lambda m: campaigns.RECURRENCE[m], index=2)
        look_back = left.number_input("Evidence window (days)", 1, 730,
                                      gh.config.reviews.look_back_days)
        auto_apply = right.checkbox("Apply decisions automatically when it closes", value=True)
        if not st.form_submit_button("Check", type="primary"):
            return None
    end = datetime.combine(due if isinstance(due, date) else gh.now().date(), time(23, 59), UTC)
    return campaigns.CampaignDraft(name=name, scopes=scopes, due_at=end,
                                   default_decision=default or "", auto_apply=auto_apply,
                                   reviewers=reviewers, look_back_days=int(look_back),
                                   recur_months=int(recur), starts_at=_start_of(start))


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _people(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"


def _start_of(day: object) -> datetime | None:
    """Midnight UTC of a later day; None (now) for today or a day already past."""
    if not isinstance(day, date) or day <= gh.now().date():
        return None
    return datetime.combine(day, time(0, 0), UTC)


def _when(starts_at: datetime | None) -> str:
    return "starts now" if starts_at is None else f"starts {when(starts_at)}"


def _define() -> None:
    """The form, then the confirmation. What the confirmation counts is taken from the scope
    on every run, not when Check was pressed: a person who gained the role since counts, and
    a changed count needs a fresh tick (the checkbox is keyed by it)."""
    draft = _draft()
    if draft is not None:
        st.session_state["review_draft"] = draft
    draft = st.session_state.get("review_draft")
    if draft is None:
        return
    try:
        seen = campaigns.preview(gh, viewer, draft)
    except GatehouseError as exc:
        st.session_state.pop("review_draft", None)
        show_error(exc)
        return
    st.info(f"{_n(seen.items, 'item')}, {_people(seen.people)} under review; "
            f"{_when(draft.starts_at)}; due "
            f"{when(draft.due_at)}; unreviewed items: **{draft.default_decision}**.")
    confirm = None
    if draft.default_decision == "revoke":
        later = "" if draft.starts_at is None else \
            " (counted now; the scope is taken again when it opens)"
        st.warning(f"Default revoke: up to **{_people(seen.people)}** lose their access if "
                   f"nobody reviews them by the due date{later}.")
        if not st.checkbox(f"I understand: up to {_people(seen.people)} could lose access",
                           key=f"review_confirm_{seen.people}"):
            return
        confirm = seen.people
    if st.button("Start campaign", type="primary"):
        try:
            campaign_id = campaigns.start(gh, viewer, draft, confirm)
        except GatehouseError as exc:
            show_error(exc)
            return
        st.session_state.pop("review_draft", None)
        st.session_state["review_started"] = (campaign_id, draft.starts_at)
        st.rerun()


def _progress(c: CampaignView) -> None:
    """Where the campaign stands, in one place on its card."""
    if c.status == "scheduled":
        st.caption("Scheduled: it opens at its start, when its items and their evidence are "
                   "computed and the reviewers are notified")
        if c.in_scope is not None:
            risk = f"; default revoke: up to {_people(c.in_scope.people)} lose access if " \
                "nobody reviews them" if c.default_decision == "revoke" else ""
            st.caption(f"In scope now: {_n(c.in_scope.items, 'item')}, "
                       f"{_people(c.in_scope.people)}{risk}")
    elif c.status == "cancelled":
        st.warning(_cancelled_line(c), icon=":material/cancel:")
    elif c.items:
        st.progress(c.decided / c.items, text=f"{c.decided} of {c.items} items decided")
    else:
        st.caption("No items: nothing in scope when it started")
    if c.status == "closed" and c.counts:
        st.write(closing.in_words(c.counts, c.default_decision))


def _cancelled_line(c: CampaignView) -> str:
    said = f"Cancelled {when(c.ended_at)} by {literal(c.ended_by)}"
    if not c.items:
        return f"{said} before it opened: {literal(c.cancel_reason)}."
    kept, revoked = c.counts.get("kept", 0), c.counts.get("revoked", 0)
    return (f"{said}: {literal(c.cancel_reason)}. {kept} kept and {revoked} revoked stay "
            f"recorded, nothing applied; {_n(c.items - kept - revoked, 'item')} never "
            "decided.")


def _closed(c: CampaignView) -> Act:
    def act(who: Principal) -> str:
        return f"Campaign {c.id} closed: " + closing.in_words(
            closing.close_campaign(gh, who, c.id), c.default_decision)
    return act


def _close(c: CampaignView) -> None:
    """Close an open campaign now: what the defaults will do, a fresh code, Confirm."""
    key = f"close_{c.id}"
    if c.status != "open":
        show_result(key)  # the card of the campaign just closed
        return
    ask = None
    if st.button("Close now (defaults apply)", key=f"close_button_{c.id}"):
        try:
            what = closing.check(gh, viewer, c.id)
            ask = Ask(literal(what.summary), _closed(c), confirm=True, needs_code=True)
        except GatehouseError as exc:
            show_error(exc)
    sensitive(gh, viewer, key, ask)


def _cancelled(campaign_id: int, reason: str) -> Act:
    def act(who: Principal) -> str:
        done = cancelling.cancel_campaign(gh, who, campaign_id, reason)
        if done.status == "scheduled":
            return f"Campaign {campaign_id} cancelled before it opened."
        stays = "stays" if done.kept + done.revoked == 1 else "stay"
        return f"Campaign {campaign_id} cancelled: {done.decided} {stays} recorded, nothing " \
               "was applied."
    return act


def _cancel(c: CampaignView) -> None:
    """Cancel a scheduled or open campaign: a reason, what it will do, a fresh code, Confirm."""
    key = f"cancel_{c.id}"
    if c.status not in ("scheduled", "open"):
        show_result(key)  # the card of the campaign just cancelled
        return
    ask = None
    with st.expander("Cancel this campaign", key=f"cancel_box_{c.id}"):
        reason = st.text_input("Reason for cancelling", key=f"cancel_reason_{c.id}")
        if st.button("Cancel campaign", key=f"cancel_button_{c.id}"):
            try:
                what = cancelling.check(gh, viewer, c.id, reason)
                ask = Ask(f"{literal(what.summary)}. Reason: {literal(reason.strip())}",
                          _cancelled(c.id, reason), confirm=True, needs_code=True)
            except GatehouseError as exc:
                show_error(exc)
    sensitive(gh, viewer, key, ask)


_ITEM_COLUMNS = {"item": st.column_config.NumberColumn(width="small"),
                 "recommendation": st.column_config.TextColumn("advice", width="small"),
                 "decision": st.column_config.TextColumn(width="small"),
                 "by": st.column_config.TextColumn(width=150)}


def _items(c: CampaignView) -> None:
    if not c.items:
        return  # none before it opens (or if it was cancelled before)
    with st.expander("Items"):
        found, changes = campaign_items(gh, viewer, c.id)
        never = "not decided" if c.status == "cancelled" else "pending"
        # no None on screen: a blank is "nothing yet"; `by` is wide enough for
        # "Gatehouse (default)", the wordy columns take what is left and wrap on hover
        st.dataframe(pd.DataFrame([{
            "item": i.id, "subject": i.label, "recommendation": i.recommendation,
            "reason": i.reason, "decision": never if i.status == "pending" else i.status,
            "by": i.decided_by or "", "comment": i.comment or "", "applied": i.applied or ""}
            for i in found]), hide_index=True, column_config=_ITEM_COLUMNS)
        for change in changes:
            st.caption(f"IdP change still to make: {literal(change)}")


found_campaigns = all_campaigns(gh, viewer)
manages = allowed(viewer, Action.REVIEWS_MANAGE)
if manages:
    with st.expander("New campaign", expanded=not found_campaigns):
        _define()
    started = st.session_state.pop("review_started", None)
    if started:
        st.success(f"Campaign {started[0]} " + ("started." if started[1] is None else
                                                 f"scheduled: {_when(started[1])}."))

for c in found_campaigns:
    # keyed: a card keeps its elements when a new campaign appears above it
    with st.container(border=True, key=f"campaign_{c.id}"):
        st.markdown(f"**{c.id}. {literal(c.name)}** · {c.status} · starts "
                    f"{when(c.starts_at)} · due {when(c.due_at)} · "
                    f"{', '.join(c.scopes)} · default {c.default_decision} · "
                    f"{campaigns.RECURRENCE.get(c.recur_months, '')}")
        _progress(c)
        st.caption(f"Reviewers: {literal(', '.join(c.reviewers))}")
        if c.overdue_reviewers:
            st.warning(f"Overdue reviewers: {literal(', '.join(c.overdue_reviewers))}")
        if manages:
            _close(c)
            _cancel(c)
        _items(c)

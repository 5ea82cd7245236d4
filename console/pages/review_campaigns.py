"""Access reviews (admins; auditors read): define a campaign (starting now, or scheduled for a
later start), follow its progress and overdue reviewers, close it. A default of revoke asks to
confirm how many people could lose access."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from access.authz import Action, allowed
from access.errors import GatehouseError
from access.reviews import campaigns, closing
from access.reviews.queries import campaign_items
from access.reviews.queries import campaigns as all_campaigns
from access.reviews.scope import SCOPES
from console.errors import show_error
from console.gate import page
from console.markup import literal

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


def _start_of(day: object) -> datetime | None:
    """Midnight UTC of a later day; None (now) for today or a day already past."""
    if not isinstance(day, date) or day <= gh.now().date():
        return None
    return datetime.combine(day, time(0, 0), UTC)


def _when(starts_at: datetime | None) -> str:
    return "starts now" if starts_at is None else f"starts {starts_at:%Y-%m-%d %H:%M} UTC"


def _define() -> None:
    draft = _draft()
    if draft is not None:
        try:
            st.session_state["review_draft"] = (draft, campaigns.preview(gh, viewer, draft))
        except GatehouseError as exc:
            st.session_state.pop("review_draft", None)
            show_error(exc)
    held = st.session_state.get("review_draft")
    if held is None:
        return
    draft, seen = held
    st.info(f"{seen.items} items, {seen.people} people under review; "
            f"{_when(draft.starts_at)}; due "
            f"{draft.due_at:%Y-%m-%d %H:%M} UTC; unreviewed items: **{draft.default_decision}**.")
    confirm = None
    if draft.default_decision == "revoke":
        st.warning(f"Default revoke: up to **{seen.people} people** lose their access if "
                   "nobody reviews them by the due date.")
        if not st.checkbox(f"I understand: up to {seen.people} people could lose access",
                           key="review_confirm"):
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


def _counts(counts: dict[str, int]) -> str:
    return (f"{counts.get('items', 0)} items: {counts.get('kept', 0)} kept, "
            f"{counts.get('revoked', 0)} revoked ({counts.get('defaulted', 0)} by default), "
            f"{counts.get('applied', 0)} applied")


if allowed(viewer, Action.REVIEWS_MANAGE):
    with st.expander("New campaign", expanded=not all_campaigns(gh, viewer)):
        _define()
    started = st.session_state.pop("review_started", None)
    if started:
        st.success(f"Campaign {started[0]} " + ("started." if started[1] is None else
                                                 f"scheduled: {_when(started[1])}."))

for c in all_campaigns(gh, viewer):
    # keyed: a card keeps its elements when a new campaign appears above it
    with st.container(border=True, key=f"campaign_{c.id}"):
        st.markdown(f"**{c.id}. {literal(c.name)}** · {c.status} · starts "
                    f"{c.starts_at:%Y-%m-%d %H:%M} · due {c.due_at:%Y-%m-%d %H:%M} UTC · "
                    f"{', '.join(c.scopes)} · default {c.default_decision} · "
                    f"{campaigns.RECURRENCE.get(c.recur_months, '')}")
        if c.status == "scheduled":
            st.caption("Scheduled: it opens at its start, when its items and their evidence "
                       "are computed and the reviewers are notified")
        elif c.items:
            st.progress(c.decided / c.items, text=f"{c.decided} of {c.items} items decided")
        else:
            st.caption("No items: nothing in scope when it started")
        st.caption(f"Reviewers: {literal(', '.join(c.reviewers))}")
        if c.overdue_reviewers:
            st.warning(f"Overdue reviewers: {literal(', '.join(c.overdue_reviewers))}")
        if c.counts:
            st.write(_counts(c.counts))
        if c.status == "open" and allowed(viewer, Action.REVIEWS_MANAGE) and \
                st.button("Close now (defaults apply)", key=f"close_{c.id}"):
            try:
                counts = closing.close_campaign(gh, viewer, c.id)
                st.session_state["review_closed"] = (c.id, counts)
                st.rerun()
            except GatehouseError as exc:
                show_error(exc)
        closed = st.session_state.get("review_closed")
        if closed and closed[0] == c.id:  # shown once, beside the campaign it closed
            del st.session_state["review_closed"]
            st.success(f"Campaign {c.id} closed: " + _counts(closed[1]))
        with st.expander("Items"):
            found, changes = campaign_items(gh, viewer, c.id)
            st.dataframe(pd.DataFrame([{
                "item": i.id, "subject": i.label, "recommendation": i.recommendation,
                "reason": i.reason, "decision": i.status, "by": i.decided_by,
                "comment": i.comment, "applied": i.applied} for i in found]), hide_index=True)
            for change in changes:
                st.caption(f"IdP change still to make: {literal(change)}")

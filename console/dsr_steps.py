"""The steps of one data-subject request on the DSR page: what its kind and state allow, each
through `console.step_up.sensitive` (so a step that needs a fresh code asks for one, and every
result shows by its control after the page reruns)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from access.authz import Action, allowed
from access.context import Gatehouse
from access.dsr import package, rights
from access.dsr import requests as dsr
from access.principal import Principal
from access.text import MAX_REASON
from console.formatting import when
from console.markup import literal
from console.step_up import Ask, keep, kept, results, sensitive, show_result

_DOWNLOAD = "dsr_download"
_PACKAGE = "dsr_package"


def steps(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    """The chosen request's facts and the controls for its next steps."""
    _facts(view)
    officer = allowed(principal, Action.DSR_PROGRESS)
    if officer and view.status == "open":
        _identity(gh, principal, view)
        _extend(gh, principal, view)
    if officer and view.status == "open":
        _BY_KIND[view.kind](gh, principal, view)
    if view.status == "awaiting_approval" and allowed(principal, Action.DSR_APPROVE):
        _approve(gh, principal, view)
    if officer and view.kind in ("restriction", "objection") and view.outcome in (
            "restricted", "upheld"):
        _lift(gh, principal, view)
    for key in results("dsr_"):  # a step whose control its own success took away
        show_result(key)
    _downloads(view)


def _facts(view: dsr.DsrView) -> None:
    st.subheader(f"Request {view.id}: {view.kind} ({view.jurisdiction.upper()})")
    left, middle, right = st.columns(3)
    left.metric("Due", f"{view.due_at:%Y-%m-%d}", help=f"received {view.received_at:%Y-%m-%d}")
    middle.metric("Clock", str(view.clock))
    right.metric("Identity", view.identity_state)
    st.caption(f"Subject {literal(view.subject_hint)} · status "
               f"{view.status.replace('_', ' ')} · filed by {literal(view.filed_by)} · "
               f"assignee {literal(view.assignee)}"
               + (f" · extended: {literal(view.extension_reason)}" if view.extended else "")
               + (f" · outcome: {literal(view.outcome)}" if view.outcome else ""))
    if view.evidence:
        st.markdown("**Evidence kept on the request**")
        st.json(view.evidence, expanded=True)


def _identity(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if view.identity_state == "verified":
        return
    with st.form(f"dsr_verify_{view.id}"):
        method = st.text_input("How the requester's identity was verified", max_chars=MAX_REASON)
        asked = st.form_submit_button("Record identity as verified")
    sensitive(gh, principal, f"dsr_verify_{view.id}", Ask(
        f"Record the identity of request {view.id} as verified",
        lambda who: _then("Identity recorded as verified.", dsr.verify_identity, gh, who,
                          view.id, method)) if asked else None)


def _extend(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if view.extended:
        return
    with st.expander("Extend (once, while the first period runs)"), \
            st.form(f"dsr_extend_{view.id}"):
        reason = st.text_input("Reason for the extension", max_chars=MAX_REASON)
        asked = st.form_submit_button("Extend")
    sensitive(gh, principal, f"dsr_extend_{view.id}", Ask(
        f"Extend request {view.id}",
        lambda who: f"Now due {dsr.extend(gh, who, view.id, reason):%Y-%m-%d}.")
        if asked else None)


def _then(message: str, call: Callable[..., None], *args: Any) -> str:
    """Run `call(*args)`, then say `message`: a step whose service returns nothing."""
    call(*args)
    return message


def _access(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    prepare = st.button("Prepare the access package for review", key=f"dsr_prepare_{view.id}")
    sensitive(gh, principal, f"dsr_prepare_{view.id}", Ask(
        f"Read the subject's data for request {view.id}",
        lambda who: _kept_package(view.id, package.prepare(gh, who, view.id))
    ) if prepare else None)
    content = kept(_PACKAGE)
    if isinstance(content, dict) and content.get("request", {}).get("id") == view.id:
        _review(gh, principal, view, content)


def _consultations(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The consultations as the officer reads them: UTC minutes, the long justification last
    so the short columns fit beside the sidebar (the item names are in the Withhold picker)."""
    return pd.DataFrame([{"date (UTC)": when(datetime.fromisoformat(r["date"]))[:-4],
                          **{k: r.get(k) for k in ("action", "scope", "ticket", "staff", "role",
                                                "justification")}} for r in rows],
                        columns=["date (UTC)", "action", "scope", "ticket", "staff", "role",
                                 "justification"])


def _kept_package(dsr_id: int, content: dict[str, Any]) -> str:
    keep(_PACKAGE, content)
    return f"Package for request {dsr_id} prepared: review it below."


def _review(gh: Gatehouse, principal: Principal, view: dsr.DsrView,
            content: dict[str, Any]) -> None:
    st.markdown("**Personal data**")
    st.dataframe(pd.DataFrame([{"customer": r["customer_id"], **r["fields"]}
                               for r in content["personal_data"]]), hide_index=True)
    st.markdown("**Staff consultations** (role and pseudonym, never the person)")
    st.dataframe(_consultations(content["consultations"]), hide_index=True)
    if content["withheld"]:
        st.markdown("**Withheld**")
        st.dataframe(pd.DataFrame(content["withheld"]), hide_index=True)
    items = [i for r in content["personal_data"] for i in r["items"]] + \
        [c["item"] for c in content["consultations"]]
    with st.form(f"dsr_redact_{view.id}"):
        item = st.selectbox("Withhold", items)
        reason = st.text_input("Reason for withholding it", max_chars=MAX_REASON)
        asked = st.form_submit_button("Withhold")
    sensitive(gh, principal, f"dsr_redact_{view.id}", Ask(
        f"Withhold {literal(str(item))} from request {view.id}",
        lambda who: _withheld(gh, who, view.id, str(item), reason)) if asked else None)
    release = st.button("Release the package", type="primary", key=f"dsr_release_{view.id}")
    sensitive(gh, principal, f"dsr_release_{view.id}", Ask(
        f"Release the access package of request {view.id} to the verified requester",
        lambda who: _released(gh, who, view.id)) if release else None)


def _withheld(gh: Gatehouse, who: Principal, dsr_id: int, item: str, reason: str) -> str:
    package.redact(gh, who, dsr_id, item, reason)
    keep(_PACKAGE, package.prepare(gh, who, dsr_id))
    return f"Withheld {literal(item)}: the package below shows it withheld."


def _released(gh: Gatehouse, who: Principal, dsr_id: int) -> str:
    released = package.release(gh, who, dsr_id)
    keep(_DOWNLOAD, (dsr_id, {f"dsr-{dsr_id}.json": released.json,
                              f"dsr-{dsr_id}.html": released.html}))
    return f"Released request {dsr_id} (SHA-256 {released.sha256[:16]}…)."


def _rectification(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    with st.form(f"dsr_rectify_{view.id}"):
        field = st.selectbox("Field", ["full_name", "email", "phone", "job_title"])
        value = st.text_input("Corrected value", max_chars=rights.MAX_VALUE)
        asked = st.form_submit_button("Propose the correction")
    sensitive(gh, principal, f"dsr_rectify_{view.id}", Ask(
        f"Propose correcting {field} for request {view.id}",
        lambda who: _then("Proposed: a second person approves it.",
                          rights.propose_rectification, gh, who, view.id,
                          {str(field): value})) if asked else None)


def _erasure(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    asked = st.button("Propose erasure", key=f"dsr_erase_{view.id}")
    sensitive(gh, principal, f"dsr_erase_{view.id}", Ask(
        f"Propose erasing the subject's data for request {view.id}",
        lambda who: _then("Proposed: an admin approves it.", rights.propose_erasure, gh,
                          who, view.id)) if asked else None)


def _restriction(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    with st.form(f"dsr_restrict_{view.id}"):
        reason = st.text_input("Reason for restricting", max_chars=MAX_REASON)
        asked = st.form_submit_button("Restrict the subject's data")
    sensitive(gh, principal, f"dsr_restrict_{view.id}", Ask(
        f"Restrict the subject of request {view.id}",
        lambda who: _then("Restricted.", rights.restrict, gh, who, view.id, reason))
        if asked else None)


def _portability(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    asked = st.button("Export the subject's data", type="primary", key=f"dsr_export_{view.id}")
    sensitive(gh, principal, f"dsr_export_{view.id}", Ask(
        f"Export the data of request {view.id} for the verified requester",
        lambda who: _exported(gh, who, view.id)) if asked else None)


def _exported(gh: Gatehouse, who: Principal, dsr_id: int) -> str:
    portable = rights.portability(gh, who, dsr_id)
    keep(_DOWNLOAD, (dsr_id, {f"dsr-{dsr_id}.json": portable.json,
                              f"dsr-{dsr_id}.csv": portable.csv}))
    return f"Exported request {dsr_id}."


def _objection(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    st.caption(f"Grounds: {literal(view.grounds)}")
    with st.form(f"dsr_object_{view.id}"):
        decision = st.radio("Decision", ["upheld", "overridden"], horizontal=True)
        reason = st.text_input("Reason", max_chars=MAX_REASON)
        asked = st.form_submit_button("Decide")
    sensitive(gh, principal, f"dsr_object_{view.id}", Ask(
        f"Decide the objection of request {view.id}: {decision}",
        lambda who: _then(f"Objection {decision}.", rights.decide_objection, gh, who,
                          view.id, decision == "upheld", reason))
        if asked else None)


def _approve(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    what = "erase the subject's data" if view.pending_action == "erase" else \
        "apply the correction"
    asked = st.button(f"Approve: {what}", type="primary", key=f"dsr_approve_{view.id}")
    sensitive(gh, principal, f"dsr_approve_{view.id}", Ask(
        f"Approve request {view.id}: {what}",
        lambda who: _then(f"Approved: request {view.id} is done.", rights.approve, gh, who,
                          view.id)) if asked else None)


def _lift(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    with st.expander("Lift the restriction"), st.form(f"dsr_lift_{view.id}"):
        reason = st.text_input("Reason for lifting", max_chars=MAX_REASON)
        asked = st.form_submit_button("Lift")
    sensitive(gh, principal, f"dsr_lift_{view.id}", Ask(
        f"Lift the restriction of request {view.id}",
        lambda who: _then("Lifted.", rights.lift_restriction, gh, who, view.id, reason))
        if asked else None)


def _downloads(view: dsr.DsrView) -> None:
    held = kept(_DOWNLOAD)
    if not isinstance(held, tuple) or held[0] != view.id:
        return
    for name, data in held[1].items():
        st.download_button(f"Download {name}", data, file_name=name, key=f"dl_{name}")


_BY_KIND = {"access": _access, "rectification": _rectification, "erasure": _erasure,
            "restriction": _restriction, "portability": _portability,
            "objection": _objection}

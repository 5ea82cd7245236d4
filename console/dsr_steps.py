"""The steps of one data-subject request on the DSR page: what its kind and state allow, each
through `console.step_up.sensitive` (so a step that needs a fresh code asks for one, and every
result shows by its control after the page reruns; a step whose success took its control
away shows its result under the request's facts, where the changed state is)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from access.authz import Action, allowed
from access.context import Gatehouse
from access.dsr import assignment, package, rights, subject
from access.dsr import requests as dsr
from access.principal import Principal
from access.text import MAX_REASON
from console.formatting import when
from console.markup import literal
from console.step_up import Act, Ask, keep, kept, results, sensitive, show_result

_DOWNLOAD = "dsr_download"
_PACKAGE = "dsr_package"


def steps(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    """The chosen request's facts and the controls for its next steps."""
    _facts(view)
    _hold(view)
    if view.rejection:
        st.warning(f"Rejected by {literal(view.rejection)}. Nothing was changed; propose "
                   "again once it is settled.", icon=":material/undo:")
    gone = st.container()  # results of steps whose control their own success took away
    _evidence(view)
    officer = allowed(principal, Action.DSR_PROGRESS)
    if officer and view.status != "closed":
        _assign(gh, principal, view)
    if officer and view.status == "open":
        _identity(gh, principal, view)
        _extend(gh, principal, view)
        _BY_KIND[view.kind](gh, principal, view)
    if view.status == "awaiting_approval" and allowed(principal, Action.DSR_APPROVE):
        _approve(gh, principal, view)
    if officer and view.held and view.outcome in ("restricted", "upheld"):
        _lift(gh, principal, view)
    with gone:
        for key in results(_key(view, "")):
            show_result(key)
    _downloads(view)


def _key(view: dsr.DsrView, step: str) -> str:
    """The step's key (its form's and its pending action's): one per request and step."""
    return f"dsr_{view.id}_{step}"


def _facts(view: dsr.DsrView) -> None:
    st.subheader(f"Request {view.id}: {view.kind} ({view.jurisdiction.upper()})")
    left, middle, right = st.columns(3)
    left.metric("Due", f"{view.due_at:%Y-%m-%d}")
    middle.metric("Clock", str(view.clock))
    right.metric("Identity", view.identity_state)
    st.caption(" · ".join([
        f"Subject {literal(view.subject_hint)}", f"status {view.status.replace('_', ' ')}",
        f"received {view.received_at:%Y-%m-%d}", f"filed by {literal(view.filed_by)}",
        f"assigned to **{literal(view.assignee)}**",
        *([f"extended: {literal(view.extension_reason)}"] if view.extended else []),
        *([f"grounds: {literal(view.grounds)}"] if view.grounds else []),
        *([f"outcome: **{literal(view.outcome)}**"
           + (f" ({literal(view.outcome_reason)})" if view.outcome_reason else "")]
          if view.outcome else [])]))


def _hold(view: dsr.DsrView) -> None:
    if view.held:
        st.info("The subject's rows are held under this request (GDPR Art. 18/21): support "
                "sees them masked and cannot reveal or export them.", icon=":material/block:")


def _evidence(view: dsr.DsrView) -> None:
    if view.evidence:
        with st.expander("Evidence kept on the request"):
            st.table(pd.DataFrame([{"what": name.replace("_", " "), "value": _said(value)}
                                   for name, value in view.evidence.items()]),
                     hide_index=True)


def _said(value: object) -> str:
    """An evidence value in words: a mapping as 'key n, …', a list joined by commas."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    try:  # a time kept as ISO 8601 reads as the rest of the console's times
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _text_form(view: dsr.DsrView, step: str, submit: str, *labels: str,
               expander: str | None = None, limit: int = MAX_REASON
               ) -> tuple[bool, list[str]]:
    """A form of one-line texts (a reason, a method, corrected values) and its button, in an
    expander when one is named: whether it was submitted, and what was typed."""
    with st.expander(expander) if expander else st.container(), st.form(_key(view, step)):
        typed = [st.text_input(label, max_chars=limit) for label in labels]
        return st.form_submit_button(submit), typed


def _ask(gh: Gatehouse, principal: Principal, view: dsr.DsrView, step: str, asked: bool,
         summary: str, act: Act) -> None:
    """The step's action: run `act` on the click that `asked` (a fresh code first where the
    service wants one), else show its code form, confirmation or result."""
    sensitive(gh, principal, _key(view, step), Ask(summary, act) if asked else None)


def _then(message: str, call: Callable[..., None], *args: Any) -> str:
    """Run `call(*args)`, then say `message`: a step whose service returns nothing."""
    call(*args)
    return message


def _assign(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    names = {o.user_id: o.name for o in assignment.officers(gh, principal)
             if o.user_id != view.assignee_id}
    if not names:
        return
    with st.expander("Assign to another privacy officer"), \
            st.form(_key(view, "assign"), clear_on_submit=True):  # no stale reason after it
        to = st.selectbox("Privacy officer", list(names), format_func=names.__getitem__)
        reason = st.text_input("Reason (optional)", max_chars=MAX_REASON)
        asked = st.form_submit_button("Assign")
    _ask(gh, principal, view, "assign", asked,
         f"Assign request {view.id} to {literal(names.get(to, '?'))}",
         lambda who: f"Request {view.id} assigned to "
                     f"{literal(assignment.assign(gh, who, view.id, to, reason))}.")


def _identity(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if view.identity_state == "verified":
        return
    asked, (method,) = _text_form(view, "verify", "Record identity as verified",
                                  "How the requester's identity was verified")
    _ask(gh, principal, view, "verify", asked,
         f"Record the identity of request {view.id} as verified",
         lambda who: _then("Identity recorded as verified.", dsr.verify_identity, gh, who,
                           view.id, method))


def _extend(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if view.extended:
        return
    asked, (reason,) = _text_form(view, "extend", "Extend", "Reason for the extension",
                                  expander="Extend (once, while the first period runs)")
    _ask(gh, principal, view, "extend", asked, f"Extend request {view.id}",
         lambda who: f"Now due {dsr.extend(gh, who, view.id, reason):%Y-%m-%d}.")


def _access(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    prepare = st.button("Prepare the access package for review", key=_key(view, "prepare"))
    _ask(gh, principal, view, "prepare", prepare,
         f"Read the subject's data for request {view.id}",
         lambda who: _kept_package(view.id, package.prepare(gh, who, view.id)))
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
    withheld = {w["item"] for w in content["withheld"]}  # not offered twice
    items = [i for r in content["personal_data"] for i in r["items"] if i not in withheld] + \
        [c["item"] for c in content["consultations"] if c["item"] not in withheld]
    with st.form(_key(view, "redact"), clear_on_submit=True):  # no stale reason after it
        item = st.selectbox("Withhold", items)
        reason = st.text_input("Reason for withholding it", max_chars=MAX_REASON)
        asked = st.form_submit_button("Withhold")
    _ask(gh, principal, view, "redact", asked,
         f"Withhold {literal(str(item))} from request {view.id}",
         lambda who: _withheld(gh, who, view.id, str(item), reason))
    release = st.button("Release the package", type="primary", key=_key(view, "release"))
    _ask(gh, principal, view, "release", release,
         f"Release the access package of request {view.id} to the verified requester",
         lambda who: _released(gh, who, view.id))


def _withheld(gh: Gatehouse, who: Principal, dsr_id: int, item: str, reason: str) -> str:
    package.redact(gh, who, dsr_id, item, reason)
    keep(_PACKAGE, package.prepare(gh, who, dsr_id))
    return f"Withheld {literal(item)}: the package above shows it withheld."


def _released(gh: Gatehouse, who: Principal, dsr_id: int) -> str:
    released = package.release(gh, who, dsr_id)
    keep(_DOWNLOAD, (dsr_id, released.files(dsr_id)))
    return f"Released request {dsr_id} (SHA-256 {released.sha256[:16]}…)."


def _unverified(view: dsr.DsrView, step: str) -> bool:
    """Whether the step must wait for the requester's verified identity (the service's rule,
    said where the control would be)."""
    if view.identity_state == "verified":
        return False
    st.info(f"Verify the requester's identity above before you {step}: "
            f"{dsr.IDENTITY_RULE}.", icon=":material/badge:")
    return True


def _rectification(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if _unverified(view, "propose a correction"):
        return
    fields = list(subject.fields(gh))
    st.markdown("**Corrected values** (leave a field blank to keep it)")
    asked, typed = _text_form(view, "rectify", "Propose the correction", *fields,
                              limit=rights.MAX_VALUE)
    changes = {name: value for name, value in zip(fields, typed, strict=True) if value.strip()}
    _ask(gh, principal, view, "rectify", asked,
         f"Propose correcting {', '.join(changes) or 'no field'} for request {view.id}",
         lambda who: _then("Proposed: a second person approves it.",
                           rights.propose_rectification, gh, who, view.id, changes))


def _erasure(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    if _unverified(view, "propose an erasure"):
        return
    asked = st.button("Propose erasure", key=_key(view, "erase"))
    _ask(gh, principal, view, "erase", asked,
         f"Propose erasing the subject's data for request {view.id}",
         lambda who: _then("Proposed: an admin approves it.", rights.propose_erasure, gh,
                           who, view.id))


def _restriction(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    asked, (reason,) = _text_form(view, "restrict", "Restrict the subject's data",
                                  "Reason for restricting")
    _ask(gh, principal, view, "restrict", asked, f"Restrict the subject of request {view.id}",
         lambda who: _then("Restricted: support sees the subject's rows masked and cannot "
                           "reveal or export them.", rights.restrict, gh, who, view.id,
                           reason))


def _portability(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    asked = st.button("Export the subject's data", type="primary", key=_key(view, "export"))
    _ask(gh, principal, view, "export", asked,
         f"Export the data of request {view.id} for the verified requester",
         lambda who: _exported(gh, who, view.id))


def _exported(gh: Gatehouse, who: Principal, dsr_id: int) -> str:
    keep(_DOWNLOAD, (dsr_id, rights.portability(gh, who, dsr_id).files(dsr_id)))
    return f"Exported request {dsr_id}: the data as JSON and CSV, and their schema, below."


def _objection(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    with st.form(_key(view, "object")):
        decision = st.radio("Decision", ["upheld", "overridden"], horizontal=True,
                            help="Overridden: compelling legitimate grounds outweigh the "
                                 "subject's (Art. 21(1)); the hold on their data is lifted")
        reason = st.text_input("Reason", max_chars=MAX_REASON)
        asked = st.form_submit_button("Decide")
    _ask(gh, principal, view, "object", asked,
         f"Decide the objection of request {view.id}: {decision}",
         lambda who: _then(_DECIDED[str(decision)], rights.decide_objection, gh, who,
                           view.id, decision == "upheld", reason))


def _approve(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    """What waits, read before deciding; Approve or Reject, each confirmed after a code."""
    waits = rights.waiting(gh, principal, view.id)
    what = _waiting_what(waits)
    st.markdown(f"**Waiting for a second person** (proposed by {literal(waits.proposed_by)}):"
                f" {what}")
    st.table(pd.DataFrame([{"table": t, "rows": n, "customers": ", ".join(waits.customers)}
                           for t, n in waits.tables.items()]), hide_index=True)
    if waits.action == "rectify":
        st.caption("The corrected values stay sealed until applied; the log names the fields, "
                   "never their values.")
    asked = st.button(f"Approve: {what}", type="primary", key=_key(view, "approve"))
    sensitive(gh, principal, _key(view, "approve"), Ask(
        f"Approve request {view.id}: {what} ({rights.rows_in(waits.tables)}, "
        f"{', '.join(waits.customers)})"
        + (". This cannot be undone." if waits.action == "erase" else ""),
        lambda who: rights.approve(gh, who, view.id).summary(), confirm=True, needs_code=True)
        if asked else None)
    asked, (reason,) = _text_form(view, "reject", "Reject", "Reason for rejecting",
                                  expander="Reject: send it back to the privacy officer")
    sensitive(gh, principal, _key(view, "reject"), Ask(
        f"Reject request {view.id}'s proposal ({what}): nothing is changed",
        lambda who: _then(f"Rejected: request {view.id} is back with its privacy officer, "
                          "with your reason.", rights.reject, gh, who, view.id, reason),
        confirm=True, needs_code=True) if asked else None)


def _waiting_what(waits: rights.Waiting) -> str:
    if waits.action == "erase":
        return "erase the subject's data"
    return f"correct {', '.join(waits.fields)}"


def _lift(gh: Gatehouse, principal: Principal, view: dsr.DsrView) -> None:
    asked, (reason,) = _text_form(view, "lift", "Lift", "Reason for lifting",
                                  expander="Lift the restriction")
    _ask(gh, principal, view, "lift", asked, f"Lift the restriction of request {view.id}",
         lambda who: _then("Lifted.", rights.lift_restriction, gh, who, view.id, reason))


def _downloads(view: dsr.DsrView) -> None:
    held = kept(_DOWNLOAD)
    if not isinstance(held, tuple) or held[0] != view.id:
        return
    for name, data in held[1].items():
        st.download_button(f"Download {name}", data, file_name=name, key=f"dl_{name}",
                           on_click="ignore")


_DECIDED = {"upheld": "Objection upheld: the subject's rows stay held.",
            "overridden": "Objection overridden: the hold on the subject's rows is lifted."}
_BY_KIND = {"access": _access, "rectification": _rectification, "erasure": _erasure,
            "restriction": _restriction, "portability": _portability,
            "objection": _objection}

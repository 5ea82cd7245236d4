"""Sensitive actions: one mechanism for "check the input, confirm, and give a fresh code if the
last one is stale".

A page calls `sensitive(...)` right under the control that asks for an action, with an `Ask`
on the run its control was clicked (else None). The rule, the same on every page:

1. The input first. `Ask.check` is the service's own validation of what the person typed (one
   home for each rule, in `access/`). It runs on the click, before any code form or
   confirmation: refused input shows here, at the control, naming the field and the rule;
   nothing waits, no code is spent, nothing changes, and the audit log gets exactly the event
   the service itself leaves for that input (the check is the service's check).
2. A consequential action (`confirm=True`: approve, deny, revoke, restrict, lift, disable,
   enable, reset an authenticator, an export with columns in clear, break-glass) always shows
   a confirmation naming exactly what will happen, and runs only on its Confirm. A code is asked
   for only when the last one is stale: before the confirmation when the action needs one
   (`needs_code`), or when the service asks for it after Confirm, and then it runs once the
   code is accepted (nobody confirms twice).
3. Any other action runs on the click while the code is fresh; with a stale code, the code
   form names the action and a confirmation follows the code.

What waits stays bound to what it names. The input of a form changes only when the form is
submitted again, which replaces what waits (after its check). Input outside a form is passed
as `inputs` on every run: if it changes while something waits, what waits is withdrawn and a
message says so (it stays until the next action). A waiting action never runs by itself:
leaving the page (`forget_other_pages`, called by the frame on every run) or letting the
step-up window pass discards it, and the latter says so too. After success the input the
action used is emptied (`Ask.clear`) and the result shows beside the control after a rerun, so
everything above it shows the state the action left.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from access.context import Gatehouse
from access.errors import GatehouseError, StepUpRequired
from access.identity import mfa
from access.principal import Principal
from console.errors import show_error

Act = Callable[[Principal], str]
"""Performs the action as the given principal; returns what happened, for the person."""

Check = Callable[[Principal], object]
"""The service's own check of the person's input, as the given principal: raises what the
service raises for that input (an `InvalidInput` naming the field and the rule) and records
what the service records for it. Never needs a fresh code and changes nothing else; what it
returns (the checked value) is ignored."""

_PAGE = "_step_up_page"        # the url path of the page this run shows
_PENDING = "_step_up_pending"  # key -> _Pending
_DONE = "_step_up_done"        # key -> (page, ok, message): the result, shown once
_KEPT = "_step_up_kept"        # key -> (page, value): what a page shows until it is left
_WITHDRAWN = "_step_up_withdrawn"  # key -> (page, message): why what waited is gone
_CLEAR = "_step_up_clear"      # widget key -> the value it returns to, on the next run


@dataclass(frozen=True)
class Ask:
    summary: str  # exactly what will happen: "Approve request 40 for Sky Support: cust-0053, …"
    act: Act
    # A consequential action: always ask "Confirm?" before acting, even with a fresh code.
    confirm: bool = False
    # The action needs a fresh code (its Action is in STEP_UP): with `confirm`, a stale code
    # is asked for first, so the person confirms once, after the code.
    needs_code: bool = False
    # The service's validation of the input, run on the click (rule 1 of the module).
    check: Check | None = None
    # The widgets (by key) holding the input this action used, and the value each returns to
    # once it succeeded ("" for a text box, [] for a multiselect, None for a choice).
    clear: Mapping[str, object] = field(default_factory=dict)


@dataclass
class _Pending:
    page: str
    ask: Ask
    asked_at: datetime
    inputs: dict[str, object] | None  # the input outside a form it was asked with
    code_given: bool = False  # False: the code form shows first
    confirmed: bool = False   # Confirm was clicked: after a code it runs at once


def _page() -> str:
    return str(st.session_state.get(_PAGE, ""))


def forget_other_pages(page: str) -> None:
    """The frame calls this before running `page`: waiting actions of other pages are gone,
    and the input a finished action used is emptied before its widgets are drawn."""
    st.session_state[_PAGE] = page
    for store in (_PENDING, _DONE, _KEPT, _WITHDRAWN):
        held = st.session_state.get(store, {})
        for key in [k for k, v in held.items() if _page_of(v) != page]:
            del held[key]
    for key, value in st.session_state.pop(_CLEAR, {}).items():
        st.session_state[key] = value


def _page_of(held: _Pending | tuple[Any, ...]) -> str:
    return held.page if isinstance(held, _Pending) else str(held[0])


def keep(key: str, value: object) -> None:
    """Keep `value` for this page until it is replaced or the person leaves the page."""
    st.session_state.setdefault(_KEPT, {})[key] = (_page(), value)


def kept(key: str) -> object | None:
    held = st.session_state.get(_KEPT, {}).get(key)
    return held[1] if held is not None and held[0] == _page() else None


def sensitive(gh: Gatehouse, principal: Principal, key: str, ask: Ask | None,
              inputs: Mapping[str, object] | None = None) -> None:
    """The action `key` of this page: check and start `ask` (pass it on the run its control
    was clicked, else None), or show its code form, its confirmation or its result.

    `inputs`: the input outside a form that the action is built from, by the label the person
    reads ({"Comment": text}), passed on every run; what waits is withdrawn when it changes."""
    pending: dict[str, _Pending] = st.session_state.setdefault(_PENDING, {})
    if ask is not None:
        st.session_state.setdefault(_WITHDRAWN, {}).pop(key, None)
        earlier = pending.pop(key, None)
        if not _input_holds(ask, principal, earlier):
            return
        asked = pending[key] = _Pending(_page(), ask, gh.now(),
                                        None if inputs is None else dict(inputs))
        if not ask.confirm:
            _run(gh, principal, key, pending)
            return
        stale = not principal.step_up_fresh(gh.now(), gh.config.mfa.step_up)
        asked.code_given = not (ask.needs_code and stale)
    held: _Pending | None = pending.get(key)
    if held is not None and (why := _gone(gh, held, inputs)) is not None:
        del pending[key]
        st.session_state.setdefault(_WITHDRAWN, {})[key] = (held.page, why)
        held = None
    if held is None:
        if not show_result(key):
            _show_withdrawn(key)
        return
    if not held.code_given:
        _code_form(gh, principal, key, held)
    elif held.confirmed:  # confirmed, then asked for a code, which was just given
        _run(gh, principal, key, pending)
    else:
        _confirmation(gh, principal, key, held, pending)


def _input_holds(ask: Ask, principal: Principal, earlier: _Pending | None) -> bool:
    """Run the service's check of the input; show its refusal here. Whether it held."""
    if ask.check is None:
        return True
    try:
        ask.check(principal)
    except GatehouseError as exc:
        show_error(exc)
        if earlier is not None:
            st.caption(f"Nothing happened, and what waited for your confirmation "
                       f"({earlier.ask.summary}) was withdrawn: the input changed.")
        return False
    return True


def _gone(gh: Gatehouse, held: _Pending, inputs: Mapping[str, object] | None) -> str | None:
    """Why `held` may no longer run (None while it may; "" to drop it without a word):
    another page's, expired, or built from input the person has changed since."""
    if held.page != _page():
        return ""  # another page's (the frame drops those too)
    if gh.now() - held.asked_at >= gh.config.mfa.step_up:
        return (f"Withdrawn: {held.ask.summary} waited too long (its step-up window passed). "
                "Nothing happened; ask again.")
    if held.inputs is None or inputs is None or dict(inputs) == held.inputs:
        return None
    changed = [name for name, value in held.inputs.items() if inputs.get(name) != value]
    return (f"Withdrawn: {', '.join(changed) or 'the input'} changed after you asked, so the "
            f"confirmation no longer matched what you see. Nothing happened; ask again to act "
            "on the new input.")


def _show_withdrawn(key: str) -> None:
    held = st.session_state.get(_WITHDRAWN, {}).get(key)
    if held is not None and held[0] == _page() and held[1]:
        st.warning(held[1], icon=":material/undo:")


def _confirmation(gh: Gatehouse, principal: Principal, key: str, held: _Pending,
                  pending: dict[str, _Pending]) -> None:
    with st.container(border=True):
        st.info(f"**Confirm:** {held.ask.summary}", icon=":material/verified_user:")
        yes, no = st.columns(2)
        if yes.button("Confirm", key=f"{key}_confirm", type="primary", width="stretch"):
            held.confirmed = True
            _run(gh, principal, key, pending)
        if no.button("Cancel", key=f"{key}_cancel", width="stretch"):
            del pending[key]
            st.rerun()


def _run(gh: Gatehouse, principal: Principal, key: str, pending: dict[str, _Pending]) -> None:
    held = pending[key]
    try:
        message = held.ask.act(principal)
    except StepUpRequired:
        held.code_given = False
        _code_form(gh, principal, key, held)
        return
    except GatehouseError as exc:
        del pending[key]
        show_error(exc)
        return
    del pending[key]
    succeeded(key, message, held.ask.clear)


def succeeded(key: str, message: str, clear: Mapping[str, object] | None = None) -> None:
    """Action `key` of this page succeeded: empty the input it used (`clear`, as `Ask.clear`),
    then rerun, so everything above shows the state it left and `message` shows once where
    the page calls `show_result(key)` (or `sensitive`)."""
    st.session_state.setdefault(_DONE, {})[key] = (_page(), True, message)
    st.session_state.setdefault(_CLEAR, {}).update(clear or {})
    st.rerun()


def show_result(key: str) -> bool:
    """Show (once) the result of action `key`, if it just ran; whether there was one."""
    result = st.session_state.get(_DONE, {}).pop(key, None)
    if result is None:
        return False
    if result[2]:  # an empty message: the page shows the result itself
        st.success(result[2], icon=":material/check_circle:")
    return True


def results(prefix: str) -> list[str]:
    """The keys starting with `prefix` whose results wait to be shown (for a page whose
    control may be gone after its action, such as a decided request's card)."""
    return [k for k in st.session_state.get(_DONE, {}) if k.startswith(prefix)]


def abandoned(prefix: str, drawn: Collection[str]) -> list[str]:
    """Withdraw, without a word, this page's actions under `prefix` that wait (for a code or
    a confirmation) but whose control this run does not draw (`drawn`: the keys it does),
    such as a decided request's card; their keys, for the page to say why they are gone."""
    pending: dict[str, _Pending] = st.session_state.get(_PENDING, {})
    gone = [key for key, held in pending.items()
            if key.startswith(prefix) and held.page == _page() and key not in drawn]
    for key in gone:
        del pending[key]
    return gone


def _code_form(gh: Gatehouse, principal: Principal, key: str, held: _Pending) -> None:
    then = ("it runs once the code is accepted" if held.confirmed
            else "nothing happens until you confirm")
    with st.container(border=True):
        st.warning(f"{held.ask.summary}: this needs a fresh code from your authenticator app; "
                   f"{then}.", icon=":material/lock_clock:")
        step_up_form(gh, principal, key, on_success=lambda: setattr(held, "code_given", True))


def step_up_form(gh: Gatehouse, principal: Principal, key: str,
                 on_success: Callable[[], None] | None = None) -> None:
    """A code form; on success the session's step-up time is renewed and the page reruns."""
    with st.form(f"step_up_{key}"):
        code = st.text_input("6-digit code", max_chars=6, key=f"step_up_code_{key}")
        if st.form_submit_button("Confirm with code"):
            try:
                mfa.verify_code(gh, principal, code)
            except GatehouseError as exc:
                show_error(exc)
                return
            if on_success is not None:
                on_success()
            st.rerun()

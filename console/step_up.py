"""Sensitive actions: one mechanism for "this needs a fresh authenticator code".

A page calls `sensitive(...)` right under the control that asks for the action. The click runs
the action at once if the person's last code is fresh. Otherwise the action waits, bound to this
page and to the step-up window, while a code form shows beside the control; after a valid code
the person sees exactly what will happen and must click Confirm. A waiting action never runs by
itself: leaving the page (`forget_other_pages`, called by the frame on every run) or letting the
step-up window pass discards it. The result shows beside the control after a rerun, so
everything above it shows the state the action left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

_PAGE = "_step_up_page"        # the url path of the page this run shows
_PENDING = "_step_up_pending"  # key -> _Pending
_DONE = "_step_up_done"        # key -> (page, ok, message): the result, shown once
_KEPT = "_step_up_kept"        # key -> (page, value): what a page shows until it is left


@dataclass(frozen=True)
class Ask:
    summary: str  # exactly what will happen: "Approve request 40 for Sky Support: cust-0053, …"
    act: Act
    # Always ask "Confirm?" before acting, even with a fresh code (revoke, release, disable):
    # for actions whose effect a person should read before it happens.
    confirm: bool = False
    # The action needs a fresh code (its Action is in STEP_UP): with `confirm`, a stale code
    # is asked for first, so the person confirms once, after the code.
    needs_code: bool = False


@dataclass
class _Pending:
    page: str
    ask: Ask
    asked_at: datetime
    code_given: bool = False


def _page() -> str:
    return str(st.session_state.get(_PAGE, ""))


def forget_other_pages(page: str) -> None:
    """The frame calls this before running `page`: waiting actions of other pages are gone."""
    st.session_state[_PAGE] = page
    for store in (_PENDING, _DONE, _KEPT):
        held = st.session_state.get(store, {})
        for key in [k for k, v in held.items() if _page_of(v) != page]:
            del held[key]


def _page_of(held: _Pending | tuple[Any, ...]) -> str:
    return held.page if isinstance(held, _Pending) else str(held[0])


def keep(key: str, value: object) -> None:
    """Keep `value` for this page until it is replaced or the person leaves the page."""
    st.session_state.setdefault(_KEPT, {})[key] = (_page(), value)


def kept(key: str) -> object | None:
    held = st.session_state.get(_KEPT, {}).get(key)
    return held[1] if held is not None and held[0] == _page() else None


def sensitive(gh: Gatehouse, principal: Principal, key: str, ask: Ask | None) -> None:
    """The action `key` of this page: run `ask` now (pass it on the run its control was
    clicked, else None), or show its code form, its confirmation or its result."""
    pending: dict[str, _Pending] = st.session_state.setdefault(_PENDING, {})
    if ask is not None:
        pending[key] = _Pending(_page(), ask, gh.now(), code_given=ask.confirm)
        if not ask.confirm:
            _run(gh, principal, key, pending)
            return
        if ask.needs_code and not principal.step_up_fresh(gh.now(), gh.config.mfa.step_up):
            pending[key].code_given = False
    held = pending.get(key)
    if held is None or held.page != _page() or gh.now() - held.asked_at >= gh.config.mfa.step_up:
        pending.pop(key, None)
        show_result(key)
        return
    if not held.code_given:
        _code_form(gh, principal, key, held)
        return
    with st.container(border=True):
        st.info(f"**Confirm:** {held.ask.summary}", icon=":material/verified_user:")
        yes, no = st.columns(2)
        if yes.button("Confirm", key=f"{key}_confirm", type="primary", width="stretch"):
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
    st.session_state.setdefault(_DONE, {})[key] = (held.page, True, message)
    st.rerun()  # everything above shows the state the action left; the result shows here


def show_result(key: str) -> bool:
    """Show (once) the result of action `key`, if it just ran; whether there was one."""
    done = st.session_state.get(_DONE, {}).pop(key, None)
    if done is None:
        return False
    if done[2]:  # an empty message: the page shows the result itself
        st.success(done[2], icon=":material/check_circle:")
    return True


def results(prefix: str) -> list[str]:
    """The keys starting with `prefix` whose results wait to be shown (for a page whose
    control may be gone after its action, such as a decided request's card)."""
    return [k for k in st.session_state.get(_DONE, {}) if k.startswith(prefix)]


def _code_form(gh: Gatehouse, principal: Principal, key: str, held: _Pending) -> None:
    with st.container(border=True):
        st.warning(f"{held.ask.summary}: this needs a fresh code from your authenticator app. "
                   "Nothing happens until you confirm.", icon=":material/lock_clock:")
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

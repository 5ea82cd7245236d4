"""Pieces of the request and break-glass forms: durations to choose from, the start time, what
the policy will ask of a request (approvers) and the break-glass limits it sets, and each
field's errors shown under the field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from access.errors import InvalidFields, InvalidInput
from access.workflow.policy import DataAction, Policy
from console.formatting import duration

__all__ = ["BreakglassLimits", "Slots", "approvals_needed", "breakglass_limits",
           "breakglass_options", "duration_options", "show_problems", "start_time"]

Slots = dict[str, DeltaGenerator]
"""Where each field's errors go, by the field name the services use ("customer", "ticket")."""

_STEPS = tuple(timedelta(minutes=m) for m in (15, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720,
                                              1440, 2880, 4320, 10080, 20160, 43200))
_LONGEST = timedelta(days=30)


def duration_options(longest: timedelta = _LONGEST) -> list[timedelta]:
    """The durations a person picks from, up to `longest` (which is always offered)."""
    steps = [s for s in _STEPS if s < longest]
    return [*steps, longest]


def start_time() -> datetime | None:
    """"Start later" and, only when it is on, "Start (UTC)"; None: as soon as approved."""
    if not st.toggle("Start later", key="rq_later"):
        return None
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    chosen = st.datetime_input("Start (UTC)", value=soon.replace(tzinfo=None), key="rq_start")
    if chosen is None:
        return None
    return chosen.replace(tzinfo=UTC) if chosen.tzinfo is None else chosen


def show_problems(exc: InvalidFields, slots: Slots) -> None:
    """Each problem under its field; one the form has no field for, where the call is."""
    for problem in exc.problems:
        slot = slots.get(problem.field)
        if slot is None:
            st.error(f"**{problem.field}**: {problem.rule}", icon=":material/edit_off:")
        else:
            slot.error(problem.rule, icon=":material/edit_off:")


def breakglass_options(policy: Policy) -> dict[str, list[str]]:
    """Environment -> the scopes where policy allows break-glass (environments with none, or
    with a daily limit of 0, are left out)."""
    offer = {}
    for name, env in policy.environments.items():
        scopes = [s for s in policy.scopes if policy.rule(name, s).breakglass]
        if scopes and env.breakglass_per_day > 0:
            offer[name] = scopes
    return offer


@dataclass(frozen=True)
class BreakglassLimits:
    actions: list[str]   # what the grant may carry
    longest: timedelta
    summary: str         # the limits, as the person reads them before breaking the glass


def breakglass_limits(policy: Policy, environment: str, scopes: list[str]) -> BreakglassLimits:
    """The strictest break-glass rules of `scopes` (all break-glass scopes while none is
    chosen) in `environment`."""
    chosen = scopes or breakglass_options(policy).get(environment, [])
    rules = [policy.rule(environment, s) for s in chosen]
    actions = sorted(a.value for a in frozenset.intersection(*(r.breakglass_actions
                                                              for r in rules)))
    longest = min(r.breakglass_duration for r in rules)
    env = policy.environments[environment]
    blocks = ("; an unreviewed break-glass of yours here blocks the next"
              if env.breakglass_one_open else "")
    summary = (f"**Policy for break-glass in {environment}:** at most {duration(longest)}; "
               f"carries only {', '.join(actions) or 'nothing'}; at most "
               f"{env.breakglass_per_day} per person in 24 hours{blocks}. "
               f"{_skipped(policy, environment, scopes)}; an admin reviews it afterwards.")
    return BreakglassLimits(actions, longest, summary)


def _skipped(policy: Policy, environment: str, scopes: list[str]) -> str:
    """Which approvers a break-glass skips: exactly, for the chosen scopes; before any is
    chosen, the range over the scopes it may open (never one scope's count for all)."""
    if scopes:
        needed = max(policy.rule(environment, s).approvals for s in scopes)
        return f"It skips the {_approvers(needed)} {', '.join(scopes)} would need"
    counts = sorted({policy.rule(environment, s).approvals
                     for s in breakglass_options(policy).get(environment, [])})
    if len(counts) == 1:
        return f"It skips the {_approvers(counts[0])} a request here would need"
    return (f"It skips the {counts[0]} to {counts[-1]} approvers a request here would need "
            "(by scope: choose the scopes to see)")


def _approvers(count: int) -> str:
    return f"{count} approver{'' if count == 1 else 's'}"


def approvals_needed(policy: Policy, environment: str, scopes: list[str],
                     actions: list[str]) -> str:
    """What the request being filled in will need, as its form says before it is submitted:
    how many approvers (and what raised it), how long it may last. Empty while the choice is
    not yet a request the policy can answer (no scope, an action it refuses)."""
    try:
        needs = policy.requirements(environment, scopes, actions)
        without_export = policy.requirements(
            environment, scopes, [a for a in actions if a != DataAction.EXPORT] or
            [DataAction.READ])
    except InvalidInput:
        return ""
    why = ""
    if needs.approvals > without_export.approvals:
        why = f" (export raises it from {without_export.approvals})"
    return (f"**Needs {_approvers(needs.approvals)}** other than you{why} before the grant is "
            f"issued; it may last at most {duration(needs.max_duration)}.")

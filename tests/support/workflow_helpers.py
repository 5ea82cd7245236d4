"""People and drafts for workflow tests, signed in through the real services."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from access.context import Gatehouse
from access.identity import mfa
from access.principal import Principal
from access.workflow.create_request import RequestDraft
from tests.support import snapshots
from tests.support.audit_helpers import logged
from tests.support.identity_helpers import MFA_BOX, LocalIdP, sign_in
from tests.support.mfa_helpers import code_now, enroll

DRAFT = RequestDraft(customer_id="cust-001", environment="production",
                     scopes=["subscriptions"], actions=["read"], duration=timedelta(hours=2),
                     justification="Customer reports a failed renewal", ticket="SUP-1234")


def draft(**changes: Any) -> RequestDraft:
    return replace(DRAFT, **changes)


_TICKETS = itertools.count(5000)


def new_draft(**changes: Any) -> RequestDraft:
    """`draft` under a ticket no other call has used: a person's pending request repeated
    (same customer, environment and ticket, a scope in common) is refused as a duplicate."""
    return draft(**{"ticket": f"SUP-{next(_TICKETS)}", **changes})


@dataclass
class Team:
    sam: Principal
    sky: Principal
    ada: Principal
    alan: Principal
    audrey: Principal
    secrets: dict[str, str]
    # the privacy officer, enrolled only where a test needs one (`with_privacy_officer`):
    # every enrollment costs scrypt time
    priya: Principal | None = None

    def step_up(self, gh: Gatehouse, name: str) -> Principal:
        """`name` enters a fresh code (the clock may have moved past the step-up window)."""
        principal: Principal = getattr(self, name)
        fresh = mfa.verify_code(gh, principal, code_now(gh, self.secrets[name], 1))
        setattr(self, name, fresh)
        return fresh


@dataclass(frozen=True)
class _Enrolled:
    inputs: tuple[Any, ...]
    rows: snapshots.Snapshot
    people: Team


_ENROLLED: list[_Enrolled] = []  # this test process's real enrollments of the team


def team(gh: Gatehouse, idp: LocalIdP) -> Team:
    """sam and sky (requesters), ada and alan (approvers), audrey (auditor): signed in and
    enrolled, in that order, through the real services.

    Enrolling costs fifty scrypt hashes (seconds), so into an empty database this copies the
    rows that the process's first real enrollment of the team wrote into another empty one
    (`tests.support.snapshots`) when everything enrolling reads was the same: the engine,
    the configuration, the policy, the time on both clocks, the process's MFA key. Anything
    else enrolls for real."""
    inputs = _enrollment_inputs(gh, idp)
    empty = inputs is not None and snapshots.is_empty(gh.engine)
    if empty:
        done = next((d for d in _ENROLLED if d.inputs == inputs), None)
        if done is not None:
            snapshots.restore(gh.engine, done.rows)
            return copy.deepcopy(done.people)
    people = _enroll_team(gh, idp)
    if inputs is not None and empty:
        _ENROLLED.append(_Enrolled(inputs, snapshots.take(gh.engine), copy.deepcopy(people)))
    return people


def _enrollment_inputs(gh: Gatehouse, idp: LocalIdP) -> tuple[Any, ...] | None:
    """What the team's rows depend on; None for services built other than by
    `tests.support.identity_helpers.gatehouse` (another MFA key, maybe another verifier)."""
    if gh.mfa_box is not MFA_BOX:
        return None
    return gh.engine.dialect.name, gh.config, gh.policy, gh.now(), idp.clock()


def _enroll_team(gh: Gatehouse, idp: LocalIdP) -> Team:
    members, secrets = [], {}
    for sub, role in [("sam", "requester"), ("sky", "requester"), ("ada", "approver"),
                      ("alan", "approver"), ("audrey", "auditor")]:
        principal, secrets[sub], _ = enroll(gh, sign_in(gh, idp, sub, role))
        members.append(principal)
    sam, sky, ada, alan, audrey = members
    return Team(sam, sky, ada, alan, audrey, secrets=secrets)


def with_privacy_officer(gh: Gatehouse, idp: LocalIdP, people: Team) -> Team:
    """`people` with priya, a privacy officer, signed in and enrolled."""
    people.priya, people.secrets["priya"], _ = enroll(gh, sign_in(gh, idp, "priya",
                                                                  "privacy_officer"))
    return people


def lenient_breakglass(gh: Gatehouse) -> Gatehouse:
    """`gh` whose policy lets one person open break-glass again and again (no daily limit,
    open ones not blocking): for tests that exercise something else through many
    activations."""
    environments = {name: replace(env, breakglass_per_day=1_000_000, breakglass_one_open=False)
                    for name, env in gh.policy.environments.items()}
    return replace(gh, policy=replace(gh.policy, environments=environments))


def events(gh: Gatehouse, prefix: str = "") -> list[dict[str, Any]]:
    """`gh`'s audit events whose action starts with `prefix`, oldest first."""
    return logged(gh.engine, prefix)

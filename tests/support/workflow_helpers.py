"""People and drafts for workflow tests, signed in through the real services."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from access.context import Gatehouse
from access.identity import mfa
from access.principal import Principal
from access.workflow.create_request import RequestDraft
from audit.schema import events_table
from tests.support.identity_helpers import LocalIdP, sign_in
from tests.support.mfa_helpers import code_now, enroll

DRAFT = RequestDraft(customer_id="cust-001", environment="production",
                     scopes=["subscriptions"], actions=["read"], duration=timedelta(hours=2),
                     justification="Customer reports a failed renewal", ticket="SUP-1234")


def draft(**changes: Any) -> RequestDraft:
    return replace(DRAFT, **changes)


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


def team(gh: Gatehouse, idp: LocalIdP) -> Team:
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
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.id)).mappings().all()
    return [dict(r) for r in rows if r["action"].startswith(prefix)]

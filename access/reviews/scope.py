"""What a campaign reviews: the people holding a role, and the policy's break-glass and
request rules, each turned into items with evidence and a recommendation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from access.principal import Role
from access.reviews.evidence import Usage
from access.reviews.rules import ItemKind, ReviewRules, Subject, recommend
from access.schema import ConsoleSession, ReviewItem, RoleSuspension, User
from access.workflow.policy import Policy

__all__ = ["SCOPES", "Planned", "holders", "item_row", "plan"]

# scope name → the role whose holders it reviews (None: a policy scope)
SCOPES: dict[str, Role | None] = {
    "role:requester": Role.REQUESTER,
    "role:approver": Role.APPROVER,   # approver rights: "approved 0 requests in 180 days"
    "role:auditor": Role.AUDITOR,
    "breakglass": None,               # break-glass eligibility per environment
    "request_rules": None,            # which role may request data in which environment
}


@dataclass(frozen=True)
class Planned:
    """An item before it is stored."""

    kind: ItemKind
    label: str
    user_id: int | None = None
    role: str | None = None
    environment: str | None = None


def holders(db: Session, role: Role) -> list[User]:
    """Enabled users whose latest sign-in carried `role` and who are not suspended from it.
    The IdP is the source of roles; a user's latest session is what Gatehouse last saw."""
    latest = (select(ConsoleSession.user_id, func.max(ConsoleSession.created_at).label("at"))
              .group_by(ConsoleSession.user_id).subquery())
    suspended = select(RoleSuspension.user_id).where(RoleSuspension.role == str(role))
    rows = db.execute(
        select(User, ConsoleSession.roles)
        .join(ConsoleSession, ConsoleSession.user_id == User.id)
        .join(latest, and_(latest.c.user_id == ConsoleSession.user_id,
                           latest.c.at == ConsoleSession.created_at))
        .where(User.disabled_at.is_(None), User.id.not_in(suspended))
        .order_by(User.display_name, User.id)).all()
    seen: dict[int, User] = {}
    for user, roles in rows:
        if str(role) in roles.split():
            seen.setdefault(user.id, user)
    return list(seen.values())


def plan(db: Session, policy: Policy, scopes: Sequence[str]) -> list[Planned]:
    """The items of `scopes`, in a stable order."""
    items: list[Planned] = []
    for scope in scopes:
        role = SCOPES[scope]
        if role is not None:
            items += [Planned(ItemKind.ROLE, f"{u.display_name or u.sub}: {role}",
                              user_id=u.id, role=str(role)) for u in holders(db, role)]
        elif scope == "breakglass":
            items += [Planned(ItemKind.BREAKGLASS, f"break-glass in {env}", environment=env)
                      for env in _breakglass_environments(policy)]
        else:
            items += [Planned(ItemKind.REQUEST_RULE, f"{role_} may request in {env}",
                              role=role_, environment=env)
                      for env, role_ in _request_rules(policy)]
    return items


def _breakglass_environments(policy: Policy) -> list[str]:
    return sorted({env for (env, _), rule in policy.rules.items() if rule.breakglass})


def _request_rules(policy: Policy) -> list[tuple[str, str]]:
    return sorted({(env, str(role)) for (env, _), rule in policy.rules.items()
                   for role in rule.request_roles})


def item_row(planned: Planned, campaign_id: int, usage: Usage, rules: ReviewRules,
             now: datetime) -> ReviewItem:
    """The stored item: its evidence and the recommendation the rules make from it."""
    evidence = usage.person(planned.user_id) if planned.user_id is not None else \
        usage.environment(planned.environment or "")
    advice = recommend(Subject(planned.kind, planned.role, planned.environment, now),
                       evidence, rules)
    return ReviewItem(campaign_id=campaign_id, kind=str(planned.kind), user_id=planned.user_id,
                      role=planned.role, environment=planned.environment, label=planned.label,
                      evidence=json.dumps(evidence.as_json(), sort_keys=True),
                      recommendation=advice.decision, rule=advice.rule, reason=advice.reason,
                      status="pending")

"""What a revoke decision changes, applied when its campaign closes (if it applies
automatically).

- A role: Gatehouse suspends it for that person itself (`RoleSuspension`; sign-in and
  `authorize()` honour it), ends their sessions, and announces the IdP change still to make
  (remove them from the groups that map to the role).
- Break-glass in an environment, or a role's right to request there: the policy file is code
  reviewed in git, so Gatehouse writes the change to make and runs the policy's own checks
  (the approver invariant first) on the policy as it would be after it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.context import Gatehouse
from access.errors import InvalidInput
from access.identity.sessions import end_user_sessions
from access.principal import Role
from access.reviews.decisions import item_event
from access.reviews.rules import ItemKind
from access.schema import ReviewItem, RoleSuspension, User
from access.settings.toml import read_toml
from access.workflow import notify
from access.workflow.policy import check_policy_data

__all__ = ["apply_revoke", "idp_change", "idp_changes"]


def apply_revoke(gh: Gatehouse, db: Session, item: ReviewItem) -> None:
    """Apply one revoked item in `db`'s transaction; records `review.applied`."""
    if item.kind == ItemKind.ROLE:
        _suspend(gh, db, item)
        return
    change, data = _policy_change(gh, item)
    verdict = _invariant(gh, data)
    item.applied = f"policy change to make: {change}; policy check: {verdict}"
    gh.audit(db, item_event(None, "review.applied", item, environment=item.environment,
                            change=change, invariant=verdict))


def _suspend(gh: Gatehouse, db: Session, item: ReviewItem) -> None:
    assert item.user_id is not None and item.role is not None
    user = db.get_one(User, item.user_id)
    exists = db.execute(select(RoleSuspension.id).where(
        RoleSuspension.user_id == user.id, RoleSuspension.role == item.role)).first()
    if exists is None:
        db.add(RoleSuspension(user_id=user.id, role=item.role, item_id=item.id,
                              suspended_at=gh.now(), suspended_by=item.decided_by,
                              reason=f"access review item {item.id}"))
    ended = end_user_sessions(gh, db, user.id, f"role {item.role} revoked by access review")
    change = idp_change(gh, user, item.role)
    item.applied = f"role {item.role} suspended in Gatehouse; {ended} sessions ended; " \
                   f"IdP change to make: {change}"
    gh.audit(db, item_event(None, "review.applied", item, role=item.role,
                            sessions_ended=ended, change=change))
    notify.enqueue(gh, db, notify.Kind.ROLE_SUSPENDED,
                   f"{user.display_name or user.sub} lost the {item.role} role in access "
                   f"review {item.campaign_id}. IdP change to make: {change}",
                   {"campaign_id": str(item.campaign_id), "item_id": str(item.id)})


def idp_change(gh: Gatehouse, user: User, role: str) -> str:
    groups = sorted(g for g, r in gh.config.group_roles.items() if r == Role(role))
    return f"remove {user.sub} from IdP group(s) {', '.join(groups) or '(none mapped)'}"


def idp_changes(gh: Gatehouse, db: Session) -> list[str]:
    """The IdP changes still to make: suspended roles the IdP claim still carried at the
    person's last sign-in (or that they have not signed in since)."""
    rows = db.execute(select(RoleSuspension, User).join(User, User.id == RoleSuspension.user_id)
                      .where(RoleSuspension.idp_cleared_at.is_(None))
                      .order_by(RoleSuspension.id)).all()
    return [idp_change(gh, user, s.role) for s, user in rows]


def _policy_change(gh: Gatehouse, item: ReviewItem) -> tuple[str, dict[str, Any]]:
    """The change in words, and the policy's data as it would be after it."""
    _, data = read_toml(Path(gh.policy.source))
    after = copy.deepcopy(data)
    env = str(item.environment)
    tables = _rule_tables(after, env)
    if item.kind == ItemKind.BREAKGLASS:
        for table in tables:
            if "breakglass" in table:
                table["breakglass"] = False
        return f"set breakglass = false under [rules.{env}] and its scopes", after
    for table in tables:
        if "request_roles" in table:
            table["request_roles"] = [r for r in table["request_roles"] if r != item.role]
    return f'remove "{item.role}" from request_roles under [rules.{env}] and its ' \
           "scopes", after


def _rule_tables(data: dict[str, Any], env: str) -> list[dict[str, Any]]:
    rules = data.get("rules", {}).get(env, {})
    return [rules, *rules.get("scopes", {}).values()]


def _invariant(gh: Gatehouse, data: dict[str, Any]) -> str:
    try:
        check_policy_data(Path(gh.policy.source), data, gh.policy.scopes)
    except InvalidInput as exc:
        return f"refused: {exc}"
    return "passed"

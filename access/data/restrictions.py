"""Restriction of processing (GDPR Art. 18): an admin pauses all access to one customer's data.

While a customer is restricted the broker serves nothing for them (each attempt is a logged
denial naming the restriction), and no request, approval or break-glass for them goes through.
Grants already issued are left as they are: they stay time-bound, and the broker refuses them
for as long as the restriction holds. Restricting and lifting are admin decisions with a reason
and a fresh code, each an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from access.authz import Action
from access.context import Gatehouse, event_for
from access.data.servable import check_customer_id, check_exists
from access.errors import Conflict, InvalidInput
from access.identity.users import user_ref
from access.principal import Principal
from access.schema import CustomerRestriction, User
from access.text import checked_reason
from audit.events import AuditEvent


@dataclass(frozen=True)
class RestrictionView:
    environment: str
    customer_id: str
    reason: str
    restricted_by: str
    restricted_at: datetime


def restrict(gh: Gatehouse, admin: Principal, environment: str, customer_id: str,
             reason: str) -> None:
    """Restrict `customer_id` in `environment` from now on. Conflict if it already is."""
    gh.authorize(admin, Action.CUSTOMER_RESTRICT)
    reason = check(gh, environment, customer_id, reason)
    with gh.write() as db:
        if db.get(CustomerRestriction, (environment, customer_id)) is not None:
            raise Conflict(f"customer {customer_id} is already restricted in {environment}")
        db.add(CustomerRestriction(environment=environment, customer_id=customer_id,
                                   reason=reason, restricted_by=admin.user_id,
                                   restricted_at=gh.now()))
        gh.audit(db, _event(admin, "customer.restricted", environment, customer_id, reason))


def lift(gh: Gatehouse, admin: Principal, environment: str, customer_id: str,
         reason: str) -> None:
    """End the restriction of `customer_id` in `environment`. Conflict if there is none."""
    gh.authorize(admin, Action.CUSTOMER_RESTRICT)
    reason = check(gh, environment, customer_id, reason, lifting=True)
    with gh.write() as db:
        lifted = db.execute(delete(CustomerRestriction).where(
            CustomerRestriction.environment == environment,
            CustomerRestriction.customer_id == customer_id)
            .returning(CustomerRestriction.customer_id)).first()
        if lifted is None:  # one statement: two admins lifting at once lift it once
            raise Conflict(f"customer {customer_id} is not restricted in {environment}")
        gh.audit(db, _event(admin, "customer.restriction_lifted", environment, customer_id,
                            reason))


def restrictions(gh: Gatehouse, principal: Principal) -> list[RestrictionView]:
    """Every restriction in force, oldest first."""
    gh.authorize(principal, Action.RESTRICTIONS_VIEW)
    with gh.read() as db:
        rows = db.execute(select(CustomerRestriction, User)
                          .join(User, User.id == CustomerRestriction.restricted_by)
                          .order_by(CustomerRestriction.restricted_at)).all()
    return [RestrictionView(r.environment, r.customer_id, r.reason, user_ref(u), r.restricted_at)
            for r, u in rows]


def check(gh: Gatehouse, environment: str, customer_id: str, reason: str,
          lifting: bool = False) -> str:
    """The input of `restrict` (or, `lifting`, of `lift`) as they check it first: the reason,
    trimmed, or `InvalidInput` naming the field and the rule (a reason of 3 to 500 characters;
    to restrict, a known environment and an existing customer). Changes nothing; a page runs
    it on the click, before asking for a code."""
    reason = checked_reason(reason)
    if not lifting:
        if environment not in gh.policy.environments:
            raise InvalidInput("environment",
                               f"must be one of {', '.join(gh.policy.environments)}")
        check_exists(gh, environment, check_customer_id(customer_id))
    return reason


def _event(admin: Principal, action: str, environment: str, customer_id: str, reason: str
           ) -> AuditEvent:
    return event_for(admin, action, target_type="customer", target_id=customer_id,
                     customer_id=customer_id, reason=reason,
                     details={"environment": environment})

"""Who works a data-subject request. Filing assigns it to the privacy officer who filed it;
any privacy officer may hand a request that is not closed to another (`assign`), saying why
if they wish.

Contracts:
- The new assignee holds the privacy officer role now, by the one rule of who holds a role
  (`access.reviews.scope.holders`: an enabled user whose latest sign-in carried it and who is
  not suspended from it).
- An unknown person, a disabled one, one without the role, the present assignee and a closed
  request are refused, each leaving a `dsr.refused` event that says why; nothing changes.
- The `dsr.assigned` event names the new assignee as (issuer, subject), never an email, and
  carries the reason when one was given.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.dsr.requests import Status, StepRefuse, dsr_event, name_of, step
from access.errors import Conflict, InvalidInput
from access.identity.users import user_ref
from access.principal import Principal, Role
from access.reviews.scope import holders
from access.schema import User
from access.text import checked_reason

__all__ = ["Officer", "assign", "officers"]


@dataclass(frozen=True)
class Officer:
    """A privacy officer a request can be assigned to."""

    user_id: int
    name: str  # display name, else subject
    sub: str


def officers(gh: Gatehouse, principal: Principal) -> list[Officer]:
    """Everyone who may be assigned a request now, by name."""
    gh.authorize(principal, Action.DSR_PROGRESS)
    with gh.read() as db:
        return [Officer(u.id, name_of(u), u.sub) for u in holders(db, Role.PRIVACY_OFFICER)]


def assign(gh: Gatehouse, officer: Principal, dsr_id: int, assignee_id: int | None,
           reason: str | None = None) -> str:
    """Hand the request to the privacy officer whose user id is `assignee_id`; their name.
    None (a name that matched nobody) is refused as no such person. `reason` is optional:
    blank means none, anything else follows the reason rule."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        note = _optional_reason(reason, refuse)
        if dsr.status == Status.CLOSED:
            refuse(Conflict(f"request {dsr.id} is closed"))
        to = _assignee(db, assignee_id, refuse)
        if to.id == dsr.assignee_id:
            refuse(Conflict(f"request {dsr.id} is already assigned to {name_of(to)}"))
        dsr.assignee_id = to.id
        gh.audit(db, dsr_event(officer, "dsr.assigned", dsr, reason=note,
                               details={"assignee": user_ref(to)}))
        return name_of(to)


def _optional_reason(reason: str | None, refuse: StepRefuse) -> str | None:
    if reason is None or not reason.strip():
        return None
    try:
        return checked_reason(reason)
    except InvalidInput as error:
        refuse(error)


def _assignee(db: Session, assignee_id: object, refuse: StepRefuse) -> User:
    """The user `assignee_id`, if a request may be assigned to them; else refused."""
    user = db.get(User, assignee_id) \
        if isinstance(assignee_id, int) and not isinstance(assignee_id, bool) else None
    if user is None:
        refuse(InvalidInput("assignee", "there is no such person"))
    if user.disabled_at is not None:
        refuse(InvalidInput("assignee", f"{name_of(user)} is disabled: a disabled person "
                                        "cannot be assigned a request"))
    if user.id not in {u.id for u in holders(db, Role.PRIVACY_OFFICER)}:
        refuse(InvalidInput("assignee", f"{name_of(user)} does not hold the privacy officer "
                                        "role: only a privacy officer works a request"))
    return user

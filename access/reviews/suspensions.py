"""Roles a review withheld from a person, honoured whatever the IdP's group claim says.

Gatehouse cannot change the IdP, so revoking a role in a review writes a `RoleSuspension`:
sign-in (`access.identity.sessions`) drops the role from every new session and
`Gatehouse.authorize` drops it from a principal it meets. The first sign-in whose claim no
longer carries the role marks the IdP change as made (`idp_cleared_at`); until then the
change is listed as still to make.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from access.principal import Role
from access.schema import RoleSuspension

__all__ = ["at_sign_in", "withheld"]


def withheld(db: Session | Connection, user_id: int) -> frozenset[Role]:
    """The roles suspended for `user_id` (one indexed lookup)."""
    rows = db.execute(select(RoleSuspension.role).where(RoleSuspension.user_id == user_id))
    return frozenset(Role(r) for r in rows.scalars())


def at_sign_in(db: Session, user_id: int, claimed: frozenset[Role],
               now: datetime) -> frozenset[Role]:
    """The roles a new session of `user_id` gets from the `claimed` ones: all but the
    suspended. Marks a suspension whose role the claim no longer carries as cleared at the
    IdP."""
    suspensions = db.execute(select(RoleSuspension)
                             .where(RoleSuspension.user_id == user_id)).scalars().all()
    for suspension in suspensions:
        if suspension.idp_cleared_at is None and Role(suspension.role) not in claimed:
            suspension.idp_cleared_at = now
    return claimed - {Role(s.role) for s in suspensions}

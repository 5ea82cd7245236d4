"""Reading a request or a grant in order to change it: under a lock (FOR UPDATE on PostgreSQL,
BEGIN IMMEDIATE on SQLite), so two approvers, a double click or a sweeper racing an admin give
one outcome."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.errors import InvalidInput
from access.schema import AccessRequest, Grant, User

__all__ = ["grant_with_request", "request", "requester"]


def request(db: Session, request_id: int) -> AccessRequest:
    """The request `request_id`, locked, or `InvalidInput` if there is none."""
    found = db.execute(select(AccessRequest).where(AccessRequest.id == request_id)
                       .with_for_update()).scalar_one_or_none()
    if found is None:
        raise InvalidInput("request", f"there is no request {request_id}")
    return found


def grant_with_request(db: Session, grant_id: int) -> tuple[Grant, AccessRequest]:
    """The grant `grant_id` (locked) and its request, or `InvalidInput` if there is none."""
    row = db.execute(select(Grant, AccessRequest)
                     .join(AccessRequest, AccessRequest.id == Grant.request_id)
                     .where(Grant.id == grant_id).with_for_update()).first()
    if row is None:
        raise InvalidInput("grant", f"there is no grant {grant_id}")
    return row[0], row[1]


def requester(db: Session, user_id: int) -> None:
    """Lock the person `user_id` (their user row): what they file is decided one filing at a
    time, so a double click cannot pass a "nothing like it is pending" check twice."""
    db.execute(select(User.id).where(User.id == user_id).with_for_update())

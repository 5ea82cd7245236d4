"""Whether a customer may be served at all: a well-formed id, a customer that exists, not
purged, not restricted. Requests, approvals, break-glass and the broker all ask here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.context import Gatehouse
from access.data.customer_db.schema import Customer
from access.errors import Denied, InvalidInput
from access.schema import CustomerRestriction, PurgedCustomer
from audit.vocabulary import CUSTOMER_ID, CUSTOMER_ID_RULE


class CustomerPurged(Denied):
    """The customer's data was purged after the retention period; nothing is ever served."""


class CustomerRestricted(Denied):
    """The customer's data is under a restriction of processing (GDPR Art. 18)."""


def check_customer_id(customer_id: object) -> str:
    """`customer_id` if it is well-formed, else InvalidInput naming the field and the rule."""
    if not isinstance(customer_id, str) or not CUSTOMER_ID.fullmatch(customer_id):
        raise InvalidInput("customer", CUSTOMER_ID_RULE)
    return customer_id


def check_exists(gh: Gatehouse, environment: str, customer_id: str) -> None:
    """InvalidInput unless the environment's customer database has `customer_id` (no check
    where no customer database is configured for the environment)."""
    if not gh.data.serves(environment):
        return
    with gh.data.engine(environment).connect() as conn:
        found = conn.execute(select(Customer.customer_id).where(
            Customer.customer_id == customer_id)).first()
    if found is None:
        raise InvalidInput("customer", f"there is no customer {customer_id} in {environment}")


def was_purged(db: Session, environment: str, customer_id: str) -> bool:
    """Whether the customer's data was purged (its rows are gone, its id is remembered)."""
    return db.get(PurgedCustomer, (environment, customer_id)) is not None


def refuse_unservable(db: Session, environment: str, customer_id: str) -> None:
    """Raise CustomerPurged or CustomerRestricted if nothing may be done for the customer."""
    if was_purged(db, environment, customer_id):
        raise CustomerPurged(f"customer {customer_id} was purged after its retention period")
    if db.get(CustomerRestriction, (environment, customer_id)) is not None:
        raise CustomerRestricted(f"customer {customer_id} is restricted: processing of their "
                                 "data is paused until an admin lifts the restriction")

"""A world for data-subject-request tests: the team plus a privacy officer over real customer
data, on either engine, and helpers to find a subject's email the way the subject knows it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from access.context import Gatehouse
from access.data.customer_db.schema import Contact
from access.data.envelope import data_key, open_value
from access.dsr import requests as dsr
from access.principal import Principal
from tests.adversarial.support import World, world
from tests.support.workflow_helpers import with_privacy_officer


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dsr_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[World]:
    """One world per engine for the module; each test uses its own customers."""
    with world(request, request.param, tmp_path_factory.mktemp("dsr")) as w:
        with_privacy_officer(w.gh, w.idp, w.people)
        yield w


@dataclass(frozen=True)
class Subject:
    customer_id: str
    contact_id: int
    email: str


def subject_of(gh: Gatehouse, customer_id: str) -> Subject:
    """The first contact of `customer_id`, with the email in clear (as the person knows it)."""
    with gh.data.engine("production").connect() as conn:
        contact_id, sealed = conn.execute(select(Contact.id, Contact.email).where(
            Contact.customer_id == customer_id).order_by(Contact.id)).first() or (None, None)
        assert contact_id is not None and sealed is not None
        key = data_key(conn, gh.data.master, customer_id)
    return Subject(customer_id, contact_id,
                   open_value(key, customer_id, "contacts", "email", contact_id, sealed))


def officer(w: World) -> Principal:
    """The privacy officer with a fresh code (the clock moves half a minute)."""
    w.clock.advance(seconds=30)
    return w.people.step_up(w.gh, "priya")


def admin(w: World, name: str = "ada") -> Principal:
    w.clock.advance(seconds=30)
    return w.people.step_up(w.gh, name)


def filed(w: World, kind: str, customer_id: str, verified: bool = True,
          grounds: str | None = None) -> tuple[int, Subject]:
    person = subject_of(w.gh, customer_id)
    dsr_id = dsr.file(w.gh, officer(w), kind, "gdpr", person.email, grounds=grounds)
    if verified:
        dsr.verify_identity(w.gh, officer(w), dsr_id, "replied from the address on file")
    return dsr_id, person


__all__ = ["Subject", "admin", "dsr_world", "filed", "officer", "subject_of"]

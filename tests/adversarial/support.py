"""Shared ground for the adversarial tests: a signed-in team over a real database (optionally
shared by a whole module, because enrolling five people costs seconds of scrypt), grants
issued through the real workflow, and snapshots that prove a refused call changed nothing."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from access.context import Gatehouse
from access.data.sources import CustomerData
from access.schema import AccessBase
from access.workflow import create_request, decide_request
from audit.schema import events_table, leaves_table
from audit.sealer import seal_pending
from tests.support.data_helpers import attach_customer_data
from tests.support.databases import Database, postgres_database, sqlite_database
from tests.support.identity_helpers import FakeClock, LocalIdP, gatehouse
from tests.support.workflow_helpers import Team, draft, team

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    """Everything a test acts in: services, the database under them, the clock, the IdP, the
    five people of `tests.support.workflow_helpers.team`, and (optionally) customer data."""

    db: Database
    gh: Gatehouse
    clock: FakeClock
    idp: LocalIdP
    people: Team
    data: CustomerData | None


@contextmanager
def world(request: pytest.FixtureRequest, kind: str, tmp: Path,
          with_data: bool = True) -> Iterator[World]:
    """A `World` on `kind` ("sqlite" or "postgres"), torn down on exit."""
    if kind == "postgres":
        admin = request.getfixturevalue("postgres_admin")
        with postgres_database(admin) as db:
            yield _populate(db, tmp, with_data)
        return
    db = sqlite_database(tmp)
    try:
        yield _populate(db, tmp, with_data)
    finally:
        db.dispose()


def _populate(db: Database, tmp: Path, with_data: bool) -> World:
    clock = FakeClock()
    idp = LocalIdP(clock)
    gh = gatehouse(db, clock, idp)
    if with_data:
        gh = attach_customer_data(gh, tmp, clock)
    return World(db, gh, clock, idp, team(gh, idp), gh.data if with_data else None)


def granted(gh: Gatehouse, people: Team, customer: str = "cust-0001",
            scopes: tuple[str, ...] = ("contacts",), actions: tuple[str, ...] = ("read",),
            duration: timedelta = timedelta(hours=1)) -> int:
    """A live grant of sam's, approved by as many admins as policy wants; its id."""
    request_id = create_request.create(gh, people.sam, draft(
        customer_id=customer, scopes=list(scopes), actions=list(actions), duration=duration))
    for admin in (people.ada, people.alan):
        decision = decide_request.decide(gh, admin, request_id, approve=True)
        if decision.grant_id is not None:
            return decision.grant_id
    raise AssertionError(f"request {request_id} was not granted")


def fresh(gh: Gatehouse, people: Team, clock: FakeClock) -> Team:
    """Half a minute later everyone enters a new code (a code is accepted once per time step):
    step-up is fresh again whatever the clock did before."""
    clock.advance(seconds=30)
    for name in ("sam", "sky", "ada", "alan", "audrey"):
        people.step_up(gh, name)
    return people


def last_event_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(events_table.c.id), 0)))
                   .scalar_one())


def events_after(engine: Engine, event_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(events_table).where(events_table.c.id > event_id)
                            .order_by(events_table.c.id)).mappings().all()
    return [dict(r) for r in rows]


def state_digest(engine: Engine) -> str:
    """SHA-256 over every row of every table of the access domain (not the audit log): equal
    digests mean a call changed nothing but, at most, the log."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in AccessBase.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{rows!r}\n".encode())
    return digest.hexdigest()


def audit_keys(directory: Path, patch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    """A checkpoint signing key pair and checkpoint directory, made the configured ones."""
    from audit.checkpoint import generate_keypair, load_private_key

    keys = directory / "keys"
    generate_keypair(keys / "audit-signing.key", keys / "audit-signing.pub")
    patch.setenv("GATEHOUSE_AUDIT_SIGNING_KEY", str(keys / "audit-signing.key"))
    patch.setenv("GATEHOUSE_AUDIT_PUBLIC_KEY", str(keys / "audit-signing.pub"))
    patch.setenv("GATEHOUSE_CHECKPOINT_DIR", str(directory / "checkpoints"))
    return load_private_key(keys / "audit-signing.key")


def counts(engine: Engine) -> tuple[int, int]:
    """(events, sealed leaves)."""
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        sealed = conn.execute(select(func.count()).select_from(leaves_table)).scalar_one()
    return int(events), int(sealed)


def seal_until_caught_up(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path,
                         seconds: float = 60) -> int:
    """Seal until every event is sealed, as the sealer daemon does every second; the tree size.

    On PostgreSQL the sealer waits for every transaction in flight anywhere on the server
    (see test_faults.py), so a single pass can legitimately seal less while other tests run.
    """
    deadline = time.monotonic() + seconds
    while True:
        seal_pending(engine, key, checkpoint_dir)
        events, sealed = counts(engine)
        if sealed == events or time.monotonic() > deadline:
            return sealed
        time.sleep(0.05)


def cli_env(db_url: str, data_dir: Path) -> dict[str, str]:
    """Environment for `python -m audit` / `python -m access` against `db_url`."""
    env = {**os.environ, "GATEHOUSE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT),
           "GATEHOUSE_DATABASE_URL": db_url}
    for name in ("GATEHOUSE_AUDIT_SIGNING_KEY", "GATEHOUSE_AUDIT_PUBLIC_KEY",
                 "GATEHOUSE_CHECKPOINT_DIR", "GATEHOUSE_AUDIT_KEY_DIR"):
        env.pop(name, None)
    return env


PYTHON = sys.executable


def eventually(check: Callable[[], bool], seconds: float = 30, every: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()

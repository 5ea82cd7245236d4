"""Shared fixtures: real databases (a SQLite file, a fresh PostgreSQL database with its own
owner and app roles), a signing key, a checkpoint directory."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from access.migrate import upgrade
from access.pg_roles import RolePlan, create_roles
from audit.engine import make_engine

PG_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_PG_ADMIN_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    why = _postgres_available()
    if why:
        if REQUIRE_PG:
            pytest.fail(f"GATEHOUSE_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(f"{why} (set GATEHOUSE_TEST_PG_ADMIN_URL; CI requires it)")
    return PG_ADMIN_URL


@dataclass
class Database:
    """A migrated console database. `engine` connects as the app; `owner` can bypass triggers
    the way a database owner (or an attacker holding the file) could."""

    kind: str
    url: str
    engine: Engine
    owner: Engine

    def dispose(self) -> None:
        self.engine.dispose()
        self.owner.dispose()


def sqlite_database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'gatehouse.db'}"
    upgrade(url)
    return Database("sqlite", url, make_engine(url), make_engine(url))


@pytest.fixture
def pg_database(postgres_admin: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    suffix = uuid.uuid4().hex[:10]
    plan = RolePlan(f"gh_test_{suffix}", f"gh_owner_{suffix}", f"gh_app_{suffix}",
                    "owner-pw", "app-pw")
    owner_url, app_url = create_roles(postgres_admin, plan)
    monkeypatch.setenv("GATEHOUSE_APP_ROLE", plan.app)
    upgrade(owner_url)
    db = Database("postgres", app_url, make_engine(app_url), make_engine(owner_url))
    try:
        yield db
    finally:
        db.dispose()
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {plan.database} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {plan.app}")
            conn.execute(f"DROP ROLE IF EXISTS {plan.owner}")


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = sqlite_database(tmp_path)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same test on both engines."""
    if request.param == "sqlite":
        database = sqlite_database(tmp_path)
        yield database
        database.dispose()
    else:
        yield request.getfixturevalue("pg_database")


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def checkpoint_dir(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints"

"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database with its own roles."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from access.migrate import upgrade
from audit.engine import make_engine

PG_ADMIN_URL = os.environ.get("GATEHOUSE_TEST_PG_ADMIN_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") == "1"


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".splitlines()[0]


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

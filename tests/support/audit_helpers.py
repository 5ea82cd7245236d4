"""Helpers for audit tests: write events through the real append path, and tamper with the
tables the way someone holding the database file or its owner role could."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from audit.checkpoint import generate_keypair, load_private_key
from audit.engine import write_engine
from audit.events import Actor, AuditEvent
from audit.log import append
from audit.schema import APPEND_ONLY_TABLES, events_table
from audit.sealer import seal_pending
from audit.settings import AuditSettings, load_settings
from tests.support.databases import Database, admin_url_for

ALICE = Actor("https://idp.example", "alice", "Alice Support", ("requester",))


def event(i: int) -> AuditEvent:
    return AuditEvent("data.read", ALICE, customer_id=f"cust-{i % 7}", ticket=f"SUP-{i}",
                      details={"scope": "billing", "row_count": i, "columns": ["plan", "status"]})


def write_events(db: Database, count: int, start: int = 0, per_transaction: int = 1
                 ) -> list[int]:
    """Append `count` distinct events, `per_transaction` to a transaction; return their ids."""
    ids: list[int] = []
    for first in range(start, start + count, per_transaction):
        with write_engine(db.engine).begin() as conn:
            last = min(first + per_transaction, start + count)
            ids.extend(append(conn, event(i)) for i in range(first, last))
    return ids


def tamper(db: Database, statements: Sequence[str]) -> None:
    """Run `statements` with the append-only triggers and foreign keys out of the way."""
    if db.kind == "sqlite":
        path = make_url(db.url).database
        assert path
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys=OFF")
        for table in APPEND_ONLY_TABLES:
            for verb in ("update", "delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return
    with psycopg.connect(admin_url_for(db.url), autocommit=True) as pg, pg.transaction():
        # What a superuser can do: replica mode skips user triggers and FK checks.
        pg.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            pg.execute(statement.encode())


def make_signing_keys() -> AuditSettings:
    """The data folder's audit signing key pair, made at the configured paths (as `python -m
    audit keygen` makes it); the settings naming them and the checkpoint folder."""
    settings = load_settings()
    generate_keypair(settings.signing_key_path, settings.public_key_path)
    return settings


def seal_with_settings(engine: Engine) -> int:
    """Seal what is pending with the configured signing key into the configured checkpoint
    folder (as `python -m audit seal` does); the tree size after."""
    settings = load_settings()
    return seal_pending(engine, load_private_key(settings.signing_key_path),
                        settings.checkpoint_dir).tree_size


def logged(engine: Engine, prefix: str = "") -> list[dict[str, Any]]:
    """The audit events whose action starts with `prefix`, oldest first, as dicts."""
    with engine.connect() as conn:
        rows = conn.execute(select(events_table).order_by(events_table.c.id)).mappings().all()
    return [dict(r) for r in rows if r["action"].startswith(prefix)]


def recorded(engine: Engine, action: str) -> list[dict[str, Any]]:
    """The audit events of exactly `action`, oldest first, as dicts."""
    return [e for e in logged(engine, action) if e["action"] == action]


def seal_everything(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path,
                    timeout: float = 60.0) -> int:
    """Seal until every event is sealed; return the tree size.

    On PostgreSQL the sealer stops below the oldest transaction still running in the test's
    database, so a background worker's open transaction can hold it back for a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        size = seal_pending(db.engine, key, checkpoint_dir).tree_size
        with db.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        if size == total:
            return size
        if time.monotonic() > deadline:
            raise AssertionError(f"only {size} of {total} events sealed after {timeout}s")
        time.sleep(0.05)

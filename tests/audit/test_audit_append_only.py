"""The database itself refuses to change or remove audit rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from audit.schema import APPEND_ONLY_TABLES
from tests.support.audit_helpers import seal_everything, write_events
from tests.support.databases import Database

CHANGES = {
    "audit_events": ["UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events"],
    "audit_leaves": ["UPDATE audit_leaves SET seq = seq + 1", "DELETE FROM audit_leaves"],
    "audit_nodes": ["UPDATE audit_nodes SET idx = idx + 1", "DELETE FROM audit_nodes"],
    "audit_checkpoints": ["UPDATE audit_checkpoints SET note = ''",
                          "DELETE FROM audit_checkpoints"],
}


def _seal_some(db: Database, key: Ed25519PrivateKey, checkpoint_dir: Path) -> Database:
    write_events(db, 300)  # > 256 leaves, so audit_nodes has a row too
    seal_everything(db, key, checkpoint_dir)
    return db


@pytest.fixture
def sealed(db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> Database:
    return _seal_some(db, signing_key, checkpoint_dir)


@pytest.fixture
def pg_sealed(pg_database: Database, signing_key: Ed25519PrivateKey,
              checkpoint_dir: Path) -> Database:
    return _seal_some(pg_database, signing_key, checkpoint_dir)


def _refused(engine: Engine, statement: str) -> str:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    return str(caught.value.orig)


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_update_and_delete_abort_even_for_the_owner(sealed: Database, table: str) -> None:
    for statement in CHANGES[table]:
        message = _refused(sealed.owner, statement)
        assert f"{table} is append-only" in message


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_truncate_aborts_even_for_the_owner(pg_sealed: Database, table: str) -> None:
    """PostgreSQL only: TRUNCATE skips DELETE triggers, so it has its own (SQLite has none)."""
    message = _refused(pg_sealed.owner, f"TRUNCATE {table} CASCADE")
    assert "is append-only: TRUNCATE refused" in message


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_app_role_lacks_update_delete_truncate_privileges(pg_database: Database,
                                                           table: str) -> None:
    for statement in [*CHANGES[table], f"TRUNCATE {table}"]:
        assert "permission denied" in _refused(pg_database.engine, statement)


def test_app_role_cannot_disable_the_triggers(pg_database: Database) -> None:
    message = _refused(pg_database.engine, "ALTER TABLE audit_events DISABLE TRIGGER USER")
    assert "must be owner" in message


def test_app_role_can_append_read_and_seal(pg_database: Database,
                                           signing_key: Ed25519PrivateKey,
                                           checkpoint_dir: Path) -> None:
    write_events(pg_database, 3)
    assert seal_everything(pg_database, signing_key, checkpoint_dir) == 3
    with pg_database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 3

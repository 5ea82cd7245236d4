"""PostgreSQL roles that match the threat model: the console appends events and reads the tree;
only the sealer writes the tree; nobody else may even connect."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from access.errors import InvalidInput
from access.ops.migrate import upgrade
from access.ops.pg_roles import (
    APP_STATEMENT_TIMEOUT,
    IDLE_IN_TRANSACTION,
    SEALER_STATEMENT_TIMEOUT,
    RolePlan,
    create_all_roles,
)
from audit.database import verify_database
from audit.engine import make_engine
from audit.log import append
from audit.sealer import seal_pending
from tests.support.audit_helpers import event, write_events
from tests.support.databases import Database


@dataclass
class ThreeRoles:
    console: Database  # `engine` connects as the console's role
    sealer: Engine
    plan: RolePlan


@pytest.fixture
def three_roles(postgres_admin: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreeRoles]:
    suffix = uuid.uuid4().hex[:10]
    plan = RolePlan(f"gh_test_{suffix}", f"gh_owner_{suffix}", f"gh_app_{suffix}", "owner-pw",
                    "app-pw", f"gh_sealer_{suffix}", "sealer-pw")
    urls = create_all_roles(postgres_admin, plan)
    assert urls.sealer is not None
    monkeypatch.setenv("GATEHOUSE_APP_ROLE", plan.app)
    monkeypatch.setenv("GATEHOUSE_SEALER_ROLE", str(plan.sealer))
    upgrade(urls.owner)
    console = Database("postgres", urls.app, make_engine(urls.app), make_engine(urls.owner))
    sealer = make_engine(urls.sealer)
    try:
        yield ThreeRoles(console, sealer, plan)
    finally:
        console.dispose()
        sealer.dispose()
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {plan.database} WITH (FORCE)")
            for role in (plan.app, plan.sealer, plan.owner):
                conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize("statement", [
    "INSERT INTO audit_leaves (seq, event_id, leaf_hash) VALUES (1000000000000, {id}, '\\x00')",
    "INSERT INTO audit_nodes (level, idx, hash) VALUES (8, 999999, '\\x00')",
    "INSERT INTO audit_checkpoints (tree_size, root, ts_us, note) VALUES (1000000000, '\\x00', 0, "
    "'junk')",
])
def test_the_console_role_cannot_write_the_tree(three_roles: ThreeRoles, statement: str) -> None:
    [event_id] = write_events(three_roles.console, 1)
    with pytest.raises(ProgrammingError, match="permission denied"), \
            three_roles.console.engine.begin() as conn:
        conn.execute(text(statement.format(id=event_id)))


def test_the_sealer_role_seals_what_the_console_appends(
        three_roles: ThreeRoles, signing_key: Ed25519PrivateKey, tmp_path: Path) -> None:
    write_events(three_roles.console, 12)
    result = seal_pending(three_roles.sealer, signing_key, tmp_path / "checkpoints")
    assert result.tree_size == 12
    report = verify_database(three_roles.console.engine, signing_key.public_key(),
                             tmp_path / "checkpoints")
    assert report.ok and report.tree_size == 12, report.problems


def test_public_cannot_connect_and_idle_transactions_are_ended(
        three_roles: ThreeRoles, postgres_admin: str) -> None:
    stranger = f"gh_stranger_{uuid.uuid4().hex[:8]}"
    url = make_url(three_roles.console.url)
    with psycopg.connect(postgres_admin, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {stranger} LOGIN PASSWORD 'pw'")
        try:
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(host=url.host, port=url.port, dbname=url.database,
                                user=stranger, password="pw").close()
        finally:
            admin.execute(f"DROP ROLE {stranger}")
    for engine in (three_roles.console.engine, three_roles.sealer):
        with engine.connect() as conn:
            shown = conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar()
        assert shown == "1min" and IDLE_IN_TRANSACTION == "60s"


def test_each_role_gets_its_statement_timeout(three_roles: ThreeRoles) -> None:
    shown = []
    for engine in (three_roles.console.engine, three_roles.sealer):
        with engine.connect() as conn:
            shown.append(conn.execute(text("SHOW statement_timeout")).scalar())
    assert shown == ["30s", "1min"]
    assert (APP_STATEMENT_TIMEOUT, SEALER_STATEMENT_TIMEOUT) == ("30s", "60s")


def test_a_statement_over_the_limit_is_cancelled_and_the_sealer_seals_on(
        three_roles: ThreeRoles, postgres_admin: str, signing_key: Ed25519PrivateKey,
        tmp_path: Path) -> None:
    """The insider: a console session that, inside a write transaction (an xid, so the
    sealer's horizon), runs a statement that does not end. The role's timeout cancels it, the
    transaction rolls back, and the sealer seals everything committed around it."""
    create_all_roles(postgres_admin, replace(three_roles.plan, app_statement_timeout="1s",
                                             sealer_statement_timeout="2s"))
    three_roles.console.engine.dispose()  # new sessions take the new role settings
    three_roles.sealer.dispose()
    write_events(three_roles.console, 3)
    with three_roles.console.engine.connect() as conn:
        append(conn, event(100))  # the transaction now holds an xid
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(600)"))
        conn.rollback()
    with three_roles.sealer.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "2s"
    write_events(three_roles.console, 2, start=3)
    result = seal_pending(three_roles.sealer, signing_key, tmp_path / "checkpoints")
    assert result.tree_size == 5
    report = verify_database(three_roles.console.engine, signing_key.public_key(),
                             tmp_path / "checkpoints")
    assert report.ok and report.tree_size == 5, report.problems


@pytest.mark.parametrize("value", ["0", "0s", "-1s", "30 s", "1d", "30s; DROP ROLE x", ""])
def test_a_statement_timeout_that_is_not_a_positive_duration_is_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="app_statement_timeout: must be a positive"):
        RolePlan("gatehouse", "gh_owner", "gh_app", app_statement_timeout=value)


def test_the_statement_timeouts_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEHOUSE_APP_STATEMENT_TIMEOUT", "500ms")
    monkeypatch.setenv("GATEHOUSE_SEALER_STATEMENT_TIMEOUT", "2min")
    plan = RolePlan("gatehouse", "gh_owner", "gh_app", sealer="gh_sealer")
    assert (plan.app_statement_timeout, plan.sealer_statement_timeout) == ("500ms", "2min")

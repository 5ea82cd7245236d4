"""Shared fixtures: real databases (a SQLite file, a fresh PostgreSQL database with its own
owner and app roles), a signing key, a checkpoint directory, a clock and an identity provider."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, make_url

from access.context import Gatehouse
from audit.engine import make_engine
from audit.settings import AuditSettings
from tests.support.audit_helpers import make_signing_keys
from tests.support.console_helpers import prepare_data_dir
from tests.support.databases import (
    PG_ADMIN_URL,
    REQUIRE_PG,
    Database,
    drop_postgres_templates,
    postgres_database,
    postgres_unavailable,
    sqlite_database,
)
from tests.support.identity_helpers import FakeClock, LocalIdP, gatehouse


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser test files first, the most tests first; then the rest as collected. Workers
    take whole files (`--dist loadfile`: a file's module-scoped consoles and worlds are built
    once), and the run ends when the last file does: a browser file (a console to start, tens
    of seconds a test) handed out last would run alone while the other worker sits idle."""
    del config
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)

    def browser_tests(tests: list[pytest.Item]) -> int:
        return sum(1 for t in tests if t.get_closest_marker("browser"))

    items[:] = [t for tests in sorted(files.values(), key=browser_tests, reverse=True)
                for t in tests]


@pytest.fixture(scope="session", autouse=True)
def _database_templates() -> Iterator[None]:
    """The migrated templates test databases are copied from (tests/support/databases.py)
    live as long as the test process; dropped, with the process's roles, at its end."""
    yield
    drop_postgres_templates()


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    why = postgres_unavailable()
    if why:
        if REQUIRE_PG:
            pytest.fail(f"GATEHOUSE_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(f"{why} (set GATEHOUSE_TEST_PG_ADMIN_URL; CI requires it)")
    return PG_ADMIN_URL


@pytest.fixture
def pg_database(postgres_admin: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    with postgres_database(postgres_admin) as db:
        # for the test's own migrations and role checks: the app role is the URL's user
        monkeypatch.setenv("GATEHOUSE_APP_ROLE", str(make_url(db.url).username))
        yield db


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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def idp(clock: FakeClock) -> LocalIdP:
    return LocalIdP(clock)


@pytest.fixture
def gh(sqlite_db: Database, clock: FakeClock, idp: LocalIdP) -> Gatehouse:
    """The services over a real SQLite database, a test IdP and a hand-moved clock."""
    return gatehouse(sqlite_db, clock, idp)


@pytest.fixture
def gh_any(db: Database, clock: FakeClock, idp: LocalIdP) -> Gatehouse:
    """The same, on both engines."""
    return gatehouse(db, clock, idp)


@pytest.fixture(scope="session")
def oidc() -> Iterator[str]:
    """A real local OpenID provider (oidc-provider-mock) with the demo personas."""
    from scripts.demo_idp import register_personas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the provider imports deprecated Authlib modules
        import oidc_provider_mock

        with oidc_provider_mock.run_server_in_thread() as server:
            url = f"http://localhost:{server.server_port}"
            register_personas(url)
            yield url


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated console database and keys under a fresh GATEHOUSE_DATA_DIR."""
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GATEHOUSE_DATABASE_URL", raising=False)
    prepare_data_dir(tmp_path)
    return tmp_path


@pytest.fixture
def console_engine(data_dir: Path) -> Iterator[Engine]:
    """The console database of `data_dir` (what the AppTest console writes to), with the
    audit signing keys made, for pages that seal, verify or prove."""
    make_signing_keys()
    engine = make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def audit_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditSettings:
    """A fresh data folder (GATEHOUSE_DATA_DIR) holding just the audit signing keys; its
    settings (the key paths, the checkpoint folder): for services that seal and prove."""
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path / "data"))
    return make_signing_keys()

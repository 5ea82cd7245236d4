"""Schema migrations (Alembic), run as the owner role on PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from access.keys.files import private_sqlite
from audit.engine import make_engine
from audit.settings import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (a new SQLite file is created 0600)."""
    private_sqlite(url, check_existing=False)
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()

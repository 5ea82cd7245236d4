"""Alembic environment: batch mode (SQLite needs it for ALTER), one connection per run."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from access.schema import AccessBase
from audit.engine import make_engine
from audit.schema import AuditBase

config = context.config
target_metadata = [AuditBase.metadata, AccessBase.metadata]


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with make_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        run(conn)
        conn.commit()

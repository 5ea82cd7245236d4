"""How far the sealer has got: for the console and for monitoring."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from audit.schema import checkpoints_table, events_table, leaves_table


@dataclass(frozen=True)
class LogStatus:
    events: int
    sealed: int
    latest_checkpoint: str | None


def log_status(engine: Engine) -> LogStatus:
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        sealed = conn.execute(select(func.count()).select_from(leaves_table)).scalar_one()
        note = conn.execute(select(checkpoints_table.c.note)
                            .order_by(checkpoints_table.c.tree_size.desc()).limit(1)).scalar()
    return LogStatus(int(events), int(sealed), note)

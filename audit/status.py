"""How far the sealer has got: for the console and for monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, func, select, true, tuple_

from audit.checkpoint import CheckpointInvalid, open_checkpoint
from audit.engine import is_sqlite
from audit.events import to_micros
from audit.log import utc_now
from audit.schema import checkpoints_table, events_table, leaves_table


@dataclass(frozen=True)
class LogStatus:
    events: int
    sealed: int
    latest_checkpoint: str | None
    unverified: int = 0  # newer checkpoint rows passed over: they do not verify (with a key)


def log_status(engine: Engine, public: Ed25519PublicKey | None = None) -> LogStatus:
    """Counts, and the newest checkpoint row's note. With `public`, the newest row whose note
    verifies and signs the size it is filed under (`newest_signed_note`): a junk row under a
    huge `tree_size` then cannot pass for the newest checkpoint."""
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        sealed = conn.execute(select(func.count()).select_from(leaves_table)).scalar_one()
        unverified = 0
        if public is not None:
            note, unverified = _newest_signed(conn, public, -1, 1_000)
        else:
            note = conn.execute(select(checkpoints_table.c.note)
                                .order_by(checkpoints_table.c.tree_size.desc()).limit(1)).scalar()
    return LogStatus(int(events), int(sealed), note, unverified)


def newest_signed_note(conn: Connection, public: Ed25519PublicKey, above: int = -1,
                       look_at: int = 1_000) -> str | None:
    """The note of the newest checkpoint row (of `tree_size > above`) that opens under `public`
    and signs the size it is filed under; rows that do not are passed over (at most `look_at`
    rows are read)."""
    return _newest_signed(conn, public, above, look_at)[0]


def _newest_signed(conn: Connection, public: Ed25519PublicKey, above: int, look_at: int
                   ) -> tuple[str | None, int]:
    """`newest_signed_note`, and how many newer rows it passed over."""
    cp = checkpoints_table.c
    rows = conn.execute(select(cp.tree_size, cp.note).where(cp.tree_size > above)
                        .order_by(cp.tree_size.desc()).limit(look_at))
    for passed, (tree_size, note) in enumerate(rows):
        try:
            if open_checkpoint(note, public).size == tree_size:
                return str(note), passed
        except CheckpointInvalid:
            continue
    return None, 0 if look_at == 0 else len(conn.execute(
        select(cp.tree_size).where(cp.tree_size > above).limit(look_at)).all())


def above_sealed(conn: Connection, size: int | None = None) -> Any:
    """A WHERE clause for the events after the last sealed one in sealing order (id order on
    SQLite, (txid, id) on PostgreSQL): the unsealed tail, by index. `size`: the verified tree
    size (the sealer's); else the highest leaf row, which a stray leaf can mislead."""
    e, leaves = events_table.c, leaves_table.c
    query = select(e.id, e.txid).join(leaves_table, leaves.event_id == e.id)
    if size is not None:
        query = query.where(leaves.seq == size - 1)
    last = conn.execute(query.order_by(leaves.seq.desc()).limit(1)).first()
    if last is None:
        return true()
    if is_sqlite(conn):
        return e.id > last.id
    return tuple_(e.txid, e.id) > tuple_(last.txid, last.id)


def oldest_unsealed(conn: Connection) -> tuple[int, int] | None:
    """(id, ts_us) of the unsealed event with the earliest time, or None when all is sealed."""
    e = events_table.c
    row = conn.execute(select(e.id, e.ts_us).where(above_sealed(conn))
                       .order_by(e.ts_us, e.id).limit(1)).first()
    return None if row is None else (int(row.id), int(row.ts_us))


def seal_lag_us(conn: Connection, now_us: int | None = None) -> int | None:
    """How long the oldest unsealed event has waited (by its database-stamped time on
    PostgreSQL), or None when everything is sealed."""
    oldest = conn.execute(select(func.min(events_table.c.ts_us))
                          .where(above_sealed(conn))).scalar()
    if oldest is None:
        return None
    return (to_micros(utc_now()) if now_us is None else now_us) - int(oldest)

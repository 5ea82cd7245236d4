"""The sealer: gives committed events their place in the Merkle tree and signs checkpoints.

Appends never wait for it (a hash chain computed under a lock at insert time ran at 0.21× raw
INSERT throughput on PostgreSQL with 8 writers; see docs/benchmarks.md). Instead one sealer at a
time reads events in commit order, assigns gap-free leaf indexes, stores leaf hashes and complete
subtree hashes, and writes a signed checkpoint in the same transaction, then publishes it to a
directory outside the database.

Commit order: on SQLite writers are serialised, so id order is commit order. On PostgreSQL ids
are handed out before commit and commit out of order, so the sealer takes only events whose
writing transaction is older than the oldest one still in flight in this database (see
`horizon`), in (txid, id) order: nothing unsealed can later appear before a sealed event.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine, Table, Text, cast, insert, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from audit.canonical import ENCODING_VERSION, FIELDS, stored_leaf_hashes
from audit.checkpoint import (
    Checkpoint,
    CheckpointInvalid,
    open_checkpoint,
    publish,
    sign_checkpoint,
)
from audit.engine import is_sqlite, polling_write_engine
from audit.events import SYSTEM, AuditEvent, to_micros
from audit.log import Clock, append, utc_now
from audit.query import driver_rows
from audit.schema import checkpoints_table, events_table, leaves_table, nodes_table
from audit.settings import BACKDATE_ALLOWANCE_US
from audit.statements import state_seen
from audit.status import above_sealed
from audit.tree import STORED_LEVEL, StoredTree
from audit.verification.report import printable
from audit.vocabulary import Outcome

_ADVISORY_KEY = 0x6761746568  # "gateh": one sealer per PostgreSQL database
DEFAULT_BATCH = 5_000


class SealerBusy(RuntimeError):
    """Another sealer holds the guard; two sealers would race for the same leaf indexes."""


@dataclass(frozen=True)
class Skipped:
    """A checkpoint row or file the sealer went on without: it does not verify, or it holds a
    signed note of another size than it is filed under. Named by where it is, never by its
    text."""

    source: str  # "row" or "file"
    name: str  # the row's tree_size, or the file's name (escaped)
    why: str

    def __str__(self) -> str:
        return f"skipped checkpoint {self.source} {self.name}: {self.why}"


@dataclass(frozen=True)
class Backdated:
    """An event sealed with a time further before its predecessor's in sealing order (or the
    previous checkpoint's) than the allowance: sealed all the same (refusing it would hide it),
    and reported as an `audit.sealer.backdated` event."""

    event_id: int
    behind_us: int
    against: str  # "predecessor" or "checkpoint"

    def __str__(self) -> str:
        return (f"backdated event {self.event_id}: dated {self.behind_us // 1_000_000} s "
                f"before its {self.against}")


@dataclass(frozen=True)
class SealResult:
    sealed: int
    tree_size: int
    checkpoint: Checkpoint | None
    skipped: tuple[Skipped, ...] = ()
    backdated: tuple[Backdated, ...] = ()


class TreeDamaged(RuntimeError):
    """The stored tree does not give the last signed root: extending it would sign damage."""


def seal_pending(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path,
                 batch_size: int = DEFAULT_BATCH, clock: Clock = utc_now,
                 reported: set[Skipped] | None = None,
                 backdate_allowance_us: int = BACKDATE_ALLOWANCE_US) -> SealResult:
    """Seal everything sealable now, one transaction and one checkpoint per batch.

    Junk in the checkpoint table or directory does not stop it: such a row or file is skipped,
    and reported in the result and, once per `reported` set (a pass's own by default), as an
    `audit.sealer.skipped` event. TreeDamaged if the stored tree disagrees with the newest
    signed checkpoint (it is not extended: that is for verify to name, not to sign over).

    Every pass ends with a signed statement of what it saw committed above the sealed tree
    (`audit.statements`), published next to the checkpoints, even when it could seal nothing.
    An event dated too far back is sealed and reported (`Backdated`).
    """
    reported = set() if reported is None else reported
    sealed, skipped, backdated = 0, list[Skipped](), list[Backdated]()
    while True:
        last = _seal_batch(engine, key, checkpoint_dir, batch_size, clock, reported,
                           backdate_allowance_us)
        skipped += last.skipped
        backdated += last.backdated
        if last.checkpoint is not None:
            publish(checkpoint_dir, last.checkpoint)
        sealed += last.sealed
        if last.sealed < batch_size or not last.sealed:
            _state_seen(engine, key, checkpoint_dir, last.tree_size, clock)
            return SealResult(sealed, last.tree_size, last.checkpoint,
                              tuple(dict.fromkeys(skipped)), tuple(backdated))


def _state_seen(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path, sealed: int,
                clock: Clock) -> None:
    """Sign and publish the ids committed above the `sealed` leaves, as seen now."""
    with engine.connect() as conn:
        above = above_sealed(conn, sealed)
        ids = conn.execute(select(events_table.c.id).where(above)).scalars().all()
    state_seen(key, checkpoint_dir, sealed, ids, to_micros(clock()))


def _backdated(rows: list[tuple[Any, ...]], previous_ts: int | None,
               checkpoint_ts: int | None, allowance: int) -> list[Backdated]:
    """The rows (in sealing order; ts_us at index 3) dated before their predecessor, or the
    previous checkpoint, by more than `allowance`: `audit.verification.backdating`'s rule."""
    found = []
    for row in rows:
        ts = row[3]
        if not isinstance(ts, int):
            continue
        if previous_ts is not None and ts < previous_ts - allowance:
            found.append(Backdated(row[0], previous_ts - ts, "predecessor"))
        elif checkpoint_ts is not None and ts < checkpoint_ts - allowance:
            found.append(Backdated(row[0], checkpoint_ts - ts, "checkpoint"))
        else:
            previous_ts = ts
    return found


def _seal_batch(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path, batch_size: int,
                clock: Clock, reported: set[Skipped], allowance: int) -> SealResult:
    with polling_write_engine(engine).begin() as conn:
        latest, skipped = latest_signed(conn, checkpoint_dir, key)
        size = 0 if latest is None else latest.size
        tree = StoredTree(conn)
        frontier = tree.frontier(size)
        if latest is not None and frontier.root() != latest.root:
            raise TreeDamaged(f"the stored tree of size {size} does not give the signed root "
                              "of that size: not extending it (run python -m audit verify)")
        _report(conn, [s for s in skipped if s not in reported], clock)
        reported.update(skipped)
        rows, previous_ts = _pending(conn, size, batch_size)
        if not rows:
            return SealResult(0, size, None, tuple(skipped))
        backdated = _backdated(rows, previous_ts, None if latest is None else latest.ts_us,
                               allowance)
        _report_backdated(conn, backdated, clock)
        digests = stored_leaf_hashes([row[2:-1] for row in rows], [row[-1] for row in rows])
        leaves, nodes = [], []
        for row, digest in zip(rows, digests, strict=True):
            seq = frontier.size
            leaves.append({"seq": seq, "event_id": row[0], "leaf_hash": digest})
            for level, idx, node in frontier.append(digest):
                if level >= STORED_LEVEL:
                    nodes.append({"level": level, "idx": idx, "hash": node})
        _insert_leaves(conn, leaves)
        if nodes:
            conn.execute(insert(nodes_table), nodes)
        checkpoint = sign_checkpoint(key, frontier.size, frontier.root(), to_micros(clock()),
                                     None if latest is None else latest.note_hash)
        # A row slipped in at this very size must not stop sealing: the checkpoint is then
        # kept only outside the database, and the next pass skips that row as junk.
        conn.execute(_insert_ignoring_conflict(conn, checkpoints_table), {
            "tree_size": checkpoint.size, "root": checkpoint.root, "ts_us": checkpoint.ts_us,
            "note": checkpoint.note})
        return SealResult(len(leaves), frontier.size, checkpoint, tuple(skipped),
                          tuple(backdated))


def _insert_ignoring_conflict(conn: Connection, table: Table) -> Any:
    if is_sqlite(conn):
        return sqlite_insert(table).on_conflict_do_nothing()
    return postgresql_insert(table).on_conflict_do_nothing()


def latest_signed(conn: Connection, checkpoint_dir: Path, key: Ed25519PrivateKey
                  ) -> tuple[Checkpoint | None, list[Skipped]]:
    """The newest checkpoint by its *signed* size, from the database and the directory, and
    what was skipped on the way; checkpoints committed but not yet published (a crash between
    the two) are published here.

    Junk cannot steer this: a row or file counts only if it opens under the key and signs the
    size it is filed under, so a huge `tree_size` or file name holding an old (valid) note is
    skipped, and reported, like an unparseable one.
    """
    public = key.public_key()
    skipped: list[Skipped] = []
    published = _newest_published(checkpoint_dir, public, skipped)
    floor = 0 if published is None else published.size
    cp = checkpoints_table.c
    rows = conn.execute(select(cp.tree_size, cp.note).where(cp.tree_size >= floor)
                        .order_by(cp.tree_size.desc()).limit(_ROWS_LOOKED_AT)).all()
    unpublished: list[Checkpoint] = []
    for tree_size, note in rows:
        checkpoint = _opened(note, int(tree_size), public)
        if checkpoint is None:
            skipped.append(Skipped("row", str(tree_size), _why(note, int(tree_size), public)))
            continue
        if published is not None and checkpoint.size == published.size:
            break
        unpublished.append(checkpoint)
        if published is not None and checkpoint.prev == published.note_hash:
            break
        if published is None:
            break
    for checkpoint in reversed(unpublished):
        publish(checkpoint_dir, checkpoint)
    newest = unpublished[0] if unpublished else published
    return newest, skipped


_ROWS_LOOKED_AT = 1_000  # checkpoint rows above the newest published one read per pass


def _opened(note: str, filed: int | None, public: Ed25519PublicKey) -> Checkpoint | None:
    try:
        checkpoint = open_checkpoint(note, public)
    except CheckpointInvalid:
        return None
    return checkpoint if filed is None or checkpoint.size == filed else None


def _why(note: str, filed: int | None, public: Ed25519PublicKey) -> str:
    try:
        size = open_checkpoint(note, public).size
    except CheckpointInvalid:
        return f"{len(note.encode())} bytes, does not verify"
    return f"holds the signed checkpoint of size {size}, not {filed}"


def _newest_published(checkpoint_dir: Path, public: Ed25519PublicKey, skipped: list[Skipped]
                      ) -> Checkpoint | None:
    """The newest checkpoint published outside the database that verifies and is filed under
    its own size. Reads from the newest file down, so only junk costs more than one read."""
    if not checkpoint_dir.is_dir():
        return None
    for path in sorted(checkpoint_dir.glob("*.note"), reverse=True):
        text = path.read_bytes().decode("utf-8", errors="replace")
        filed = int(path.stem) if path.stem.isascii() and path.stem.isdigit() else -1
        checkpoint = _opened(text, filed, public)
        if checkpoint is not None:
            return checkpoint
        skipped.append(Skipped("file", printable(path.name)[:200], _why(text, filed, public)))
    return None


def _report(conn: Connection, skipped: list[Skipped], clock: Clock) -> None:
    """One `audit.sealer.skipped` event per newly skipped row or file, in the pass's own
    transaction (the sealer's output prints them too)."""
    for item in skipped:
        append(conn, AuditEvent("audit.sealer.skipped", SYSTEM, outcome=Outcome.ERROR,
                                target_type="checkpoint", target_id=item.name,
                                details={"source": item.source, "why": item.why,
                                         "tree_size": int(item.name)
                                         if item.source == "row" else None}), clock)


def _report_backdated(conn: Connection, backdated: list[Backdated], clock: Clock) -> None:
    """One `audit.sealer.backdated` event per batch that sealed any, naming the first
    `_NAMED` of them: a flood of backdated rows must not double the log."""
    if backdated:
        first = backdated[0]
        append(conn, AuditEvent("audit.sealer.backdated", SYSTEM, outcome=Outcome.ERROR,
                                target_type="audit_event", target_id=str(first.event_id),
                                details={"count": len(backdated),
                                         "event_ids": [b.event_id for b in backdated[:_NAMED]],
                                         "behind_s": first.behind_us // 1_000_000,
                                         "against": first.against}), clock)


_NAMED = 20  # backdated event ids named in one report


def _insert_leaves(conn: Connection, leaves: list[dict[str, Any]]) -> None:
    """The batch's leaves in one go: COPY on PostgreSQL (the same rows, constraints and
    triggers as an INSERT, without a statement per thousand rows to build and parse), a Core
    executemany on SQLite."""
    if is_sqlite(conn):
        conn.execute(insert(leaves_table), leaves)
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            "COPY audit_leaves (seq, event_id, leaf_hash) FROM STDIN") as copy:
        for leaf in leaves:
            copy.write_row((leaf["seq"], leaf["event_id"], leaf["leaf_hash"]))


def _pending(conn: Connection, size: int, limit: int
             ) -> tuple[list[tuple[Any, ...]], int | None]:
    """Unsealed events in commit order, as driver tuples: (id, txid, the encoding version, *the
    `FIELDS` values but `details`, `details` as its stored JSON text). Plain tuples and JSON
    text because decoding every row (SQLAlchemy rows, jsonb to dicts) cost more than sealing it.
    Also the time of the last sealed event, the first row's predecessor."""
    e = events_table.c
    sqlite = is_sqlite(conn)
    details = e.details if sqlite else cast(e.details, Text)  # SQLite stores the text itself
    query = select(e.id, e.txid, literal(ENCODING_VERSION), *[e[name] for name in FIELDS[:-1]],
                   details).limit(limit)
    last = None
    if size:
        last = conn.execute(select(e.id, e.txid, e.ts_us)
                            .join(leaves_table, leaves_table.c.event_id == e.id)
                            .where(leaves_table.c.seq == size - 1)).one()
    if sqlite:
        query = query.order_by(e.id)
        query = query.where(e.id > last.id) if last else query
    else:
        query = query.where(e.txid < horizon(conn)).order_by(e.txid, e.id)
        if last:
            query = query.where(tuple_(e.txid, e.id) > tuple_(last.txid, last.id))
    return (list(driver_rows(conn, query, "gatehouse_pending", limit)),
            None if last is None else int(last.ts_us))


def horizon(conn: Connection) -> int:
    """The lowest txid an event not yet visible to the next statement can still carry.

    Any transaction of this database that holds a transaction id may still insert events under
    that id, so the horizon is the oldest of them, or the next id to be handed out if there is
    none. Transactions of other databases on the server do not count (`pg_snapshot_xmin` would
    count them: one idle-in-transaction session anywhere would stop sealing here).

    Order matters and is what makes this safe under READ COMMITTED, where every statement takes
    a new snapshot: the next id is read first, then the in-flight ids, then (by the caller) the
    events. A transaction missing from the in-flight list has left the proc array, so the
    caller's later snapshot sees its events; one that took its id after the first read has an
    id at or above the horizon.
    """
    next_id: int = conn.execute(text(
        "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")).scalar_one()
    conn.execute(text("SELECT pg_stat_clear_snapshot()"))  # activity is cached per transaction
    in_flight = conn.execute(text(
        "SELECT backend_xid::text::bigint FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_xid IS NOT NULL"
        " AND pid <> pg_backend_pid()"
        " UNION ALL SELECT transaction::text::bigint FROM pg_prepared_xacts"
        " WHERE database = current_database()")).scalars().all()
    return min([next_id, *(widen_xid(xid, next_id) for xid in in_flight)])


def widen_xid(xid: int, reference: int) -> int:
    """The 64-bit id (epoch and 32-bit xid) of `xid`, a 32-bit id within 2^31 of `reference`, a
    64-bit id. PostgreSQL 15 reports in-flight ids without their epoch."""
    behind = ((reference & 0xFFFF_FFFF) - xid) % (1 << 32)
    if behind >= 1 << 31:  # ahead of the reference, not far behind it
        behind -= 1 << 32
    return reference - behind


@contextmanager
def sealer_guard(engine: Engine) -> Iterator[None]:
    """Hold the one-sealer guard for the block; raise SealerBusy if another sealer has it.

    PostgreSQL: a session advisory lock (released if the process dies). SQLite: an exclusive
    flock on a file beside the database (likewise released by the kernel on death).
    """
    if is_sqlite(engine):
        path = Path(f"{engine.url.database}.sealer.lock")
        with open(path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SealerBusy(f"another sealer holds {path}") from None
            yield
        return
    with engine.connect() as conn:
        if not conn.execute(select(text(f"pg_try_advisory_lock({_ADVISORY_KEY})"))).scalar():
            raise SealerBusy("another sealer holds the PostgreSQL advisory lock")
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text(f"SELECT pg_advisory_unlock({_ADVISORY_KEY})"))
            conn.commit()


def run_sealer(engine: Engine, key: Ed25519PrivateKey, checkpoint_dir: Path,
               stop: threading.Event, interval: float = 1.0,
               on_start: Callable[[], None] = lambda: None,
               on_skip: Callable[[Skipped], None] = lambda _: None,
               on_backdated: Callable[[Backdated], None] = lambda _: None) -> None:
    """Seal every `interval` seconds until `stop` is set. Holds the guard throughout and calls
    `on_start` once it has it, and `on_skip` once for each junk row or file it goes on
    without (the same ones are recorded once each as `audit.sealer.skipped` events)."""
    reported: set[Skipped] = set()
    with sealer_guard(engine):
        on_start()
        while not stop.is_set():
            started = time.monotonic()
            before = set(reported)
            result = seal_pending(engine, key, checkpoint_dir, reported=reported)
            for item in reported - before:
                on_skip(item)
            for backdated in result.backdated:
                on_backdated(backdated)
            # every `interval` from the start of one pass to the next, so a pass's own time
            # does not add to the wait (seal lag stays near one interval under load)
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

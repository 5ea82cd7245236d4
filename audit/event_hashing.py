"""Hashing every sealed event of one snapshot, in commit order, as recomputed leaf hashes.

Contract: `hashed_event_batches` yields, for every event in the snapshot of the connection it
is given, the leaf hash canonical.py defines (`leaf_hash(canonical_bytes(...))`), in the order
the sealer seals them, and nothing newer than that snapshot, whichever path hashes them.

Why: re-encoding and hashing the events is most of the work of full verification (the leaves
and the tree are cheap), so on a large log it runs in worker processes (see `_Workers`) while
the verifying process streams the leaves and rebuilds the tree. Every process reads the same
snapshot of the log (`_Snapshot`). Each reader also takes the fast encodings: SQLite's
json_array where it writes exactly canonical.py's bytes, PostgreSQL pages read as text, and a
cache of encoded `details`. Each event's `ts_us` travels with its digest (the backdating
check's input), taken from the row that is hashed: no second read.
"""

from __future__ import annotations

import fcntl
import gc
import json
import multiprocessing
import os
import sqlite3
import threading
from array import array
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeAlias, cast

from sqlalchemy import Connection, select

from audit.canonical import (
    ENCODING_VERSION,
    FIELDS,
    SQLITE_HEAD_SQL,
    canonical_bytes,
    sqlite_head_is_plain,
    sqlite_json_agrees,
    sqlite_leaf_hashes,
    stored_leaf_hashes,
)
from audit.engine import is_sqlite
from audit.merkle import leaf_hash
from audit.schema import events_table, leaves_table
from audit.verification.batches import NO_TIME, EventBatch

EVENT_PAGE = 5_000  # events per round trip, and per batch a worker sends
CHUNK = 16_384  # leaves' worth of events one worker hashes before the next takes over
PARALLEL_FROM = 50_000  # leaves; below this, starting workers costs more than it saves
MAX_WORKERS = 4
MAX_CUTS = 20_000  # chunks at most (330M leaves): bounds the cut-point query, whatever is stored


def driver_connection(conn: Connection) -> Any:
    """The DB-API connection under `conn` (sqlite3 or psycopg), inside its transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


Key: TypeAlias = tuple[int, ...]  # an event's place in commit order: (id,) or (txid, id)
Chunk: TypeAlias = tuple[Key | None, Key | None]  # lo <= key < hi; None: unbounded


@dataclass(frozen=True)
class _Snapshot:
    """What a process needs to read the events of the parent's snapshot, and nothing newer.

    PostgreSQL: `exported` names the parent's snapshot (`pg_export_snapshot()`), which a
    worker adopts with SET TRANSACTION SNAPSHOT: it then sees exactly what the parent sees.
    SQLite has no such thing; a worker's read transaction starts later and may see events
    appended since, but SQLite hands out ids in commit order and the log is append-only, so
    bounding every read by `last_id` (the newest id in the parent's snapshot) sees the same
    events as the parent.
    """

    sqlite: bool
    connect: tuple[tuple[Any, ...], dict[str, Any]]  # the driver's connect(*args, **kwargs)
    last_id: int
    exported: str | None = None


@contextmanager
def hashed_event_batches(conn: Connection, workers: int | None = None
                         ) -> Iterator[Iterator[EventBatch]]:
    """Every event of `conn`'s snapshot, in commit order, as recomputed leaf hashes.

    With workers, chunks of the commit order are hashed by `workers` processes at once, each
    chunk from the place in commit order of a sealed leaf (`_chunks`), read in turn; the
    workers stop when the block ends. Exceptions in a worker are raised here.
    """
    raw = driver_connection(conn)
    sqlite = is_sqlite(conn)
    last_id = conn.execute(select(events_table.c.id).order_by(events_table.c.id.desc())
                           .limit(1)).scalar()
    size = _tree_size(conn)
    count = _worker_count(workers, sqlite, raw, size)
    if last_id is None:
        yield iter(())
        return
    if count == 0:
        with closing(_EventReader(raw, sqlite, last_id).chunk((None, None))) as batches:
            yield batches
        return
    exported = None if sqlite else raw.execute("SELECT pg_export_snapshot()").fetchone()[0]
    snapshot = _Snapshot(sqlite, _connect_args(raw, sqlite), last_id, exported)
    pool = _Workers(snapshot, _chunks(conn, size), count)
    try:
        yield pool.batches()
    finally:
        pool.stop()


def _tree_size(conn: Connection) -> int:
    """One past the highest leaf index stored, as a size for cutting work (never trusted as the
    tree's size: a stray leaf row far ahead makes it huge, so it is capped at `MAX_CUTS`
    chunks' worth)."""
    top = conn.execute(select(leaves_table.c.seq).order_by(leaves_table.c.seq.desc())
                       .limit(1)).scalar()
    return 0 if top is None else min(int(top) + 1, MAX_CUTS * CHUNK)


def _worker_count(asked: int | None, sqlite: bool, raw: Any, size: int) -> int:
    """How many processes hash events; 0 means this one does.

    Chosen (`asked` None): none for a small log, none when this process runs other threads
    (forking a multi-threaded process can copy a lock another thread holds: the console
    verifies in-process), else one per core up to MAX_WORKERS. Never any for a SQLite
    database that is not a file another process could open, nor from a daemonic process
    (which may not start any).
    """
    if (sqlite and not _sqlite_file(raw)) or multiprocessing.current_process().daemon:
        return 0
    if asked is not None:
        return max(asked, 0)
    if size < PARALLEL_FROM or threading.active_count() > 1:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, MAX_WORKERS) if (cores or 1) > 1 else 0


def _sqlite_file(raw: Any) -> str:
    """The main database's file, or '' for an in-memory or temporary database."""
    return str(next(row[2] for row in raw.execute("PRAGMA database_list") if row[1] == "main"))


def _connect_args(raw: Any, sqlite: bool) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """How to open another connection to the same database as `raw`."""
    if sqlite:
        return (_sqlite_file(raw),), {"timeout": 30, "isolation_level": None}
    kwargs: dict[str, Any] = {"conninfo": raw.info.dsn}
    if raw.info.password:
        kwargs["password"] = raw.info.password
    return (), kwargs


def _chunks(conn: Connection, size: int) -> list[Chunk]:
    """Consecutive ranges of commit order that together cover every event, cut at the events
    sealed at leaves CHUNK, 2*CHUNK, …: about CHUNK events each in a sound log. Cut points
    only cut; sorted and deduplicated, they partition commit order whatever the log holds."""
    seqs = list(range(CHUNK, size, CHUNK))
    if not seqs:
        return [(None, None)]
    raw = driver_connection(conn)
    cuts: list[Key]
    if is_sqlite(conn):
        marks = ",".join(map(str, seqs))  # integers made here, not input
        rows = raw.execute(f"SELECT event_id FROM audit_leaves WHERE seq IN ({marks})")
        cuts = sorted({(int(event_id),) for event_id, in rows})
    else:
        rows = raw.execute(
            "SELECT e.txid, e.id FROM audit_leaves l JOIN audit_events e ON e.id = l.event_id "
            "WHERE l.seq = ANY(%s) AND e.txid IS NOT NULL", [seqs])
        cuts = sorted({(int(txid), int(event_id)) for txid, event_id in rows})
    bounds: list[Key | None] = [None, *cuts, None]
    return list(pairwise(bounds))


class _EventReader:
    """Hashes the events of one connection's snapshot, a chunk of commit order at a time."""

    def __init__(self, raw: Any, sqlite: bool, last_id: int) -> None:
        self.raw, self.sqlite, self.last_id = raw, sqlite, last_id
        self.fast = sqlite and sqlite_json_agrees(raw)

    def chunk(self, chunk: Chunk) -> Generator[EventBatch, None, None]:
        pages = self._sqlite_pages(chunk) if self.sqlite else _postgres_pages(self.raw, chunk)
        hash_rows = self._hash_sqlite if self.sqlite else self._hash_postgres
        for rows in pages:
            yield hash_rows(rows)

    def _sqlite_pages(self, chunk: Chunk) -> Iterator[list[Any]]:
        lo, hi = chunk
        prefix = SQLITE_HEAD_SQL if self.fast else "NULL"
        with closing(self.raw.cursor()) as cursor:
            cursor.execute(f"SELECT id, {prefix}, details, ts_us FROM audit_events "
                           "WHERE id >= ? AND id < ? AND id <= ? ORDER BY id",
                           (-(2**63) if lo is None else lo[0],
                            self.last_id + 1 if hi is None else hi[0], self.last_id))
            while rows := cursor.fetchmany(EVENT_PAGE):
                yield rows

    def _hash_sqlite(self, rows: list[Any]) -> EventBatch:
        """Rows of (id, the event's head as SQLite wrote it, details as stored, ts_us).

        Where the head SQLite wrote is plain it is byte for byte canonical.py's (checked at
        start, `sqlite_json_agrees`); any other row is re-read and encoded the slow way. A
        page is checked as one string first: nearly always every row of it is plain."""
        heads = [row[1] for row in rows]
        texts = [row[2] for row in rows]
        try:
            plain = sqlite_head_is_plain(b"".join(heads))
        except TypeError:  # a NULL: a row SQLite did not encode
            plain = False
        if plain:
            digests = sqlite_leaf_hashes(heads, texts, all_plain=True)
        else:
            digests = sqlite_leaf_hashes(heads, texts)
            self._rehash([row[0] for row in rows], digests)
        return EventBatch(array("q", [row[0] for row in rows]), b"".join(digests),
                          _times([row[3] for row in rows]))

    def _rehash(self, ids: Sequence[int], digests: list[bytes]) -> None:
        """Hash the events left empty in `digests` from their stored values, as
        `hashed_events` does."""
        slow = [i for i, digest in enumerate(digests) if not digest]
        wanted = [ids[i] for i in slow]
        marks = ",".join("?" * len(wanted))
        columns = ", ".join(FIELDS)
        found = {row[0]: row[1:] for row in self.raw.execute(
            f"SELECT id, {columns} FROM audit_events WHERE id IN ({marks})",
            wanted)}
        for i, event_id in zip(slow, wanted, strict=True):
            values = found[event_id]
            stored = values[-1]
            record = (*values[:-1], None if stored is None else json.loads(stored))
            digests[i] = leaf_hash(canonical_bytes(record))

    def _hash_postgres(self, rows: list[Any]) -> EventBatch:
        """Rows of (txid, id, the event's head, details as jsonb text); the head starts with
        the encoding version, then ts_us (`FIELDS[0]`)."""
        digests = stored_leaf_hashes([row[2:-1] for row in rows], [row[-1] for row in rows])
        return EventBatch(array("q", [row[1] for row in rows]), b"".join(digests),
                          _times([row[3] for row in rows]))


def _times(values: list[Any]) -> array[int]:
    """Stored times as 64-bit integers; `NO_TIME` for one that is not an integer (SQLite keeps
    whatever an owner wrote: such an event no longer hashes to its leaf, `compare` names it)."""
    try:
        return array("q", values)
    except (TypeError, OverflowError):
        return array("q", [v if type(v) is int and -(2**63) < v < 2**63 else NO_TIME
                           for v in values])


_PG_COLUMNS = f"txid, id, {ENCODING_VERSION}, " + ", ".join(FIELDS[:-1]) + ", details::text"


def _postgres_pages(raw: Any, chunk: Chunk) -> Iterator[list[Any]]:
    """The chunk's events in commit order, `EVENT_PAGE` rows a query (keyset: each page
    starts after the last row of the one before). PostgreSQL sorts a NULL txid (only an
    owner could write one) after every other, so the last chunk ends with those, by id."""
    lo, hi = chunk
    after, first = lo, True
    with closing(raw.cursor()) as cursor:
        while True:
            where = ["txid IS NOT NULL"]
            params: list[int] = []
            if after is not None:
                where.append("(txid, id) >= (%s, %s)" if first else "(txid, id) > (%s, %s)")
                params += after
            if hi is not None:
                where.append("(txid, id) < (%s, %s)")
                params += hi
            rows = cursor.execute(
                f"SELECT {_PG_COLUMNS} FROM audit_events WHERE {' AND '.join(where)} "
                f"ORDER BY txid, id LIMIT {EVENT_PAGE}", params).fetchall()
            if rows:
                yield rows
            if len(rows) < EVENT_PAGE:
                break
            after, first = (rows[-1][0], rows[-1][1]), False
        if hi is not None:
            return
        last_id = -(2**63)
        while rows := cursor.execute(
                f"SELECT {_PG_COLUMNS} FROM audit_events WHERE txid IS NULL AND id > %s "
                f"ORDER BY id LIMIT {EVENT_PAGE}", [last_id]).fetchall():
            yield rows
            last_id = rows[-1][1]


# --- worker processes -----------------------------------------------------------------------

class _Workers:
    """`count` processes hashing the chunks round-robin; `batches()` reads them back in order.

    Memory stays bounded: a worker blocks once its pipe is full (a few chunks ahead), so
    nothing piles up however far the parent falls behind.
    """

    PIPE_BYTES = 1 << 20  # Linux lets an unprivileged pipe grow to 1 MiB: ~25k events

    def __init__(self, snapshot: _Snapshot, chunks: list[Chunk], count: int) -> None:
        self.chunks, self.count = chunks, min(count, len(chunks))
        # Forked: a few milliseconds, where a fresh interpreter takes a few hundred (chosen
        # workers only fork a single-threaded process, see `_worker_count`; a caller who asks
        # for workers from a threaded one gets them forked all the same). A child opens its
        # own connection and never touches the parent's. It does inherit SQLite's per-process
        # lock bookkeeping, so it may skip taking an OS lock the parent's connection holds;
        # the parent keeps its read transaction, and so those locks, until every worker has
        # stopped, which keeps every WAL frame a worker reads in place.
        context = multiprocessing.get_context("fork")
        self.pipes, self.processes = [], []
        for n in range(self.count):
            reader, writer = context.Pipe(duplex=False)
            _grow_pipe(writer)
            process = context.Process(target=_worker_main, daemon=True, name=f"verify-{n}",
                                      args=(snapshot, chunks[n::self.count], writer))
            process.start()
            writer.close()  # only the worker writes: its exit is then our end of file
            self.pipes.append(reader)
            self.processes.append(process)

    def batches(self) -> Iterator[EventBatch]:
        for n in range(len(self.chunks)):
            pipe = self.pipes[n % self.count]
            while (message := self._receive(n % self.count, pipe)) is not None:
                ids, digests, times = message
                yield EventBatch(array("q", ids), digests, array("q", times))

    def _receive(self, n: int, pipe: Any) -> tuple[bytes, bytes, bytes] | None:
        try:
            message = pipe.recv()
        except EOFError:
            self.processes[n].join(1)
            raise RuntimeError(f"verification worker {n} stopped unexpectedly (exit code "
                               f"{self.processes[n].exitcode})") from None
        if isinstance(message, BaseException):
            raise message
        return cast(tuple[bytes, bytes, bytes] | None, message)

    def stop(self) -> None:
        """End every worker, done or not (a verification that found damage early stops
        reading); a worker holds nothing that its end does not release."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process, pipe in zip(self.processes, self.pipes, strict=True):
            process.join()
            pipe.close()


def _grow_pipe(end: Any) -> None:
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if setsize is not None:
        with suppress(OSError):  # a smaller pipe only means less read-ahead
            fcntl.fcntl(end.fileno(), setsize, _Workers.PIPE_BYTES)


def _worker_main(snapshot: _Snapshot, chunks: Sequence[Chunk], out: Any) -> None:
    """A worker: open a connection on the parent's snapshot, hash `chunks` in order, and send
    each page's (ids, digests, times), then None after each chunk; an exception is sent, not
    raised."""
    gc.freeze()  # the heap inherited from the parent: never walked, so never copied
    try:
        with closing(_open_snapshot(snapshot)) as raw:
            reader = _EventReader(raw, snapshot.sqlite, snapshot.last_id)
            for chunk in chunks:
                for batch in reader.chunk(chunk):
                    out.send((array("q", batch.ids).tobytes(), batch.digests_joined,
                              array("q", batch.times or ()).tobytes()))
                out.send(None)
    except BaseException as exc:  # reported to the parent, which raises it
        try:
            out.send(exc)
        except Exception:  # unpicklable: say what it was
            out.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        out.close()


def _open_snapshot(snapshot: _Snapshot) -> Any:
    """A new driver connection inside a read transaction on `snapshot`."""
    args, kwargs = snapshot.connect
    if snapshot.sqlite:
        raw = sqlite3.connect(*args, **kwargs)
        raw.execute("BEGIN")
        return raw
    import psycopg  # here: a SQLite deployment need not have it

    raw = psycopg.connect(*args, **kwargs, autocommit=True)  # BEGIN is ours to send
    raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    raw.execute(f"SET TRANSACTION SNAPSHOT '{snapshot.exported}'")  # an id PostgreSQL made
    return raw


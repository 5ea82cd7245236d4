"""Audit append against a raw INSERT into the same table, same engine, same driver path.

- single: one event per transaction. Ours builds the `AuditEvent` (validation included) and
  calls `audit.log.append` (an INSERT … RETURNING id); raw executes a Core `insert()` of the
  same, pre-built row dict. Both run in `write_engine(...).begin()` (BEGIN IMMEDIATE on SQLite).
- batched: 1,000 events per transaction. Ours builds 1,000 events and calls `append_many`;
  raw executes one Core executemany of 1,000 pre-built rows (insertmanyvalues: multi-row
  INSERT on both engines).
- 1 writer, and 8 writer threads (BEGIN IMMEDIATE serialises them on SQLite; PostgreSQL runs
  them concurrently on its pool).

Both go into `audit_events` itself (its 9 indexes and append-only triggers), in alternating
rounds (raw, ours, ours, raw, …) so that the table's growth and the machine's drift fall on
both sides alike.

- trigger cost: the same raw single-row INSERT into `audit_events` and into
  `audit_events_bare`, a copy with the same columns, defaults, identity and indexes but no
  triggers (`CREATE TABLE … (LIKE audit_events INCLUDING ALL)` on PostgreSQL; SQLite's own
  CREATE statements, renamed). On PostgreSQL this is the cost of the stamping trigger
  (migration 0008); SQLite has no INSERT trigger on the table, so there it is a control.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, insert, make_url, text

from audit.engine import make_engine, write_engine
from audit.events import Actor, AuditEvent
from audit.log import append, append_many, stored_values
from audit.schema import AuditBase, events_table
from bench.common import Env, rate

ACTORS = [Actor("https://idp.example.com", f"support-{i:03d}", f"Support Person {i}",
                ("requester",)) for i in range(20)]
SCOPES = ["contacts", "billing", "subscriptions", "telemetry"]


def _kwargs(i: int) -> dict[str, Any]:
    scope = SCOPES[i % len(SCOPES)]
    customer = f"cust-{i % 997:04d}"
    return {"action": "data.read", "actor": ACTORS[i % len(ACTORS)],
            "session_id": f"{i % 50:024x}", "source_ip": "10.1.2.3",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
            "target_type": "customer", "target_id": customer, "customer_id": customer,
            "request_id": str(1000 + i % 300), "grant_id": str(1000 + i % 300),
            "ticket": f"SUP-{2000 + i % 300}", "policy_version": "ab" * 32,
            "details": {"environment": "production", "scope": scope, "action": "read",
                        "columns": [f"{scope}.id", f"{scope}.status", f"{scope}.plan"],
                        "row_count": i % 250}}


TEMPLATES = [_kwargs(i) for i in range(1000)]
ROWS = [stored_values(AuditEvent(**k)) for k in TEMPLATES]


def _single_ours(env: Env) -> Callable[[int], int]:
    engine = write_engine(env.engine)

    def op(i: int) -> int:
        with engine.begin() as conn:
            append(conn, AuditEvent(**TEMPLATES[i % 1000]))
        return 1
    return op


def _single_raw(env: Env) -> Callable[[int], int]:
    engine, statement = write_engine(env.engine), insert(events_table)

    def op(i: int) -> int:
        with engine.begin() as conn:
            conn.execute(statement, ROWS[i % 1000])
        return 1
    return op


def _batch_ours(env: Env) -> Callable[[int], int]:
    engine = write_engine(env.engine)

    def op(_i: int) -> int:
        with engine.begin() as conn:
            return append_many(conn, [AuditEvent(**k) for k in TEMPLATES])
    return op


def _batch_raw(env: Env) -> Callable[[int], int]:
    engine, statement = write_engine(env.engine), insert(events_table)

    def op(_i: int) -> int:
        with engine.begin() as conn:
            conn.execute(statement, ROWS)
        return len(ROWS)
    return op


def _run(op: Callable[[int], int], writers: int, seconds: float) -> tuple[int, float]:
    """Run `op` from `writers` threads for `seconds`; return (events, elapsed)."""
    counts = [0] * writers
    errors: list[BaseException] = []
    start = time.perf_counter()
    deadline = start + seconds

    def worker(w: int) -> None:
        i = w * 100_003
        try:
            while time.perf_counter() < deadline:
                counts[w] += op(i)
                i += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts), time.perf_counter() - start


BARE = "audit_events_bare"


def _bare_table(env: Env) -> Table:
    """`audit_events` without triggers, made (again) by the owner and writable by the app."""
    owner = make_engine(env.admin_url)
    with owner.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {BARE}"))
        if env.kind == "sqlite":
            ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE tbl_name = "
                                    "'audit_events' AND type IN ('table', 'index') "
                                    "AND sql IS NOT NULL")).scalars().all()
            for statement in ddl:
                conn.execute(text(statement.replace("audit_events", BARE)
                                  .replace("ix_" + BARE, "ix_bare")))
        else:
            conn.execute(text(f"CREATE TABLE {BARE} (LIKE audit_events INCLUDING ALL)"))
            conn.execute(text(f"GRANT SELECT, INSERT ON {BARE} TO "
                              f"{make_url(env.url).username}"))
    owner.dispose()
    return Table(BARE, AuditBase.metadata, *[c.copy() for c in events_table.columns],
                 extend_existing=True)


def _single_into(env: Env, table: Table) -> Callable[[int], int]:
    engine, statement = write_engine(env.engine), insert(table)

    def op(i: int) -> int:
        with engine.begin() as conn:
            conn.execute(statement, ROWS[i % 1000])
        return 1
    return op


def measure(env: Env, kind: str, writers: int) -> tuple[float, float]:
    """(ours events/s, raw events/s) in alternating rounds."""
    ours = (_single_ours if kind == "single" else _batch_ours)(env)
    raw = (_single_raw if kind == "single" else _batch_raw)(env)
    return side_by_side(env, ours, raw, writers)


def side_by_side(env: Env, ours: Callable[[int], int], raw: Callable[[int], int],
                 writers: int) -> tuple[float, float]:
    """(`ours` events/s, `raw` events/s), measured in alternating rounds."""
    seconds, rounds = env.mode.append_seconds, env.mode.append_rounds
    _run(raw, writers, 0.3)  # warm the pool, the statement cache and the pages
    _run(ours, writers, 0.3)
    totals = {"ours": [0, 0.0], "raw": [0, 0.0]}
    for r in range(rounds):
        order = [("raw", raw), ("ours", ours)] if r % 2 == 0 else [("ours", ours), ("raw", raw)]
        for name, op in order:
            count, elapsed = _run(op, writers, seconds)
            totals[name][0] += count
            totals[name][1] += elapsed
    return rate(*totals["ours"]), rate(*totals["raw"])


def trigger_cost(env: Env) -> None:
    """The same raw INSERT into the real table and into its trigger-less copy."""
    real, bare = side_by_side(env, _single_raw(env), _single_into(env, _bare_table(env)), 1)
    ratio = real / bare
    env.add("append", "raw INSERT, real table vs trigger-less copy, 1 writer",
            f"{real:,.0f} vs bare {bare:,.0f} events/s = {ratio:.2f}×",
            "≥ 0.9× bare (trigger cost ≤ 10%)", ratio >= 0.9, ours=real, raw=bare, ratio=ratio)


def run(env: Env) -> None:
    trigger_cost(env)
    for kind in ("single", "batched"):
        for writers in (1, 8):
            ours, raw = measure(env, kind, writers)
            env.state.setdefault("append", {})[(kind, writers)] = (ours, raw)
            ratio = ours / raw
            label = "1 event/tx" if kind == "single" else "1,000 events/tx"
            what = f"append, {label}, {writers} writer{'s' if writers > 1 else ''}"
            measured = f"{ours:,.0f} vs raw {raw:,.0f} events/s = {ratio:.2f}×"
            if kind == "single":
                env.add("append", what, measured, "≥ 0.8× raw", ratio >= 0.8,
                        ours=ours, raw=raw, ratio=ratio)
            else:
                env.add("append", what, measured, "≥ 0.5× raw and ≥ 50k events/s",
                        ratio >= 0.5 and ours >= 50_000, ours=ours, raw=raw, ratio=ratio)

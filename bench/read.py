"""The added latency of auditing a customer-data read: `access.data.broker.read` as the console
calls it, against the very same call with `Gatehouse.audit` made a no-op.

Both paths do everything else identically: the authorisation check, the write transaction on
the console database (grant read under a lock, purge check), the customer query, decryption
and masking. The only difference is the one `data.read` event (its INSERT, and the WAL flush
it makes the commit do). Calls alternate, one client, after a warm-up.

The console database is the engine under test; the customer database is a generated one (30
customers) on the same engine (`gh_bench_customers` on PostgreSQL, a file on SQLite).
"""

from __future__ import annotations

import os
import time
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import psycopg

from access.context import Gatehouse
from access.data import broker
from access.data.catalog import load_catalog
from access.data.envelope import LocalMasterKey
from access.data.sources import CustomerData
from access.data.subject_index import BlindIndex
from access.ops.generate_customers import generate
from access.workflow import create_request, decide_request
from audit.engine import make_engine
from bench.common import PG_ADMIN_URL, PG_PLAN, Env, percentile
from tests.support.databases import Database
from tests.support.identity_helpers import FakeClock, LocalIdP, gatehouse
from tests.support.workflow_helpers import draft, team


class Unaudited(Gatehouse):
    """The same services, minus the audit event: the baseline of the audited read."""

    def audit(self, db, event):  # type: ignore[no-untyped-def]
        return None


def _customer_url(env: Env) -> str:
    if env.kind == "sqlite":
        return f"sqlite:///{env.workdir / 'customers-production.db'}"
    database = f"{PG_PLAN.database}_customers"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database} OWNER {PG_PLAN.owner}")
    return env.admin_url.rsplit("/", 1)[0] + f"/{database}"


def run(env: Env) -> None:
    clock = FakeClock(datetime.now(UTC))
    idp = LocalIdP(clock)
    gh = gatehouse(Database(env.kind, env.url, env.engine, env.engine), clock, idp)
    master = LocalMasterKey(os.urandom(32))
    url = _customer_url(env)
    customer_engine = make_engine(url)
    generate(customer_engine, master, customers=30, today=clock.now,
             index=BlindIndex(os.urandom(32)))
    customer_engine.dispose()
    gh = replace(gh, data=CustomerData(load_catalog(), master,
                                       {"production": url, "staging": url}))
    people = team(gh, idp)
    request_id = create_request.create(gh, people.sam, draft(
        customer_id="cust-0001", scopes=["contacts"], actions=["read"],
        duration=timedelta(hours=8)))
    grant_id = None
    for admin in (people.ada, people.alan):
        grant_id = decide_request.decide(gh, admin, request_id, approve=True).grant_id or grant_id
        if grant_id:
            break
    assert grant_id is not None
    bare = Unaudited(**{f.name: getattr(gh, f.name) for f in fields(gh)})
    audited_t: list[float] = []
    bare_t: list[float] = []
    for i in range(env.mode.reads + 50):
        pair = [(gh, audited_t), (bare, bare_t)]
        for service, sink in (pair if i % 2 else pair[::-1]):
            start = time.perf_counter()
            view = broker.read(service, people.sam, grant_id, "cust-0001", "contacts")
            if i >= 50:
                sink.append(time.perf_counter() - start)
    rows = view.row_count
    added50 = percentile(audited_t, 50) - percentile(bare_t, 50)
    added99 = percentile(audited_t, 99) - percentile(bare_t, 99)
    env.add("read", f"audited customer-data read, 1 client ({len(audited_t)} reads each, "
            f"{rows} rows)",
            f"audited p50 {percentile(audited_t, 50) * 1e3:.2f} / p99 "
            f"{percentile(audited_t, 99) * 1e3:.2f} ms; unaudited p50 "
            f"{percentile(bare_t, 50) * 1e3:.2f} / p99 {percentile(bare_t, 99) * 1e3:.2f} ms; "
            f"added p50 {added50 * 1e3:+.2f} / p99 {added99 * 1e3:+.2f} ms",
            "added p99 ≤ 2 ms"
            + ("" if env.kind == "postgres" else " (the target is PostgreSQL's)"),
            added99 <= 0.002 if env.kind == "postgres" else None,
            audited_p50=percentile(audited_t, 50), audited_p99=percentile(audited_t, 99),
            bare_p50=percentile(bare_t, 50), bare_p99=percentile(bare_t, 99),
            added_p99=added99)

"""A bounded load test on loopback PostgreSQL: many concurrent audited reads and racing
approvals. Nothing is lost (every served read has its event), nothing is doubled (one grant
per request however many admins click at once), and the log seals and verifies afterwards.

Fixed counts, plain threads, no assertion on time: the figures it prints (`-s`) are recorded
in docs/load-test.md; the assertions are about correctness under load only.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from access.context import Gatehouse
from access.data import broker
from access.errors import Conflict, GatehouseError
from access.principal import Principal
from access.schema import AccessRequest, Approval, Grant
from access.workflow import create_request, decide_request
from audit.database import verify_database
from tests.adversarial.support import counts, granted, seal_until_caught_up
from tests.support.data_helpers import attach_customer_data
from tests.support.databases import Database
from tests.support.identity_helpers import FakeClock, LocalIdP, gatehouse
from tests.support.workflow_helpers import draft, events, team

READERS = 8              # threads reading customer data, one grant each
READS_EACH = 60          # audited reads per reader
REQUESTS = 40            # pending requests, each approved by three racing clicks
CLICKERS = 3             # ada, alan, and ada again (a double click from a second tab)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def figures(name: str, samples: list[float], wall: float) -> dict[str, float]:
    return {f"{name}_count": len(samples), f"{name}_per_s": round(len(samples) / wall, 1),
            f"{name}_p50_ms": round(statistics.median(samples) * 1000, 2),
            f"{name}_p95_ms": round(percentile(samples, 95) * 1000, 2),
            f"{name}_p99_ms": round(percentile(samples, 99) * 1000, 2)}


def approval_outcome(gh: Gatehouse, admin: Principal, request_id: int) -> str:
    """One admin's click on Approve, as a word: approved, conflict, refused or error."""
    try:
        decide_request.decide(gh, admin, request_id, approve=True)
        return "approved"
    except Conflict:
        return "conflict"
    except GatehouseError as exc:
        return f"refused: {exc}"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"


@pytest.mark.postgres
def test_concurrent_audited_reads_and_racing_approvals_lose_and_double_nothing(
        pg_database: Database, clock: FakeClock, idp: LocalIdP, tmp_path: Path,
        signing_key: Ed25519PrivateKey, checkpoint_dir: Path) -> None:
    gh = attach_customer_data(gatehouse(pg_database, clock, idp), tmp_path, clock,
                              customers=REQUESTS + READERS)
    people = team(gh, idp)
    customers = [f"cust-{n:04d}" for n in range(1, READERS + 1)]
    held = {c: granted(gh, people, customer=c, scopes=("contacts", "account")) for c in customers}
    pending = [create_request.create(gh, people.sky, draft(customer_id=f"cust-{n:04d}",
                                                           scopes=["subscriptions"]))
               for n in range(READERS + 1, READERS + 1 + REQUESTS)]
    events_before = counts(gh.engine)[0]

    read_times: list[float] = []
    click_times: list[float] = []
    served: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(READERS + CLICKERS + 1)

    def reader(customer: str) -> None:
        start.wait()
        for i in range(READS_EACH):
            scope = "contacts" if i % 2 else "account"
            began = time.perf_counter()
            try:
                view = broker.read(gh, people.sam, held[customer], customer, scope)
            except Exception as exc:  # recorded, then asserted empty below
                failures.append(f"read {customer}: {type(exc).__name__}: {exc}")
                continue
            took = time.perf_counter() - began
            assert all(set(f["customer_id"]) <= {customer} for f in view.tables.values()
                       if "customer_id" in f)
            with lock:
                read_times.append(took)
                served[held[customer]] += 1

    def clicker(admin: Principal, order: list[int]) -> None:
        start.wait()
        for request_id in order:
            began = time.perf_counter()
            outcome = approval_outcome(gh, admin, request_id)
            took = time.perf_counter() - began
            with lock:
                click_times.append(took)
                outcomes[outcome] += 1

    threads = [threading.Thread(target=reader, args=(c,)) for c in customers]
    orders = [pending, list(reversed(pending)), pending[1::2] + pending[::2]]
    threads += [threading.Thread(target=clicker, args=(admin, order)) for admin, order in
                zip((people.ada, people.alan, people.ada), orders, strict=True)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join(120)
    wall = time.perf_counter() - began

    # Nothing lost: every served read has its event, per grant.
    assert failures == []
    assert sum(served.values()) == READERS * READS_EACH
    reads = events(gh, "data.read")
    assert Counter(int(e["grant_id"]) for e in reads) == served
    # Nothing doubled: one approval, one grant and one grant.issued per request.
    assert outcomes == {"approved": REQUESTS, "conflict": REQUESTS * (CLICKERS - 1)}
    with gh.read() as db:
        statuses = set(db.execute(select(AccessRequest.status)
                                  .where(AccessRequest.id.in_(pending))).scalars())
        grants_per_request = db.execute(
            select(Grant.request_id, func.count()).where(Grant.request_id.in_(pending))
            .group_by(Grant.request_id)).all()
        votes = db.execute(select(func.count()).select_from(Approval)
                           .where(Approval.request_id.in_(pending))).scalar_one()
    assert statuses == {"approved"} and votes == REQUESTS
    assert sorted(n for _, n in grants_per_request) == [1] * REQUESTS
    issued = [e for e in events(gh, "grant.issued") if int(e["request_id"]) in set(pending)]
    assert len(issued) == REQUESTS
    # And the log under that load seals into a tree that verifies.
    total = counts(gh.engine)[0]
    assert total - events_before == READERS * READS_EACH + 2 * REQUESTS  # approved, issued
    seal_began = time.perf_counter()
    assert seal_until_caught_up(gh.engine, signing_key, checkpoint_dir) == total
    seal_took = time.perf_counter() - seal_began
    report = verify_database(gh.engine, signing_key.public_key(), checkpoint_dir)
    assert report.ok and report.tree_size == total, report.problems
    print("LOAD " + json.dumps({
        "wall_s": round(wall, 2), **figures("read", read_times, wall),
        **figures("click", click_times, wall), "events": total,
        "seal_s": round(seal_took, 2)}))


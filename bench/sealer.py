"""Seal lag under sustained appends, with the real long-running sealer (`python -m audit
sealer --interval 1`) in its own process.

Eight writer threads append single events for `mode.lag_seconds`, first as fast as they can
(the heaviest load the append benchmark measures: it saturates the write path, and on SQLite
the sealer must win the one write lock against eight writers that never pause), then paced
at half the rate they reached; a poller reads new `audit_leaves` rows
every 50 ms and stamps when each event was first seen sealed. Lag = seen sealed − committed
(so up to 50 ms of it is the poller's own granularity). The sealer's throughput is the rate at
which it sealed the generated backlog (bench.dataset); the ratio holds it against the
sustained append rate.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

from sqlalchemy import select

from audit.engine import write_engine
from audit.events import AuditEvent
from audit.log import append
from audit.schema import leaves_table
from bench.append import TEMPLATES
from bench.common import Env, percentile, rate

WRITERS = 8
POLL_S = 0.05


def run(env: Env) -> None:
    flat_out = _lag(env, None)
    _lag(env, flat_out / 2)
    appends = env.state.get("append", {})
    fastest = max([flat_out, *[v[0] for k, v in appends.items() if k[0] == "single"]])
    sealer_rate = env.state["sealer_rate"]
    ratio = sealer_rate / fastest
    env.add("sealer", "sealer throughput / fastest sustained single-event append rate",
            f"{sealer_rate:,.0f} / {fastest:,.0f} events/s = {ratio:.1f}×", "≥ 10×",
            ratio >= 10, sealer_rate=sealer_rate, append_rate=fastest, ratio=ratio)


def _lag(env: Env, pace: float | None) -> float:
    """Seal lag while WRITERS threads append flat out (`pace` None) or at `pace` events/s in
    all; returns the append rate sustained."""
    committed: dict[int, float] = {}
    sealed_at: dict[int, float] = {}
    stop_writing, stop_polling = threading.Event(), threading.Event()
    with env.engine.connect() as conn:
        top = conn.execute(select(leaves_table.c.seq).order_by(leaves_table.c.seq.desc())
                           .limit(1)).scalar()
    next_seq = 0 if top is None else top + 1
    sealer = subprocess.Popen([sys.executable, "-m", "audit", "sealer", "--interval", "1"],
                              env=env.sealer_env(), stdout=subprocess.PIPE, text=True)
    assert sealer.stdout is not None
    sealer.stdout.readline()  # "sealer running …": it holds the guard
    engine = write_engine(env.engine)

    def writer(w: int) -> None:
        i = w * 7919
        step = None if pace is None else WRITERS / pace
        due = time.perf_counter()
        while not stop_writing.is_set():
            if step is not None:
                due += step
                time.sleep(max(0.0, due - time.perf_counter()))
            with engine.begin() as conn:
                event_id = append(conn, AuditEvent(**TEMPLATES[i % 1000]))
            committed[event_id] = time.perf_counter()
            i += 1

    def poller() -> None:
        nonlocal next_seq
        with env.engine.connect() as conn:
            while not stop_polling.is_set():
                rows = conn.execute(select(leaves_table.c.seq, leaves_table.c.event_id)
                                    .where(leaves_table.c.seq >= next_seq)
                                    .order_by(leaves_table.c.seq)).all()
                conn.rollback()
                now = time.perf_counter()
                for seq, event_id in rows:
                    sealed_at[event_id] = now
                    next_seq = seq + 1
                time.sleep(POLL_S)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    watch = threading.Thread(target=poller)
    watch.start()
    start = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(env.mode.lag_seconds)
    stop_writing.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    deadline = time.perf_counter() + 60
    while not set(committed) <= set(sealed_at) and time.perf_counter() < deadline:
        time.sleep(0.2)
    stop_polling.set()
    watch.join()
    sealer.send_signal(signal.SIGTERM)
    sealer.wait(30)
    lags = [sealed_at[i] - t for i, t in committed.items() if i in sealed_at]
    unsealed = len(committed) - len(lags)
    sustained = rate(len(committed), elapsed)
    how = "flat out" if pace is None else f"paced at half that ({pace:,.0f} events/s)"
    env.add("sealer", f"seal lag, {WRITERS} writers appending {how} for "
            f"{env.mode.lag_seconds:.0f} s ({sustained:,.0f} events/s sustained, "
            f"{len(committed):,} events)",
            f"p50 {percentile(lags, 50):.2f} s / p99 {percentile(lags, 99):.2f} s / max "
            f"{max(lags):.2f} s" + (f"; {unsealed} never sealed" if unsealed else ""),
            "p99 ≤ 2 s", percentile(lags, 99) <= 2.0 and not unsealed,
            p50=percentile(lags, 50), p99=percentile(lags, 99), max=max(lags),
            sustained=sustained, events=len(committed), pace=pace)
    return sustained

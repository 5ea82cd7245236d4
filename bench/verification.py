"""Full verification against a bare hashlib loop over the same canonical bytes; one proof.

Verification is timed end to end as `python -m audit verify` runs it (`verify_database`:
fetch leaves and events in one snapshot, re-encode and hash every event, in worker processes
on a large enough log, rebuild the tree, check every checkpoint). The baseline is the loop
`sha256(b"\\x00" + data).digest()` over exactly the canonical bytes of the same events, timed
alone: the bytes are fetched and encoded beforehand, chunk by chunk, outside the clock. The
ratio is verify's rate over the loop's. The CPU time verification took, in this process and
its workers, is reported beside it: on a shared machine it says what the wall clock cannot
(how much of the time was spent waiting for a core).

Inclusion proofs go through `audit.proof.inclusion_proof` (one database round trip for the
event and checkpoint, then O(log n) stored nodes and at most a few hundred leaf hashes), for
events drawn uniformly from the whole log, each checked with `proof_holds` (untimed).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from audit.canonical import canonical_bytes
from audit.database import events_in_commit_order, verify_database
from audit.merkle import LEAF_PREFIX
from audit.proof import inclusion_proof, proof_holds
from audit.schema import leaves_table
from bench.common import HISTORY_ALLOWANCE_S, Env, percentile, rate

CHUNK = 100_000


def hashlib_baseline(env: Env) -> tuple[int, float]:
    """(events, seconds of hashing only) over the canonical bytes of every event."""
    sha256 = hashlib.sha256
    count, hashing = 0, 0.0
    chunk: list[bytes] = []

    def flush() -> float:
        start = time.perf_counter()
        for data in chunk:
            sha256(LEAF_PREFIX + data).digest()
        return time.perf_counter() - start

    with env.engine.connect() as conn, conn.begin():
        for _id, record in events_in_commit_order(conn):
            chunk.append(canonical_bytes(record))
            if len(chunk) == CHUNK:
                hashing += flush()
                count += len(chunk)
                chunk = []
    hashing += flush()
    count += len(chunk)
    return count, hashing


def cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) so far of this process, and of its children that ended."""
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def run_verify(env: Env) -> None:
    cpu_before = cpu_seconds()
    start = time.perf_counter()
    report = verify_database(env.engine, env.public, env.checkpoint_dir,
                             backdate_allowance_us=HISTORY_ALLOWANCE_S * 1_000_000)
    seconds = time.perf_counter() - start
    own, workers = (after - before for after, before in zip(cpu_seconds(), cpu_before,
                                                             strict=True))
    if not report.ok:
        raise AssertionError(f"the benchmark log does not verify: {report.first_problem}")
    events, hashing = hashlib_baseline(env)
    ours, bare = rate(report.tree_size, seconds), rate(events, hashing)
    ratio = ours / bare
    env.add("verify", f"full verification of {report.tree_size:,} events "
            f"({len(report.checkpoints):,} checkpoints)",
            f"{seconds:.1f} s = {ours:,.0f} events/s vs bare hashlib loop {bare:,.0f}/s "
            f"= {ratio:.3f}×", "≥ 0.3× the hashlib loop", ratio >= 0.3,
            seconds=seconds, ours=ours, bare=bare, ratio=ratio, events=report.tree_size)
    env.add("verify", "CPU time of that verification (this process + worker processes)",
            f"{own:.2f} + {workers:.2f} s = {(own + workers) / report.tree_size * 1e6:.2f} "
            "µs per event", "-", None, cpu_self=own, cpu_workers=workers)
    per_10m = 10_000_000 / ours
    label = "measured" if report.tree_size >= 10_000_000 else "extrapolated from this size"
    env.add("verify", f"10M events verified in ({label})", f"{per_10m:.0f} s",
            "≤ 120 s", per_10m <= 120 if report.tree_size >= 10_000_000 else None,
            seconds_for_10m=per_10m, extrapolated=report.tree_size < 10_000_000)


ONCE = Path(__file__).with_name("verify_once.py")


def verify_in(tree: Path, env: Env) -> dict[str, float]:
    """One full verification of the log by the `audit` package of `tree`, in a fresh process."""
    out = subprocess.run(
        [sys.executable, str(ONCE), env.url, str(env.public_path), str(env.checkpoint_dir),
         str(HISTORY_ALLOWANCE_S * 1_000_000)], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["ok"]:
        raise AssertionError(f"the benchmark log does not verify with {tree}")
    return result


def run_verify_against(env: Env, before: Path, after: Path, rounds: int = 5) -> None:
    """Verification by the code in `before` and in `after` (trees holding an `audit`
    package), on this log, alternating, `rounds` each, each in a fresh process; then the
    bare hashlib loop once. Medians and best runs, each side's ratio to the same hashlib
    figure, and the CPU time per event (parent + workers), which a loaded machine disturbs
    far less than the wall clock."""
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(rounds):
        for side, tree in (("before", before), ("after", after)):
            runs[side].append(verify_in(tree, env))
    events, hashing = hashlib_baseline(env)
    bare = rate(events, hashing)
    rates, best, cpus = {}, {}, {}
    for side, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        size = results[0]["tree_size"]
        cpus[side] = statistics.median((r["cpu_self"] + r["cpu_workers"]) / size
                                       for r in results)
        parent = statistics.median(r["cpu_self"] / size for r in results)
        rates[side] = rate(size, seconds)
        best[side] = rate(size, min(r["seconds"] for r in results))
        env.add("verify", f"full verification of {size:,.0f} events, {side} "
                f"({rounds} runs, alternating)",
                f"median {seconds:.2f} s = {rates[side]:,.0f} events/s = "
                f"{rates[side] / bare:.3f}× the hashlib loop ({bare:,.0f}/s); best "
                f"{best[side] / bare:.3f}×; CPU {cpus[side] * 1e6:.2f} µs per event "
                f"({parent * 1e6:.2f} in the parent)", "-", None, side=side,
                seconds=[r["seconds"] for r in results], ratio=rates[side] / bare,
                best_ratio=best[side] / bare, cpu_per_event=cpus[side],
                cpu_parent_per_event=parent)
    change, best_change = rates["after"] / rates["before"], best["after"] / best["before"]
    cpu_change = cpus["before"] / cpus["after"]
    env.add("verify", "verification rate, after / before (same run, same log)",
            f"median {change:.3f}×, best {best_change:.3f}×; CPU per event before / after "
            f"{cpu_change:.3f}×", "≥ 1.0× (the verify ratio must not fall)",
            max(change, best_change) >= 1.0, change=change, best_change=best_change,
            cpu_change=cpu_change)


def run_proof(env: Env) -> None:
    rng = random.Random(5)
    with env.engine.connect() as conn:
        size = conn.execute(select(func.max(leaves_table.c.seq))).scalar_one() + 1
        seqs = [rng.randrange(size) for _ in range(env.mode.proofs)]
        ids = dict(conn.execute(select(leaves_table.c.seq, leaves_table.c.event_id)
                                .where(leaves_table.c.seq.in_(seqs))).all())
    public = env.public
    inclusion_proof(env.engine, ids[seqs[0]], public)  # warm the pool
    times, bad = [], 0
    for seq in seqs:
        start = time.perf_counter()
        proof = inclusion_proof(env.engine, ids[seq], public)
        times.append(time.perf_counter() - start)
        bad += not proof_holds(proof, public)
    if bad:
        raise AssertionError(f"{bad} inclusion proofs did not verify")
    p50, p99 = percentile(times, 50), percentile(times, 99)
    env.add("proof", f"inclusion proof of one event, tree of {size:,} ({len(seqs)} events)",
            f"p50 {p50 * 1e3:.2f} / p99 {p99 * 1e3:.2f} ms, path {len(proof.path)} hashes",
            "≤ 5 ms", p99 <= 0.005, p50=p50, p99=p99, tree_size=size)

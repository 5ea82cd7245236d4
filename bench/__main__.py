"""`python -m bench [--quick|--full] [--engine sqlite|postgres|both] [--only NAME ...]`

Runs the benchmarks on a fresh SQLite file (under a temp dir) and/or a fresh PostgreSQL
database `gh_bench` (created and dropped here, with its own owner and app roles), prints every
figure beside its target as it goes, and writes them all to data/bench/<mode>-<time>.json.

NAME: append, read, query, proof, verify, export, sealer, reviews (all but append and read
first build the generated log: 100k events in quick mode, 10M in full mode).

`--verify-against REF` (a git ref): the verify benchmark runs full verification with the
`audit` package of REF and of this tree, alternating, each in a fresh process, on the same log
in the same run, and reports both and their ratio (a change's before and after, side by side).
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from audit.settings import PROJECT_ROOT
from bench import append, dataset, export, queries, read, reviews, sealer, verification
from bench.common import FULL, PG_ADMIN_URL, QUICK, Env, Mode, Result, environment, write_results

BENCHES: dict[str, Callable[[Env], None]] = {
    "append": append.run,
    "read": read.run,
    "query": queries.run,
    "proof": verification.run_proof,
    "verify": verification.run_verify,
    "export": export.run,
    "sealer": sealer.run,
    "reviews": reviews.run,
}
NEEDS_LOG = {"query", "proof", "verify", "export", "sealer", "reviews"}


def machine() -> dict[str, Any]:
    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform()}
    try:
        cpu = [line for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("model name")]
        facts["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else "?"
    except OSError:
        facts["cpu"] = "?"
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            facts["postgres"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "synchronous_commit", "fsync", "work_mem"):
                facts[f"pg_{name}"] = conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
    except psycopg.Error as exc:
        facts["postgres"] = f"unavailable: {exc}".splitlines()[0]
    return facts


def run_engine(kind: str, mode: Mode, only: list[str], keep: Path | None = None,
               benches: dict[str, Callable[[Env], None]] = BENCHES) -> list[Result]:
    print(f"== {kind}, {mode.name} mode ==", flush=True)
    with environment(kind, mode, keep) as env:
        built = False
        for name, bench in benches.items():
            if only and name not in only:
                continue
            if name in NEEDS_LOG and not built:
                dataset.build(env)
                built = True
            started = time.perf_counter()
            try:
                bench(env)
            except Exception:
                traceback.print_exc()
                env.add(name, f"{name} benchmark", "FAILED (see the log)", "-", False)
            print(f"  [{kind}] {name} took {time.perf_counter() - started:.0f} s", flush=True)
        return env.results


def summary(results: list[Result]) -> str:
    lines = ["| engine | what | measured | target | met |", "|---|---|---|---|---|"]
    for r in results:
        met = {True: "met", False: "**missed**", None: "—"}[r.met]
        lines.append(f"| {r.engine} | {r.what} | {r.measured} | {r.target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="100k events (the default)")
    size.add_argument("--full", action="store_true", help="10M events; takes long")
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--only", action="append", choices=sorted(BENCHES), default=[],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--events", type=int, help="override the generated log's size")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the databases, keys and checkpoints in DIR and reuse them "
                             "next time (a large log is built once; delete DIR and run without "
                             "--keep to drop them)")
    parser.add_argument("--verify-against", metavar="REF",
                        help="verify with the audit package of git REF and of this tree, "
                             "side by side (see above)")
    args = parser.parse_args(argv)
    if args.verify_against:
        before = Path(tempfile.mkdtemp(prefix="gh-bench-before-"))
        try:
            _export(args.verify_against, before)
            return _main(args, {**BENCHES, "verify": functools.partial(
                verification.run_verify_against, before=before, after=PROJECT_ROOT)})
        finally:
            shutil.rmtree(before, ignore_errors=True)
    return _main(args, BENCHES)


def _export(ref: str, into: Path) -> None:
    """The tree of git `ref` of this repository, written into `into`."""
    git = shutil.which("git")
    if git is None:
        raise SystemExit("--verify-against needs git on PATH")
    archive = subprocess.run([git, "-C", str(PROJECT_ROOT), "archive", ref],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _main(args: argparse.Namespace, benches: dict[str, Callable[[Env], None]]) -> int:
    mode = FULL if args.full else QUICK
    if args.events:
        mode = Mode(**{**mode.__dict__, "name": f"{mode.name}-{args.events}",
                       "events": args.events,
                       "export_sizes": (max(args.events // 10, 1_000), args.events)})
    facts = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    results: list[Result] = []
    started = time.perf_counter()
    for kind in engines:
        if kind == "postgres" and str(facts["postgres"]).startswith("unavailable"):
            print(f"skipping PostgreSQL: {facts['postgres']}", flush=True)
            continue
        keep = args.keep / kind if args.keep else None
        results += run_engine(kind, mode, args.only, keep, benches)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = PROJECT_ROOT / "data" / "bench" / f"{mode.name}-{stamp}.json"
    write_results(results, out)
    (out.with_suffix(".machine.txt")).write_text(
        "\n".join(f"{k}: {v}" for k, v in facts.items()) + "\n")
    print(f"\n{summary(results)}\n\nall figures: {out} ({time.perf_counter() - started:.0f} s)")
    missed = [r for r in results if r.met is False]
    print(f"{len(missed)} target(s) missed" if missed else "every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Export rate and peak memory at two sizes (quick: 10k and 100k rows; full: 1M and 10M).

Each export runs in its own process (`bench.export_worker`) so peak RSS is that export's:
the figure is the growth of RSS from just before the export to its peak. Flat memory means
the two sizes' peaks agree within 50 MB. A second run per size measures the peak of Python
allocations with tracemalloc (its time is not used).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from sqlalchemy import func, select

from audit.schema import events_table
from bench.common import Env, rate

_e = events_table.c


def _since_for(env: Env, rows: int) -> int:
    """The ts_us at which the newest `rows` events begin."""
    with env.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        if rows >= total:
            return int(conn.execute(select(func.min(_e.ts_us))).scalar_one())
        return int(conn.execute(select(_e.ts_us).order_by(_e.ts_us.desc(), _e.id.desc())
                                .offset(rows - 1).limit(1)).scalar_one())


def _worker(env: Env, fmt: str, since: int, trace: bool) -> dict[str, float]:
    out = env.workdir / f"export-{fmt}"
    args = [sys.executable, "-m", "bench.export_worker", env.url, fmt, str(since), str(out)]
    done = subprocess.run(args + (["--tracemalloc"] if trace else []), check=True,
                          capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(env: Env) -> None:
    peaks: dict[str, list[float]] = {}
    for size in env.mode.export_sizes:
        since = _since_for(env, size)
        for fmt in ("csv", "jsonl"):
            figures = _worker(env, fmt, since, trace=False)
            traced = _worker(env, fmt, since, trace=True) if fmt == "csv" else None
            rows = int(figures["rows"])
            growth_mb = (figures["peak_rss_kib"] - figures["rss_before_kib"]) / 1024
            peaks.setdefault(fmt, []).append(growth_mb)
            per_s = rate(rows, figures["seconds"])
            py = "" if traced is None else \
                f", Python allocations peak {traced['tracemalloc_peak'] / 2**20:.1f} MB"
            env.add("export", f"export {fmt.upper()}, {rows:,} rows",
                    f"{per_s:,.0f} rows/s, {figures['bytes'] / 2**20:,.0f} MB written; RSS "
                    f"+{growth_mb:.1f} MB over {figures['rss_before_kib'] / 1024:.0f} MB{py}",
                    "≥ 200k rows/s", per_s >= 200_000,
                    **{k: v for k, v in figures.items() if k != "tracemalloc_peak"},
                    tracemalloc_peak=None if traced is None else traced["tracemalloc_peak"])
    small, large = env.mode.export_sizes
    for fmt, growth in peaks.items():
        spread = max(growth) - min(growth)
        env.add("export", f"export {fmt.upper()} memory, {small:,} → {large:,} rows",
                f"RSS growth {growth[0]:.1f} MB → {growth[1]:.1f} MB (Δ {spread:.1f} MB)",
                "flat (±50 MB)", spread <= 50, growth_mb=growth)

"""One export in a fresh process, so its peak memory is its own: `python -m bench.export_worker
URL FORMAT SINCE_US OUT_DIR [--tracemalloc]` prints one JSON line of figures.

It runs what the auditor's export runs: `audit.query.stream` (a server-side cursor in one
snapshot) into `audit.export_stream.write_export`. Peak RSS is the process's VmHWM; with
--tracemalloc the peak of Python allocations during the export is measured too (slower, so it
is a separate run and its time is not reported as the export rate).
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path

from audit.engine import make_engine
from audit.events import from_micros
from audit.export_stream import ExportFormat, write_export
from audit.query import EventFilter, stream


def _status_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process. Not getrusage's ru_maxrss: Linux keeps
    that across execve, so a child would report its parent's (the runner's) peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    url, fmt, since_us, out = argv[0], ExportFormat(argv[1]), int(argv[2]), Path(argv[3])
    trace = "--tracemalloc" in argv
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        conn.rollback()
        before = _status_kib("VmRSS")
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        with conn.begin():
            written = write_export(stream(conn, EventFilter(since=from_micros(since_us))), fmt,
                                   out, "events")
        seconds = time.perf_counter() - start
        peak_py = tracemalloc.get_traced_memory()[1] if trace else None
    print(json.dumps({"rows": written.rows, "bytes": written.bytes, "seconds": seconds,
                      "rss_before_kib": before,
                      "peak_rss_kib": _status_kib("VmHWM"),
                      "tracemalloc_peak": peak_py, "parts": len(written.parts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

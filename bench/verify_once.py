"""One full verification in a fresh process, for the before/after comparison in
`bench.verification.run_verify_against`: run by path, with PYTHONPATH naming the tree whose
`audit` package is measured, so it imports nothing of the bench (the tree may predate it).

    python bench/verify_once.py URL PUBLIC_KEY CHECKPOINT_DIR ALLOWANCE_US

Prints one JSON line: seconds (verification only), tree size, whether it verified, and the CPU
time of this process and of its worker processes.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    from audit.checkpoint import load_public_key
    from audit.database import verify_database
    from audit.engine import make_engine

    url, public, checkpoints, allowance = argv
    engine = make_engine(url)
    start = time.perf_counter()
    report = verify_database(engine, load_public_key(Path(public)), Path(checkpoints),
                             backdate_allowance_us=int(allowance))
    seconds = time.perf_counter() - start
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                 resource.RUSAGE_CHILDREN)]
    engine.dispose()
    print(json.dumps({"seconds": seconds, "tree_size": report.tree_size, "ok": report.ok,
                      "cpu_self": usage[0].ru_utime + usage[0].ru_stime,
                      "cpu_workers": usage[1].ru_utime + usage[1].ru_stime}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

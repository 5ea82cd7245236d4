"""What every benchmark shares: the databases it runs against, timing, percentiles, results."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from access.ops.migrate import upgrade
from access.ops.pg_roles import RolePlan, create_roles
from audit.checkpoint import generate_keypair, load_private_key, load_public_key
from audit.engine import make_engine

PG_ADMIN_URL = os.environ.get("GATEHOUSE_BENCH_PG_ADMIN_URL",
                              "postgresql://postgres@127.0.0.1:5432/postgres")
# GATEHOUSE_BENCH_PG=name runs a second benchmark beside a first without dropping its database
# The generated log is a year of history loaded after the append benchmark's present-day
# events: time allowances wide enough for that (the checks still run, and cost the same).
HISTORY_ALLOWANCE_S = 400 * 24 * 3600
_PG_NAME = os.environ.get("GATEHOUSE_BENCH_PG", "gh_bench")
if not _PG_NAME.replace("_", "").isalnum():
    raise SystemExit("GATEHOUSE_BENCH_PG: letters, digits and underscores only")
PG_PLAN = RolePlan(_PG_NAME, f"{_PG_NAME}_owner", f"{_PG_NAME}_app")


@dataclass
class Mode:
    name: str              # quick | full
    events: int            # size of the generated log for query / verify / proof
    export_sizes: tuple[int, ...]
    append_seconds: float  # per measured round of an append benchmark
    append_rounds: int     # raw and ours alternate this many times
    reads: int             # audited and unaudited reads, each
    query_values: int      # distinct filter values sampled per filter
    proofs: int
    lag_seconds: float


QUICK = Mode("quick", 100_000, (10_000, 100_000), 2.0, 3, 1_000, 20, 200, 15.0)
FULL = Mode("full", 10_000_000, (1_000_000, 10_000_000), 4.0, 3, 3_000, 40, 1_000, 60.0)


@dataclass
class Result:
    engine: str
    bench: str
    what: str
    measured: str
    target: str
    met: bool | None  # None: reported, no target of its own
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Env:
    """One engine's database for the run: a SQLite file under a temp dir, or `gh_bench`."""

    kind: str
    url: str          # the app's URL (PostgreSQL: the app role, INSERT/SELECT on audit tables)
    admin_url: str    # a URL allowed to ANALYZE and to read everything (owner / the file)
    engine: Engine
    workdir: Path
    key: Ed25519PrivateKey
    checkpoint_dir: Path
    key_path: Path
    public_path: Path
    mode: Mode
    results: list[Result] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # shared between benchmarks

    def add(self, bench: str, what: str, measured: str, target: str, met: bool | None,
            **figures: Any) -> Result:
        result = Result(self.kind, bench, what, measured, target, met, figures)
        self.results.append(result)
        flag = {True: "met", False: "MISSED", None: "-"}[met]
        print(f"  [{self.kind}] {what}: {measured}  (target {target}: {flag})", flush=True)
        return result

    @property
    def public(self) -> Any:
        return load_public_key(self.public_path)

    def sealer_env(self) -> dict[str, str]:
        return {**os.environ, "GATEHOUSE_DATABASE_URL": self.url,
                "GATEHOUSE_AUDIT_SIGNING_KEY": str(self.key_path),
                "GATEHOUSE_AUDIT_PUBLIC_KEY": str(self.public_path),
                "GATEHOUSE_CHECKPOINT_DIR": str(self.checkpoint_dir)}


def _keys(workdir: Path) -> tuple[Ed25519PrivateKey, Path, Path]:
    private, public = workdir / "keys" / "audit-signing.key", workdir / "keys" / "audit.pub"
    if not private.exists():  # a kept directory keeps the key its checkpoints were signed by
        generate_keypair(private, public)
    return load_private_key(private), private, public


@contextmanager
def environment(kind: str, mode: Mode, keep: Path | None = None) -> Iterator[Env]:
    """A freshly migrated database of `kind`, removed afterwards whatever happens.

    With `keep` (a directory), the database, keys and checkpoints are kept there and reused by
    the next run given the same directory: a 10M-event log is built once and measured again
    after a change. A run without `keep` starts by dropping that PostgreSQL database."""
    workdir = keep if keep is not None else Path(tempfile.mkdtemp(prefix=f"gh-bench-{kind}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    key, key_path, public_path = _keys(workdir)
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'gatehouse.db'}"
        upgrade(url)
        env = Env(kind, url, url, make_engine(url), workdir, key, workdir / "checkpoints",
                  key_path, public_path, mode)
        try:
            yield env
        finally:
            env.engine.dispose()
            if keep is None:
                shutil.rmtree(workdir, ignore_errors=True)
        return
    if keep is None or not any(keep.glob("built-*.json")):
        drop_postgres()  # a fresh start: nothing kept, or a build that never finished
    owner_url, app_url = create_roles(PG_ADMIN_URL, PG_PLAN)  # each only if absent
    previous = os.environ.get("GATEHOUSE_APP_ROLE")
    os.environ["GATEHOUSE_APP_ROLE"] = PG_PLAN.app
    # The generated log spreads a year of history: migration 0008's trigger keeps appender
    # times that far from the database's clock here (the trigger runs, and costs, the same).
    os.environ.setdefault("GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE", str(HISTORY_ALLOWANCE_S))
    try:
        upgrade(owner_url)
        env = Env(kind, app_url, owner_url, make_engine(app_url, pool_size=12),
                  workdir, key, workdir / "checkpoints", key_path, public_path, mode)
        try:
            yield env
        finally:
            env.engine.dispose()
    finally:
        if previous is None:
            os.environ.pop("GATEHOUSE_APP_ROLE", None)
        else:
            os.environ["GATEHOUSE_APP_ROLE"] = previous
        if keep is None:
            drop_postgres()
            shutil.rmtree(workdir, ignore_errors=True)


def drop_postgres() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for database in (PG_PLAN.database, f"{PG_PLAN.database}_customers"):
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        for role in (PG_PLAN.app, PG_PLAN.owner):
            conn.execute(f"DROP OWNED BY {role}" if _role_exists(conn, role) else "SELECT 1")
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() \
        is not None


def analyze(env: Env) -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there on its own)."""
    if env.kind == "postgres":
        owner = make_engine(env.admin_url)
        with owner.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        owner.dispose()
    else:
        with env.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


# --- measuring -----------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def write_results(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")

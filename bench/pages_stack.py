"""The stack the page-speed benchmark drives: what the browser tests start (tests/e2e/conftest.py)
plus what `make run` adds (scripts/run_demo.py): the demo OpenID provider with every persona, a
data folder migrated, keyed, with demo customers and the seeded demo history, optionally a large
generated log *before* that history, everything sealed, and the console on a free port.

The generated log (`bench.dataset.EventMaker`, the bench's own generator) ends 22 days ago, so
the demo's three weeks follow it in time and in sealing order: nothing in it is backdated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from audit.engine import make_engine, write_engine
from audit.events import to_micros
from audit.schema import events_table
from bench.common import HISTORY_ALLOWANCE_S
from bench.dataset import YEAR_US, EventMaker
from scripts.demo_idp import issuer_url, register_personas
from scripts.demo_secrets import write_secrets
from tests.e2e.conftest import SETUP_COMMANDS, free_port, hermetic_env, stop, wait_until_up

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    console: str  # http://localhost:PORT
    idp: str
    data: Path    # the console's data folder (GATEHOUSE_DATA_DIR)
    events: int   # events in the log when the console started


def _run(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"python {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _spawn(stack: ExitStack, env: dict[str, str], log: Path, *args: str
           ) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    stack.callback(stop, proc)
    return proc


def load_generated(data: Path, n: int) -> float:
    """`n` generated events ending 22 days ago, into the data folder's SQLite log; seconds."""
    engine = make_engine(f"sqlite:///{data / 'gatehouse.db'}")
    end_us = to_micros(datetime.now(UTC) - timedelta(days=22))
    start = time.perf_counter()
    try:
        for batch in EventMaker().rows(n, end_us - YEAR_US, end_us):
            with write_engine(engine).begin() as conn:
                conn.execute(insert(events_table), batch)
    finally:
        engine.dispose()
    return time.perf_counter() - start


@contextmanager
def stack(events: int) -> Iterator[Stack]:
    """Start everything; stop it and remove the folder afterwards, whatever happens."""
    home = Path(tempfile.mkdtemp(prefix="gh-bench-pages-"))
    try:
        with ExitStack() as running:
            idp_port = free_port()
            idp = issuer_url(idp_port)
            proc = _spawn(running, hermetic_env(GATEHOUSE_IDP_PORT=str(idp_port)),
                          home / "idp.log", "scripts/demo_idp.py")
            wait_until_up(f"{idp}/.well-known/openid-configuration", proc, home / "idp.log")
            register_personas(idp)
            data = home / "data"
            env = hermetic_env(GATEHOUSE_DATA_DIR=str(data), GATEHOUSE_IDP_PORT=str(idp_port))
            for command in SETUP_COMMANDS:
                _run(env, "-m", *command)
            if events:
                # A year of history sealed today: every event lies before the first
                # checkpoint's time. The sealer and the console's Verify take the bench's
                # history-wide allowance (the check runs, and costs, the same).
                env["GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE"] = str(HISTORY_ALLOWANCE_S)
                print(f"loading {events:,} generated events", flush=True)
                seconds = load_generated(data, events)
                print(f"  loaded in {seconds:.0f} s", flush=True)
            _run(env, "-m", "access", "--issuer", idp, "seed-demo")
            print("sealing", flush=True)
            _run(env, "-m", "audit", "seal")
            port = free_port()
            secrets = home / "secrets.toml"
            write_secrets(secrets, console_port=port, idp_port=idp_port)
            proc = _spawn(running, env, home / "console.log", "-m", "streamlit", "run",
                          "streamlit_app.py", "--server.headless=true",
                          f"--server.port={port}", "--server.address=127.0.0.1",
                          "--browser.gatherUsageStats=false", f"--secrets.files={secrets}")
            wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", proc,
                          home / "console.log")
            yield Stack(f"http://localhost:{port}", idp, data, events)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def services_of(data: Path) -> Iterator[None]:
    """This process's GATEHOUSE_* settings pointed at the stack's data folder (for demo codes)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("GATEHOUSE_")}
    for name in saved:
        del os.environ[name]
    os.environ["GATEHOUSE_DATA_DIR"] = str(data)
    try:
        yield
    finally:
        del os.environ["GATEHOUSE_DATA_DIR"]
        os.environ.update(saved)

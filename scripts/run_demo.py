"""`make run`: prepare the SQLite demo and run everything it needs until Ctrl-C.

Steps: migrate the database, create the checkpoint signing key if absent, seed the demo if the
database is empty, then start the sealer and the console (and the local OpenID provider once
sign-in exists), print the URL, and on Ctrl-C (or if any of them dies) stop all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("GATEHOUSE_PORT", "8501"))


def step(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def start(name: str, *args: str) -> subprocess.Popen[bytes]:
    print(f"starting {name}", flush=True)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT)


def wait_healthy(url: str, child: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a loopback URL we built)
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not become healthy")


def main() -> int:
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    step("-m", "access", "migrate")
    step("-m", "audit", "keygen")
    children = [
        start("sealer", "-m", "audit", "sealer"),
        start("console", "-m", "streamlit", "run", "streamlit_app.py",
              f"--server.port={PORT}", "--server.address=127.0.0.1", "--server.headless=true",
              "--browser.gatherUsageStats=false"),
    ]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        wait_healthy(f"http://127.0.0.1:{PORT}/_stcore/health", children[-1])
        print(f"\nGatehouse is running at http://localhost:{PORT}  (Ctrl-C stops everything)\n",
              flush=True)
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.3)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    print("stopped", flush=True)
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())

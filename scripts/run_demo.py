"""`make run`: prepare the SQLite demo and run everything it needs until Ctrl-C.

Steps: migrate the database, create the checkpoint signing key and the MFA sealing key if
absent, seed the demo (a no-op once seeded), write
`.streamlit/secrets.toml` if absent, then start the sealer, the local OpenID provider
(scripts/demo_idp.py) and the console, print the URL and the personas, and on Ctrl-C (or if
any of them dies) stop all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from scripts.demo_idp import describe_personas, idp_port, issuer_url
from scripts.demo_secrets import write_secrets

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("GATEHOUSE_PORT", "8501"))
IDP_PORT = idp_port()
SECRETS = ROOT / ".streamlit" / "secrets.toml"


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


def step(*args: str) -> None:
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def start(name: str, *args: str) -> subprocess.Popen[bytes]:
    print(f"starting {name}", flush=True)
    return subprocess.Popen([sys.executable, *args], cwd=ROOT)


def wait_healthy(url: str, child: subprocess.Popen[bytes], stopping: list[bool],
                 seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        if stopping:
            raise Stopped
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a loopback URL we built)
                return
        except OSError:
            time.sleep(0.3)
    if stopping:  # a Ctrl-C reaches the children too, so the child may have died of it
        raise Stopped
    raise SystemExit(f"{url} did not become healthy")


def ensure_secrets() -> None:
    if write_secrets(SECRETS, PORT, IDP_PORT):
        print(f"wrote {SECRETS.relative_to(ROOT)} (sign-in against the demo provider)")
        return
    text = SECRETS.read_text()
    for port in (PORT, IDP_PORT):
        if f"localhost:{port}/" not in text:
            print(f"warning: {SECRETS.relative_to(ROOT)} does not mention port {port}; "
                  "delete it to regenerate it for these ports", file=sys.stderr)


def main() -> int:
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    os.environ["GATEHOUSE_IDP_PORT"] = str(IDP_PORT)
    # The server under Streamlit (uvicorn) would take X-Forwarded-For from any loopback peer;
    # Gatehouse applies its own rule (GATEHOUSE_TRUSTED_PROXIES) instead.
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    step("-m", "access", "migrate")
    step("-m", "audit", "keygen")
    step("-m", "access", "keygen")
    step("-m", "access", "seed-demo")
    ensure_secrets()

    stopping: list[bool] = []  # a list, so the signal handler can flip it

    def stop(*_: object) -> None:
        stopping.append(True)

    # Handlers first: a Ctrl-C during start-up must still stop whatever was already started.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(start("sealer", "-m", "audit", "sealer"))
        children.append(start("worker", "-m", "access", "worker"))
        children.append(start(f"OpenID provider on port {IDP_PORT}", "scripts/demo_idp.py"))
        idp = issuer_url(IDP_PORT)
        wait_healthy(f"{idp}/.well-known/openid-configuration", children[-1], stopping)
        children.append(start("console", "-m", "streamlit", "run", "streamlit_app.py",
                              f"--server.port={PORT}", "--server.address=127.0.0.1",
                              "--server.headless=true", "--browser.gatherUsageStats=false",
                              # Streamlit then prints a localhost URL: sign-in breaks on
                              # 127.0.0.1 (the auth cookie's origin is redirect_uri's).
                              "--browser.serverAddress=localhost"))
        wait_healthy(f"http://127.0.0.1:{PORT}/_stcore/health", children[-1], stopping)
        print(f"\nOpenID provider at {idp}; sign in as any of these personas:\n"
              f"{describe_personas()}\n"
              f"\nGatehouse is running at http://localhost:{PORT}  (Ctrl-C stops everything)\n",
              flush=True)
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.3)
    except Stopped:
        pass
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

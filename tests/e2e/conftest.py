"""Browser-test fixtures: the demo OpenID provider, a console on a free port, a chromium page.

Every test in this directory is marked `browser`. Without /usr/bin/chromium they skip, unless
GATEHOUSE_REQUIRE_BROWSER=1 (CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from scripts.demo_idp import issuer_url, register_personas
from scripts.demo_secrets import write_secrets

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
# Assertions wait up to 15 s, as actions wait 20 s (`page`): with two test workers on two
# cores, one script run of a page can take longer than Playwright's 5 s default.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage"]
# What `make run` does before starting the console (scripts/run_demo.py), minus the demo seed.
SETUP_COMMANDS = (["access", "migrate"], ["audit", "keygen"], ["access", "keygen"],
                  ["access", "generate-customers"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not come up; last output:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def hermetic_env(**extra: str) -> dict[str, str]:
    """The caller's environment without GATEHOUSE_* settings, so a test never reaches a
    developer's database, keys or ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    # As `make run`: Gatehouse's own trusted-proxy rule, not uvicorn's (README, Configuration).
    return env | {"PYTHONPATH": str(ROOT), "FORWARDED_ALLOW_IPS": ""} | extra


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    # Autouse and first, so a machine without chromium skips before servers start.
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("GATEHOUSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GATEHOUSE_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(f"{why}; CI requires it")


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo provider (scripts/demo_idp.py) with every persona; yields its localhost URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("idp") / "idp.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "scripts/demo_idp.py"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT,
                                env=hermetic_env(GATEHOUSE_IDP_PORT=str(port)))
    url = issuer_url(port)
    try:
        wait_until_up(f"{url}/.well-known/openid-configuration", proc, log)
        register_personas(url)
        yield url
    finally:
        stop(proc)


@contextmanager
def consoles(idp: str, root: Path) -> Iterator[Callable[..., str]]:
    """`start(script)` runs a Streamlit script as the console would run, on a free port with
    its own data dir under `root` (migrated, keys made) and its own secrets pointing at `idp`
    (or at `metadata_url=`), with `env=` added to its environment, and returns
    `http://localhost:PORT` (localhost as in redirect_uri: the auth cookie is bound to that
    origin). Everything started stops on exit."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(script: Path, metadata_url: str | None = None,
              env: dict[str, str] | None = None) -> str:
        port = free_port()
        home = root / f"console-{port}"
        home.mkdir()
        secrets = home / "secrets.toml"
        write_secrets(secrets, console_port=port, idp_port=int(idp.rsplit(":", 1)[1]),
                      metadata_url=metadata_url)
        env = hermetic_env(GATEHOUSE_DATA_DIR=str(home / "data"), **(env or {}))
        for command in SETUP_COMMANDS:
            done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            if done.returncode:
                pytest.fail(f"python -m {' '.join(command)} failed:\n{done.stderr}")
        log = home / "console.log"
        # --secrets.files replaces Streamlit's whole search list (~/.streamlit/ and
        # ./.streamlit/secrets.toml), so a developer's own secrets are never read.
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(script),
                 "--server.headless=true", f"--server.port={port}",
                 "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
                 f"--secrets.files={secrets}"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", procs[-1], log)
        return f"http://localhost:{port}"

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture
def start_console(idp: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """`consoles` for one test: its data dirs under `tmp_path`."""
    with consoles(idp, tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_consoles(idp: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[Callable[..., str], Path]]:
    """`consoles` a whole module shares (tests then tell their events apart by id), and the
    folder holding their data dirs."""
    root = tmp_path_factory.mktemp("consoles")
    with consoles(idp, root) as start:
        yield start, root


@pytest.fixture
def console_script() -> Path:
    """The script `console_url` runs: the real console. Override it (a fixture of the same name
    in a test module, or `@pytest.mark.parametrize("console_script", [path])`)."""
    return ROOT / "streamlit_app.py"


@pytest.fixture
def console_url(start_console: Callable[..., str], console_script: Path) -> str:
    """`http://localhost:PORT` of a freshly started console (see `start_console`)."""
    return start_console(console_script)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Chromium for the browser tests, stopped when they end: Playwright's sync API keeps an
    event loop running on this thread while it lives, and the tests that follow on the same
    worker (asyncio.run in the notifier, the sign-in watch) need a thread without one."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context, so no cookie (no sign-in) leaks between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> Path:
    """Keep a step as test-artifacts/e2e/NAME.png (git-ignored; CI can upload the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


# True once the app's script-run state has been "notRunning" for `ms` milliseconds. The first
# call on a page installs an observer of that state (its start counts as a change), so the
# quiet is measured from then on.
_QUIET = """ms => {
    if (window.__ghRunState === undefined) {
        window.__ghRunState = performance.now();
        new MutationObserver(() => { window.__ghRunState = performance.now(); }).observe(
            document.documentElement, {subtree: true, attributes: true,
                                       attributeFilter: ["data-test-script-state"]});
    }
    const app = document.querySelector("[data-testid=stApp]");
    return app !== null && app.dataset.testScriptState === "notRunning"
        && performance.now() - window.__ghRunState >= ms;
}"""
QUIET_MS = 400


def wait_for_app(page: Page) -> None:
    """Wait until Streamlit has connected and finished running the script, and no run has
    started or ended for QUIET_MS. Right after a click the state still reads "notRunning"
    until the server starts the run the click asked for; without the quiet, the next step
    could act in that gap and its click be lost in the run that follows (seen in full runs
    on this 2-core machine)."""
    page.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for()
    page.wait_for_function(_QUIET, arg=QUIET_MS, polling=100)


def sign_in_at_idp(page: Page, sub: str) -> None:
    """On oidc-provider-mock 0.3.4's authorize form, sign in as `sub`."""
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()

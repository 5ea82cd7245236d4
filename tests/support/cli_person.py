"""Run `python -m access` as a signed-in person in a subprocess, on the real clock: a persona
with a live console session (signed in a few minutes ago) and a fresh authenticator code per
command, as `access.ops.as_person` wants."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from access.context import Gatehouse
from access.identity import totp
from access.ops.demo import _enrolled
from tests.adversarial.support import cli_env

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "http://localhost:9400"


class Person:
    """A demo persona signed in and enrolled `ago` in the past, so that the code steps around
    now are still unused; `code()` gives the next unused one, waiting when all are spent."""

    def __init__(self, gh: Gatehouse, sub: str, ago: timedelta = timedelta(minutes=3)) -> None:
        then = gh.now() - ago
        self.sub = sub
        self.secret = _enrolled(dataclasses.replace(gh, clock=lambda: then), ISSUER, sub).secret
        self.used = totp.time_step(then.timestamp())

    def code(self) -> str:
        # A code is accepted for the steps now-1 .. now+1, each once, in increasing order. The
        # current step, not now-1: a subprocess slow to start on a loaded machine must still
        # find it inside the window after the step rolls over.
        step = max(self.used + 1, totp.time_step(time.time()))
        while totp.time_step(time.time()) + 1 < step:
            time.sleep(0.5)
        self.used = step
        return totp.code_at_step(self.secret, step)


def access_cli(data_dir: Path, who: Person, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m access COMMAND --as WHO --code CODE ARGS...` against the SQLite database
    of `data_dir`; argv is the command then its arguments."""
    command, *rest = argv
    return subprocess.run(
        [sys.executable, "-m", "access", *command.split(), "--as", who.sub, "--code",
         who.code(), *rest], capture_output=True, text=True, cwd=ROOT, timeout=120,
        check=False, env=cli_env(f"sqlite:///{data_dir / 'gatehouse.db'}", data_dir))

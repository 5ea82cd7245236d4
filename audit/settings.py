"""Where the audit log lives and where its trust anchors are kept, read from the environment.

Every path defaults under the project's git-ignored `data/` folder so `make run` works from a
clean clone; production points them at a secret store and at storage outside the database host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# How far an event's time may run behind its predecessor in sealing order (or behind the
# previous checkpoint) before it is `backdated`, and how far an appender's own time may lie
# from the database's before PostgreSQL stamps its own. An honest event is stamped when its
# use case starts and sealed after its transaction commits, so this must cover the longest a
# write transaction stays open: the console's and sealer's roles end a transaction idle for
# 60 s (access/ops/pg_roles.py, `idle_in_transaction_session_timeout`); twice that leaves room
# for the statements in between. Baked into the PostgreSQL trigger by migration 0008.
BACKDATE_ALLOWANCE_US = 120_000_000
# Seal lag (oldest unsealed event's age) above this is a verify warning and an anomaly.
SEAL_LAG_WARNING_US = 60_000_000


@dataclass(frozen=True)
class AuditSettings:
    database_url: str
    signing_key_path: Path
    public_key_path: Path
    checkpoint_dir: Path
    sealer_database_url: str = ""  # the sealer's own role; "" means `database_url`
    backdate_allowance_us: int = BACKDATE_ALLOWANCE_US
    seal_lag_warning_us: int = SEAL_LAG_WARNING_US

    @property
    def sealer_url(self) -> str:
        return self.sealer_database_url or self.database_url


def data_dir() -> Path:
    return Path(os.environ.get("GATEHOUSE_DATA_DIR", PROJECT_ROOT / "data"))


def database_url() -> str:
    """`GATEHOUSE_DATABASE_URL`, else a SQLite file in the data folder."""
    url = os.environ.get("GATEHOUSE_DATABASE_URL")
    return url or f"sqlite:///{data_dir() / 'gatehouse.db'}"


def backdate_allowance_us() -> int:
    """`GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE` (seconds), else `BACKDATE_ALLOWANCE_US`."""
    return _seconds("GATEHOUSE_AUDIT_BACKDATE_ALLOWANCE", BACKDATE_ALLOWANCE_US)


def load_settings() -> AuditSettings:
    keys = Path(os.environ.get("GATEHOUSE_AUDIT_KEY_DIR", data_dir() / "keys"))
    signing = Path(os.environ.get("GATEHOUSE_AUDIT_SIGNING_KEY", keys / "audit-signing.key"))
    public = Path(os.environ.get("GATEHOUSE_AUDIT_PUBLIC_KEY", keys / "audit-signing.pub"))
    checkpoints = Path(os.environ.get("GATEHOUSE_CHECKPOINT_DIR", data_dir() / "checkpoints"))
    sealer = os.environ.get("GATEHOUSE_SEALER_DATABASE_URL", "")
    return AuditSettings(database_url(), signing, public, checkpoints, sealer,
                         backdate_allowance_us(),
                         _seconds("GATEHOUSE_SEAL_LAG_WARNING", SEAL_LAG_WARNING_US))


def _seconds(variable: str, default_us: int) -> int:
    """A duration in seconds from the environment, as microseconds; `default_us` if unset."""
    raw = os.environ.get(variable)
    if not raw:
        return default_us
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{variable}: must be a number of seconds, not {raw!r}") from None
    if not 0 < seconds < 10**9:
        raise ValueError(f"{variable}: must be a positive number of seconds")
    return int(seconds * 1_000_000)

"""Where the audit log lives and where its trust anchors are kept, read from the environment.

Every path defaults under the project's git-ignored `data/` folder so `make run` works from a
clean clone; production points them at a secret store and at storage outside the database host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AuditSettings:
    database_url: str
    signing_key_path: Path
    public_key_path: Path
    checkpoint_dir: Path
    sealer_database_url: str = ""  # the sealer's own role; "" means `database_url`

    @property
    def sealer_url(self) -> str:
        return self.sealer_database_url or self.database_url


def data_dir() -> Path:
    return Path(os.environ.get("GATEHOUSE_DATA_DIR", PROJECT_ROOT / "data"))


def database_url() -> str:
    """`GATEHOUSE_DATABASE_URL`, else a SQLite file in the data folder."""
    url = os.environ.get("GATEHOUSE_DATABASE_URL")
    return url or f"sqlite:///{data_dir() / 'gatehouse.db'}"


def load_settings() -> AuditSettings:
    keys = Path(os.environ.get("GATEHOUSE_AUDIT_KEY_DIR", data_dir() / "keys"))
    signing = Path(os.environ.get("GATEHOUSE_AUDIT_SIGNING_KEY", keys / "audit-signing.key"))
    public = Path(os.environ.get("GATEHOUSE_AUDIT_PUBLIC_KEY", keys / "audit-signing.pub"))
    checkpoints = Path(os.environ.get("GATEHOUSE_CHECKPOINT_DIR", data_dir() / "checkpoints"))
    sealer = os.environ.get("GATEHOUSE_SEALER_DATABASE_URL", "")
    return AuditSettings(database_url(), signing, public, checkpoints, sealer)

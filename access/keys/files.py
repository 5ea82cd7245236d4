"""Keys from configuration, never from a database: an environment variable, else a key file.

One loader for every local key (the MFA key sealing TOTP secrets, the master key wrapping the
customers' data keys), so they are read, created and protected the same way:
- `load` takes the variable when it is set, else the file it names (else `keys/<name>` in the
  data folder); errors name the variable or the file, never the key.
- `create` writes a new random key owner-only (0600) inside a folder it creates owner-only
  (0700), and never replaces a key: with `O_EXCL` two keygens racing leave exactly one key,
  the winner's, and the loser is told it exists (replacing a key would orphan what it sealed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from access.errors import InvalidInput
from access.keys.secretbox import SecretBox
from audit.settings import data_dir

__all__ = ["KeyFile"]

ENCODING = "ascii"  # base64 text; anything else in a key file is damage, not a key


@dataclass(frozen=True)
class KeyFile:
    env: str           # the key itself, base64 of 32 bytes (from a secret store)
    file_env: str      # the path of its key file
    default_name: str  # the file's name under `<data folder>/keys` when `file_env` is unset

    def path(self) -> Path:
        return Path(os.environ.get(self.file_env) or data_dir() / "keys" / self.default_name)

    def load(self) -> bytes:
        """The 32 key bytes; InvalidInput naming the variable (or the file) otherwise.

        A variable that is set but blank is refused, not skipped: it is a mistake in a
        security setting, and falling back to a file would hide it."""
        text = os.environ.get(self.env)
        if text is not None:
            return SecretBox.key_from_base64(text, field=self.env)
        path = self.path()
        try:
            text = path.read_text(encoding=ENCODING)
        except FileNotFoundError:
            raise InvalidInput(self.env, f"is not set and there is no key file at {path} "
                                         f"({self.file_env}); run `python -m access keygen`"
                               ) from None
        except (OSError, UnicodeDecodeError):
            raise InvalidInput(self.file_env, f"{path} cannot be read") from None
        return SecretBox.key_from_base64(text, field=f"{self.file_env} ({path})")

    def create(self) -> Path | None:
        """Write a new random key to `path()` unless a file is there; its path if written,
        None if one existed (left as it is)."""
        path = self.path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            # O_EXCL: "only if absent" holds even when two processes race to create it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w", encoding=ENCODING) as handle:
            handle.write(SecretBox.generate_key_base64() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path

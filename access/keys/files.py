"""Keys from configuration, never from a database; and the one home of the rules for private
folders (keys, exports, SQLite databases). The rule for private files is
`audit.private_files` (the audit log writes export files and cannot import `access`);
`create_private` here is that one, re-exported.

Private files (issue 15, finding F1; ASVS 14.2.4, 15.3.x):
- `private_dir` makes a folder 0700 if it is absent, then checks it with `lstat` (so a symlink
  is seen, never followed): a directory, not a symlink, owned by this process's user, mode
  exactly 0700. A folder someone else made first (world-writable, a symlink to theirs, owned by
  them) is refused, not adopted: whoever made it could read or swap what goes in.
- `create_private` (`audit.private_files`) opens a new file 0600 with `O_EXCL | O_NOFOLLOW`:
  never an existing file, never through a symlink (`PathTaken`, a `FileExistsError`).
- `private_sqlite` pre-creates a SQLite database file 0600 (SQLite gives its -wal, -shm and
  journal files the database file's mode) and checks an existing one the same way.
Each refusal is `InvalidInput` whose field is the path and whose rule says which rule failed,
so start-up can refuse with a message naming both.

Keys from configuration:

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
import stat
from dataclasses import dataclass
from pathlib import Path

from access.errors import InvalidInput
from access.keys.secretbox import SecretBox
from audit.private_files import create_private
from audit.settings import data_dir

__all__ = ["KeyFile", "check_private", "create_private", "private_dir", "private_sqlite"]

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
            fd = create_private(path)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w", encoding=ENCODING) as handle:
            handle.write(SecretBox.generate_key_base64() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path


def check_private(path: Path, mode: int, directory: bool) -> None:
    """`path` as `lstat` sees it: of the right kind, not a symlink, owned by this process's
    user, permissions exactly `mode`; `InvalidInput(str(path), rule)` otherwise."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InvalidInput(str(path), "does not exist") from None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInput(str(path), "must not be a symlink: it could point anywhere")
    kind = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    if not kind:
        raise InvalidInput(str(path), f"must be a {'directory' if directory else 'file'}")
    if info.st_uid != os.geteuid():
        raise InvalidInput(str(path), f"must be owned by this process's user (uid "
                                      f"{os.geteuid()}), not uid {info.st_uid}")
    if stat.S_IMODE(info.st_mode) != mode:
        raise InvalidInput(str(path), f"must have mode {mode:04o} (owner only), not "
                                      f"{stat.S_IMODE(info.st_mode):04o}")


def private_dir(path: Path) -> Path:
    """`path` as a private folder: created 0700 (with its parents) if absent, then checked
    (see the module). Returns `path`."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass  # someone's: checked below, never adopted as it is
    else:
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; this one is not
    check_private(path, 0o700, directory=True)
    return path


def private_sqlite(url: str, check_existing: bool = True) -> None:
    """For a `sqlite:///<file>` URL, the database file pre-created 0600 if absent (SQLite then
    creates its -wal, -shm and journal files with the same mode), or checked if present (unless
    `check_existing` is false: creating a database never refuses one that is there; starting
    the console does). Other URLs and in-memory databases are left alone."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix):] in ("", ":memory:"):
        return
    path = Path(url[len(prefix):].split("?", 1)[0])
    try:
        os.close(create_private(path))
    except FileExistsError:
        if check_existing:
            check_private(path, 0o600, directory=False)
    except FileNotFoundError:
        pass  # no such folder: the driver's own error names it

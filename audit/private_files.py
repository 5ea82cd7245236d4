"""Private files, created new: the one home of the rule for every file Gatehouse writes that
another local user must not read or redirect (audit exports and bundles here; key and SQLite
database files through `access.keys.files`, which reuses this module because `audit` cannot
import `access`).

The rule (issue 15, "Private files"):
- a file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 exactly (`fchmod`, the
  umask can only narrow it): never an existing file, never through a symlink. Anything already
  at the path (a file, a symlink, even a dangling one) is refused with `PathTaken`, naming the
  path; nothing is written, and nothing is written through the link;
- a finished file is given its final name with `os.link` + `unlink` (`place`), which refuses
  an existing name, never with `rename`, which would silently replace one;
- a folder of ours is created 0700, or, if it is there, must be a real directory (`lstat`: a
  symlink is refused, not followed).
Whoever can write the folder could plant a symlink to a file of their choosing (to have the
export overwrite it) or a file of theirs (to read what is written into it); both are refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

__all__ = ["PathTaken", "create_private", "open_private", "place", "private_folder",
           "read_private", "replace_atomically"]

_CREATE_NEW = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_CLOEXEC", 0))


class PathTaken(FileExistsError):
    """Something is already at a path a private file or folder was to be created at."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"refusing to write {path}: {what} is already there (a private file is "
                         "always created new, never through a symlink, never over a file)")
        self.path = path


def create_private(path: Path) -> int:
    """A new file at `path`, 0600, open for writing; its file descriptor. `PathTaken` (a
    `FileExistsError`) if anything, a symlink included, is already there."""
    try:
        fd = os.open(path, _CREATE_NEW, 0o600)
    except FileExistsError:
        raise PathTaken(path, _what(path)) from None
    os.fchmod(fd, 0o600)
    return fd


def open_private(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """`create_private` as a file object (`mode` "wb" or "w"; `kwargs` as for `open`)."""
    if mode not in ("wb", "w"):
        raise ValueError("a private file is opened for writing only")
    fd = create_private(path)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def read_private(path: Path) -> bytes:
    """The bytes of the regular file at `path`, opened with `O_NOFOLLOW`: a symlink swapped in
    after the file was written is refused (`OSError`), never followed to another file."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(f"refusing to read {path}: not a regular file")
        return file.read()


def place(source: Path, target: Path) -> Path:
    """Give the finished file `source` the name `target` (same folder), refusing if anything
    is at `target`; returns `target`."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise PathTaken(target, _what(target)) from None
    source.unlink()
    return target


def replace_atomically(target: Path, text: str) -> Path:
    """Put `text` at `target` whole or not at all: a new private temp file beside it, fsync,
    then `os.replace` (a reader sees the old file or the new one, never half of one; a crash
    leaves the old one). A stale temp file (a crash) or anything planted at the temp name goes
    first: unlink never follows a symlink, and the temp is then created new, never written
    through a link to some other file. Returns `target`.

    For notes the sealer republishes under the same name (checkpoints, statements), where
    replacing is the point; `place` is for files that must never replace one."""
    temp = target.with_suffix(".tmp")
    temp.unlink(missing_ok=True)
    with open_private(temp, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, target)
    return target


def private_folder(path: Path) -> Path:
    """`path` created 0700 (parents as needed) if absent; if present it must be a real
    directory, not a symlink (`PathTaken` otherwise). Returns `path`."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise PathTaken(path, _what(path)) from None
    else:
        os.chmod(path, 0o700, follow_symlinks=False)  # mkdir's mode is masked by the umask
    return path


def _what(path: Path) -> str:
    try:
        info = os.lstat(path)
    except FileNotFoundError:  # gone again meanwhile
        return "something"
    if stat.S_ISLNK(info.st_mode):
        return "a symlink"
    return "a directory" if stat.S_ISDIR(info.st_mode) else "a file"

"""Exports of audit events as CSV or JSONL, written chunk by chunk: memory stays flat.

Contract:

- `write_export()` consumes an iterator of rows (`audit.query.stream`, a server-side
  cursor) and writes encoded chunks of `CHUNK_ROWS` rows to files on disk; at no
  point does it hold more than one chunk. It returns the files and the row count.
- Output is split into parts of at most about `part_bytes` at row boundaries; every CSV part
  repeats the header, so each part opens on its own. (Whoever serves a file over HTTP may
  have to hold it in memory, as Streamlit's download button does: parts bound that too.)
- CSV is formula-neutralized (OWASP "CSV injection", ASVS 1.2.10): a text cell that starts
  with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe, so no
  spreadsheet runs an actor name or a reason as a formula. Numbers are left as numbers.
  JSONL is data for programs and is written exactly (UTF-8, one object per line).
- `zip_directory()` and `split_file()` package a verifiable bundle the same way: streamed
  from disk to disk, in pieces of a bounded size.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from audit.canonical import FIELDS

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "FORMULA_START",
    "PART_BYTES",
    "ExportFormat",
    "Written",
    "encode",
    "neutralize",
    "split_file",
    "write_export",
    "zip_directory",
]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS: tuple[str, ...] = ("id", "ts", *FIELDS)
CHUNK_ROWS = 1_000
PART_BYTES = 64 * 1024 * 1024
COPY_BUFFER = 1024 * 1024


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"

    @property
    def mime(self) -> str:
        return "text/csv" if self is ExportFormat.CSV else "application/x-ndjson"


def neutralize(value: object) -> object:
    """A text cell made inert in spreadsheets; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


_EPOCH = datetime(1970, 1, 1)
_FORMULA_FIRST = frozenset(c[0] for c in FORMULA_START)


def _iso(ts_us: int) -> str:
    # timedelta + isoformat: exact (no float seconds) and about 3x faster than strftime.
    return (_EPOCH + timedelta(microseconds=ts_us)).isoformat(timespec="microseconds") + "Z"


def _csv_header() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(COLUMNS)
    return out.getvalue().encode("utf-8")


def encode(fmt: ExportFormat, rows: Iterable[Sequence[Any]]) -> bytes:
    """One chunk (no CSV header) of rows in `audit.query.STREAM_COLUMNS` order, `details`
    as JSON text. The per-row work is kept small: it is the export's hot loop."""
    if fmt is ExportFormat.JSONL:
        return "".join(_jsonl(r) for r in rows).encode("utf-8")
    out = io.StringIO()
    csv.writer(out).writerows(  # neutralize(), inlined
        [r[0], _iso(r[1]), *("'" + v if v.__class__ is str and v[:1] in _FORMULA_FIRST else v
                             for v in r[1:])] for r in rows)
    return out.getvalue().encode("utf-8")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_JSON_KEYS = COLUMNS[:-1]


def _jsonl(row: Sequence[Any]) -> str:
    head = _JSON.encode(dict(zip(_JSON_KEYS, (row[0], _iso(row[1]), *row[1:-1]), strict=True)))
    # `details` is JSON text already: spliced in, not parsed and encoded again.
    return f'{head[:-1]},"details":{row[-1]}}}\n'


@dataclass(frozen=True)
class Written:
    parts: list[Path]
    rows: int
    bytes: int


class _Parts:
    """Files `stem-001.ext`, `stem-002.ext`, …, rolled over at chunk boundaries."""

    def __init__(self, directory: Path, stem: str, fmt: ExportFormat, limit: int) -> None:
        self.directory, self.stem, self.fmt, self.limit = directory, stem, fmt, limit
        self.header = _csv_header() if fmt is ExportFormat.CSV else b""
        self.paths: list[Path] = []
        self.file: BinaryIO | None = None
        self.size = self.total = 0

    def write(self, chunk: bytes) -> None:
        if self.file is None or (self.size > len(self.header)
                                 and self.size + len(chunk) > self.limit):
            self._next()
        assert self.file is not None
        self.file.write(chunk)
        self.size += len(chunk)
        self.total += len(chunk)

    def _next(self) -> None:
        self.close()
        path = self.directory / f"{self.stem}-{len(self.paths) + 1:03d}.{self.fmt.value}"
        self.paths.append(path)
        self.file = path.open("wb")
        self.file.write(self.header)
        self.size = len(self.header)
        self.total += len(self.header)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def write_export(rows: Iterable[Sequence[Any]], fmt: ExportFormat, directory: Path,
                 stem: str, part_bytes: int = PART_BYTES,
                 on_rows: Callable[[int], object] | None = None) -> Written:
    """Write `rows` (from `audit.query.stream`) as `fmt` into `directory`; call
    `on_rows(rows so far)` per chunk.

    A single part is named `stem.ext`; more are `stem-001.ext`, `stem-002.ext`, …. An empty
    export is one file holding only the header (CSV) or nothing (JSONL).
    """
    directory.mkdir(parents=True, exist_ok=True)
    parts = _Parts(directory, stem, fmt, part_bytes)
    count, source = 0, iter(rows)
    try:
        while batch := list(islice(source, CHUNK_ROWS)):
            parts.write(encode(fmt, batch))
            count += len(batch)
            if on_rows is not None:
                on_rows(count)
        if not parts.paths:
            parts.write(b"")
    finally:
        parts.close()
    paths = parts.paths
    if len(paths) == 1:
        paths = [paths[0].rename(directory / f"{stem}.{fmt.value}")]
    return Written(paths, count, parts.total)


def zip_directory(source: Path, target: Path) -> Path:
    """Zip every file under `source` into `target` (deflated), file by file from disk."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(source).as_posix())
    return target


def split_file(path: Path, piece_bytes: int = PART_BYTES) -> list[Path]:
    """`path` itself when it is small enough, else numbered pieces `NAME.001`, `NAME.002`, …
    (joined again with `cat NAME.0* > NAME`), the original removed."""
    if path.stat().st_size <= piece_bytes:
        return [path]
    pieces: list[Path] = []
    with path.open("rb") as source:
        while True:
            piece = path.with_name(f"{path.name}.{len(pieces) + 1:03d}")
            written = _copy(source, piece, piece_bytes)
            if not written:
                piece.unlink()
                break
            pieces.append(piece)
    path.unlink()
    return pieces


def _copy(source: BinaryIO, target: Path, limit: int) -> int:
    written = 0
    with target.open("wb") as out:
        while written < limit and (block := source.read(min(COPY_BUFFER, limit - written))):
            out.write(block)
            written += len(block)
    return written


"""Exports of audit events as CSV or JSONL, written chunk by chunk: memory stays flat.

Contract:

- `write_export()` consumes an iterator of rows (`audit.query.stream`, a server-side
  cursor) and writes encoded chunks of `CHUNK_ROWS` rows to files on disk; at no
  point does it hold more than one chunk. It returns the files and the row count.
- Output is split into parts of at most about `part_bytes` at row boundaries; every CSV part
  repeats the header, so each part opens on its own. (Whoever serves a file over HTTP may
  have to hold it in memory, as Streamlit's download button does: parts bound that too.)
- CSV is formula-neutralized (OWASP "CSV injection", ASVS 1.2.10): a text cell that starts
  with `=`, `+`, `-`, `@`, a tab, a carriage return or a NUL gets a leading apostrophe, so no
  spreadsheet runs an actor name or a reason as a formula. Numbers are left as numbers.
  `neutralize` is the one copy of this rule: the broker's customer-data export uses it too.
  JSONL is data for programs and is written exactly (UTF-8, one object per line).
- `zip_directory()` and `split_file()` package a verifiable bundle the same way: streamed
  from disk to disk, in pieces of a bounded size.
- Every file is created new, 0600, never through a symlink and never over a file someone
  planted in the folder (`audit.private_files`; `PathTaken` names the path otherwise).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import chain, islice, repeat
from operator import methodcaller
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple

from audit.canonical import FIELDS
from audit.private_files import open_private, place, private_folder

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

# ASVS 1.2.10 names = + - @ tab and NUL; OWASP adds CR. Audit text cannot hold a NUL (the
# log refuses it), but this is the one rule for every export, and customer data can: the
# stricter set (it was two twins, the audit one without NUL) serves both.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
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
    """A text cell made inert in spreadsheets (ASVS 1.2.10): one that could start a formula
    (`FORMULA_START`) gets a leading apostrophe. Anything else, numbers too, is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _csv_header() -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(COLUMNS)
    return out.getvalue().encode("utf-8")


def encode(fmt: ExportFormat, rows: Iterable[Sequence[Any]]) -> bytes:
    """One chunk (no CSV header) of rows in `audit.query.STREAM_COLUMNS` order, `details`
    as JSON text: byte for byte what `csv.writer` (excel dialect) writes for the
    `neutralize()`d cells, or one `json` object per line.

    This is the export's hot loop, so it works a column at a time, in C: the rows become
    columns once, and each text column is joined and searched whole to find whether any cell
    in it needs quoting, escaping or neutralizing. Almost none does, and such a column is
    written as it is; only a column where the search finds something is encoded cell by
    cell. One join then writes the whole chunk.
    """
    columns = list(zip(*rows, strict=True))
    if not columns:
        return b""
    if fmt is ExportFormat.CSV:
        text = _lines(_csv_columns(columns), _CSV_SEPARATORS, "\r\n")
    else:
        text = _lines(_jsonl_columns(columns), _JSONL_KEYS, "}\n")
    return text.encode("utf-8")


_EPOCH = datetime(1970, 1, 1)
_ISOFORMAT = methodcaller("isoformat", "T", "microseconds")
# In a column's NUL-joined text a cell starts at the beginning or just after a NUL. A NUL inside
# a cell can only raise a false alarm, which costs a pass cell by cell, never a miss. A cell
# that starts with NUL is found by counting: more NULs than separators means some cell holds
# one (the NUL trigger itself is left out of the search, where it would match every empty cell).
_FORMULA_FIRST = frozenset(FORMULA_START) - {"\x00"}
_FORMULA_AFTER_NUL = re.compile("\x00[" + re.escape("".join(sorted(_FORMULA_FIRST))) + "]")
_CSV_QUOTED = re.compile(r'[,"\r\n]')  # what makes csv.writer quote a cell (excel dialect)
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what json escapes (ensure_ascii=False)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_CSV_SEPARATORS = ("", *[","] * (len(COLUMNS) - 1))
_JSONL_KEYS = tuple(("," if i else "{") + _JSON.encode(name) + ":"
                    for i, name in enumerate(COLUMNS))


class _Column(NamedTuple):
    """One column of a chunk, encoded: each cell's text, and what every cell of the column is
    wrapped in (quotes; the `Z` of a UTC time), which `_lines` writes once per column."""

    cells: Iterable[str]
    opening: str = ""
    closing: str = ""


def _lines(columns: Sequence[_Column], separators: Sequence[str], end: str) -> str:
    """Every row: each cell after its column's separator, wrapped in its column's opening
    and closing, and `end` after the last cell. One join for the whole chunk."""
    pieces: list[Iterable[str]] = []
    closing = ""
    for separator, column in zip(separators, columns, strict=True):
        pieces += (repeat(closing + separator + column.opening), column.cells)
        closing = column.closing
    pieces.append(repeat(closing + end))
    # (strict=False: the repeats are endless, the cells end with the chunk)
    return "".join(chain.from_iterable(zip(*pieces, strict=False)))


def _csv_columns(columns: list[tuple[Any, ...]]) -> list[_Column]:
    ids, ts_us, *texts = columns
    return [_Column(map(str, ids)), _Column(_iso_column(ts_us), closing="Z"),
            _Column(map(str, ts_us)), *map(_csv_column, texts)]


def _jsonl_columns(columns: list[tuple[Any, ...]]) -> list[_Column]:
    ids, ts_us, *texts, details = columns
    # `details` is JSON text already: spliced in, not parsed and encoded again.
    return [_Column(map(str, ids)), _Column(_iso_column(ts_us), '"', 'Z"'),
            _Column(map(str, ts_us)), *map(_json_column, texts), _Column(details)]


def _iso_column(ts_us: Sequence[int]) -> Iterable[str]:
    """`ts_us` as ISO 8601 text, without the `Z`. timedelta + isoformat: exact (no float
    seconds)."""
    return map(_ISOFORMAT, map(_EPOCH.__add__, map(timedelta, repeat(0), repeat(0), ts_us)))


class _Scan(NamedTuple):
    """A text column read once: its cells (None as ""), whether any was None, and the cells
    joined into one text, which is searched instead of each cell."""

    cells: Sequence[str]
    text: str
    nulls: bool


def _scan(values: Sequence[Any], separator: str) -> _Scan | None:
    """`values` read for the searches; None when one is neither text nor None (no text
    column holds such a value, but the encoders still write it exactly)."""
    try:
        return _Scan(values, separator.join(values), nulls=False)
    except TypeError:  # a None, or not text
        pass
    try:
        cells = ["" if value is None else value for value in values]
        return _Scan(cells, separator.join(cells), nulls=True)
    except TypeError:
        return None


def _csv_column(values: Sequence[Any]) -> _Column:
    """One text column, neutralized, as csv.writer writes it."""
    scan = _scan(values, "\x00")
    if scan is None:
        return _Column([_csv_cell(neutralize(value)) for value in values])
    cells = scan.cells
    if (scan.text[:1] in _FORMULA_FIRST or _FORMULA_AFTER_NUL.search(scan.text)
            or scan.text.count("\x00") >= len(cells)):
        cells = [str(neutralize(cell)) for cell in cells]
    if _CSV_QUOTED.search(scan.text):  # (a leading apostrophe never needs quoting)
        return _Column([_csv_cell(cell) for cell in cells])
    return _Column(cells)


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if _CSV_QUOTED.search(text) else text


def _json_column(values: Sequence[Any]) -> _Column:
    """One text column as JSON: strings, or null for None."""
    scan = _scan(values, "")
    if scan is None or _JSON_ESCAPED.search(scan.text):
        return _Column(list(map(_JSON.encode, values)))
    if not scan.nulls:
        return _Column(scan.cells, '"', '"')
    return _Column(["null" if value is None else '"' + value + '"' for value in values])


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
        self.file: IO[Any] | None = None
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
        self.file = open_private(path)
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
    private_folder(directory)
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
        paths = [place(paths[0], directory / f"{stem}.{fmt.value}")]
    return Written(paths, count, parts.total)


def zip_directory(source: Path, target: Path) -> Path:
    """Zip every regular file under `source` into `target` (deflated), file by file from
    disk; `target` is created new (`audit.private_files`), and a symlink under `source` is
    left out, never followed into someone else's file."""
    with open_private(target) as out, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
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
    with open_private(target) as out:
        while written < limit and (block := source.read(min(COPY_BUFFER, limit - written))):
            out.write(block)
            written += len(block)
    return written


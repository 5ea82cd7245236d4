"""Signed statements of what the sealer has seen committed: evidence for the unsealed window.

Checkpoints vouch for sealed events only. Between commit and sealing an event is covered by
nothing, and that window can be held open for as long as someone keeps a transaction (and so
the sealing horizon) from moving; a database owner can delete unsealed events meanwhile, and
once the sealer catches up the checkpoints say nothing was lost. So at every pass, including
passes that cannot seal, the sealer signs what it can see committed and publishes it next to
the checkpoints, outside the database, chained like checkpoints:

    gatehouse/audit/seen
    <number, from 0>
    time <UTC microseconds>
    sealed <tree size>
    ids <the ids of the committed events above the sealed tree, as ranges "a-b,c", or "-">
    prev <base64 SHA-256 of the previous statement's note, or "-">

A statement is published only when what it would say differs from the previous one (an idle
log writes none). Verify holds every statement's ids against the events now: one that is gone
is `vanished`, whoever deleted it and whenever.

A busy log writes one statement per pass that sealed something, so the files are compacted
(`audit.statement_compaction`) into one signed *compacted* statement, with the origin
`gatehouse/audit/seen-compacted` and, in place of `prev`, the line
`replaces <base64 SHA-256 of the note of the newest statement it stands for>`: statements
published after that one chain to it through that hash (`Statement.link`), so compaction can
run while the sealer publishes. A compacted statement starts the chain afresh; its ids are the
ones verification still needs (see the compaction module for the rule).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, func, select

from audit.checkpoint import CheckpointInvalid, note_hash, sign_note, signed_body
from audit.private_files import replace_atomically
from audit.schema import events_table
from audit.verification.report import DamageKind, Report, printable

ORIGIN = "gatehouse/audit/seen"
COMPACTED_ORIGIN = "gatehouse/audit/seen-compacted"
SUFFIX = ".seen"

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Statement:
    number: int
    ts_us: int
    sealed: int
    ids: Ranges
    prev: bytes | None
    note: str
    replaces: bytes | None = None  # a compacted statement: the link of the one it stands for

    @property
    def note_hash(self) -> bytes:
        return note_hash(self.note)

    @property
    def compacted(self) -> bool:
        return self.replaces is not None

    @property
    def link(self) -> bytes:
        """What the next statement names as `prev`: this note's hash, or for a compacted
        statement the hash the statements it replaced ended with."""
        return self.note_hash if self.replaces is None else self.replaces

    def says_same(self, sealed: int, ids: Ranges) -> bool:
        return self.sealed == sealed and self.ids == ids


def ranges(ids: Iterable[int]) -> Ranges:
    """Sorted ids as inclusive ranges of consecutive ids."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return tuple(out)


def _ranges_text(spans: Ranges) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans) or "-"


def _parse_ranges(text: str) -> Ranges:
    if text == "-":
        return ()
    spans = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        spans.append((int(a), int(b or a)))
    return tuple(spans)


def sign_statement(key: Ed25519PrivateKey, number: int, ts_us: int, sealed: int, ids: Ranges,
                   prev: bytes | None, replaces: bytes | None = None) -> Statement:
    """A statement, or with `replaces` a compacted one (which names no `prev`)."""
    if replaces is None:
        origin, last = ORIGIN, f"prev {base64.b64encode(prev).decode() if prev else '-'}"
    else:
        origin, prev = COMPACTED_ORIGIN, None
        last = f"replaces {base64.b64encode(replaces).decode()}"
    body = (f"{origin}\n{number}\ntime {ts_us}\nsealed {sealed}\nids {_ranges_text(ids)}\n"
            f"{last}\n")
    return Statement(number, ts_us, sealed, ids, prev, sign_note(key, body), replaces)


def open_statement(note: str, public: Ed25519PublicKey) -> Statement:
    """Parse `note` and check its signature; CheckpointInvalid if either fails."""
    body = signed_body(note, public)
    try:
        origin, number, time_line, sealed, ids, last = body.splitlines()
        if origin == ORIGIN and last.startswith("prev "):
            prev_text, replaces = last.removeprefix("prev "), None
        elif origin == COMPACTED_ORIGIN and last.startswith("replaces "):
            prev_text = "-"
            replaces = base64.b64decode(last.removeprefix("replaces "), validate=True)
        else:
            raise ValueError("not a statement")
        return Statement(int(number), int(time_line.removeprefix("time ")),
                         int(sealed.removeprefix("sealed ")),
                         _parse_ranges(ids.removeprefix("ids ")),
                         None if prev_text == "-" else base64.b64decode(prev_text, validate=True),
                         note, replaces)
    except ValueError:
        raise CheckpointInvalid("malformed statement") from None


def statement_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def newest_statement(directory: Path, public: Ed25519PublicKey) -> Statement | None:
    """The newest statement in `directory` that verifies (junk is skipped: verify names it)."""
    for path in reversed(statement_files(directory)):
        try:
            return open_statement(path.read_bytes().decode("utf-8", "replace"), public)
        except CheckpointInvalid:
            continue
    return None


def publish_statement(directory: Path, statement: Statement) -> Path:
    """Write the note atomically (`audit.private_files.replace_atomically`: a symlink planted
    at the temp name by whoever can write the directory is removed, never written through),
    named by its number."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{statement.number:016d}{SUFFIX}"
    return replace_atomically(target, statement.note)


def state_seen(key: Ed25519PrivateKey, directory: Path, sealed: int, ids: Sequence[int],
               ts_us: int) -> Statement | None:
    """Sign and publish what the sealer sees now (`sealed` leaves; `ids` committed above
    them), chained to the newest statement, unless that one says the same. Returns the new
    statement, or None."""
    previous = newest_statement(directory, key.public_key())
    spans = ranges(ids)
    if previous is not None and previous.says_same(sealed, spans):
        return None
    statement = sign_statement(key, 0 if previous is None else previous.number + 1, ts_us,
                               sealed, spans, None if previous is None else previous.link)
    publish_statement(directory, statement)
    return statement


# --- verification ------------------------------------------------------------------------

def check_statements(conn: Connection, directory: Path, public: Ed25519PublicKey,
                     report: Report) -> list[Statement]:
    """Hold every published statement against the events in `conn`'s snapshot: every id a
    statement saw must still be there (`vanished` if not). Statements that do not verify are
    `bad-signature`, gaps in their chain `broken-chain`. Returns the valid ones, in order."""
    valid = read_statements(directory, public, report)
    check_chain(valid, report)
    seen = merged(span for s in valid for span in s.ids)
    for start, end, present in _counts(conn, seen):
        if present < end - start + 1:
            gone = _gone(conn, start, end)
            for event_id in gone[:5]:
                report.add(DamageKind.VANISHED, None,
                           f"event {event_id}, seen committed by a signed sealer statement, "
                           "is gone", event_id)
            for _ in gone[5:]:
                report.add(DamageKind.VANISHED, None, "an event seen committed is gone")
    return valid


def read_statements(directory: Path, public: Ed25519PublicKey, report: Report,
                    paths: Iterable[Path] | None = None) -> list[Statement]:
    """The statements of `paths` (default: every statement file) that verify, by number;
    each file that does not is `bad-signature`, named by its (escaped) name and size."""
    valid: list[Statement] = []
    for path in statement_files(directory) if paths is None else paths:
        text = path.read_bytes().decode("utf-8", "replace")
        try:
            valid.append(open_statement(text, public))
        except CheckpointInvalid:
            report.add(DamageKind.BAD_SIGNATURE, None,
                       f"statement file {printable(path.name)[:200]} ({len(text.encode())} "
                       "bytes) does not verify")
    valid.sort(key=lambda s: s.number)
    return valid


def check_chain(statements: Sequence[Statement], report: Report) -> None:
    """Each statement names the one before it (`link`); the first names none, and a
    compacted one starts the chain afresh (it stands for all before it)."""
    previous: Statement | None = None
    for statement in statements:
        expected = None if previous is None else previous.link
        if not statement.compacted and statement.prev != expected:
            report.add(DamageKind.BROKEN_CHAIN, None,
                       f"sealer statement {statement.number} does not follow the one before it")
        previous = statement


def merged(spans: Iterable[tuple[int, int]]) -> Ranges:
    """Inclusive id ranges, sorted, overlapping and adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def _counts(conn: Connection, spans: Ranges) -> Iterable[tuple[int, int, int]]:
    e = events_table.c
    for start, end in spans:
        count = conn.execute(select(func.count()).where(e.id.between(start, end))).scalar()
        yield start, end, int(count or 0)


def _gone(conn: Connection, start: int, end: int) -> list[int]:
    e = events_table.c
    present = set(conn.execute(select(e.id).where(e.id.between(start, end))).scalars())
    return [i for i in range(start, end + 1) if i not in present]

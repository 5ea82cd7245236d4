"""Proved reports: a JSON document whose rows cite audit events, carrying the signed checkpoint
it was cut against and an RFC 6962 inclusion proof of every cited event, verifiable offline
with nothing but the project and the log's pinned public key.

Document (`FORMAT`):

    {"format": "gatehouse-proved-report/1", "kind": <what the body is>, "body": {...},
     "checkpoint": <signed note text>, "tree_size": <the checkpoint's size>,
     "proofs": [{"event_id", "leaf_index", "leaf_hash", "path": [hex, ...]}, ...],
     "opening": <optional: the opening, inline>}

Citing rows. Any object anywhere in `body` that has an integer "event_id" cites that event.
Its other keys are bound to the event's canonical record (audit/canonical.py) by these rules,
which the verifier applies when it has the opening:

- a key named like a canonical field (`FIELDS`) equals that field of the record;
- "details.<name>" equals the record's `details[<name>]` (null when absent);
- "time" equals the record's `ts_us` written as `iso_time` writes it;
- "staff" is a pseudonym of the record's actor (issuer, subject): one actor, one pseudonym,
  and one pseudonym, one actor, across the whole document;
- any other key is presentation only, and `verify` says so by name.

The event id itself is only a label: the canonical record leaves out the storage id, so what a
proof binds is the leaf index and the record, not the number.

Opening (`OPENING_FORMAT`): `{"format": ..., "tree_size": ..., "records": [{"event_id",
"leaf_index", "record": {<every FIELDS value>}}]}` — the full canonical records of the cited
events. They name staff, so a customer-facing report leaves them out and the opening goes only
to a trusted third party (the customer's auditor, a DPA); a report for someone who may see
names (an evidence pack) carries it inline. See docs/security.md, "Proved reports".

What verification cannot show: that no event is missing. A proof shows an event is in the log;
nothing in a proof shows that the log holds no other event the body should have listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, select

from audit.canonical import FIELDS, canonical_bytes
from audit.checkpoint import Checkpoint, CheckpointInvalid, open_checkpoint
from audit.events import from_micros
from audit.merkle import leaf_hash, verify_inclusion
from audit.proof import NotSealed
from audit.schema import events_table, leaves_table
from audit.status import newest_signed_note
from audit.tree import StoredTree

__all__ = [
    "FORMAT",
    "OPENING_FORMAT",
    "ProofFailed",
    "Proved",
    "Verdict",
    "build",
    "cited_event_ids",
    "dumps",
    "iso_time",
    "newest_checkpoint",
    "verify",
]

FORMAT = "gatehouse-proved-report/1"
OPENING_FORMAT = "gatehouse-report-opening/1"
PSEUDONYM_KEY = "staff"
TIME_KEY = "time"
ID_KEY = "event_id"


class ProofFailed(RuntimeError):
    """Building: an event's proof, recomputed from its stored row, does not reach the
    checkpoint's root (the log is damaged: run `python -m audit verify`)."""


@dataclass(frozen=True)
class Proved:
    document: dict[str, Any]  # inline opening included when asked for
    opening: dict[str, Any]   # the same records, as a separate file

    @property
    def tree_size(self) -> int:
        return int(self.document["tree_size"])


def iso_time(ts_us: int) -> str:
    """How a report writes an event's time: UTC, to the microsecond, with a Z."""
    return from_micros(ts_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(document: Mapping[str, Any]) -> bytes:
    """A document as the file a person downloads: UTF-8 JSON, keys sorted, indented."""
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


# --- building ------------------------------------------------------------------------------

def newest_checkpoint(conn: Connection, public: Ed25519PublicKey) -> Checkpoint:
    """The newest checkpoint that verifies under `public`; `NotSealed` when there is none."""
    note = newest_signed_note(conn, public)
    if note is None:
        raise NotSealed("no signed checkpoint yet: run the sealer (python -m audit seal)")
    return open_checkpoint(note, public)


def cited_event_ids(body: object) -> list[int]:
    """Every event id a citing row in `body` names, in order of first citation."""
    seen: dict[int, None] = {}
    for row in _citing_rows(body):
        seen.setdefault(row[ID_KEY], None)
    return list(seen)


def build(conn: Connection, checkpoint: Checkpoint, kind: str, body: dict[str, Any],
          inline_opening: bool = False) -> Proved:
    """The proved document of `body` against `checkpoint`: one proof per cited event, read
    from the stored tree over `conn` and checked before it is written (`ProofFailed` if one
    does not hold); `NotSealed` when a cited event is not under the checkpoint. Run it in
    the transaction that read the body, so body and proofs see one moment."""
    records = _records(conn, cited_event_ids(body), checkpoint.size)
    tree = StoredTree(conn)
    proofs = [_proof(tree, checkpoint, event_id, seq, record)
              for event_id, (seq, record) in records.items()]
    opening = {"format": OPENING_FORMAT, "tree_size": checkpoint.size,
               "records": [{"event_id": event_id, "leaf_index": seq,
                            "record": dict(zip(FIELDS, record, strict=True))}
                           for event_id, (seq, record) in records.items()]}
    document: dict[str, Any] = {"format": FORMAT, "kind": kind, "body": body,
                                "checkpoint": checkpoint.note, "tree_size": checkpoint.size,
                                "proofs": proofs}
    if inline_opening:
        document["opening"] = opening
    return Proved(document, opening)


def _records(conn: Connection, event_ids: Sequence[int], size: int
             ) -> dict[int, tuple[int, tuple[Any, ...]]]:
    """event id → (leaf index, canonical record) for each id, in leaf order."""
    e, lf = events_table.c, leaves_table.c
    found: dict[int, tuple[int, tuple[Any, ...]]] = {}
    for start in range(0, len(event_ids), 500):  # bounded IN lists
        chunk = event_ids[start:start + 500]
        for row in conn.execute(select(e.id, lf.seq, *[e[n] for n in FIELDS])
                                .join(leaves_table, lf.event_id == e.id)
                                .where(e.id.in_(chunk))):
            found[int(row[0])] = (int(row[1]), tuple(row[2:]))
    for event_id in event_ids:
        if event_id not in found or found[event_id][0] >= size:
            raise NotSealed(f"event {event_id} is not under the checkpoint of size {size}")
    return dict(sorted(found.items(), key=lambda item: item[1][0]))


def _proof(tree: StoredTree, checkpoint: Checkpoint, event_id: int, seq: int,
           record: tuple[Any, ...]) -> dict[str, Any]:
    digest = leaf_hash(canonical_bytes(record))
    path = tree.inclusion_path(seq, checkpoint.size)
    if not verify_inclusion(digest, seq, checkpoint.size, path, checkpoint.root):
        raise ProofFailed(f"event {event_id} (leaf {seq}) does not prove against the "
                          f"checkpoint of size {checkpoint.size}")
    return {"event_id": event_id, "leaf_index": seq, "leaf_hash": digest.hex(),
            "path": [h.hex() for h in path]}


def _citing_rows(body: object) -> Iterator[dict[str, Any]]:
    """Every object in `body` (depth first, in order) with an integer "event_id"."""
    if isinstance(body, dict):
        value = body.get(ID_KEY)
        if isinstance(value, int) and not isinstance(value, bool):
            yield body
        for child in body.values():
            yield from _citing_rows(child)
    elif isinstance(body, list):
        for child in body:
            yield from _citing_rows(child)


# --- verifying -----------------------------------------------------------------------------

@dataclass
class Verdict:
    """What `verify` found. `ok` when there is no problem; `opened` when records were checked
    (so the displayed fields are bound, not just the proofs)."""

    kind: str = ""
    tree_size: int = 0
    proved: int = 0
    cited: int = 0
    opened: bool = False
    problems: list[str] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)  # presentation-only keys seen in rows

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> list[str]:
        """Plain lines for a person: the verdict, what was checked, and what was not."""
        head = "report intact" if self.ok else f"REPORT NOT INTACT: {len(self.problems)} problem(s)"
        lines = [head, f"kind {self.kind}; checkpoint tree size {self.tree_size}; "
                       f"{self.cited} cited event(s); {self.proved} inclusion proof(s) checked"]
        if self.opened:
            lines.append("opening checked: every cited event's record hashes to its leaf, and "
                         "every displayed field equals the record's")
        else:
            lines.append("no opening given: the proofs show the cited events are in the log; "
                         "the displayed fields are not checked against them")
        if self.unbound:
            lines.append(f"presentation only (not bound to events): {', '.join(self.unbound)}")
        return lines + [f"problem: {p}" for p in self.problems]


def verify(document: object, public: Ed25519PublicKey,
           opening: object | None = None) -> Verdict:
    """Check `document` offline: the checkpoint's signature under the pinned `public` key,
    every inclusion proof against its root, that every cited event has a proof, and, with an
    opening (given, or inline in the document), every record against its leaf hash and every
    displayed field against its record. Never raises on bad input: each fault is a problem."""
    verdict = Verdict()
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        verdict.problems.append(f"not a {FORMAT} document")
        return verdict
    verdict.kind = str(document.get("kind", ""))
    checkpoint = _checkpoint(document, public, verdict)
    proofs = _proofs(document.get("proofs"), checkpoint, verdict)
    rows = list(_citing_rows(document.get("body")))
    _all_cited_proved(rows, proofs, verdict)
    opening = document.get("opening") if opening is None else opening
    if opening is not None:
        _check_opening(opening, rows, proofs, verdict)
    return verdict


def _checkpoint(document: dict[str, Any], public: Ed25519PublicKey,
                verdict: Verdict) -> Checkpoint | None:
    note = document.get("checkpoint")
    try:
        checkpoint = open_checkpoint(note if isinstance(note, str) else "", public)
    except CheckpointInvalid as exc:
        verdict.problems.append(f"checkpoint: does not verify under the pinned public key ({exc})")
        return None
    verdict.tree_size = checkpoint.size
    if document.get("tree_size") != checkpoint.size:
        verdict.problems.append("tree_size: differs from the signed checkpoint's size")
    return checkpoint


@dataclass(frozen=True)
class _Proof:
    event_id: int
    leaf_index: int
    leaf_hash: bytes


def _proofs(raw: object, checkpoint: Checkpoint | None, verdict: Verdict) -> dict[int, _Proof]:
    """The proofs that hold, by event id; a problem for each that does not."""
    held: dict[int, _Proof] = {}
    for n, entry in enumerate(raw if isinstance(raw, list) else []):
        proof = _parse_proof(entry)
        if proof is None:
            verdict.problems.append(f"proof #{n}: malformed")
            continue
        proof_, path = proof
        if proof_.event_id in held:
            verdict.problems.append(f"proof of event {proof_.event_id}: listed twice")
        elif checkpoint is not None and not verify_inclusion(
                proof_.leaf_hash, proof_.leaf_index, checkpoint.size, path, checkpoint.root):
            verdict.problems.append(f"proof of event {proof_.event_id}: does not lead to the "
                                    "checkpoint's root")
        elif checkpoint is not None:
            held[proof_.event_id] = proof_
    if not isinstance(raw, list):
        verdict.problems.append("proofs: missing")
    verdict.proved = len(held)
    return held


def _parse_proof(entry: object) -> tuple[_Proof, list[bytes]] | None:
    try:
        assert isinstance(entry, dict)
        event_id, index = entry["event_id"], entry["leaf_index"]
        assert isinstance(event_id, int) and isinstance(index, int) and index >= 0
        path = [bytes.fromhex(h) for h in entry["path"]]
        return _Proof(event_id, index, bytes.fromhex(entry["leaf_hash"])), path
    except (AssertionError, KeyError, TypeError, ValueError):
        return None


def _all_cited_proved(rows: list[dict[str, Any]], proofs: dict[int, _Proof],
                      verdict: Verdict) -> None:
    cited = list(dict.fromkeys(row[ID_KEY] for row in rows))
    verdict.cited = len(cited)
    for event_id in cited:
        if event_id not in proofs:
            verdict.problems.append(f"event {event_id}: cited by the report but has no "
                                    "inclusion proof that holds")


def _check_opening(opening: object, rows: list[dict[str, Any]], proofs: dict[int, _Proof],
                   verdict: Verdict) -> None:
    records = _opened_records(opening, proofs, verdict)
    if records is None:
        return
    verdict.opened = True
    staff: dict[str, tuple[Any, Any]] = {}
    unbound: set[str] = set()
    for row in rows:
        record = records.get(row[ID_KEY])
        if record is None:
            verdict.problems.append(f"event {row[ID_KEY]}: no record in the opening")
            continue
        for key, value in row.items():
            _check_field(row[ID_KEY], key, value, record, staff, unbound, verdict)
    verdict.unbound = sorted(unbound)


def _opened_records(opening: object, proofs: dict[int, _Proof], verdict: Verdict
                    ) -> dict[int, dict[str, Any]] | None:
    """event id → record, for each record whose canonical hash is its proof's leaf hash."""
    if not isinstance(opening, dict) or opening.get("format") != OPENING_FORMAT \
            or not isinstance(opening.get("records"), list):
        verdict.problems.append(f"opening: not a {OPENING_FORMAT} document")
        return None
    found: dict[int, dict[str, Any]] = {}
    for entry in opening["records"]:
        event_id, record = _opened(entry)
        proof = proofs.get(event_id) if event_id is not None else None
        if event_id is None or record is None or proof is None:
            verdict.problems.append(f"opening: record of event {event_id} is malformed or "
                                    "has no proof")
        elif leaf_hash(canonical_bytes([record[n] for n in FIELDS])) != proof.leaf_hash:
            verdict.problems.append(f"opening: record of event {event_id} does not hash to "
                                    "its proved leaf")
        else:
            found[event_id] = record
    return found


def _opened(entry: object) -> tuple[int | None, dict[str, Any] | None]:
    if not isinstance(entry, dict) or not isinstance(entry.get("event_id"), int):
        return None, None
    record = entry.get("record")
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        return entry["event_id"], None
    return entry["event_id"], record


def _check_field(event_id: int, key: str, value: object, record: dict[str, Any],
                 staff: dict[str, tuple[Any, Any]], unbound: set[str],
                 verdict: Verdict) -> None:
    if key == ID_KEY or isinstance(value, dict) or (isinstance(value, list) and any(
            isinstance(v, dict) for v in value)):
        return  # nested rows are checked as rows of their own
    if key == PSEUDONYM_KEY:
        _check_pseudonym(event_id, value, record, staff, verdict)
        return
    expected = _bound_value(key, record)
    if expected is _UNBOUND:
        unbound.add(key)
    elif value != expected:
        verdict.problems.append(f"event {event_id}: {key} shown as {_short(value)} but the "
                                f"logged event says {_short(expected)}")


_UNBOUND = object()


def _bound_value(key: str, record: dict[str, Any]) -> object:
    if key in FIELDS:
        return record[key]
    if key == TIME_KEY:
        ts = record["ts_us"]
        return iso_time(ts) if isinstance(ts, int) else None
    if key.startswith("details."):
        details = record["details"]
        return details.get(key.removeprefix("details.")) if isinstance(details, dict) else None
    return _UNBOUND


def _check_pseudonym(event_id: int, value: object, record: dict[str, Any],
                     staff: dict[str, tuple[Any, Any]], verdict: Verdict) -> None:
    """One pseudonym per actor and one actor per pseudonym, across the document."""
    actor = (record["actor_iss"], record["actor_sub"])
    name = str(value)
    if staff.setdefault(name, actor) != actor:
        verdict.problems.append(f"event {event_id}: pseudonym {_short(name)} stands for two "
                                "different people")
    others = [n for n, a in staff.items() if a == actor and n != name]
    if others:
        verdict.problems.append(f"event {event_id}: one person shown under two pseudonyms "
                                f"({_short(name)}, {_short(others[0])})")


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."

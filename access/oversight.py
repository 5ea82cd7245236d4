"""Auditor use cases: search the log, chart it, flag anomalies, follow a grant or a customer,
export, verify, and prove single events.

Every function passes the one choke point first (`gh.authorize`: auditors only; exports need a
fresh authenticator code), and what the auditor did becomes an audit event itself, written
after the read and before anything is handed back (fail closed: no event, no result).
Those events carry only allow-listed details: a short text of the filters (names and ids,
never a customer's data), row counts, formats, tree sizes and verdicts. Auditors change
nothing else: there is no function here that writes anything but their own events.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import InvalidInput
from access.keys.files import private_dir
from access.principal import Principal
from audit import query, timeline
from audit.anomalies import Flag, Window, find_anomalies
from audit.bundle import export_bundle
from audit.checkpoint import (
    Checkpoint,
    CheckpointInvalid,
    fingerprint,
    load_public_key,
    open_checkpoint,
)
from audit.database import verify_database
from audit.engine import is_sqlite
from audit.events import from_micros
from audit.export_stream import ExportFormat, Written, split_file, write_export, zip_directory
from audit.private_files import read_private
from audit.proof import InclusionProof, NotSealed, inclusion_proof, proof_holds
from audit.query import (
    ActorCount,
    Cursor,
    DailyCount,
    EventFilter,
    InvalidFilter,
    Page,
    StoredEvent,
)
from audit.settings import AuditSettings, data_dir, load_settings
from audit.status import LogStatus, log_status
from audit.timeline import CustomerAccess, GrantTimeline
from audit.verify import Report, printable, render
from audit.vocabulary import ACTIONS, Outcome

# What the console uses of the log's own vocabulary comes through here (console -> access).
__all__ = [
    "ACTIONS",
    "EXPORT_DIR_ENV",
    "EXPORT_TTL_S",
    "Activity",
    "ActorCount",
    "BundleFiles",
    "Cursor",
    "CustomerAccess",
    "DailyCount",
    "EventFilter",
    "ExportFormat",
    "Flag",
    "GrantTimeline",
    "InclusionProof",
    "InvalidFilter",
    "LogStatus",
    "Outcome",
    "Overview",
    "Page",
    "Progress",
    "ProofCheck",
    "Report",
    "StoredEvent",
    "Written",
    "activity",
    "anomalies",
    "customer_access",
    "event_filter",
    "export_events",
    "export_name",
    "export_root",
    "export_verifiable_bundle",
    "from_micros",
    "grant_timeline",
    "new_export_dir",
    "overview",
    "printable",
    "prove",
    "read_export",
    "remove_export",
    "render",
    "search",
    "verify",
]

Progress = Callable[[int, int], object]  # (done, total)
EXPORT_DIR_ENV = "GATEHOUSE_EXPORT_DIR"
EXPORT_TTL_S = 3600


def event_filter(**values: Any) -> EventFilter:
    """An `EventFilter` from what the auditor typed, or `InvalidInput` naming the box."""
    try:
        return EventFilter(**values)
    except InvalidFilter as exc:
        raise InvalidInput(exc.field, exc.rule) from None


def _record(gh: Gatehouse, principal: Principal, action: str, outcome: Outcome = Outcome.SUCCESS,
            reason: str | None = None, **details: Any) -> None:
    with gh.write() as db:
        gh.audit(db, event_for(principal, action, outcome, reason=reason, details=details))


def search(gh: Gatehouse, principal: Principal, flt: EventFilter, after: Cursor | None = None,
           limit: int = 50) -> Page:
    """One page of the log, newest first, below `after` (see `audit.query.search`)."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    if not 1 <= limit <= query.MAX_PAGE:
        raise InvalidInput("rows per page", f"must be from 1 to {query.MAX_PAGE}")
    with gh.engine.connect() as conn:
        page = query.search(conn, flt, after, limit)
    where = "" if after is None else f" below {after.ts_us}/{after.id}"
    _record(gh, principal, "audit.searched", filters=f"log: {flt.summary()}{where}",
            row_count=len(page.events))
    return page


@dataclass(frozen=True)
class Activity:
    daily: list[DailyCount]   # per UTC day, action and outcome
    actors: list[ActorCount]  # customer-data accesses per actor and action


def activity(gh: Gatehouse, principal: Principal, flt: EventFilter) -> Activity:
    """Counts for the charts, aggregated in the database over the filter."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    with gh.engine.connect() as conn:
        found = Activity(query.daily_counts(conn, flt), query.actor_counts(conn, flt))
    _record(gh, principal, "audit.searched", filters=f"charts: {flt.summary()}",
            row_count=sum(d.events for d in found.daily))
    return found


def anomalies(gh: Gatehouse, principal: Principal, since: datetime, until: datetime
              ) -> list[Flag]:
    """Every anomaly rule over `[since, until)` with the configured thresholds, judged as of
    now (a break-glass review is overdue only once its time has passed); newest first."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    flt = event_filter(since=since, until=until)
    assert flt.since is not None and flt.until is not None
    with gh.engine.connect() as conn:
        flags = find_anomalies(conn, Window(flt.since, flt.until, gh.now()),
                               gh.config.anomalies)
    _record(gh, principal, "audit.searched", filters=f"anomalies: {flt.summary()}",
            row_count=len(flags))
    return flags


def grant_timeline(gh: Gatehouse, principal: Principal, grant_id: str) -> GrantTimeline | None:
    """The grant's request, approvals and every use of it, oldest first; None if unknown."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    grant = event_filter(grant=grant_id).grant
    if grant is None:
        raise InvalidInput("grant", "is required")
    with gh.engine.connect() as conn:
        found = timeline.grant_timeline(conn, grant)
    _record(gh, principal, "audit.searched", filters=f"grant timeline: grant={grant}",
            row_count=0 if found is None else len(found.events))
    return found


def customer_access(gh: Gatehouse, principal: Principal, customer_id: str,
                    since: datetime | None = None, until: datetime | None = None
                    ) -> list[CustomerAccess]:
    """Who touched this customer's data, when, and under which ticket and grant."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    flt = event_filter(customer=customer_id, since=since, until=until)
    if flt.customer is None:
        raise InvalidInput("customer", "is required")
    with gh.engine.connect() as conn:
        found = timeline.customer_access(conn, flt.customer, flt.since, flt.until)
    _record(gh, principal, "audit.searched", filters=f"customer access: {flt.summary()}",
            row_count=len(found))
    return found


def export_root() -> Path:
    """The service-owned folder of exports: `GATEHOUSE_EXPORT_DIR`, else `exports` in the
    data folder (never a shared temporary folder, where anyone could make it first)."""
    return Path(os.environ.get(EXPORT_DIR_ENV) or data_dir() / "exports")


def new_export_dir() -> Path:
    """A private (0700) directory for one export, inside the export folder, which is checked
    first (`access.keys.files.private_dir`: owned by this user, 0700, not a symlink;
    `InvalidInput` naming the path and the rule otherwise). Exports older than `EXPORT_TTL_S`
    are removed; the console removes one as soon as it has been downloaded."""
    root = private_dir(export_root())
    for old in root.iterdir():
        if not old.is_symlink() and old.is_dir() and \
                time.time() - old.stat().st_mtime > EXPORT_TTL_S:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="export-", dir=root))  # 0700, a name nobody guessed


def read_export(path: Path) -> bytes:
    """One export file's bytes for its download, never through a symlink swapped in after the
    export was written (`audit.private_files.read_private`)."""
    return read_private(path)


def remove_export(directory: Path) -> None:
    """Remove one export's directory (after its download), only if it is inside the export
    folder."""
    root = export_root().resolve()
    target = directory.resolve()
    if target.parent == root:
        shutil.rmtree(target, ignore_errors=True)


def export_name(kind: str, at: datetime, flt: EventFilter | None = None) -> str:
    """The stem of an export's file name: what it is, whom it concerns (the customer, request
    and grant the filter names) and when it was made, to the second in UTC, e.g.
    `gatehouse-audit-export-cust-0042-grant-7-20261206T161203Z`. Every part is a validated
    id, so the name is safe on any file system, and two exports never share a name."""
    concerns = [] if flt is None else [
        part for part in (flt.customer, flt.request and f"request-{flt.request}",
                          flt.grant and f"grant-{flt.grant}") if part]
    return "-".join(["gatehouse-audit", kind, *concerns, f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"])


def _snapshot(gh: Gatehouse) -> dict[str, str]:
    """One consistent snapshot for a count and the stream that follows it."""
    return {} if is_sqlite(gh.engine) else {"isolation_level": "REPEATABLE READ"}


def export_events(gh: Gatehouse, principal: Principal, flt: EventFilter, fmt: ExportFormat,
                  directory: Path, progress: Progress | None = None) -> Written:
    """Write every event matching `flt` (oldest first) as CSV or JSONL into `directory`.

    Needs step-up. Streams through a server-side cursor and writes chunk by chunk, so memory
    stays flat for millions of rows; `progress(rows written, rows matching)` is called per
    chunk. The files are removed again if the `audit.exported` event cannot be written.
    """
    gh.authorize(principal, Action.AUDIT_EXPORT)
    with gh.engine.connect().execution_options(**_snapshot(gh)) as conn, conn.begin():
        total = query.count(conn, flt)
        written = write_export(query.stream(conn, flt), ExportFormat(fmt), directory,
                               export_name("export", gh.now(), flt),
                               on_rows=None if progress is None else lambda n: progress(n, total))
    try:
        _record(gh, principal, "audit.exported", filters=flt.summary(), format=str(fmt),
                row_count=written.rows)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return written


@dataclass(frozen=True)
class BundleFiles:
    pieces: list[Path]  # one zip, or numbered pieces of it when large
    events: int
    tree_size: int


def export_verifiable_bundle(gh: Gatehouse, principal: Principal, directory: Path
                             ) -> BundleFiles:
    """The bundle of `python -m audit export` (events, checkpoints, public key), zipped in
    `directory`. Needs step-up."""
    gh.authorize(principal, Action.AUDIT_EXPORT)
    settings, public = _trust()
    staging = directory / "bundle"
    result = export_bundle(gh.engine, staging, public, settings.checkpoint_dir)
    archive = zip_directory(staging, directory / f"{export_name('bundle', gh.now())}.zip")
    shutil.rmtree(staging)
    try:
        _record(gh, principal, "audit.exported", filters="verifiable bundle: all sealed events",
                format="bundle", row_count=result.events, tree_size=result.tree_size)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return BundleFiles(split_file(archive), result.events, result.tree_size)


def _trust() -> tuple[AuditSettings, Ed25519PublicKey]:
    settings = load_settings()
    try:
        return settings, load_public_key(settings.public_key_path)
    except (OSError, ValueError) as exc:
        raise InvalidInput("GATEHOUSE_AUDIT_PUBLIC_KEY",
                           f"cannot read the public key at {settings.public_key_path}: "
                           f"{exc}") from None


def verify(gh: Gatehouse, principal: Principal, progress: Progress | None = None) -> Report:
    """Full verification of the log in the database against every checkpoint, in the
    database and in the checkpoint directory; `progress(leaves checked, leaves sealed)`."""
    gh.authorize(principal, Action.AUDIT_VERIFY)
    settings, public = _trust()
    with gh.engine.connect() as conn:
        total = query.sealed_size(conn)
    report = verify_database(gh.engine, public, settings.checkpoint_dir,
                             None if progress is None else lambda n: progress(n, total))
    first = report.first_problem
    _record(gh, principal, "audit.verified", Outcome.SUCCESS if report.ok else Outcome.ERROR,
            reason=None if first is None else f"leaf {first.leaf_index}: {first.kind}",
            tree_size=report.tree_size, intact=report.ok)
    return report


@dataclass(frozen=True)
class Overview:
    status: LogStatus
    checkpoint: Checkpoint | None   # the newest, its signature checked
    checkpoint_error: str | None    # why the newest does not open under the pinned key
    key_fingerprint: str


def overview(gh: Gatehouse, principal: Principal) -> Overview:
    """How far the sealer has got and the newest signed checkpoint, checked."""
    gh.authorize(principal, Action.AUDIT_VIEW)
    _, public = _trust()
    status = log_status(gh.engine, public)  # the newest row that verifies, not the largest
    checkpoint, error = None, None
    if status.latest_checkpoint is not None:
        try:
            checkpoint = open_checkpoint(status.latest_checkpoint, public)
        except CheckpointInvalid as exc:
            error = str(exc)
    if status.unverified:  # newer rows than the newest that verifies: named, never quoted
        error = f"{status.unverified} newer checkpoint row(s) do not verify"
    return Overview(status, checkpoint, error, fingerprint(public))


@dataclass(frozen=True)
class ProofCheck:
    proof: InclusionProof
    holds: bool  # the path leads to the signed root of a checkpoint signed by the pinned key


def prove(gh: Gatehouse, principal: Principal, event_id: int, tree_size: int | None = None
          ) -> ProofCheck:
    """The RFC 6962 inclusion proof of one event in a checkpoint (default: the newest),
    recomputed from the stored event and checked against the pinned key."""
    gh.authorize(principal, Action.AUDIT_VERIFY)
    if not isinstance(event_id, int) or event_id < 1:
        raise InvalidInput("event", "must be an event number")
    _, public = _trust()
    try:
        proof = inclusion_proof(gh.engine, event_id, public, tree_size)
    except NotSealed as exc:
        _record(gh, principal, "audit.proof", Outcome.ERROR, reason=str(exc), event_id=event_id)
        with gh.engine.connect() as conn:
            exists = query.event_exists(conn, event_id)
        raise InvalidInput("event", f"{exc}: the sealer has not covered it with a checkpoint "
                                    "yet" if exists else f"no event {event_id}") from None
    holds = proof_holds(proof, public)
    _record(gh, principal, "audit.proof", Outcome.SUCCESS if holds else Outcome.ERROR,
            event_id=event_id, tree_size=proof.checkpoint.size, intact=holds)
    return ProofCheck(proof, holds)

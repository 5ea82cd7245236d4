"""Rectification (Art. 16), erasure (Art. 17), restriction (Art. 18), portability (Art. 20)
and objection (Art. 21). The access package (Art. 15) is `access.dsr.package`.

Contracts:
- Rectification and erasure are proposed only for a verified requester and wait for a second
  person: applied only when someone else (an admin, never whoever filed the request or
  proposed the step) approves with a fresh code; that person may instead reject it with a
  reason (`dsr.approval_rejected`), which sends the request back to the officer, open.
  Before deciding, the approver reads what waits (`waiting`): the fields' names, the
  customers, the tables and row counts, never a value.
  Corrected values wait sealed under each customer's data key, never in clear; events name the
  fields changed, never their values.
- An erasure deletes the subject's rows and keeps the evidence on the request (who approved,
  when, tables and row counts, the request's event ids); the request row itself outlives it.
- Restriction and an open objection put the subject's rows under a hold the broker enforces
  (`access.dsr.holds`).
- Two databases, one order: an approved step writes the customer database (its own
  transaction) inside the console transaction that closes the request and records the events.
  Should that console commit fail after the customer write, the request stays waiting; a second
  approval then finds the rows already changed or gone and closes it with what it found.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.data.envelope import data_key, open_value, seal_value
from access.data.subject_index import SubjectRow, display_hint, normalised_email
from access.dsr import subject
from access.dsr.requests import (
    REJECTED,
    Kind,
    Status,
    StepRefuse,
    close,
    detail,
    dsr_event,
    refused,
    require_kind,
    require_verified,
    restrict_rows,
    step,
)
from access.errors import Conflict, Denied, GatehouseError, InvalidInput
from access.principal import Principal
from access.schema import DataSubjectRequest, SubjectRestriction
from access.text import UNSTORABLE_RULE, checked_reason, storable
from audit.schema import events_table

__all__ = ["MAX_VALUE", "Applied", "Portable", "Waiting", "approve", "decide_objection",
           "lift_restriction", "portability", "propose_erasure", "propose_rectification",
           "reject", "restrict", "rows_in", "waiting"]

MAX_VALUE = 200
_SEALED_AS = ("dsr_requests", "pending_values")  # (table, column) of the sealed values' AAD


def _rows(gh: Gatehouse, dsr: DataSubjectRequest) -> list[SubjectRow]:
    return subject.locate(gh, dsr.environment, dsr.subject_index)


def propose_rectification(gh: Gatehouse, officer: Principal, dsr_id: int,
                          changes: dict[str, str]) -> None:
    """Propose corrected values for the subject's fields; they wait, sealed, for approval."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.RECTIFICATION, refuse)
        require_verified(dsr, refuse)
        try:
            checked = _checked_changes(gh, changes)
        except InvalidInput as error:
            refuse(error)
        rows = _rows(gh, dsr)
        dsr.pending_sealed = json.dumps(_sealed(gh, dsr, rows, checked), sort_keys=True)
        dsr.pending_fields = " ".join(sorted(checked))  # for the approver to read
        _pending(gh, dsr, officer, "rectify")
        gh.audit(db, dsr_event(officer, "dsr.rectification_proposed", dsr,
                               details={"fields": sorted(checked)}))


def _checked_changes(gh: Gatehouse, changes: object) -> dict[str, str]:
    allowed = subject.fields(gh)
    if not isinstance(changes, dict) or not 1 <= len(changes) <= len(allowed):
        raise InvalidInput("changes", f"must name 1 to {len(allowed)} fields")
    checked = {}
    for name, value in changes.items():
        if name not in allowed:
            raise InvalidInput("changes", f"fields are among {', '.join(allowed)}")
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_VALUE:
            raise InvalidInput(name, f"must be 1 to {MAX_VALUE} characters")
        if not storable(value):
            raise InvalidInput(name, UNSTORABLE_RULE)
        checked[name] = normalised_email(value) if name == "email" else value.strip()
    return checked


def _sealed(gh: Gatehouse, dsr: DataSubjectRequest, rows: list[SubjectRow],
            changes: dict[str, str]) -> dict[str, str]:
    """The changes sealed once per customer of the subject, under that customer's key."""
    plain, sealed = json.dumps(changes, sort_keys=True), {}
    with gh.data.engine(dsr.environment).connect() as conn:
        for customer_id in sorted({row.customer_id for row in rows}):
            key = data_key(conn, gh.data.master, customer_id)
            sealed[customer_id] = base64.b64encode(seal_value(
                key, customer_id, *_SEALED_AS, dsr.id, plain)).decode("ascii")
    return sealed


def _opened(gh: Gatehouse, dsr: DataSubjectRequest, customer_id: str) -> dict[str, str]:
    sealed = json.loads(dsr.pending_sealed or "{}")[customer_id]
    with gh.data.engine(dsr.environment).connect() as conn:
        key = data_key(conn, gh.data.master, customer_id)
    changes: dict[str, str] = json.loads(open_value(key, customer_id, *_SEALED_AS, dsr.id,
                                                    base64.b64decode(sealed)))
    return changes


def _pending(gh: Gatehouse, dsr: DataSubjectRequest, officer: Principal, action: str) -> None:
    dsr.status, dsr.pending_action = Status.AWAITING_APPROVAL, action
    dsr.pending_by, dsr.pending_at = officer.user_id, gh.now()


def propose_erasure(gh: Gatehouse, officer: Principal, dsr_id: int) -> None:
    """Propose deleting the subject's rows; a second person approves."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.ERASURE, refuse)
        require_verified(dsr, refuse)
        _pending(gh, dsr, officer, "erase")
        gh.audit(db, dsr_event(officer, "dsr.erasure_proposed", dsr,
                               details={"rows": len(_rows(gh, dsr))}))


@dataclass(frozen=True)
class Waiting:
    """A proposed step as its approver reads it: what it does and where, never a value."""

    action: str  # rectify | erase
    proposed_by: str | None
    fields: tuple[str, ...]  # a rectification's corrected fields, by name
    customers: tuple[str, ...]  # whose data holds the subject's rows
    tables: dict[str, int]  # table → rows the step writes or deletes


@dataclass(frozen=True)
class Applied:
    """What an approved step did: the outcome, and the same facts as `Waiting`."""

    outcome: str  # rectified | erased
    fields: tuple[str, ...]
    customers: tuple[str, ...]
    tables: dict[str, int]

    def summary(self) -> str:
        """What was done, in words, for the page and the CLI alike."""
        where = f"{rows_in(self.tables)} ({', '.join(self.customers) or 'no customer'})"
        if self.outcome == "erased":
            return f"Erased: {where}. The evidence is kept on the request."
        return f"Applied: {', '.join(self.fields)} corrected, {where}."


def rows_in(tables: dict[str, int]) -> str:
    """'1 row in contacts and 1 in contact_email_index'."""
    parts = [f"{n} {'row' if n == 1 else 'rows'} in {t}" if i == 0 else f"{n} in {t}"
             for i, (t, n) in enumerate(tables.items())]
    return " and ".join(parts) or "no row"


def waiting(gh: Gatehouse, principal: Principal, dsr_id: int) -> Waiting:
    """The step waiting on request `dsr_id` for a second person; reads the subject index, not
    the subject's values. A request with nothing waiting is refused and recorded."""
    gh.authorize(principal, Action.DSR_VIEW)
    view = detail(gh, principal, dsr_id)
    if view.pending_action is None:
        error = Conflict(f"request {dsr_id} has nothing waiting for approval")
        gh.refuse(error, refused(principal, error, dsr_id, view.kind))
    with gh.read() as db:
        rows = _rows(gh, db.get_one(DataSubjectRequest, dsr_id))
    return Waiting(view.pending_action, view.pending_by, view.pending_fields,
                   _customers(rows), _tables(view.pending_action, rows))


def _customers(rows: list[SubjectRow]) -> tuple[str, ...]:
    return tuple(sorted({row.customer_id for row in rows}))


def _tables(action: str, rows: list[SubjectRow]) -> dict[str, int]:
    return subject.erasable(rows) if action == "erase" else {subject.CONTACTS: len(rows)}


def approve(gh: Gatehouse, approver: Principal, dsr_id: int) -> Applied:
    """The second person applies the waiting rectification or erasure (fresh code); what it
    did."""
    gh.authorize(approver, Action.DSR_APPROVE)
    with step(gh, approver, dsr_id) as (db, dsr, refuse):
        _check_second_person(dsr, approver, refuse)
        require_verified(dsr, refuse)
        gh.audit(db, dsr_event(approver, "dsr.approved", dsr,
                               details={"outcome": str(dsr.pending_action)}))
        try:
            if dsr.pending_action == "rectify":
                return _apply_rectification(gh, db, approver, dsr)
            return _apply_erasure(gh, db, approver, dsr)
        except Denied as error:  # a purged customer's key: nothing more can be done here
            refuse(error)


def reject(gh: Gatehouse, approver: Principal, dsr_id: int, reason: str) -> None:
    """The second person sends the waiting step back with a reason (fresh code): nothing is
    written to the customer data, the sealed values are dropped, and the request is open
    again for its officer, who sees the reason (`DsrView.rejection`)."""
    gh.authorize(approver, Action.DSR_APPROVE)
    with step(gh, approver, dsr_id) as (db, dsr, refuse):
        reason = _reason(reason, refuse)
        _check_second_person(dsr, approver, refuse)
        action, fields = dsr.pending_action, (dsr.pending_fields or "").split()
        dsr.status = Status.OPEN
        dsr.pending_action = dsr.pending_sealed = dsr.pending_fields = None
        dsr.pending_by = dsr.pending_at = None
        gh.audit(db, dsr_event(approver, REJECTED, dsr, reason=reason,
                               details={"outcome": action, "fields": fields}))


def _check_second_person(dsr: DataSubjectRequest, approver: Principal,
                         refuse: StepRefuse) -> None:
    if dsr.status != Status.AWAITING_APPROVAL:
        refuse(Conflict(f"request {dsr.id} has nothing waiting for approval"))
    if approver.user_id in (dsr.filed_by, dsr.pending_by):
        refuse(Denied(f"request {dsr.id} needs a second person: whoever filed it or proposed "
                      "this step cannot approve or reject it"))


def _apply_rectification(gh: Gatehouse, db: Session, approver: Principal,
                         dsr: DataSubjectRequest) -> Applied:
    rows, fields = _rows(gh, dsr), set()
    for customer_id in sorted({row.customer_id for row in rows}):
        changes = _opened(gh, dsr, customer_id)
        subject.rectify(gh, dsr.environment,
                        [r for r in rows if r.customer_id == customer_id], changes)
        fields |= set(changes)
        if "email" in changes:  # the request now knows its subject by the corrected email
            dsr.subject_index = gh.data.blind_index().of_email(changes["email"])
            dsr.subject_hint = display_hint(changes["email"])
    close(gh, db, approver, dsr, "dsr.rectified", "rectified",
          evidence={"fields": sorted(fields), "rows": len(rows),
                    "approved_by": approver.sub, "approved_at": gh.now().isoformat()},
          fields=sorted(fields), rows=len(rows))
    return Applied("rectified", tuple(sorted(fields)), _customers(rows),
                   {subject.CONTACTS: len(rows)})


def _apply_erasure(gh: Gatehouse, db: Session, approver: Principal,
                   dsr: DataSubjectRequest) -> Applied:
    rows = _rows(gh, dsr)
    counts = subject.erase(gh, dsr.environment, rows)
    db.execute(delete(SubjectRestriction).where(SubjectRestriction.dsr_id == dsr.id))
    close(gh, db, approver, dsr, "dsr.erased", "erased", evidence={
        "approved_by": approver.sub, "approved_at": gh.now().isoformat(),
        "tables": counts, "customers": sorted({r.customer_id for r in rows}),
        "event_ids": _event_ids(db, dsr.id)},
        tables=sorted(counts), row_counts=[counts[t] for t in sorted(counts)],
        event_ids=_event_ids(db, dsr.id))
    return Applied("erased", (), _customers(rows), counts)


def _event_ids(db: Session, dsr_id: int) -> list[int]:
    """The ids of the request's audit events so far (this transaction's included)."""
    return list(db.scalars(select(events_table.c.id).where(
        events_table.c.target_type == "dsr", events_table.c.target_id == str(dsr_id))
        .order_by(events_table.c.id)))


def restrict(gh: Gatehouse, officer: Principal, dsr_id: int, reason: str) -> None:
    """Art. 18: hold the subject's rows (masked, never revealed or exported) until lifted."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.RESTRICTION, refuse)
        reason = _reason(reason, refuse)
        rows = _rows(gh, dsr)
        restrict_rows(gh, db, officer, dsr, rows, reason)
        close(gh, db, officer, dsr, "dsr.restricted", "restricted", reason, rows=len(rows))


def lift_restriction(gh: Gatehouse, officer: Principal, dsr_id: int, reason: str) -> None:
    """End the hold a restriction request (or an upheld objection) put on the subject."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        reason = _reason(reason, refuse)
        lifted = len(db.execute(delete(SubjectRestriction)
                                .where(SubjectRestriction.dsr_id == dsr.id)
                                .returning(SubjectRestriction.contact_id)).all())
        if not lifted:
            refuse(Conflict(f"request {dsr.id} holds no restriction"))
        gh.audit(db, dsr_event(officer, "dsr.restriction_lifted", dsr, reason=reason,
                               details={"rows": lifted}))


def decide_objection(gh: Gatehouse, officer: Principal, dsr_id: int, upheld: bool,
                     reason: str) -> None:
    """Art. 21: upheld, the subject's rows stay held; overridden (compelling legitimate
    grounds), the hold is lifted. Either way with a reason."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.OBJECTION, refuse)
        reason = _reason(reason, refuse)
        if not upheld:
            db.execute(delete(SubjectRestriction).where(SubjectRestriction.dsr_id == dsr.id))
        close(gh, db, officer, dsr, "dsr.objection_decided",
              "upheld" if upheld else "overridden", reason, upheld=upheld)


def _reason(reason: str, refuse: StepRefuse) -> str:
    try:
        return checked_reason(reason)
    except InvalidInput as error:
        refuse(error)


@dataclass(frozen=True)
class Portable:
    """Art. 20: what the subject provided, machine-readable, with its schema."""

    json: bytes
    csv: bytes
    schema: dict[str, Any]
    sha256: str

    def files(self, dsr_id: int) -> dict[str, bytes]:
        """The export as the files handed to the requester, by name: the data as JSON and
        CSV, and the JSON Schema both follow."""
        return {f"dsr-{dsr_id}.json": self.json, f"dsr-{dsr_id}.csv": self.csv,
                f"dsr-{dsr_id}.schema.json": json.dumps(self.schema, indent=2).encode()}


def portability(gh: Gatehouse, officer: Principal, dsr_id: int) -> Portable:
    """The subject's provided data as JSON and CSV with a JSON Schema; for a verified
    requester only, with a fresh code. Closes the request."""
    gh.authorize(officer, Action.DSR_RELEASE)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.PORTABILITY, refuse)
        require_verified(dsr, refuse)
        try:
            records = subject.read(gh, dsr.environment, _rows(gh, dsr))
        except GatehouseError as error:
            refuse(error)
        portable = _portable(gh, records)
        close(gh, db, officer, dsr, "dsr.exported", "exported", format="json csv",
              rows=len(records), sha256=portable.sha256)
        return portable


def _portable(gh: Gatehouse, records: list[subject.SubjectRecord]) -> Portable:
    names = list(subject.fields(gh))
    items = [{"customer_id": r.customer_id, **r.values} for r in records]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": "Personal data provided by the data subject", "type": "object",
              "properties": {"records": {"type": "array", "items": {
                  "type": "object", "additionalProperties": False,
                  "required": ["customer_id", *names],
                  "properties": {"customer_id": {"type": "string"},
                                 **{n: {"type": ["string", "null"]} for n in names}}}}}}
    document = json.dumps({"records": items}, indent=2, sort_keys=True).encode("utf-8")
    out = io.StringIO()
    writer = csv.DictWriter(out, ["customer_id", *names], lineterminator="\n")
    writer.writeheader()
    writer.writerows(items)
    return Portable(document, out.getvalue().encode("utf-8"), schema,
                    hashlib.sha256(document).hexdigest())

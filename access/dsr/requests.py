"""Data-subject requests: filing, identity verification, the one extension, and the list the
privacy officer works from. The six rights themselves are in `access.dsr.rights` and
`access.dsr.package`.

Contracts:
- The console database holds the subject as the blind index of their email and a display hint
  only (`access.data.subject_index`); the email itself is dropped once indexed.
- An unknown subject is refused as "no such subject", naming no customer and no other person.
- Every step is an audit event (`dsr.*`, target_type "dsr", target_id the request's id), and
  every refusal too (`dsr.refused`, outcome denied, saying why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, Refuse, event_for
from access.data.subject_index import SubjectRow, display_hint
from access.dsr import subject
from access.dsr.clock import (
    GDPR_EXTENSION_RULE,
    ClockState,
    Jurisdiction,
    clock_state,
    extended_due,
    first_due,
)
from access.errors import Conflict, Denied, GatehouseError, InvalidInput
from access.principal import Principal
from access.schema import DataSubjectRequest, SubjectRestriction, User
from access.text import as_logged, checked_reason
from audit.events import AuditEvent
from audit.schema import events_table
from audit.vocabulary import Outcome

__all__ = [
    "IDENTITY_RULE",
    "NO_SUCH_SUBJECT",
    "REJECTED",
    "DsrView",
    "Kind",
    "Status",
    "StepRefuse",
    "close",
    "detail",
    "dsr_event",
    "extend",
    "file",
    "name_of",
    "refused",
    "requests",
    "require_kind",
    "require_verified",
    "restrict_rows",
    "step",
    "verify_identity",
]

NO_SUCH_SUBJECT = "no such subject"
IDENTITY_RULE = "nothing is released, corrected or erased for an unverified requester"
REJECTED = "dsr.approval_rejected"  # the approver sent a proposed step back, with a reason
_PROPOSED = ("dsr.rectification_proposed", "dsr.erasure_proposed")


class Kind(StrEnum):
    ACCESS = "access"                # Art. 15, CCPA right to know
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"              # Art. 17, CCPA right to delete
    RESTRICTION = "restriction"      # Art. 18
    PORTABILITY = "portability"      # Art. 20
    OBJECTION = "objection"          # Art. 21


class Status(StrEnum):
    OPEN = "open"
    AWAITING_APPROVAL = "awaiting_approval"
    CLOSED = "closed"


@dataclass(frozen=True)
class DsrView:
    id: int
    kind: str
    jurisdiction: str
    environment: str
    subject_hint: str
    received_at: datetime
    due_at: datetime
    extended: bool
    extension_reason: str | None
    identity_state: str
    status: str
    assignee: str  # the person working it: display name, else subject
    assignee_id: int
    filed_by: str
    clock: ClockState
    pending_action: str | None  # rectify | erase, waiting for a second person
    pending_fields: tuple[str, ...]  # what a waiting rectification corrects
    pending_by: str | None  # who proposed it
    rejection: str | None  # while open: who sent the last proposal back, and why
    grounds: str | None
    held: bool  # the subject's rows are restricted under this request (Art. 18, 21)
    outcome: str | None
    outcome_reason: str | None
    closed_at: datetime | None
    evidence: dict[str, Any] | None


def dsr_event(principal: Principal, action: str, dsr: DataSubjectRequest,
              outcome: Outcome = Outcome.SUCCESS, **fields: Any) -> AuditEvent:
    """An event of one step of `dsr`, naming its kind, jurisdiction and status."""
    details = {"kind": dsr.kind, "jurisdiction": dsr.jurisdiction,
               "environment": dsr.environment, "status": dsr.status,
               **fields.pop("details", {})}
    return event_for(principal, action, outcome, target_type="dsr", target_id=str(dsr.id),
                     details=details, **fields)


def refused(principal: Principal, error: GatehouseError, dsr_id: object = None,
            kind: object = None) -> AuditEvent:
    """The `dsr.refused` event of a refusal: why, and what was asked, as asked."""
    details: dict[str, Any] = {"why": str(error)[:300]}
    if kind is not None:
        details["kind"] = as_logged(str(kind), 32)
    return event_for(principal, "dsr.refused", Outcome.DENIED, target_type="dsr",
                     target_id=None if dsr_id is None else as_logged(str(dsr_id), 32),
                     details=details)


class StepRefuse(Protocol):
    """Inside `step`: end it with this refusal, recorded as `dsr.refused` unless `event`."""

    def __call__(self, error: GatehouseError, event: AuditEvent | None = None) -> NoReturn: ...


@contextmanager
def step(gh: Gatehouse, principal: Principal, dsr_id: object
         ) -> Iterator[tuple[Session, DataSubjectRequest, StepRefuse]]:
    """A write transaction on one request, locked; an unknown id is refused and recorded."""
    with gh.deciding() as (db, refuse):
        dsr = db.get(DataSubjectRequest, dsr_id, with_for_update=True) \
            if isinstance(dsr_id, int) and not isinstance(dsr_id, bool) else None
        if dsr is None:
            refuse(InvalidInput("dsr", "there is no such data-subject request"),
                   refused(principal, InvalidInput("dsr", "no such request"), dsr_id))
        yield db, dsr, _refuser(principal, dsr, refuse)


def _refuser(principal: Principal, dsr: DataSubjectRequest, refuse: Refuse) -> StepRefuse:
    def refuse_step(error: GatehouseError, event: AuditEvent | None = None) -> NoReturn:
        refuse(error, event or refused(principal, error, dsr.id, dsr.kind))
    return refuse_step


def file(gh: Gatehouse, officer: Principal, kind: object, jurisdiction: object, email: object,
         environment: str = "production", received_at: datetime | None = None,
         grounds: str | None = None) -> int:
    """Record a request received at `received_at` (default now) for the subject whose email
    is `email`; its id. The subject must be in `environment`'s customer data; an objection
    needs its grounds and, while open, restricts the subject's rows."""
    gh.authorize(officer, Action.DSR_FILE)
    try:
        checked = _checked_filing(gh, kind, jurisdiction, environment, received_at, grounds)
        index = gh.data.blind_index().of_email(email)  # type: ignore[arg-type]
        rows = subject.locate(gh, environment, index)
        if not rows:
            raise InvalidInput("subject", NO_SUCH_SUBJECT)
    except InvalidInput as error:
        gh.refuse(error, refused(officer, error, kind=kind))
    when, grounds_text = checked
    with gh.write() as db:
        dsr = DataSubjectRequest(
            kind=str(kind), jurisdiction=str(jurisdiction), environment=environment,
            subject_index=index, subject_hint=display_hint(str(email)), received_at=when,
            due_at=first_due(when, Jurisdiction(str(jurisdiction)), gh.config.dsr),
            identity_state="unverified", status=Status.OPEN, assignee_id=officer.user_id,
            filed_by=officer.user_id, filed_at=gh.now(), grounds=grounds_text)
        db.add(dsr)
        db.flush()
        gh.audit(db, dsr_event(officer, "dsr.filed", dsr, reason=grounds_text,
                               details={"due_at": dsr.due_at.isoformat(), "rows": len(rows)}))
        if dsr.kind == Kind.OBJECTION:  # Art. 21(1): no processing while it is decided
            why = "objection under consideration"
            restrict_rows(gh, db, officer, dsr, rows, why)
            gh.audit(db, dsr_event(officer, "dsr.restricted", dsr, reason=why,
                                   details={"rows": len(rows)}))
        return dsr.id


def _checked_filing(gh: Gatehouse, kind: object, jurisdiction: object, environment: object,
                    received_at: datetime | None, grounds: str | None
                    ) -> tuple[datetime, str | None]:
    if kind not in Kind.__members__.values():
        raise InvalidInput("kind", f"must be one of {', '.join(Kind)}")
    if jurisdiction not in Jurisdiction.__members__.values():
        raise InvalidInput("jurisdiction", f"must be one of {', '.join(Jurisdiction)}")
    if not isinstance(environment, str) or not gh.data.serves(environment):
        raise InvalidInput("environment", f"must be one of {', '.join(sorted(gh.data.urls))}")
    now = gh.now()
    when = now if received_at is None else received_at
    if when.utcoffset() is None or not now - timedelta(days=366) <= when <= now:
        raise InvalidInput("received_at", "must be an aware time within the last year, "
                                          "not in the future")
    if kind == Kind.OBJECTION:
        return when, checked_reason(grounds)
    return when, None


def restrict_rows(gh: Gatehouse, db: Session, principal: Principal, dsr: DataSubjectRequest,
                  rows: list[SubjectRow], reason: str) -> None:
    """Restrict each of the subject's rows not restricted yet, in the caller's transaction;
    the caller records the one `dsr.restricted` event of the step."""
    for row in rows:
        key = (dsr.environment, row.customer_id, row.contact_id, dsr.id)
        if db.get(SubjectRestriction, key) is None:
            db.add(SubjectRestriction(environment=dsr.environment, customer_id=row.customer_id,
                                      contact_id=row.contact_id, dsr_id=dsr.id, reason=reason,
                                      restricted_by=principal.user_id,
                                      restricted_at=gh.now()))


def verify_identity(gh: Gatehouse, officer: Principal, dsr_id: int, method: str) -> None:
    """Record that the requester's identity was verified, and how (a reason-like note)."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        try:
            method = checked_reason(method)
        except InvalidInput as error:
            refuse(InvalidInput("method", error.rule))
        if dsr.status == Status.CLOSED:
            refuse(Conflict(f"request {dsr.id} is closed"))
        if dsr.identity_state == "verified":
            refuse(Conflict(f"the identity of request {dsr.id} is already verified"))
        dsr.identity_state, dsr.identity_method = "verified", method
        dsr.identity_verified_by, dsr.identity_verified_at = officer.user_id, gh.now()
        gh.audit(db, dsr_event(officer, "dsr.identity_verified", dsr, reason=method))


def extend(gh: Gatehouse, officer: Principal, dsr_id: int, reason: str) -> datetime:
    """Extend the request once (GDPR Art. 12(3), CCPA), only while its first period runs and
    with a reason; the new due date."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        try:
            reason = checked_reason(reason)
        except InvalidInput as error:
            refuse(error)
        jurisdiction = Jurisdiction(dsr.jurisdiction)
        if dsr.status == Status.CLOSED:
            refuse(Conflict(f"request {dsr.id} is closed"))
        if dsr.extended_at is not None:
            refuse(Conflict(f"request {dsr.id} was already extended: {GDPR_EXTENSION_RULE}"))
        first = first_due(dsr.received_at, jurisdiction, gh.config.dsr)
        if gh.now() >= first:
            refuse(InvalidInput("extension", f"{GDPR_EXTENSION_RULE}; the first period of "
                                             f"request {dsr.id} ended {first:%Y-%m-%d %H:%M}"))
        dsr.due_at = extended_due(dsr.received_at, jurisdiction, gh.config.dsr)
        dsr.extended_at, dsr.extended_by, dsr.extension_reason = gh.now(), officer.user_id, reason
        gh.audit(db, dsr_event(officer, "dsr.extended", dsr, reason=reason,
                               details={"due_at": dsr.due_at.isoformat()}))
        return dsr.due_at


def close(gh: Gatehouse, db: Session, principal: Principal, dsr: DataSubjectRequest,
          action: str, outcome: str, reason: str | None = None,
          evidence: dict[str, Any] | None = None, **details: Any) -> None:
    """Close `dsr` with `outcome`, in the caller's transaction, as the event `action`."""
    dsr.status, dsr.closed_at, dsr.outcome, dsr.outcome_reason = \
        Status.CLOSED, gh.now(), outcome, reason
    dsr.pending_action = dsr.pending_sealed = dsr.pending_fields = None
    if evidence is not None:
        dsr.evidence = json.dumps(evidence, sort_keys=True)
    gh.audit(db, dsr_event(principal, action, dsr, reason=reason,
                           details={"outcome": outcome, **details}))


def requests(gh: Gatehouse, principal: Principal, include_closed: bool = False
             ) -> list[DsrView]:
    """Requests by due date (open ones only unless `include_closed`), each with its clock."""
    gh.authorize(principal, Action.DSR_VIEW)
    with gh.read() as db:
        query = select(DataSubjectRequest).order_by(DataSubjectRequest.due_at,
                                                     DataSubjectRequest.id)
        if not include_closed:
            query = query.where(DataSubjectRequest.status != Status.CLOSED)
        return [_view(gh, db, dsr) for dsr in db.scalars(query)]


def detail(gh: Gatehouse, principal: Principal, dsr_id: int) -> DsrView:
    """One request with its clock; an unknown id is refused and recorded."""
    gh.authorize(principal, Action.DSR_VIEW)
    with gh.read() as db:
        dsr = db.get(DataSubjectRequest, dsr_id) \
            if isinstance(dsr_id, int) and not isinstance(dsr_id, bool) else None
        if dsr is not None:
            return _view(gh, db, dsr)
    error = InvalidInput("dsr", "there is no such data-subject request")
    gh.refuse(error, refused(principal, error, dsr_id))


def name_of(user: User) -> str:
    """How the page and the command name a person: display name, else subject (events name
    them as `access.identity.users.user_ref`)."""
    return user.display_name or user.sub


def _view(gh: Gatehouse, db: Session, dsr: DataSubjectRequest) -> DsrView:
    def who(user_id: int) -> str:
        user = db.get(User, user_id)
        return name_of(user) if user is not None else str(user_id)

    return DsrView(
        id=dsr.id, kind=dsr.kind, jurisdiction=dsr.jurisdiction, environment=dsr.environment,
        subject_hint=dsr.subject_hint, received_at=dsr.received_at, due_at=dsr.due_at,
        extended=dsr.extended_at is not None, extension_reason=dsr.extension_reason,
        identity_state=dsr.identity_state, status=dsr.status,
        assignee=who(dsr.assignee_id), assignee_id=dsr.assignee_id, filed_by=who(dsr.filed_by),
        clock=clock_state(dsr.due_at, dsr.closed_at, gh.now(), gh.config.dsr),
        pending_action=dsr.pending_action,
        pending_fields=tuple((dsr.pending_fields or "").split()),
        pending_by=None if dsr.pending_by is None else who(dsr.pending_by),
        rejection=_rejection(db, dsr),
        grounds=dsr.grounds, held=_holds(db, dsr.id), outcome=dsr.outcome,
        outcome_reason=dsr.outcome_reason, closed_at=dsr.closed_at,
        evidence=json.loads(dsr.evidence) if dsr.evidence else None)


def _rejection(db: Session, dsr: DataSubjectRequest) -> str | None:
    """'<approver>: <reason>' when the request's last proposal was rejected and nothing was
    proposed since: read from the log, the one record of it."""
    if dsr.status != Status.OPEN or dsr.kind not in (Kind.RECTIFICATION, Kind.ERASURE):
        return None
    e = events_table.c
    last = db.execute(select(e.action, e.actor_name, e.actor_sub, e.reason).where(
        e.target_type == "dsr", e.target_id == str(dsr.id),
        e.action.in_((REJECTED, *_PROPOSED))).order_by(e.id.desc()).limit(1)).first()
    if last is None or last.action != REJECTED:
        return None
    return f"{last.actor_name or last.actor_sub}: {last.reason}"


def _holds(db: Session, dsr_id: int) -> bool:
    return bool(db.scalar(select(exists().where(SubjectRestriction.dsr_id == dsr_id))))


def require_kind(dsr: DataSubjectRequest, kind: Kind, refuse: StepRefuse) -> None:
    if dsr.kind != kind:
        refuse(Conflict(f"request {dsr.id} is a {dsr.kind} request, not {kind}"))
    if dsr.status == Status.CLOSED:
        refuse(Conflict(f"request {dsr.id} is closed"))


def require_verified(dsr: DataSubjectRequest, refuse: StepRefuse) -> None:
    """A package or an export leaves, and a correction or an erasure is proposed or applied,
    only for a verified requester (duplicates that skipped verification are a known bug class
    of privacy tools; a forged request must not change or delete a person's data either)."""
    if dsr.identity_state != "verified":
        refuse(Denied(f"the requester's identity for request {dsr.id} is not verified: "
                      f"{IDENTITY_RULE}"))

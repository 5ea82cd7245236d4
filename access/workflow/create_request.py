"""Filing an access request: the narrowest access one ticket needs, checked field by field
against the policy, then pending until approvers decide (`decide_request`).

Production customer data always needs a human approver (the policy loader refuses anything
else). `validate` and `new_request` are shared with `break_glass`, which files a request that is
approved at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for
from access.data.servable import (
    check_customer_id,
    check_exists,
    refuse_unservable,
    was_purged,
)
from access.errors import Conflict, Denied, InvalidFields, InvalidInput
from access.principal import Principal
from access.schema import AccessRequest
from access.text import UNSTORABLE_RULE, as_logged, storable
from access.workflow import locks, notify
from access.workflow.events import request_event, words
from access.workflow.policy import Requirements, human_duration
from access.workflow.states import RequestStatus
from audit.events import AuditEvent
from audit.vocabulary import CUSTOMER_ID, Outcome

__all__ = ["MAX_REFUSAL", "MAX_START_DELAY", "MAX_TICKET", "MIN_DURATION", "MIN_JUSTIFICATION",
           "RequestDraft", "create", "new_request", "pending_twin", "validate"]

MIN_DURATION = timedelta(minutes=15)
MIN_JUSTIFICATION = 10  # characters: a sentence, not "pls"
MAX_START_DELAY = timedelta(days=7)
MAX_TICKET = 64  # the audit log's ticket filter accepts no longer id
_T = TypeVar("_T")
MAX_REFUSAL = 2_000  # a refusal's reason in the log: every rule, never a crafted megabyte


@dataclass(frozen=True)
class RequestDraft:
    customer_id: str
    environment: str
    scopes: Sequence[str]
    actions: Sequence[str]
    duration: timedelta
    justification: str
    ticket: str | None = None
    starts_at: datetime | None = None  # None: as soon as it is approved


def validate(gh: Gatehouse, principal: Principal, draft: RequestDraft,
             refused_as: str = "request.created",
             also: Sequence[InvalidInput] = ()) -> Requirements:
    """Check `draft` field by field against the policy; return what it will need.

    Every field is checked, so the person sees every error at once: `InvalidFields` holds one
    `InvalidInput` per bad field, in form order, then `also` (the caller's own fields, such
    as break-glass's reason). A refusal is evidence: before raising, one
    `refused_as` event with outcome denied is recorded, its reason naming each field and rule
    (bounded: a crafted value is cut and escaped, `as_logged`). A role that may not ask, and a
    purged or restricted customer, are refused (`Denied`) the same way once the fields hold.
    """
    needs, problems = _problems(gh, draft)
    problems += also
    if problems:
        gh.refuse(InvalidFields(problems), _refusal(gh, principal, draft, refused_as,
                                                    "; ".join(map(str, problems))))
    assert needs is not None  # no problem: the policy answered
    try:
        _check_role(principal, draft, needs)
        with gh.read() as db:
            refuse_unservable(db, draft.environment, draft.customer_id)
    except Denied as exc:
        gh.refuse(exc, _refusal(gh, principal, draft, refused_as, str(exc)))
    return needs


def _problems(gh: Gatehouse, draft: RequestDraft
              ) -> tuple[Requirements | None, list[InvalidInput]]:
    """Every field's rule, each checked even when another failed: (needs, problems)."""
    problems: list[InvalidInput] = []
    customer = _checked(problems, lambda: check_customer_id(draft.customer_id))
    needs = _checked(problems, lambda: gh.policy.requirements(
        draft.environment, draft.scopes, draft.actions))
    _checked(problems, lambda: _check_duration(draft.duration, needs))
    _checked(problems, lambda: _check_start(gh, draft.starts_at))
    _checked(problems, lambda: _check_justification(gh, draft.justification))
    if isinstance(draft.environment, str) and draft.environment in gh.policy.environments:
        _checked(problems, lambda: _check_ticket(gh, draft))
        if customer is not None and not _purged(gh, draft.environment, customer):
            _checked(problems, lambda: check_exists(gh, draft.environment, customer))
    return needs, problems


def _purged(gh: Gatehouse, environment: str, customer_id: str) -> bool:
    """A purged customer has no rows left: it is refused as purged (`Denied`, once the other
    fields hold), never as an unknown customer."""
    with gh.read() as db:
        return was_purged(db, environment, customer_id)


def _checked(problems: list[InvalidInput], check: Callable[[], _T]) -> _T | None:
    """`check()`, or None with its `InvalidInput` added to `problems`."""
    try:
        return check()
    except InvalidInput as exc:
        problems.append(exc)
        return None


def _check_role(principal: Principal, draft: RequestDraft, needs: Requirements) -> None:
    if not principal.roles & needs.request_roles:
        raise Denied(f"your role may not request {draft.environment} access to "
                     f"{words(draft.scopes)}")


def _check_duration(duration: object, needs: Requirements | None) -> None:
    """At least `MIN_DURATION`; at most what the scopes allow (when they are known)."""
    longest = needs.max_duration if needs is not None else None
    if isinstance(duration, timedelta) and duration >= MIN_DURATION and \
            (longest is None or duration <= longest):
        return
    if longest is None:
        raise InvalidInput("duration", f"must be at least {human_duration(MIN_DURATION)}")
    raise InvalidInput("duration", f"must be between {human_duration(MIN_DURATION)} and "
                                   f"{human_duration(longest)} for these scopes")


def _check_justification(gh: Gatehouse, justification: object) -> None:
    most = gh.policy.justification_max
    text = justification if isinstance(justification, str) else ""
    text = text[:2 * most].strip()  # bounded before it is copied
    if not text:
        raise InvalidInput("justification", f"is required: {MIN_JUSTIFICATION} to {most} "
                                            "characters saying why the ticket needs this")
    if len(text) < MIN_JUSTIFICATION:
        raise InvalidInput("justification", f"is too short: at least {MIN_JUSTIFICATION} "
                                            f"characters (this has {len(text)}) saying why "
                                            "the ticket needs this")
    if len(text) > most:
        raise InvalidInput("justification", f"is too long: at most {most} characters")
    if not storable(text):
        raise InvalidInput("justification", UNSTORABLE_RULE)


def _check_start(gh: Gatehouse, starts_at: datetime | None) -> None:
    if starts_at is None:
        return
    if not isinstance(starts_at, datetime) or starts_at.utcoffset() is None:
        raise InvalidInput("starts_at", "must be a date and time with a time zone")
    if not gh.now() - timedelta(minutes=1) <= starts_at <= gh.now() + MAX_START_DELAY:
        raise InvalidInput("starts_at", "must be now or within the next "
                                        f"{human_duration(MAX_START_DELAY)}")


def _check_ticket(gh: Gatehouse, draft: RequestDraft) -> None:
    if draft.ticket is not None and (not isinstance(draft.ticket, str)
                                     or len(draft.ticket) > MAX_TICKET):
        raise InvalidInput("ticket", f"must be a ticket reference of at most {MAX_TICKET} "
                                     "characters")
    ticket = draft.ticket.strip() if draft.ticket else ""
    environment = gh.policy.environments[draft.environment]
    if not ticket:
        if environment.ticket_required:
            raise InvalidInput("ticket", f"is required for {draft.environment}")
        return
    if not gh.policy.ticket_pattern.fullmatch(ticket):
        raise InvalidInput("ticket", f"must look like {_either(gh.policy.ticket_examples)}")


def _either(examples: Sequence[str]) -> str:
    """ "A", "A or B", "A, B or C"."""
    *most, last = examples
    return f"{', '.join(most)} or {last}" if most else last


def _refusal(gh: Gatehouse, principal: Principal, draft: RequestDraft, action: str,
             why: str, request_id: int | None = None) -> AuditEvent:
    """The denied `action` event of a refused draft: the reason names each rule; the ids are
    recorded only when well-formed (a crafted value stays in the bounded reason);
    `request_id`: the request the refusal points at (the pending twin)."""
    customer = draft.customer_id if isinstance(draft.customer_id, str) and \
        CUSTOMER_ID.fullmatch(draft.customer_id) else None
    known = isinstance(draft.environment, str) and draft.environment in gh.policy.environments
    ticket = draft.ticket.strip() if isinstance(draft.ticket, str) and \
        gh.policy.ticket_pattern.fullmatch(draft.ticket.strip()) else None
    return event_for(principal, action, Outcome.DENIED, target_type="customer",
                     target_id=customer, customer_id=customer, ticket=ticket,
                     request_id=None if request_id is None else str(request_id),
                     policy_version=gh.policy.version, reason=as_logged(why, MAX_REFUSAL),
                     details={"environment": draft.environment} if known else {})


def new_request(gh: Gatehouse, db: Session, requester_id: int, draft: RequestDraft,
                needs: Requirements, status: RequestStatus, now: datetime,
                starts_at: datetime | None, expires_at: datetime,
                **breakglass: object) -> AccessRequest:
    """Store the request of a validated `draft` (flushed, so it has its id). `breakglass`
    holds the columns only a break-glass request sets at birth."""
    request = AccessRequest(
        requester_id=requester_id, customer_id=draft.customer_id,
        environment=draft.environment, scopes=words(draft.scopes),
        actions=words(draft.actions), duration_s=int(draft.duration.total_seconds()),
        starts_at=starts_at, justification=draft.justification.strip(),
        ticket=(draft.ticket or "").strip() or None, status=status,
        approvals_required=needs.approvals, policy_version=gh.policy.version,
        created_at=now, expires_at=expires_at, **breakglass)
    db.add(request)
    db.flush()
    return request


def pending_twin(db: Session, requester_id: int, draft: RequestDraft, now: datetime
                 ) -> AccessRequest | None:
    """The person's pending request that `draft` would repeat, if any: same customer,
    environment and ticket, at least one scope in common, not yet past its time-to-live."""
    ticket = (draft.ticket or "").strip() or None
    rows = db.execute(select(AccessRequest).where(
        AccessRequest.requester_id == requester_id,
        AccessRequest.status == RequestStatus.PENDING, AccessRequest.expires_at > now,
        AccessRequest.customer_id == draft.customer_id,
        AccessRequest.environment == draft.environment,
        AccessRequest.ticket.is_(None) if ticket is None else AccessRequest.ticket == ticket,
    ).order_by(AccessRequest.id)).scalars()
    return next((r for r in rows if set(r.scopes.split()) & set(draft.scopes)), None)


def _repeated(twin: AccessRequest, draft: RequestDraft) -> Conflict:
    shared = words(sorted(set(twin.scopes.split()) & set(draft.scopes)))
    return Conflict(f"you already asked for this: your request {twin.id} for customer "
                    f"{twin.customer_id} in {twin.environment} under ticket {twin.ticket or '-'}"
                    f" ({shared}) is still pending. Wait for its decision, or cancel it on "
                    "My access and ask again.")


def create(gh: Gatehouse, principal: Principal, draft: RequestDraft) -> int:
    """File a pending request; return its id. A draft repeating one of the person's pending
    requests (`pending_twin`: a double click, a second tab) is refused with `Conflict` naming
    it, recorded as a denied `request.created` event."""
    gh.authorize(principal, Action.REQUEST_CREATE)
    needs = validate(gh, principal, draft)
    now = gh.now()
    with gh.deciding() as (db, refuse):
        locks.requester(db, principal.user_id)
        twin = pending_twin(db, principal.user_id, draft, now)
        if twin is not None:
            conflict = _repeated(twin, draft)
            refuse(conflict, _refusal(gh, principal, draft, "request.created", str(conflict),
                                      request_id=twin.id))
        request = new_request(gh, db, principal.user_id, draft, needs, RequestStatus.PENDING,
                              now, starts_at=draft.starts_at,
                              expires_at=now + gh.policy.pending_ttl)
        gh.audit(db, request_event(principal, "request.created", request))
        notify.enqueue(gh, db, notify.Kind.REQUEST_CREATED,
                       f"{principal.name} requests {request.environment} access to customer "
                       f"{request.customer_id} ({request.scopes}) for {request.ticket or '-'}",
                       {"request_id": str(request.id), "ticket": request.ticket or ""})
    return request.id

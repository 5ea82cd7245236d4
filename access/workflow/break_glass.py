"""Break-glass: emergency access without waiting for an approver, within what policy allows.

`activate` files a request that is approved at once and issues a short grant; every approver is
notified. An admin who is not the holder must `review` it afterwards; until then the grant stays
flagged (`GrantView.needs_review`), and the grant shows the rules it bypassed
(`GrantView.bypassed`, stored in `grants.bypassed`).

Break-glass skips the approvers, and nothing else. Each limit below is a small named check;
a refusal raises the error that names the policy rule and is recorded first as a
`breakglass.activated` event with outcome `denied` whose reason starts with the rule's name
(the decide path's pattern: record in the transaction, raise after it commits):

- `breakglass`: the environment and every scope allow it at all;
- `breakglass_actions`: the grant carries only these (never export where export needs an
  approver: the policy loader refuses that);
- `breakglass_duration`: no longer than this;
- `breakglass_one_open`: the person's previous break-glass here has been reviewed;
- `breakglass_per_day`: at most this many per person in any 24 hours;
- `customers_per_ticket`: one ticket opens at most this many customers (the anomaly
  threshold of the console configuration, within its ticket window), across break-glass and
  approved requests alike, so a break-glass cannot sweep customers under one ticket.

The limits are counted inside the write transaction under one lock (BEGIN IMMEDIATE on
SQLite, a transaction-scoped advisory lock on PostgreSQL), so two activations at once cannot
both pass a limit of one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import Conflict, Denied, GatehouseError, InvalidInput, StepUpRequired
from access.principal import Principal
from access.schema import AccessRequest, Grant
from access.text import checked_reason
from access.workflow import locks, notify
from access.workflow.create_request import RequestDraft, new_request, validate
from access.workflow.events import request_event, words
from access.workflow.grants import issue_grant
from access.workflow.policy import Requirements, human_duration
from access.workflow.queries import GrantView, views
from access.workflow.states import RequestStatus
from audit.events import AuditEvent, from_micros
from audit.schema import events_table
from audit.vocabulary import Outcome

__all__ = ["DAY", "GrantUse", "ReviewCase", "activate", "bypassed_rules", "check",
           "open_reviews", "review"]

DAY = timedelta(hours=24)
_LOCK_KEY = 0x6B7E_0015  # pg_advisory_xact_lock key: one break-glass decision at a time


@dataclass(frozen=True)
class _Ask:
    principal: Principal
    draft: RequestDraft
    needs: Requirements


Refusal = tuple[str, GatehouseError]  # (policy rule, the error that names it)
_Check = Callable[[Gatehouse, Session, _Ask], Refusal | None]


def activate(gh: Gatehouse, principal: Principal, draft: RequestDraft, reason: str) -> int:
    """Open a short grant at once, where policy allows, without waiting for an approver. Needs
    step-up and an emergency reason, which is the request's justification (the justification
    rule; `draft.justification` is not used); every approver is notified and an admin must
    review it afterwards. Returns the grant id. A limit refuses with the error naming its rule
    (see the module)."""
    gh.authorize(principal, Action.BREAKGLASS_ACTIVATE)
    reason, needs = _fields(gh, principal, draft, reason)
    ask = _Ask(principal, replace(draft, justification=reason), needs)
    with gh.write() as db:
        _serialize(db)
        refused = _first_refusal(gh, db, ask)
        if refused is not None:
            gh.audit(db, _refusal_event(gh, ask, *refused))
        else:
            grant_id = _open(gh, db, ask, reason)
    if refused is not None:
        raise refused[1]
    return grant_id


def check(gh: Gatehouse, principal: Principal, draft: RequestDraft, reason: str) -> None:
    """Check the form's fields as `activate` will, before the person is asked for a code:
    `InvalidFields` naming every bad field, recorded like `activate`'s refusals. Needs the
    right to break the glass, not a fresh code; the limits that count earlier break-glass
    grants are `activate`'s, at the moment it opens one."""
    with suppress(StepUpRequired):  # allowed once a fresh code is given; a check needs none
        gh.authorize(principal, Action.BREAKGLASS_ACTIVATE)
    _fields(gh, principal, draft, reason)


def _fields(gh: Gatehouse, principal: Principal, draft: RequestDraft, reason: str
            ) -> tuple[str, Requirements]:
    """(the reason, what the draft needs), or InvalidFields naming every bad field.

    The emergency reason is the request's justification: one text, so one rule and one
    message (the justification's, on field "justification"); the draft's own justification
    is not used."""
    text = reason if isinstance(reason, str) else ""
    needs = validate(gh, principal, replace(draft, justification=text), "breakglass.activated")
    return text.strip(), needs


def bypassed_rules(draft: RequestDraft, needs: Requirements) -> list[str]:
    """The rules a break-glass grant for `draft` skips, as the reviewer reads them."""
    approvers = "approver" if needs.approvals == 1 else "approvers"
    return [f"approvals: {needs.approvals} distinct human {approvers} for {draft.environment} "
            f"{words(draft.scopes)} with {words(draft.actions)}"]


def review(gh: Gatehouse, admin: Principal, grant_id: int, note: str) -> None:
    """An admin (never the one who broke the glass) records their review."""
    gh.authorize(admin, Action.BREAKGLASS_REVIEW)
    note = checked_reason(note)
    with gh.deciding() as (db, refuse):
        grant, request = locks.grant_with_request(db, grant_id)
        if not grant.breakglass:
            raise InvalidInput("grant", f"grant {grant_id} is not a break-glass grant")
        if grant.user_id == admin.user_id:
            refusal = "nobody reviews their own break-glass access"
            refuse(Denied(refusal), request_event(admin, "breakglass.reviewed", request,
                                                  Outcome.DENIED, reason=refusal, grant=grant))
        if grant.reviewed_at is not None:
            raise Conflict(f"grant {grant_id} was already reviewed")
        grant.reviewed_at, grant.reviewed_by, grant.review_note = gh.now(), admin.user_id, note
        gh.audit(db, request_event(admin, "breakglass.reviewed", request, reason=note,
                                   grant=grant))


@dataclass(frozen=True)
class GrantUse:
    """One use of a grant as the audit log recorded it: a read, reveal, export or refusal."""
    at: datetime
    action: str        # data.read, data.revealed, data.exported, data.denied
    scope: str | None
    outcome: str
    row_count: int | None
    columns: tuple[str, ...]  # names only (a reveal names the revealed ones); never values


@dataclass(frozen=True)
class ReviewCase:
    """What a reviewer needs to judge one break-glass grant."""
    grant: GrantView            # holder, customer, scopes, actions, times, bypassed rules
    reason: str                 # the emergency reason given when the glass was broken
    activated_at: datetime
    uses: tuple[GrantUse, ...]  # every use of the grant, oldest first (at most `USES_SHOWN`)
    uses_total: int


USES_SHOWN = 500  # a break-glass lasts an hour or so; more uses than this is itself a finding


def open_reviews(gh: Gatehouse, admin: Principal) -> list[ReviewCase]:
    """Break-glass grants no admin has reviewed yet, newest first, each with its emergency
    reason, ticket, times, the rules it bypassed and every use of it from the audit log."""
    gh.authorize(admin, Action.BREAKGLASS_REVIEW)
    with gh.read() as db:
        open_grants = views(gh, db, Grant.breakglass & Grant.reviewed_at.is_(None))
        cases = [_case(db, view) for view in open_grants]
    return sorted(cases, key=lambda c: c.activated_at, reverse=True)


def _case(db: Session, view: GrantView) -> ReviewCase:
    request = db.get_one(AccessRequest, view.request_id)
    e = events_table.c
    mine = (e.grant_id == str(view.id)) & e.action.like("data.%")
    rows = db.execute(select(e.ts_us, e.action, e.outcome, e.details).where(mine)
                      .order_by(e.ts_us, e.id).limit(USES_SHOWN)).all()
    total = db.execute(select(func.count()).select_from(events_table).where(mine)).scalar_one()
    return ReviewCase(view, request.decision_comment or "", request.created_at,
                      tuple(_use(*row) for row in rows), total)


def _use(ts_us: int, action: str, outcome: str, details: dict[str, Any] | None) -> GrantUse:
    details = details or {}
    rows = details.get("row_count")
    return GrantUse(from_micros(ts_us), action, details.get("scope"), outcome,
                    rows if isinstance(rows, int) else None,
                    tuple(str(c) for c in details.get("columns") or ()))


# ------------------------------------------------------------------------------ the limits

def _allowed(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    if ask.needs.breakglass:
        return None
    return "breakglass", Denied(f"policy allows no break-glass for {ask.draft.environment} "
                                f"{words(ask.draft.scopes)}")


def _actions(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    beyond = sorted(set(ask.draft.actions) - ask.needs.breakglass_actions)
    if not beyond:
        return None
    allowed = words(list(ask.needs.breakglass_actions)) or "nothing"
    return "breakglass_actions", InvalidInput(
        "actions", f"break-glass here may carry only {allowed}, not {beyond[0]}: "
                   "ask an approver for the rest")


def _duration(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    if ask.draft.duration <= ask.needs.breakglass_duration:
        return None
    return "breakglass_duration", InvalidInput(
        "duration", f"break-glass lasts at most {human_duration(ask.needs.breakglass_duration)}")


def _one_open(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    environment = ask.draft.environment
    if not gh.policy.environments[environment].breakglass_one_open:
        return None
    open_id = db.execute(select(Grant.id).where(
        Grant.user_id == ask.principal.user_id, Grant.breakglass,
        Grant.environment == environment, Grant.reviewed_at.is_(None)).limit(1)).scalar()
    if open_id is None:
        return None
    return "breakglass_one_open", Denied(
        f"your break-glass grant {open_id} in {environment} has not been reviewed yet: an "
        "admin must review it before you open another")


def _per_day(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    environment = ask.draft.environment
    limit = gh.policy.environments[environment].breakglass_per_day
    opened = db.execute(select(func.count()).select_from(AccessRequest).where(
        AccessRequest.requester_id == ask.principal.user_id, AccessRequest.breakglass,
        AccessRequest.environment == environment,
        AccessRequest.created_at > gh.now() - DAY)).scalar_one()
    if opened < limit:
        return None
    return "breakglass_per_day", Denied(
        f"at most {limit} break-glass grant(s) per person in {environment} in 24 hours: "
        "ask an approver")


def _customers_per_ticket(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    ticket = (ask.draft.ticket or "").strip()
    if not ticket:
        return None
    rules = gh.config.anomalies
    customers = set(db.execute(select(AccessRequest.customer_id).distinct().where(
        AccessRequest.ticket == ticket, AccessRequest.status == RequestStatus.APPROVED,
        AccessRequest.created_at > gh.now() - rules.ticket_window)).scalars())
    customers.add(ask.draft.customer_id)
    if len(customers) <= rules.customers_per_ticket:
        return None
    return "customers_per_ticket", Denied(
        f"ticket {ticket} already opened {len(customers) - 1} customers' data: at most "
        f"{rules.customers_per_ticket} per ticket, so this one needs an approver")


_CHECKS: tuple[_Check, ...] = (_allowed, _actions, _duration, _one_open, _per_day,
                               _customers_per_ticket)


def _first_refusal(gh: Gatehouse, db: Session, ask: _Ask) -> Refusal | None:
    for check in _CHECKS:
        refused = check(gh, db, ask)
        if refused is not None:
            return refused
    return None


def _serialize(db: Session) -> None:
    """One break-glass decision at a time, so counted limits hold under concurrency. SQLite's
    write transaction (BEGIN IMMEDIATE) already is one; PostgreSQL takes an advisory lock that
    ends with the transaction (it needs no table privilege)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))


def _refusal_event(gh: Gatehouse, ask: _Ask, rule: str, error: GatehouseError) -> AuditEvent:
    draft = ask.draft
    return event_for(
        ask.principal, "breakglass.activated", Outcome.DENIED, target_type="customer",
        target_id=draft.customer_id, customer_id=draft.customer_id,
        ticket=(draft.ticket or "").strip() or None, policy_version=gh.policy.version,
        reason=f"{rule}: {error}",
        details={"environment": draft.environment, "scopes": sorted(draft.scopes),
                 "actions": sorted(draft.actions),
                 "duration_s": int(draft.duration.total_seconds())})


def _open(gh: Gatehouse, db: Session, ask: _Ask, reason: str) -> int:
    principal, draft, needs, now = ask.principal, ask.draft, ask.needs, gh.now()
    request = new_request(gh, db, principal.user_id, draft, needs, RequestStatus.APPROVED,
                          now, starts_at=now, expires_at=now, breakglass=True,
                          decided_at=now, decision_comment=reason)
    grant = issue_grant(gh, db, principal, request)
    grant.bypassed = "\n".join(bypassed_rules(draft, needs))
    gh.audit(db, request_event(principal, "breakglass.activated", request, reason=reason,
                               grant=grant, approvals_required=needs.approvals))
    notify.enqueue(gh, db, notify.Kind.BREAKGLASS,
                   f"BREAK-GLASS: {principal.name} opened {request.environment} access to "
                   f"customer {request.customer_id} ({request.scopes}); review required",
                   {"grant_id": str(grant.id), "ticket": request.ticket or ""})
    return grant.id

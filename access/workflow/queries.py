"""What the console shows of the workflow: requests and grants as read-only views.

Every query authorizes its caller; nothing here changes a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from access.authz import Action
from access.context import Gatehouse
from access.errors import InvalidInput
from access.principal import Principal
from access.schema import AccessRequest, Approval, Grant, User
from access.workflow.grants import state
from access.workflow.policy import DataAction
from access.workflow.states import LIVE, GrantState, RequestStatus

__all__ = ["HISTORY", "GrantStanding", "GrantView", "QueueItem", "Remark", "RequestOutcome",
           "RequestStanding", "RequestView", "all_grants", "approval_queue", "my_grant_standing",
           "my_grants", "my_request_outcomes", "my_requests", "request_standing", "views"]

HISTORY = 10  # earlier requests shown beside a request in the approval queue


@dataclass(frozen=True)
class RequestView:
    id: int
    requester_id: int
    requester: str
    customer_id: str
    environment: str
    scopes: list[str]
    actions: list[str]
    duration: timedelta
    starts_at: datetime | None
    justification: str
    ticket: str | None
    status: RequestStatus
    approvals: int
    approvals_required: int
    created_at: datetime
    expires_at: datetime
    breakglass: bool
    policy_version: str

    @property
    def is_pending(self) -> bool:
        """Still waiting for a decision (as stored: the sweeper may not have come by)."""
        return self.status == RequestStatus.PENDING


@dataclass(frozen=True)
class QueueItem:
    request: RequestView
    history: list[RequestView]  # the requester's earlier requests for the same customer


@dataclass(frozen=True)
class GrantView:
    id: int
    request_id: int
    holder: str
    customer_id: str
    environment: str
    scopes: list[str]
    actions: list[str]
    starts_at: datetime
    ends_at: datetime
    ticket: str | None
    breakglass: bool
    state: GrantState
    needs_review: bool
    # break-glass only: the policy rules it skipped ("approvals: 2 distinct human approvers
    # for …"), for the review card; empty for a grant issued through approval
    bypassed: tuple[str, ...] = ()

    @property
    def is_live(self) -> bool:
        """Active or scheduled: it can still be used (or will be), released and revoked."""
        return self.state in LIVE

    def allows(self, action: DataAction) -> bool:
        return action in self.actions


def _request_views(db: Session, where: object, limit: int = 200) -> list[RequestView]:
    approvals = (select(func.count()).select_from(Approval)
                 .where(Approval.request_id == AccessRequest.id, Approval.decision == "approve")
                 .scalar_subquery())
    rows = db.execute(select(AccessRequest, User, approvals)
                      .join(User, User.id == AccessRequest.requester_id)
                      .where(where)  # type: ignore[arg-type]
                      .order_by(AccessRequest.created_at.desc(), AccessRequest.id.desc())
                      .limit(limit)).all()
    return [RequestView(r.id, r.requester_id, u.display_name or u.sub, r.customer_id,
                        r.environment, r.scopes.split(), r.actions.split(),
                        timedelta(seconds=r.duration_s), r.starts_at, r.justification,
                        r.ticket, RequestStatus(r.status), n, r.approvals_required,
                        r.created_at, r.expires_at, r.breakglass, r.policy_version)
            for r, u, n in rows]


def my_requests(gh: Gatehouse, principal: Principal) -> list[RequestView]:
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        return _request_views(db, AccessRequest.requester_id == principal.user_id)


def approval_queue(gh: Gatehouse, approver: Principal) -> list[QueueItem]:
    """Pending requests this approver may still decide (not their own, not yet voted on),
    oldest first, each with the requester's recent history with that customer."""
    gh.authorize(approver, Action.APPROVALS_VIEW)  # viewing needs no fresh code; deciding does
    voted = select(Approval.request_id).where(Approval.approver_id == approver.user_id)
    with gh.read() as db:
        pending = _request_views(db, (AccessRequest.status == RequestStatus.PENDING)
                                 & (AccessRequest.expires_at > gh.now())
                                 & (AccessRequest.requester_id != approver.user_id)
                                 & AccessRequest.id.not_in(voted))
        items = []
        for view in reversed(pending):
            history = _request_views(db, (AccessRequest.requester_id == view.requester_id)
                                     & (AccessRequest.customer_id == view.customer_id)
                                     & (AccessRequest.id != view.id), limit=HISTORY)
            items.append(QueueItem(view, history))
    return items


def _grant_view(grant: Grant, request: AccessRequest, holder: User, now: datetime
                ) -> GrantView:
    return GrantView(grant.id, grant.request_id, holder.display_name or holder.sub,
                     grant.customer_id, grant.environment, grant.scopes.split(),
                     grant.actions.split(), grant.starts_at, grant.ends_at, request.ticket,
                     grant.breakglass, state(grant, now),
                     grant.breakglass and grant.reviewed_at is None,
                     tuple((grant.bypassed or "").splitlines()))


def views(gh: Gatehouse, db: Session, where: object) -> list[GrantView]:
    """The grants matching `where`, latest ending first, in the caller's transaction."""
    rows = db.execute(select(Grant, AccessRequest, User)
                      .join(AccessRequest, AccessRequest.id == Grant.request_id)
                      .join(User, User.id == Grant.user_id)
                      .where(where).order_by(Grant.ends_at.desc())).all()  # type: ignore[arg-type]
    return [_grant_view(g, r, u, gh.now()) for g, r, u in rows]


def my_grants(gh: Gatehouse, principal: Principal) -> list[GrantView]:
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        return views(gh, db, Grant.user_id == principal.user_id)


def all_grants(gh: Gatehouse, admin: Principal, live_only: bool = True) -> list[GrantView]:
    """Grants for admins; by default those still live or awaiting a break-glass review."""
    gh.authorize(admin, Action.GRANTS_VIEW_ALL)
    with gh.read() as db:
        where = (Grant.revoked_at.is_(None) & Grant.released_at.is_(None)
                 & (Grant.ends_at > gh.now())) | (Grant.breakglass & Grant.reviewed_at.is_(None))
        return views(gh, db, where if live_only else Grant.id.is_not(None))


@dataclass(frozen=True)
class GrantStanding:
    """Whether a grant still holds, and if it was revoked, by whom and why: what an open data
    view re-checks (no customer data is read, nothing is logged)."""

    state: GrantState
    revoked_by: str | None
    revoke_reason: str | None
    ended_at: datetime | None


def my_grant_standing(gh: Gatehouse, principal: Principal, grant_id: int) -> GrantStanding:
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        grant = db.execute(select(Grant).where(Grant.id == grant_id,
                                               Grant.user_id == principal.user_id)
                           ).scalar_one_or_none()
        if grant is None:
            raise InvalidInput("grant", f"you hold no grant {grant_id}")
        revoker = None if grant.revoked_by is None else db.get_one(User, grant.revoked_by)
        return GrantStanding(state(grant, gh.now()),
                             None if revoker is None else revoker.display_name or revoker.sub,
                             grant.revoke_reason, _ended_at(grant, gh.now()))


def _ended_at(grant: Grant, now: datetime) -> datetime | None:
    """When a grant stopped holding (revoked, released or run out), or None while it holds."""
    return grant.revoked_at or grant.released_at or (grant.ends_at if now >= grant.ends_at
                                                      else None)


@dataclass(frozen=True)
class Remark:
    """What one person did to a request or its grant, in their words: a decision and its
    comment, a revocation and its reason, a break-glass review and its note."""

    who: str
    did: str           # "approved", "denied", "revoked", "reviewed"
    at: datetime
    words: str | None  # the comment, reason or note (None: an approval without comment)


@dataclass(frozen=True)
class RequestOutcome:
    """One of my requests as it stands now: for an approved one (break-glass included), its
    grant and that grant's state; every remark on it, oldest first."""

    request: RequestView
    grant_id: int | None
    grant_state: GrantState | None
    grant_ended_at: datetime | None  # revoked, released or run out; None while it holds
    remarks: tuple[Remark, ...]


def my_request_outcomes(gh: Gatehouse, principal: Principal) -> list[RequestOutcome]:
    """My requests, newest first (as `my_requests`), each with what became of it: who
    decided and what they said, and whether its grant still holds or who ended it and why."""
    gh.authorize(principal, Action.REQUEST_CREATE)
    with gh.read() as db:
        requests = _request_views(db, AccessRequest.requester_id == principal.user_id)
        ids = [r.id for r in requests]
        grants = {g.request_id: g for g in db.execute(select(Grant).where(
            Grant.request_id.in_(ids), Grant.user_id == principal.user_id)).scalars()}
        votes = db.execute(select(Approval).where(Approval.request_id.in_(ids))).scalars().all()
        people = _names(db, {v.approver_id for v in votes}
                        | {g.revoked_by for g in grants.values() if g.revoked_by}
                        | {g.reviewed_by for g in grants.values() if g.reviewed_by})
    remarks: dict[int, list[Remark]] = {i: [] for i in ids}
    for vote in votes:
        remarks[vote.request_id].append(Remark(
            people[vote.approver_id], "approved" if vote.decision == "approve" else "denied",
            vote.created_at, vote.comment))
    for request_id, grant in grants.items():
        if grant.revoked_at is not None and grant.revoked_by is not None:
            remarks[request_id].append(Remark(people[grant.revoked_by], "revoked",
                                              grant.revoked_at, grant.revoke_reason))
        if grant.reviewed_at is not None and grant.reviewed_by is not None:
            remarks[request_id].append(Remark(people[grant.reviewed_by], "reviewed",
                                              grant.reviewed_at, grant.review_note))
    now = gh.now()
    return [RequestOutcome(
        r, None if (g := grants.get(r.id)) is None else g.id,
        None if g is None else state(g, now), None if g is None else _ended_at(g, now),
        tuple(sorted(remarks[r.id], key=lambda m: m.at))) for r in requests]


@dataclass(frozen=True)
class RequestStanding:
    """Where a request stands now for one approver: what the Approvals page says when a card
    it still showed was decided meanwhile (in another tab, or by another approver)."""

    id: int
    status: RequestStatus        # now: a pending request past its time reads expired
    decided_by: str | None       # who made it final (approved or denied); None otherwise
    decided_at: datetime | None  # when it was decided, cancelled or expired
    my_vote: Remark | None       # this approver's own vote on it, if they cast one


def request_standing(gh: Gatehouse, approver: Principal, request_id: int) -> RequestStanding:
    """Request `request_id` as it stands for `approver` (read only, nothing logged)."""
    gh.authorize(approver, Action.APPROVALS_VIEW)
    with gh.read() as db:
        request = db.get(AccessRequest, request_id)
        if request is None:
            raise InvalidInput("request", f"there is no request {request_id}")
        vote = db.execute(select(Approval).where(
            Approval.request_id == request_id, Approval.approver_id == approver.user_id)
        ).scalar_one_or_none()
        decider = request.decided_by
        people = _names(db, {approver.user_id} | (set() if decider is None else {decider}))
        status, at = RequestStatus(request.status), request.decided_at
        if status == RequestStatus.PENDING and request.expires_at <= gh.now():
            status, at = RequestStatus.EXPIRED, request.expires_at  # the sweep is yet to come
        return RequestStanding(
            request.id, status, None if decider is None else people[decider], at,
            None if vote is None else Remark(
                people[approver.user_id], "approved" if vote.decision == "approve" else
                "denied", vote.created_at, vote.comment))


def _names(db: Session, user_ids: set[int]) -> dict[int, str]:
    """Display names (else subjects) of `user_ids`, in one query."""
    return {u.id: u.display_name or u.sub
            for u in db.execute(select(User).where(User.id.in_(user_ids))).scalars()}

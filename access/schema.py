"""Tables of the console database's access domain (the audit tables are `audit.schema`'s):

- identity: `User`, `ConsoleSession`, `MfaCredential`, `RecoveryCode`;
- workflow: `AccessRequest`, `Approval`, `Grant`, and the webhook outbox `Notification`;
- customer data: `PurgedCustomer` (the retention record) and `CustomerRestriction`;
- data-subject requests: `DataSubjectRequest`, `DsrRedaction`, `SubjectRestriction`.
- access reviews: `ReviewCampaign`, `ReviewItem`, `ReviewDecision`, and `RoleSuspension`
  (a role Gatehouse withholds from one user whatever the IdP's group claim says).

Every time is stored in UTC (`UtcDateTime`); Alembic (`migrations/`) owns the schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from audit.schema import NAMING


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on both engines (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC) if dialect.name != "sqlite" else \
            value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AccessBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(AccessBase):
    """A person, keyed by (issuer, subject) and never by email (ASVS 6.8.1)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("iss", "sub"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    iss: Mapped[str] = mapped_column(Text)
    sub: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class ConsoleSession(AccessBase):
    """A server-side session bound to one login (one ID token), revocable and timed out here,
    because Streamlit's own cookie lasts 30 days and logout only deletes it in one browser."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    login_key: Mapped[str] = mapped_column(Text, unique=True,
                                           comment="SHA-256 of the ID token of this login")
    roles: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    mfa_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    step_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str | None] = mapped_column(Text)


class MfaCredential(AccessBase):
    """A user's TOTP secret (AES-GCM sealed, bound to the user) and its anti-replay state."""

    __tablename__ = "mfa_credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_step: Mapped[int | None] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RecoveryCode(AccessBase):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AccessRequest(AccessBase):
    """A request for the narrowest access one ticket needs: one customer, some scopes and
    actions, for a while. Its `status` moves only along the state machine in
    access.workflow.states."""

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[str] = mapped_column(Text, index=True)
    environment: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, comment="space-separated, sorted")
    actions: Mapped[str] = mapped_column(Text, comment="space-separated, sorted")
    duration_s: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime,
                                                      comment="null: when approved")
    justification: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, index=True)
    approvals_required: Mapped[int] = mapped_column(Integer)
    breakglass: Mapped[bool] = mapped_column(default=False)
    policy_version: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="pending until then")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)


class Approval(AccessBase):
    """One approver's decision on one request; the unique pair makes N-of-M count people."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), index=True)
    approver_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    policy_version: Mapped[str] = mapped_column(Text)


class Grant(AccessBase):
    """Time-bound access issued on final approval (or break-glass). Active only within
    [starts_at, ends_at) and until revoked or released; checked against the clock on use."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[str] = mapped_column(Text, index=True)
    environment: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    breakglass: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expiry_recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expiring_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_note: Mapped[str | None] = mapped_column(Text)
    # break-glass only: the policy rules it skipped, one per line ("approvals: 2 …"), so the
    # reviewer sees what an approver would have been asked (migration 0008)
    bypassed: Mapped[str | None] = mapped_column(Text)


class Notification(AccessBase):
    """An outgoing webhook message (outbox): written in the transaction of the event it
    announces, delivered later, so a slow or failing receiver never blocks the workflow."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, comment="the JSON body to POST")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    given_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PurgedCustomer(AccessBase):
    """A customer whose data was purged after the retention period (and its key destroyed)."""

    __tablename__ = "purged_customers"

    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    terminated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    purged_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rows_deleted: Mapped[int] = mapped_column(Integer)


class CustomerRestriction(AccessBase):
    """A customer whose data may not be processed for now (GDPR Art. 18 restriction): while the
    row exists nothing is served, requested, approved or activated for that customer. Lifting
    deletes the row; the audit log keeps the history."""

    __tablename__ = "customer_restrictions"

    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    restricted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    restricted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DataSubjectRequest(AccessBase):
    """A data-subject request (GDPR Art. 15-21, CCPA) and the evidence of how it was answered.

    The subject is kept as the blind index of their email and a display hint, never the email
    (`access.data.subject_index`). The row is never deleted: it outlives an erasure of the
    subject's data as the record that the erasure happened. `status` is open →
    (awaiting_approval →) closed; every change is an audit event (`access.dsr`)."""

    __tablename__ = "dsr_requests"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Text)          # access, rectification, erasure, ...
    jurisdiction: Mapped[str] = mapped_column(Text)  # gdpr | ccpa
    environment: Mapped[str] = mapped_column(Text)
    subject_index: Mapped[str] = mapped_column(Text, index=True)
    subject_hint: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    extended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    extended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    extension_reason: Mapped[str | None] = mapped_column(Text)
    identity_state: Mapped[str] = mapped_column(Text)  # unverified | verified
    identity_method: Mapped[str | None] = mapped_column(Text)
    identity_verified_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    identity_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(Text, index=True)
    assignee_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    grounds: Mapped[str | None] = mapped_column(Text)  # an objection's grounds
    # a step waiting for a second person: rectify or erase, who proposed it, and (rectify) the
    # corrected values sealed under each customer's data key, never in clear
    pending_action: Mapped[str | None] = mapped_column(Text)
    pending_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    pending_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pending_sealed: Mapped[str | None] = mapped_column(Text)
    pending_fields: Mapped[str | None] = mapped_column(Text)  # their names, space-separated
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text, comment="JSON: tables, rows, event ids")
    due_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DsrRedaction(AccessBase):
    """One item of an access package withheld from the subject, with the recorded reason."""

    __tablename__ = "dsr_redactions"
    __table_args__ = (UniqueConstraint("dsr_id", "item"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    dsr_id: Mapped[int] = mapped_column(ForeignKey("dsr_requests.id"), index=True)
    item: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    redacted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    redacted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SubjectRestriction(AccessBase):
    """One contact row of one data subject under restriction of processing (GDPR Art. 18, or
    an open objection, Art. 21): the broker masks it and refuses to reveal or export it.
    Lifting deletes the row; the audit log keeps the history."""

    __tablename__ = "subject_restrictions"

    environment: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # each request holds its own: lifting one leaves another request's hold in force
    dsr_id: Mapped[int] = mapped_column(ForeignKey("dsr_requests.id"), primary_key=True,
                                        index=True)
    reason: Mapped[str] = mapped_column(Text)
    restricted_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    restricted_at: Mapped[datetime] = mapped_column(UtcDateTime)
class ReviewCampaign(AccessBase):
    """One access-review campaign: what is reviewed (`scopes`), by whom (`reviewer_ids`,
    resolved when it starts), until when, and what happens to items nobody reviewed.
    `status` moves only through access.reviews.states."""

    __tablename__ = "review_campaigns"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text, comment="space-separated scope names")
    reviewers: Mapped[str] = mapped_column(Text, comment='"admins" or a named group')
    reviewer_ids: Mapped[str] = mapped_column(Text, comment="space-separated user ids")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    look_back_days: Mapped[int] = mapped_column(Integer)
    remind_days: Mapped[str] = mapped_column(Text, comment="days before due, space-separated")
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    default_decision: Mapped[str] = mapped_column(Text, comment="keep or revoke")
    auto_apply: Mapped[bool] = mapped_column(Boolean)
    recur_months: Mapped[int] = mapped_column(Integer, comment="0: does not recur")
    status: Mapped[str] = mapped_column(Text, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # when and by whom it ended: closed, or cancelled (then with `cancel_reason`)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str | None] = mapped_column(Text, comment="JSON counts at close")
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("review_campaigns.id"))


class ReviewItem(AccessBase):
    """One thing to recertify: a person's role, or a policy rule (break-glass in an
    environment, a role's right to request there), with its evidence and recommendation."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("review_campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(Text, comment="role, approver, breakglass, request_rule")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                    comment="null: any reviewer")
    evidence: Mapped[str] = mapped_column(Text, comment="JSON")
    recommendation: Mapped[str] = mapped_column(Text, comment="keep or revoke")
    rule: Mapped[str] = mapped_column(Text, comment="the recommendation rule's name")
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    applied: Mapped[str | None] = mapped_column(Text, comment="what the decision changed")
    event_id: Mapped[int | None] = mapped_column(Integer, comment="the decision's audit event")


class ReviewDecision(AccessBase):
    """Every decision on an item, reassignments and defaults included (the item holds the
    last)."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    decision: Mapped[str] = mapped_column(Text, comment="keep, revoke, reassign")
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                   comment="null: the campaign default")
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[int] = mapped_column(Integer)


class RoleSuspension(AccessBase):
    """A role withheld from one user by a review: sign-in and `authorize()` drop it even
    while the IdP's group claim still carries it. `idp_cleared_at`: the first sign-in whose
    claim no longer carried the role (until then the IdP change is still to make)."""

    __tablename__ = "role_suspensions"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    suspended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    suspended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    idp_cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

"""The action vocabulary and, per action, the detail fields it may carry.

An allow-list rather than a deny-list: a field that is not named here is refused when the event
is built, so a TOTP code, a token, a cookie or a customer's field value can never reach the log by
accident (ASVS 16.2.5; the published promise "we don't log sensitive information").
Column names and counts may be logged; values never.
"""

from __future__ import annotations

import re
from enum import StrEnum

# A customer id: what the broker binds a query to, what a request names and what an auditor
# may filter by. Ids only, never free text, so neither a filter nor an event carries data.
# Here, at the bottom, so `access` and `audit` share one rule.
CUSTOMER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
CUSTOMER_ID_RULE = "must be a customer id: 1 to 64 letters, digits, - or _"


class Outcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    ERROR = "error"


_SESSION = frozenset({"session_age_s", "idle_s", "why"})
_MFA = frozenset({"failures", "locked_until", "method", "remaining_recovery_codes"})
_REQUEST = frozenset({"environment", "scopes", "actions", "duration_s", "starts_at", "approvals",
                      "approvals_required", "comment"})
_DATA = frozenset({"environment", "scope", "action", "columns", "row_count", "why", "format",
                   "first_row", "revealed"})
_REVIEW = frozenset({"campaign_id", "item_id", "field", "scopes", "items", "people",
                     "default_decision", "due_at", "decision", "recommendation", "rule",
                     "default", "role", "environment", "subject", "reviewer", "sessions_ended",
                     "change", "invariant", "kept", "revoked", "defaulted", "applied",
                     "next_campaign_id", "starts_at"})
_AUDIT = frozenset({"filters", "row_count", "format", "tree_size", "intact", "event_id"})
# data-subject requests: never the subject's email or a field's value, only what was done
_DSR = frozenset({"kind", "jurisdiction", "environment", "due_at", "status", "outcome", "fields",
                  "tables", "row_counts", "event_ids", "item", "method", "assignee", "why",
                  "format", "rows", "sha256", "redactions", "consultations", "upheld"})

ALLOWED_DETAILS: dict[str, frozenset[str]] = {
    # sign-in and sessions
    "auth.login": frozenset({"groups"}),
    "auth.login.failed": frozenset({"why"}),
    "auth.logout": _SESSION,
    "auth.session.expired": _SESSION,
    "auth.session.revoked": _SESSION,
    "auth.page.denied": frozenset({"page", "required_roles"}),
    "auth.no_role": frozenset({"groups"}),
    "user.disabled": frozenset({"sessions_revoked"}),
    "user.enabled": frozenset(),
    "auth.mfa.enrolled": _MFA,
    "auth.mfa.verified": _MFA,
    "auth.mfa.failed": _MFA,
    "auth.mfa.locked": _MFA,
    "auth.mfa.reset": _MFA,
    "auth.mfa.unlocked": _MFA,  # an admin lifted a lockout (target: the user)
    "auth.mfa.recovery_used": _MFA,
    "auth.mfa.step_up": _MFA,
    # requests, approvals, grants
    "request.created": _REQUEST,
    "request.approved": _REQUEST,
    "request.denied": _REQUEST,
    "request.cancelled": _REQUEST,
    "request.expired": _REQUEST,
    "grant.issued": _REQUEST,
    "grant.expired": _REQUEST,
    "grant.revoked": _REQUEST,
    "grant.released": _REQUEST,
    "breakglass.activated": _REQUEST,
    "breakglass.reviewed": _REQUEST,
    "notification.failed": frozenset({"event", "attempts", "status"}),
    # customer data
    "data.read": _DATA,
    "data.denied": _DATA,
    "data.revealed": _DATA,
    "data.exported": _DATA,
    "customer.purged": frozenset({"rows_deleted", "tables", "key_destroyed", "terminated_at"}),
    "customer.restricted": frozenset({"environment"}),
    "customer.restriction_lifted": frozenset({"environment"}),
    "key.rotated": frozenset({"keys_rewrapped"}),
    # data-subject requests (access.dsr); target_type "dsr", target_id the request's id
    **{f"dsr.{step}": _DSR for step in (
        "filed", "assigned", "identity_verified", "extended", "subject_read", "redacted",
        "released", "rectification_proposed", "erasure_proposed", "approved",
        "approval_rejected", "rectified", "erased", "restricted", "restriction_lifted",
        "exported", "objection_decided", "refused", "due_soon")},
    # the audit log itself
    "audit.searched": _AUDIT,
    "audit.exported": _AUDIT,
    "audit.verified": _AUDIT,
    "audit.proof": _AUDIT,
    # a customer's access-transparency report was generated (customer_id: whose; the period
    # as "since/until" in UTC; how many consultations it lists, and how many were too new)
    "transparency.reported": frozenset({"period", "row_count", "tree_size", "unsealed"}),
    # the sealer found a checkpoint row or file that does not verify, and went on without it
    "audit.sealer.skipped": frozenset({"source", "tree_size", "why"}),
    # a sealing batch held events dated before their predecessor (or the last checkpoint) by
    # more than the allowance: how many, the first ids; target_id, `behind_s`, `against`: the
    # first of them
    "audit.sealer.backdated": frozenset({"count", "event_ids", "behind_s", "against"}),
    "system.demo_seeded": frozenset({"customers", "events"}),
    # access reviews (issue 17): target_type "review_campaign" or "review_item"
    "review.campaign.scheduled": _REVIEW,
    "review.campaign.started": _REVIEW,
    "review.campaign.closed": _REVIEW,
    "review.campaign.cancelled": _REVIEW,
    "review.reminded": _REVIEW,
    "review.decided": _REVIEW,
    "review.reassigned": _REVIEW,
    "review.applied": _REVIEW,
}

ACTIONS: frozenset[str] = frozenset(ALLOWED_DETAILS)

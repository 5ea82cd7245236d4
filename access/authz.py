"""The one authorization choke point. Every service calls `require()` before it acts.

Pages hide what a role cannot do, but hiding is not enforcing (ASVS 8.3.1): the services refuse
on their own. The matrix below is the whole policy for console functions; data access under
grants is decided per grant, on top of this.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from access.errors import Denied, StepUpRequired
from access.principal import Principal, Role


class Action(StrEnum):
    VIEW_HOME = "home.view"
    USERS_VIEW = "users.view"
    USERS_DISABLE = "users.disable"
    USERS_ENABLE = "users.enable"
    MFA_RESET = "mfa.reset"
    AUDIT_VIEW = "audit.view"
    AUDIT_EXPORT = "audit.export"
    AUDIT_VERIFY = "audit.verify"
    REQUEST_CREATE = "request.create"
    REQUEST_CANCEL = "request.cancel"
    GRANT_RELEASE = "grant.release"
    BREAKGLASS_ACTIVATE = "breakglass.activate"
    REQUEST_DECIDE = "request.decide"
    APPROVALS_VIEW = "approvals.view"
    GRANT_REVOKE = "grant.revoke"
    GRANTS_VIEW_ALL = "grants.view_all"
    BREAKGLASS_REVIEW = "breakglass.review"
    DATA_READ = "data.read"
    DATA_REVEAL = "data.reveal"
    DATA_EXPORT = "data.export"
    RESTRICTIONS_VIEW = "restrictions.view"
    CUSTOMER_RESTRICT = "customer.restrict"
    REVIEWS_MANAGE = "reviews.manage"  # start and close access-review campaigns
    REVIEWS_CANCEL = "reviews.cancel"  # cancel a scheduled or running campaign (a fresh code)
    REVIEWS_CLOSE = "reviews.close"    # close a campaign early, defaults applied (a fresh code)
    REVIEWS_VIEW = "reviews.view"      # campaigns, their progress and evidence packs (read)
    REVIEW_DECIDE = "review.decide"    # keep, revoke or reassign an item one reviews
    TRANSPARENCY_REPORT = "transparency.report"
    # data-subject requests (GDPR Art. 15-21, CCPA): the privacy officer's work, and the second
    # person who approves a rectification or an erasure (never the person who filed it)
    DSR_VIEW = "dsr.view"
    DSR_FILE = "dsr.file"
    DSR_PROGRESS = "dsr.progress"
    DSR_RELEASE = "dsr.release"
    DSR_APPROVE = "dsr.approve"


R, A, U = Role.REQUESTER, Role.APPROVER, Role.AUDITOR
P = Role.PRIVACY_OFFICER  # no data.* and no request.*: it never reads customer data by grant

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_HOME: frozenset({R, A, U, P}),
    Action.USERS_VIEW: frozenset({A}),
    Action.USERS_DISABLE: frozenset({A}),
    Action.USERS_ENABLE: frozenset({A}),
    Action.MFA_RESET: frozenset({A}),
    Action.AUDIT_VIEW: frozenset({U}),
    Action.AUDIT_EXPORT: frozenset({U}),
    Action.AUDIT_VERIFY: frozenset({U}),
    Action.REQUEST_CREATE: frozenset({R}),
    Action.REQUEST_CANCEL: frozenset({R}),
    Action.GRANT_RELEASE: frozenset({R}),
    Action.BREAKGLASS_ACTIVATE: frozenset({R}),
    Action.REQUEST_DECIDE: frozenset({A}),
    Action.APPROVALS_VIEW: frozenset({A}),
    Action.GRANT_REVOKE: frozenset({A}),
    Action.GRANTS_VIEW_ALL: frozenset({A}),
    Action.BREAKGLASS_REVIEW: frozenset({A}),
    Action.DATA_READ: frozenset({R}),
    Action.DATA_REVEAL: frozenset({R}),
    Action.DATA_EXPORT: frozenset({R}),
    Action.RESTRICTIONS_VIEW: frozenset({A}),
    Action.CUSTOMER_RESTRICT: frozenset({A}),
    # a customer's access-transparency report: the auditor's and the privacy officer's
    Action.TRANSPARENCY_REPORT: frozenset({U, P}),
    Action.DSR_VIEW: frozenset({P, A}),
    Action.DSR_FILE: frozenset({P}),
    Action.DSR_PROGRESS: frozenset({P}),
    Action.DSR_RELEASE: frozenset({P}),
    Action.DSR_APPROVE: frozenset({A}),  # a second person, from another function
    Action.REVIEWS_MANAGE: frozenset({A}),
    Action.REVIEWS_CANCEL: frozenset({A}),
    Action.REVIEWS_CLOSE: frozenset({A}),
    Action.REVIEWS_VIEW: frozenset({A, U}),
    # which items a person reviews is the campaign's list of reviewers, checked per item
    Action.REVIEW_DECIDE: frozenset({R, A}),
}

# Sensitive actions need a TOTP code entered within the step-up window, not just at sign-in.
STEP_UP: frozenset[Action] = frozenset({Action.MFA_RESET, Action.USERS_DISABLE,
                                        Action.USERS_ENABLE, Action.AUDIT_EXPORT,
                                        Action.REQUEST_DECIDE, Action.BREAKGLASS_ACTIVATE,
                                        Action.DATA_REVEAL, Action.DATA_EXPORT,
                                        Action.CUSTOMER_RESTRICT, Action.DSR_RELEASE,
                                        Action.DSR_APPROVE, Action.REVIEW_DECIDE,
                                        Action.REVIEWS_CANCEL, Action.REVIEWS_CLOSE})


def allowed(principal: Principal, action: Action) -> bool:
    """Whether the principal's roles permit `action` at all (for hiding UI; not enforcement)."""
    return principal.mfa_verified and bool(principal.roles & PERMISSIONS[action])


def require(principal: Principal, action: Action, now: datetime, step_up: timedelta) -> None:
    """Raise `Denied` unless `principal` may perform `action` now, `StepUpRequired` when only a
    fresh code is missing.

    Order matters for the message a user sees: MFA first, then role, then step-up freshness.
    """
    if not principal.mfa_verified:
        raise Denied("sign-in is not complete: verify your authenticator code first")
    if not principal.roles & PERMISSIONS[action]:
        raise Denied(f"your role does not allow {action}")
    if action in STEP_UP and not principal.step_up_fresh(now, step_up):
        raise StepUpRequired(f"{action} needs a fresh authenticator code")

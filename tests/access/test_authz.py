"""The permission matrix: every action has a row, every role × action has an expected answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from access.authz import PERMISSIONS, STEP_UP, Action, allowed, require
from access.errors import Denied, StepUpRequired
from access.principal import Principal, Role

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)

# The specification, written out by hand: adding an Action without a row here fails the suite.
EXPECTED: dict[Action, set[Role]] = {
    Action.VIEW_HOME: {Role.REQUESTER, Role.APPROVER, Role.AUDITOR, Role.PRIVACY_OFFICER},
    Action.USERS_VIEW: {Role.APPROVER},
    Action.USERS_DISABLE: {Role.APPROVER},
    Action.USERS_ENABLE: {Role.APPROVER},
    Action.MFA_RESET: {Role.APPROVER},
    Action.AUDIT_VIEW: {Role.AUDITOR},
    Action.AUDIT_EXPORT: {Role.AUDITOR},
    Action.AUDIT_VERIFY: {Role.AUDITOR},
    Action.REQUEST_CREATE: {Role.REQUESTER},
    Action.REQUEST_CANCEL: {Role.REQUESTER},
    Action.GRANT_RELEASE: {Role.REQUESTER},
    Action.BREAKGLASS_ACTIVATE: {Role.REQUESTER},
    Action.REQUEST_DECIDE: {Role.APPROVER},
    Action.APPROVALS_VIEW: {Role.APPROVER},
    Action.GRANT_REVOKE: {Role.APPROVER},
    Action.GRANTS_VIEW_ALL: {Role.APPROVER},
    Action.BREAKGLASS_REVIEW: {Role.APPROVER},
    Action.DATA_READ: {Role.REQUESTER},
    Action.DATA_REVEAL: {Role.REQUESTER},
    Action.DATA_EXPORT: {Role.REQUESTER},
    Action.RESTRICTIONS_VIEW: {Role.APPROVER},
    Action.CUSTOMER_RESTRICT: {Role.APPROVER},
    Action.TRANSPARENCY_REPORT: {Role.AUDITOR, Role.PRIVACY_OFFICER},
    Action.DSR_VIEW: {Role.PRIVACY_OFFICER, Role.APPROVER},
    Action.DSR_FILE: {Role.PRIVACY_OFFICER},
    Action.DSR_PROGRESS: {Role.PRIVACY_OFFICER},
    Action.DSR_RELEASE: {Role.PRIVACY_OFFICER},
    Action.DSR_APPROVE: {Role.APPROVER},
    Action.REVIEWS_MANAGE: {Role.APPROVER},
    Action.REVIEWS_CANCEL: {Role.APPROVER},
    Action.REVIEWS_CLOSE: {Role.APPROVER},
    Action.REVIEWS_VIEW: {Role.APPROVER, Role.AUDITOR},
    Action.REVIEW_DECIDE: {Role.REQUESTER, Role.APPROVER},
}


def principal(*roles: Role, verified: bool = True, step_up_age: timedelta | None = None
              ) -> Principal:
    step_up = None if step_up_age is None else NOW - step_up_age
    return Principal(1, "https://idp", "sub", "Name", frozenset(roles), "s1",
                     NOW + timedelta(hours=1), NOW if verified else None, step_up)


def test_every_action_has_a_row_in_the_matrix_and_in_this_test() -> None:
    assert set(PERMISSIONS) == set(Action) == set(EXPECTED)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_role_action_matrix(role: Role, action: Action) -> None:
    who = principal(role, step_up_age=timedelta(seconds=1))
    if role in EXPECTED[action]:
        require(who, action, NOW, WINDOW)
        assert allowed(who, action)
    else:
        with pytest.raises(Denied):
            require(who, action, NOW, WINDOW)
        assert not allowed(who, action)


@pytest.mark.parametrize("action", list(Action))
def test_nothing_is_allowed_before_mfa(action: Action) -> None:
    who = principal(*Role, verified=False)
    with pytest.raises(Denied, match="authenticator"):
        require(who, action, NOW, WINDOW)


@pytest.mark.parametrize("action", sorted(STEP_UP))
def test_sensitive_actions_need_a_recent_code(action: Action) -> None:
    assert EXPECTED[action], f"{action} is step-up but nobody may do it"
    role = next(iter(EXPECTED[action]))
    with pytest.raises(StepUpRequired):
        require(principal(role), action, NOW, WINDOW)
    with pytest.raises(StepUpRequired):
        require(principal(role, step_up_age=WINDOW), action, NOW, WINDOW)
    require(principal(role, step_up_age=WINDOW - timedelta(seconds=1)), action, NOW, WINDOW)


def test_no_role_means_nothing() -> None:
    nobody = replace(principal(), roles=frozenset())
    assert not any(allowed(nobody, a) for a in Action)


def test_the_privacy_officer_can_never_request_or_read_customer_data_by_grant() -> None:
    """Issue 16: the privacy officer works on data-subject requests; grants are not theirs."""
    officer = principal(Role.PRIVACY_OFFICER, step_up_age=timedelta(seconds=1))
    for action in (Action.REQUEST_CREATE, Action.BREAKGLASS_ACTIVATE, Action.DATA_READ,
                   Action.DATA_REVEAL, Action.DATA_EXPORT, Action.REQUEST_DECIDE):
        assert not allowed(officer, action)

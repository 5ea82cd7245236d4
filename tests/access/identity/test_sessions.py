"""Server-side sessions: bound to one login, timed out, revocable; users keyed by (iss, sub)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from access.context import Gatehouse
from access.errors import Denied
from access.identity.oidc import InvalidIdToken
from access.identity.sessions import NoRole, SessionEnded, UserDisabled, logout, resume
from access.identity.users import disable, enable
from access.principal import Role
from access.schema import User
from audit.schema import events_table
from tests.support.identity_helpers import FakeClock, LocalIdP, sign_in
from tests.support.mfa_helpers import signed_in_with_mfa


def actions(gh: Gatehouse) -> list[str]:
    with gh.engine.connect() as conn:
        return list(conn.execute(select(events_table.c.action).order_by(events_table.c.id))
                    .scalars())


def test_first_login_creates_user_and_session_and_is_audited(gh: Gatehouse, idp: LocalIdP
                                                             ) -> None:
    principal = sign_in(gh, idp, "sam", "requester")
    assert principal.roles == {Role.REQUESTER}
    assert not principal.mfa_verified
    assert actions(gh) == ["auth.login"]


def test_the_same_login_resumes_the_same_session(gh: Gatehouse, idp: LocalIdP) -> None:
    token = idp.token("sam", ["support"])
    assert resume(gh, token).session_id == resume(gh, token).session_id
    assert actions(gh) == ["auth.login"]


def test_a_new_login_gets_a_new_session(gh: Gatehouse, idp: LocalIdP) -> None:
    assert sign_in(gh, idp, "sam").session_id != sign_in(gh, idp, "sam").session_id


def test_users_are_keyed_by_issuer_and_subject_not_email(gh: Gatehouse, idp: LocalIdP) -> None:
    first = resume(gh, idp.token("sam", ["support"], email="shared@example.com"))
    second = resume(gh, idp.token("mallory", ["support"], email="shared@example.com"))
    assert first.user_id != second.user_id


def test_a_replayed_cookie_after_logout_is_refused(gh: Gatehouse, idp: LocalIdP) -> None:
    token = idp.token("sam", ["support"])
    logout(gh, resume(gh, token))
    with pytest.raises(SessionEnded, match="signed out"):
        resume(gh, token)
    assert actions(gh) == ["auth.login", "auth.logout"]


def test_idle_timeout_ends_the_session(gh: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    token = idp.token("sam", ["support"])
    resume(gh, token)
    clock.advance(minutes=29)
    resume(gh, token)  # activity keeps it alive
    clock.advance(minutes=29)
    resume(gh, token)
    clock.advance(minutes=30)
    with pytest.raises(SessionEnded, match="idle timeout"):
        resume(gh, token)
    assert actions(gh)[-1] == "auth.session.expired"


def test_absolute_lifetime_ends_even_an_active_session(gh: Gatehouse, idp: LocalIdP,
                                                       clock: FakeClock) -> None:
    token = idp.token("sam", ["support"])
    resume(gh, token)
    ended: SessionEnded | None = None
    for _ in range(12 * 3):
        clock.advance(minutes=20)
        try:
            resume(gh, token)
        except SessionEnded as exc:
            ended = exc
            break
    assert ended is not None, "the session outlived its absolute lifetime"
    assert "absolute lifetime" in str(ended)
    assert clock.now.hour == 21  # 12 h after 09:00


def test_an_expired_token_cannot_start_a_session(gh: Gatehouse, idp: LocalIdP,
                                                 clock: FakeClock) -> None:
    token = idp.token("sam", ["support"])
    clock.advance(minutes=10)
    with pytest.raises(InvalidIdToken, match="expired"):
        resume(gh, token)
    assert actions(gh) == ["auth.login.failed"]


def test_a_user_without_a_mapped_group_gets_no_session(gh: Gatehouse, idp: LocalIdP) -> None:
    with pytest.raises(NoRole):
        resume(gh, idp.token("nova", ["marketing"]))
    assert actions(gh) == ["auth.no_role"]


def test_disabling_a_user_revokes_every_session_at_once(gh: Gatehouse, idp: LocalIdP) -> None:
    admin = signed_in_with_mfa(gh, idp, "ada", "approver")
    laptop, phone = idp.token("sam", ["support"]), idp.token("sam", ["support"])
    sam = resume(gh, laptop)
    resume(gh, phone)
    assert disable(gh, admin, sam.user_id, "left the company") == 2
    for token in (laptop, phone):
        with pytest.raises(SessionEnded):
            resume(gh, token)
    with pytest.raises(UserDisabled):
        resume(gh, idp.token("sam", ["support"]))
    enable(gh, admin, sam.user_id, "came back")
    assert resume(gh, idp.token("sam", ["support"])).user_id == sam.user_id


def test_only_admins_disable_and_never_themselves(gh: Gatehouse, idp: LocalIdP) -> None:
    admin = signed_in_with_mfa(gh, idp, "ada", "approver")
    support = signed_in_with_mfa(gh, idp, "sam", "requester")
    with pytest.raises(Denied):
        disable(gh, support, admin.user_id, "revenge")
    with pytest.raises(Denied):
        disable(gh, admin, admin.user_id, "oops")
    with gh.read() as db:
        assert db.execute(select(User.disabled_at)).scalars().all() == [None, None]


def test_one_refused_token_is_one_event_however_often_it_returns(
        gh_any: Gatehouse, idp: LocalIdP, clock: FakeClock) -> None:
    """Every rerun and reload of the page presents the refused token again."""
    gh = gh_any
    expired = idp.token("sam", ["support"])
    clock.advance(minutes=10)
    nova = idp.token("nova", ["marketing"])
    for _ in range(3):
        with pytest.raises(InvalidIdToken, match="expired"):
            resume(gh, expired)
        with pytest.raises(NoRole):
            resume(gh, nova)
    assert actions(gh) == ["auth.login.failed", "auth.no_role"]

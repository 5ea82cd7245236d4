"""The console through Streamlit's AppTest, signed in with real tokens from a real local
OpenID provider: each role sees only its pages, a page reached without the role refuses, and
sign-in is not complete without the second factor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from access.schema import MfaCredential, User
from audit.engine import make_engine
from audit.schema import events_table
from tests.support.console_helpers import console, form_button, signed_in, submit_code
from tests.support.console_helpers import enrolled as enrolled  # test_console_dsr imports it


def audit_actions(data_dir: Path) -> list[str]:
    engine = make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")
    with engine.connect() as conn:
        found = list(conn.execute(select(events_table.c.action).order_by(events_table.c.id))
                     .scalars())
    engine.dispose()
    return found


def test_signed_out_visitors_see_only_the_sign_in_button(oidc: str, data_dir: Path) -> None:
    at = console(oidc).run()
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.exception and not at.dataframe


def test_first_sign_in_enrolls_an_authenticator_then_shows_recovery_codes(
        oidc: str, data_dir: Path) -> None:
    at = signed_in(console(oidc), oidc, "sam.support").run()
    assert at.title[0].value == "Two-step verification"
    assert len(at.get("image")) == 1  # the QR code
    secret = at.code[0].value
    submit_code(at, "enroll_code", secret)
    codes = at.code[0].value.splitlines()
    assert len(codes) == 10 and secret not in at.code[0].value
    next(b for b in at.button if b.label == "Continue").click().run()
    assert at.title[0].value == "Welcome, Sam Support"
    assert audit_actions(data_dir) == ["auth.login", "auth.mfa.enrolled", "auth.mfa.verified"]


def test_a_wrong_code_does_not_let_anyone_in(oidc: str, data_dir: Path) -> None:
    at = signed_in(console(oidc), oidc, "sky.support").run()
    at.text_input(key="enroll_code").input("000000")
    form_button(at, "enroll_code").click().run()
    at.text_input(key="enroll_code").input("12345x")
    form_button(at, "enroll_code").click().run()
    assert at.title[0].value == "Two-step verification"
    assert "must be exactly 6 digits" in at.error[0].value


@pytest.mark.parametrize(("sub", "pages", "hidden"), [
    ("sam.support", ["console/pages/home.py"], ["console/pages/users.py",
                                                "console/pages/audit_log.py"]),
    ("ada.admin", ["console/pages/users.py"], ["console/pages/audit_log.py"]),
    ("audrey.auditor", ["console/pages/audit_log.py"], ["console/pages/users.py"]),
])
def test_each_role_reaches_only_its_pages(oidc: str, data_dir: Path, sub: str,
                                          pages: list[str], hidden: list[str]) -> None:
    at = enrolled(oidc, sub)
    for page in pages:
        at.switch_page(page).run()
        assert not at.exception and not at.error, (page, at.error)
    for page in hidden:
        # not registered in this role's navigation
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page).run()


@pytest.mark.parametrize(("sub", "page"), [("sam.support", "console/pages/users.py"),
                                           ("sam.support", "console/pages/audit_log.py"),
                                           ("ada.admin", "console/pages/audit_log.py")])
def test_a_page_opened_without_its_role_refuses_and_is_audited(oidc: str, data_dir: Path,
                                                               sub: str, page: str) -> None:
    at = enrolled(oidc, sub)
    token_user = at.user
    direct = console(oidc, page)
    direct.user = token_user
    direct.run()
    assert "Not allowed" in direct.error[0].value
    assert not direct.dataframe and not direct.metric
    assert audit_actions(data_dir)[-1] == "auth.page.denied"


def test_a_user_without_a_mapped_group_is_told_so_and_nothing_else(oidc: str,
                                                                  data_dir: Path) -> None:
    at = signed_in(console(oidc), oidc, "nova.nogroup").run()
    assert "none of your groups grants a Gatehouse role" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"]
    assert audit_actions(data_dir) == ["auth.no_role"]


def test_admin_disables_a_user_whose_session_then_ends(oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support")
    admin = enrolled(oidc, "ada.admin")
    admin.switch_page("console/pages/users.py").run()
    labels = admin.selectbox[0].options
    admin.selectbox[0].select(next(o for o in labels if "sam.support" in o))
    admin.radio[0].set_value("Disable")
    admin.text_input[0].input("left the company")
    form_button(admin, "user_action").click().run()
    assert "signed out everywhere" in admin.info[0].value  # a confirmation, nothing done yet
    assert "user.disabled" not in audit_actions(data_dir)
    next(b for b in admin.button if b.label == "Confirm").click().run()
    assert "1 session(s) ended" in admin.success[0].value
    sam.run()
    assert "user disabled" in sam.error[0].value
    assert [b.label for b in sam.button] == ["Sign out"]  # signing in again would be refused
    assert audit_actions(data_dir)[-1] == "user.disabled"  # the session ended with it


def test_after_an_mfa_reset_the_person_is_offered_to_sign_in_again(oidc: str,
                                                                   data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support")
    admin = enrolled(oidc, "ada.admin")
    admin.switch_page("console/pages/users.py").run()
    admin.selectbox[0].select(next(o for o in admin.selectbox[0].options if "sam." in o))
    admin.radio[0].set_value("Reset authenticator")
    admin.text_input[0].input("lost his phone")
    form_button(admin, "user_action").click().run()
    next(b for b in admin.button if b.label == "Confirm").click().run()
    sam.run()
    assert "your session has ended (mfa reset); sign in again" in sam.error[0].value
    assert [b.label for b in sam.button] == ["Sign in again", "Sign out"]


def test_users_shows_a_locked_account_and_its_roles_and_an_admin_unlocks_it(
        oidc: str, data_dir: Path) -> None:
    enrolled(oidc, "sam.support")
    engine = make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")
    until = datetime.now(UTC) + timedelta(minutes=15)
    with engine.begin() as conn:  # as five wrong codes would leave it
        sam_id = conn.execute(select(User.id).where(User.sub == "sam.support")).scalar_one()
        conn.execute(update(MfaCredential).where(MfaCredential.user_id == sam_id)
                     .values(locked_until=until))
    engine.dispose()
    admin = enrolled(oidc, "ada.admin")
    admin.switch_page("console/pages/users.py").run()
    table = admin.dataframe[0].value.set_index("subject")
    assert table.loc["sam.support", "account"] == f"locked until {until:%H:%M} UTC"
    assert (table.loc["sam.support", "roles"], table.loc["ada.admin", "roles"]) == (
        "requester", "approver")
    assert table.loc["ada.admin", "account"] == "active"

    unlock = next(s for s in admin.selectbox if s.label == "Locked account")
    assert unlock.options == [f"Sam Support (sam.support), locked until {until:%H:%M} UTC"]
    unlock.select(unlock.options[0])
    next(t for t in admin.text_input if t.label.startswith("Reason for unlocking")).input(
        "typed his old phone's codes, SUP-88")
    form_button(admin, "unlock").click().run()
    assert "Confirm:** Unlock Sam Support" in admin.info[0].value  # just enrolled: fresh code
    assert "auth.mfa.unlocked" not in audit_actions(data_dir)
    next(b for b in admin.button if b.label == "Confirm").click().run()
    assert admin.success[0].value == ("Unlocked Sam Support \\(sam\\.support\\); they can enter "
                                      "a code again.")
    assert admin.dataframe[0].value.set_index("subject").loc["sam.support", "account"] == \
        "active"
    assert not any(s.label == "Locked account" for s in admin.selectbox)
    assert audit_actions(data_dir)[-1] == "auth.mfa.unlocked"

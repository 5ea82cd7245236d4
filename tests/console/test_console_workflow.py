"""Request, approve and hold a grant through the console pages (AppTest, real provider)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from access.schema import ConsoleSession, User
from audit.engine import make_engine
from audit.schema import events_table
from audit.vocabulary import CUSTOMER_ID_RULE
from tests.support.console_helpers import enrolled
from tests.support.console_helpers import labelled as labelled  # test_no_secrets_in_logs imports it


def file_request(at: AppTest, customer: str, justification: str) -> AppTest:
    labelled(at.text_input, "Customer id").input(customer)
    labelled(at.text_input, "Ticket").input("SUP-2001")
    labelled(at.multiselect, "Data scopes").select("subscriptions")
    labelled(at.text_area, "Justification").input(justification)
    ran: AppTest = labelled(at.button, "Submit request").click().run()
    return ran


def confirm(at: AppTest) -> AppTest:
    """Click the one Confirm of the confirmation on screen."""
    buttons = [b for b in at.button if b.label == "Confirm"]
    assert len(buttons) == 1, [b.label for b in at.button]
    ran: AppTest = buttons[0].click().run()
    return ran


def contacts_granted(oidc: str, ticket: str, actions: tuple[str, ...] = ()
                     ) -> tuple[AppTest, AppTest]:
    """sam asks for cust-0042's contacts under `ticket` (reading, and `actions`) and ada
    approves: (sam, ada)."""
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    labelled(sam.text_input, "Customer id").input("cust-0042")
    labelled(sam.text_input, "Ticket").input(ticket)
    labelled(sam.multiselect, "Data scopes").select("contacts")
    for action in actions:
        labelled(sam.multiselect, "Actions").select(action)
    labelled(sam.text_area, "Justification").input(f"{ticket}: confirm who the admin contact is")
    labelled(sam.button, "Submit request").click().run()
    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    confirm(labelled(ada.button, "Approve").click().run())
    return sam, ada


def logged(data_dir: Path, after: int = 0) -> list[tuple[str, str]]:
    """(action, outcome) of the audit events after id `after`, without sign-in and codes."""
    with make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}").connect() as conn:
        rows = conn.execute(select(events_table.c.action, events_table.c.outcome)
                            .where(events_table.c.id > after).order_by(events_table.c.id))
        return [(a, o) for a, o in rows if not a.startswith("auth.")]


def last_event_id(data_dir: Path) -> int:
    with make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}").connect() as conn:
        return int(conn.execute(select(events_table.c.id).order_by(events_table.c.id.desc())
                                .limit(1)).scalar() or 0)


def age_step_up(data_dir: Path, sub: str) -> None:
    """`sub`'s sessions last confirmed a code an hour ago: the next sensitive action asks."""
    with make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}").begin() as conn:
        user_id = conn.execute(select(User.id).where(User.sub == sub)).scalar_one()
        conn.execute(update(ConsoleSession).where(ConsoleSession.user_id == user_id)
                     .values(step_up_at=datetime.now(UTC) - timedelta(hours=1)))


def asks_nothing(at: AppTest) -> bool:
    """No confirmation and no code form on screen."""
    return not [b for b in at.button if b.label in ("Confirm", "Confirm with code")] and \
        not [t for t in at.text_input if t.label == "6-digit code"]


def test_support_requests_an_admin_approves_and_support_holds_the_grant(
        oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    assert "Request 1 filed" in sam.success[0].value

    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    assert "cust-0042" in ada.markdown[0].value
    labelled(ada.button, "Approve").click().run()  # a fresh code: still confirmed first
    assert ada.info[0].value.startswith("**Confirm:** Approve request 1 for Sam Support")
    assert "The last approval needed (1 of 1): the grant is issued at once" in ada.info[0].value
    assert not ada.success and not [t for t in ada.text_input if t.label == "6-digit code"]
    confirm(ada)
    assert "Request 1: approved (1/1 approvals)" in ada.success[0].value

    sam.switch_page("console/pages/my_access.py").run()
    grant_line = next(m.value for m in sam.markdown if "Grant 1" in m.value)
    assert "cust-0042" in grant_line and "active" in grant_line and "left" in grant_line


def test_bad_request_input_names_the_field_and_files_nothing(oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    file_request(sam, "cust 42; DROP TABLE grants", "SUP-2001: renewal failed, check it")
    assert [e.value for e in sam.error] == [CUSTOMER_ID_RULE]  # under the customer field
    file_request(sam, "cust-0042", "short")
    assert [e.value for e in sam.error] == [
        "is too short: at least 10 characters (this has 5) saying why the ticket needs this"]
    sam.switch_page("console/pages/my_access.py").run()
    assert sam.dataframe[0].value.empty


def test_justifications_are_shown_as_text_never_as_markup(oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    payload = "SUP-2001 <img src=x onerror=alert(1)> **bold** [link](http://evil)"
    file_request(sam, "cust-0042", payload)
    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    assert [t.value for t in ada.text] == [payload]  # st.text: rendered verbatim
    assert all("<img" not in m.value for m in ada.markdown)


def test_support_reads_masked_customer_data_under_the_grant(oidc: str, data_dir: Path) -> None:
    sam, _ = contacts_granted(oidc, "SUP-2002")

    sam.switch_page("console/pages/customer_data.py").run()
    assert not sam.exception, sam.exception
    assert not sam.dataframe and not sam.table  # opening the page reads nothing
    labelled(sam.button, "Read").click().run()
    contacts = sam.table[0].value  # a few rows: a plain table
    assert set(contacts["customer_id"]) == {"cust-0042"}
    assert all(email.startswith("•••@") for email in contacts["email"])  # the domain only
    assert "left. Every read is logged." in sam.caption[0].value
    assert f"All {len(contacts)} rows of contacts are shown." in sam.caption[1].value


def restriction(at: AppTest, decision: str, customer: str, reason: str) -> AppTest:
    """Fill the restriction form and Apply; confirm when it asks (a bad input: it does not)."""
    labelled(at.radio, "Decision").set_value(decision)
    labelled(at.text_input, "Customer id").input(customer)
    labelled(at.text_input, "Reason (required)").input(reason)
    ran: AppTest = labelled(at.button, "Apply").click().run()
    return confirm(ran) if [b for b in ran.button if b.label == "Confirm"] else ran


def test_an_admin_restricts_a_customer_and_support_is_refused_until_it_is_lifted(
        oidc: str, data_dir: Path) -> None:
    sam, ada = contacts_granted(oidc, "SUP-2003")

    ada.switch_page("console/pages/restrictions.py").run()
    assert "No customer is restricted" in ada.info[0].value
    restriction(ada, "Restrict", "", "data subject contests accuracy")
    assert "customer" in ada.error[0].value and "letters, digits" in ada.error[0].value
    assert asks_nothing(ada)  # refused at the button: no confirmation, no code
    restriction(ada, "Restrict", "cust-0042", "data subject contests accuracy")
    assert "Restricted customer `cust-0042`" in ada.success[0].value
    assert list(ada.dataframe[0].value["customer"]) == ["cust-0042"]

    sam.switch_page("console/pages/customer_data.py").run()
    labelled(sam.button, "Read").click().run()
    assert "cust-0042 is restricted" in sam.error[0].value and not sam.table

    restriction(ada, "Lift", "cust-0042", "accuracy confirmed with the customer")
    assert "Lifted the restriction" in ada.success[0].value
    labelled(sam.button, "Read").click().run()
    assert set(sam.table[0].value["customer_id"]) == {"cust-0042"}


def test_my_access_says_why_a_grant_was_revoked_and_cancelling_asks_first(
        oidc: str, data_dir: Path) -> None:
    sam, ada = contacts_granted(oidc, "SUP-2004")
    ada.switch_page("console/pages/grants.py").run()
    labelled(ada.selectbox, "Grant").select(labelled(ada.selectbox, "Grant").options[0])
    labelled(ada.text_input, "Reason (required)").input("Ticket SUP-2004 closed")
    labelled(ada.button, "Revoke").click().run()
    labelled(ada.button, "Confirm").click().run()
    sam.switch_page("console/pages/request_access.py").run()
    file_request(sam, "cust-0043", "SUP-2001: renewal failed, check the subscription")

    sam.switch_page("console/pages/my_access.py").run()
    assert "Grant 1 on customer `cust-0042` (ticket SUP\\-2004) was revoked by Ada Admin at " \
        in sam.warning[0].value and "“Ticket SUP\\-2004 closed”" in sam.warning[0].value
    table = sam.dataframe[0].value
    assert list(table["state"]) == ["pending (0/1 approvals)",
                                    "approved (1/1 approvals); grant 1 revoked"]
    assert list(table["what happened"]) == [
        "-", "Ada Admin approved; Ada Admin revoked: “Ticket SUP-2004 closed”"]
    [box] = sam.selectbox
    # (the form was emptied after the first request: only the scope chosen now)
    assert box.options == ["Request 2 · customer cust-0043 · ticket SUP-2001 · "
                           "subscriptions: read"]
    box.select(box.options[0])
    labelled(sam.button, "Cancel request").click().run()
    assert "**Confirm:** Cancel request 2 (customer cust\\-0043" in sam.info[-1].value  # asks
    assert sam.dataframe[0].value["state"].iloc[0] == "pending (0/1 approvals)"
    labelled(sam.button, "Confirm").click().run()
    assert sam.success[0].value == "Request 2 cancelled; it has left the approvers' queue."
    assert sam.dataframe[0].value["state"].iloc[0] == "cancelled"
    assert not sam.selectbox  # nothing left to cancel


def test_required_input_is_refused_at_its_button_before_any_code_or_confirmation(
        oidc: str, data_dir: Path) -> None:
    """Reveal, revoke, disable and deny with their required input missing, with a stale code:
    each is refused at its button naming the field and rule; no code form, no confirmation,
    nothing changes, and the log holds what the service leaves for that input (the broker's
    one denial; nothing from the others)."""
    sam, ada = contacts_granted(oidc, "SUP-2004", actions=("reveal",))
    age_step_up(data_dir, "sam.support")
    age_step_up(data_dir, "ada.admin")
    start = last_event_id(data_dir)

    sam.switch_page("console/pages/customer_data.py").run()
    labelled(sam.button, "Read").click().run()
    labelled(sam.button, "Reveal").click().run()  # no column, no reason
    assert [e.value for e in sam.error] == [
        "**columns**: choose at least one revealable column"]
    assert asks_nothing(sam)
    assert logged(data_dir, start) == [("data.read", "success"), ("data.denied", "denied")]

    ada.switch_page("console/pages/grants.py").run()
    labelled(ada.selectbox, "Grant").set_value(1)
    labelled(ada.button, "Revoke").click().run()  # no reason
    assert [e.value for e in ada.error] == ["**reason**: must be 3 to 500 characters"]
    assert asks_nothing(ada)

    ada.switch_page("console/pages/users.py").run()
    labelled(ada.selectbox, "User").set_value(_user_id(data_dir, "sam.support"))
    labelled(ada.radio, "Action").set_value("Disable")
    labelled(ada.button, "Apply").click().run()
    assert [e.value for e in ada.error] == ["**reason**: must be 3 to 500 characters"]
    assert asks_nothing(ada)
    assert logged(data_dir, start) == [("data.read", "success"), ("data.denied", "denied")]


def _user_id(data_dir: Path, sub: str) -> int:
    with make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}").connect() as conn:
        return int(conn.execute(select(User.id).where(User.sub == sub)).scalar_one())


def test_a_decision_is_confirmed_naming_its_comment_and_a_changed_comment_withdraws_it(
        oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    age_step_up(data_dir, "ada.admin")
    start = last_event_id(data_dir)
    labelled(ada.button, "Deny").click().run()  # no comment: refused before any code
    assert [e.value for e in ada.error] == [
        "**comment**: is required when denying: say why (3+ characters)"]
    assert asks_nothing(ada)

    labelled(ada.text_input, "Comment").input("wrong customer").run()
    labelled(ada.button, "Deny").click().run()  # stale: the code first, then confirm
    assert [t for t in ada.text_input if t.label == "6-digit code"]
    labelled(ada.text_input, "Comment").input("the ticket names cust-0041").run()
    assert ada.warning[0].value.startswith("Withdrawn: Comment changed after you asked")
    assert asks_nothing(ada)
    ada.run()  # it stays said until the next action
    assert ada.warning[0].value.startswith("Withdrawn: Comment changed after you asked")
    assert logged(data_dir, start) == []  # nothing was decided

    sam.switch_page("console/pages/my_access.py").run()
    assert list(sam.dataframe[0].value["state"]) == ["pending (0/1 approvals)"]


def test_a_card_decided_meanwhile_says_so_when_clicked_and_goes(oidc: str,
                                                               data_dir: Path) -> None:
    """Ada's page still shows request 1 when Alan approves it; her click on it decides
    nothing and says who decided it and when, and the card is gone."""
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    alan = enrolled(oidc, "alan.admin", "console/pages/approvals.py")
    confirm(labelled(alan.button, "Approve").click().run())
    start = last_event_id(data_dir)
    labelled(ada.button, "Approve").click().run()  # on her stale card
    said = [w.value for w in ada.warning if "Request 1" in w.value]
    assert len(said) == 1, [w.value for w in ada.warning]
    assert said[0].startswith("Request 1 was already decided (approved by Alan Admin at ")
    assert said[0].endswith(" UTC); nothing was changed.")
    assert "Nothing waiting for you." in [i.value for i in ada.info]
    assert asks_nothing(ada) and not [b for b in ada.button if b.label == "Approve"]
    assert logged(data_dir, start) == []
    ada.run()  # said once, on the run of the click
    assert not [w for w in ada.warning if "Request 1" in w.value]


def test_a_filed_request_empties_the_form_and_the_same_request_again_is_refused(
        oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    labelled(sam.multiselect, "Actions").select("export")
    labelled(sam.multiselect, "Data scopes").select("contacts").run()
    assert "**Needs 2 approvers** other than you (export raises it from 1)" in \
        sam.info[0].value  # said before submitting
    labelled(sam.multiselect, "Actions").unselect("export").run()
    assert "**Needs 1 approver** other than you before" in sam.info[0].value

    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    assert "Request 1 filed" in sam.success[0].value
    assert [labelled(sam.text_input, n).value for n in ("Customer id", "Ticket")] == ["", ""]
    assert labelled(sam.multiselect, "Data scopes").value == []
    assert labelled(sam.text_area, "Justification").value == ""

    start = last_event_id(data_dir)
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    assert "you already asked for this: your request 1 for customer cust-0042" in \
        sam.warning[0].value
    assert logged(data_dir, start) == [("request.created", "denied")]
    sam.switch_page("console/pages/my_access.py").run()
    assert len(sam.dataframe[0].value) == 1


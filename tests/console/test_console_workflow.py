"""Request, approve and hold a grant through the console pages (AppTest, real provider)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

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


def contacts_granted(oidc: str, ticket: str) -> tuple[AppTest, AppTest]:
    """sam asks for cust-0042's contacts under `ticket` and ada approves: (sam, ada)."""
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    labelled(sam.text_input, "Customer id").input("cust-0042")
    labelled(sam.text_input, "Ticket").input(ticket)
    labelled(sam.multiselect, "Data scopes").select("contacts")
    labelled(sam.text_area, "Justification").input(f"{ticket}: confirm who the admin contact is")
    labelled(sam.button, "Submit request").click().run()
    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    labelled(ada.button, "Approve").click().run()
    return sam, ada


def test_support_requests_an_admin_approves_and_support_holds_the_grant(
        oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support", "console/pages/request_access.py")
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    assert "Request 1 filed" in sam.success[0].value

    ada = enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    assert "cust-0042" in ada.markdown[0].value
    labelled(ada.button, "Approve").click().run()
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
        "is required: 10 to 1000 characters saying why the ticket needs this"]
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
    labelled(at.radio, "Decision").set_value(decision)
    labelled(at.text_input, "Customer id").input(customer)
    labelled(at.text_input, "Reason (required)").input(reason)
    ran: AppTest = labelled(at.button, "Apply").click().run()
    return ran


def test_an_admin_restricts_a_customer_and_support_is_refused_until_it_is_lifted(
        oidc: str, data_dir: Path) -> None:
    sam, ada = contacts_granted(oidc, "SUP-2003")

    ada.switch_page("console/pages/restrictions.py").run()
    assert "No customer is restricted" in ada.info[0].value
    restriction(ada, "Restrict", "", "data subject contests accuracy")
    assert "customer" in ada.error[0].value and "letters, digits" in ada.error[0].value
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
    # (the form kept the scope of the first request, and added the one chosen now)
    assert box.options == ["Request 2 · customer cust-0043 · ticket SUP-2001 · contacts, "
                           "subscriptions: read"]
    box.select(box.options[0])
    labelled(sam.button, "Cancel request").click().run()
    assert "**Confirm:** Cancel request 2 (customer cust\\-0043" in sam.info[-1].value  # asks
    assert sam.dataframe[0].value["state"].iloc[0] == "pending (0/1 approvals)"
    labelled(sam.button, "Confirm").click().run()
    assert sam.success[0].value == "Request 2 cancelled; it has left the approvers' queue."
    assert sam.dataframe[0].value["state"].iloc[0] == "cancelled"
    assert not sam.selectbox  # nothing left to cancel

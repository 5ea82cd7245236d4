"""Home says what waits for the person, per role, with a link to where they act, and opening
it records nothing (AppTest, real provider)."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.console.test_console_workflow import confirm, file_request, last_event_id
from tests.support.console_helpers import enrolled, labelled


def links(at: AppTest) -> list[tuple[str, str]]:
    """(label, url path) of each page link on the page, top down."""
    return [(link.value, link.proto.page) for link in at.page_link]


def calm(at: AppTest) -> bool:
    return "Nothing waits for you." in [m.value for m in at.markdown]


def test_home_says_what_waits_for_each_role_links_where_to_act_and_logs_nothing(
        oidc: str, data_dir: Path) -> None:
    sam = enrolled(oidc, "sam.support")
    assert calm(sam) and links(sam) == []
    sam.switch_page("console/pages/request_access.py").run()
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    sam.switch_page("console/pages/home.py").run()
    assert links(sam) == [("1 request of yours waits for approval → My access", "my-access")]

    ada = enrolled(oidc, "ada.admin")
    [(label, target)] = links(ada)
    assert re.fullmatch(r"1 request waits for your decision, lapses undecided at "
                        r"(\d{4}-\d\d-\d\d )?\d\d:\d\d UTC → Approvals", label), label
    assert target == "approvals" and not calm(ada)
    audrey = enrolled(oidc, "audrey.auditor")
    assert calm(audrey) and links(audrey) == [
        ("Check the audit log's integrity → Verify", "audit-verify")]

    before = last_event_id(data_dir)
    for person in (sam, ada, audrey):
        person.run()  # Home again: reading what waits is not an event
        assert not person.exception
    assert last_event_id(data_dir) == before

    ada.switch_page("console/pages/approvals.py").run()
    confirm(labelled(ada.button, "Approve").click().run())
    ada.switch_page("console/pages/home.py").run()
    assert calm(ada) and links(ada) == []
    sam.switch_page("console/pages/home.py").run()
    [(label, target)] = links(sam)
    assert re.fullmatch(r"1 live grant, ends at (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC → Customer data",
                        label), label
    assert target == "data"

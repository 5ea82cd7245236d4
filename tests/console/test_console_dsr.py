"""The DSR page through Streamlit's AppTest, signed in as the privacy officer with a real
token from the local OpenID provider, over the demo customer data: file a request, verify the
identity, prepare the access package and release it; assign a request to another privacy
officer; an admin sees the page, the requester does not."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from access.data.customer_db.schema import Contact
from access.data.envelope import data_key, master_key_from_env, open_value
from audit.engine import make_engine
from tests.console.test_console import audit_actions, enrolled
from tests.support.console_helpers import form_button


def an_email(data_dir: Path) -> str:
    engine = make_engine(f"sqlite:///{data_dir / 'customers-production.db'}")
    with engine.connect() as conn:
        contact_id, sealed = conn.execute(select(Contact.id, Contact.email).where(
            Contact.customer_id == "cust-0042").order_by(Contact.id)).first() or (0, b"")
        key = data_key(conn, master_key_from_env(), "cust-0042")
    engine.dispose()
    return open_value(key, "cust-0042", "contacts", "email", contact_id, sealed)


def test_the_privacy_officer_files_verifies_prepares_and_releases(oidc: str,
                                                                  data_dir: Path) -> None:
    at = enrolled(oidc, "pia.privacy")
    at.switch_page("console/pages/dsr.py").run()
    assert not at.exception and at.title[0].value == "Data-subject requests"
    email = an_email(data_dir)
    at.text_input[0].input(email)  # the filing form: right "access", GDPR by default
    form_button(at, "dsr_file").click().run()
    assert not at.exception and not at.error, at.error
    assert at.subheader[0].value.startswith("Request 1: access")
    assert email not in str(at.table[0].value.to_dict())
    method = next(t for t in at.text_input if "identity" in t.label)
    method.input("replied from the address on file")
    form_button(at, "dsr_1_verify").click().run()
    assert "Identity recorded as verified." in at.success[0].value
    next(b for b in at.button if b.label.startswith("Prepare")).click().run()
    assert email in str(at.dataframe[0].value.to_dict())
    next(b for b in at.button if b.label == "Release the package").click().run()
    assert not at.error, at.error
    assert any("Released request 1" in s.value for s in at.success)
    actions = audit_actions(data_dir)
    assert actions[-1] == "dsr.released" and "dsr.subject_read" in actions


@pytest.mark.parametrize(("sub", "sees"), [("ada.admin", True), ("sam.support", False)])
def test_admins_see_the_page_and_support_does_not(oidc: str, data_dir: Path, sub: str,
                                                  sees: bool) -> None:
    at = enrolled(oidc, sub)
    if sees:
        at.switch_page("console/pages/dsr.py").run()
        assert not at.exception and not at.error
        assert not [f for f in at.get("form") if getattr(f, "form_id", "") == "dsr_file"]
        return
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("console/pages/dsr.py").run()


def test_the_privacy_officer_assigns_a_request_to_another_officer(oidc: str,
                                                                   data_dir: Path) -> None:
    """Only privacy officers who have signed in are offered; the list, the request's facts
    and the log say who works it now."""
    pete = {"email": "pete.privacy@example.test", "name": "Pete Privacy", "groups": ["privacy"]}
    assert httpx.put(f"{oidc}/users/pete.privacy", json=pete, timeout=10).status_code == 204
    enrolled(oidc, "pete.privacy")  # Pete signed in once: Gatehouse saw his role
    enrolled(oidc, "ada.admin")  # an admin is no privacy officer: not offered
    at = enrolled(oidc, "pia.privacy")
    at.switch_page("console/pages/dsr.py").run()
    at.text_input[0].input(an_email(data_dir))
    form_button(at, "dsr_file").click().run()
    assert list(at.table[0].value["assignee"]) == ["Pia Privacy"]
    officer = next(s for s in at.selectbox if s.label == "Privacy officer")
    assert list(officer.options) == ["Pete Privacy"]  # not Pia herself, not Ada
    next(t for t in at.text_input if t.label == "Reason (optional)").input("Pete covers EMEA")
    next(b for b in at.button if b.label == "Assign").click().run()
    assert not at.exception and not at.error, at.error
    assert "Request 1 assigned to Pete Privacy." in [s.value for s in at.success]
    assert list(at.table[0].value["assignee"]) == ["Pete Privacy"]
    assert any("assigned to **Pete Privacy**" in c.value for c in at.caption)  # the facts
    assert audit_actions(data_dir)[-1] == "dsr.assigned"

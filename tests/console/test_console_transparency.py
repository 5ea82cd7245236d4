"""The Transparency report page through Streamlit's AppTest, signed in at a real local OpenID
provider: the auditor generates a customer's report, its three downloads are offered, a rerun
writes no second event; the privacy officer does the same without any other auditor page;
and nobody else can open the page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from access.authz import allowed
from access.principal import Principal, Role
from audit.checkpoint import generate_keypair, load_private_key
from audit.engine import make_engine
from audit.proved import verify
from audit.schema import events_table
from audit.sealer import seal_pending
from audit.settings import load_settings
from console.app import PAGES
from tests.support.audit_history import History
from tests.support.console_helpers import console, signed_in, submit_code

PAGE = "console/pages/audit_transparency.py"
# Constructed histories lie in the real past: the auditor's own events are stamped by the real
# clock and must be the newest, as in production (as in test_console_audit.py).
PAST = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture
def engine(data_dir: Path) -> Engine:
    settings = load_settings()
    generate_keypair(settings.signing_key_path, settings.public_key_path)
    return make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")


def enrolled(oidc: str, sub: str, page: str | None = None) -> AppTest:
    at = signed_in(console(oidc), oidc, sub).run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    return at.switch_page(page).run() if page else at


def labelled(widgets: Any, label: str) -> Any:
    return next(w for w in widgets if w.label == label)


def recorded(engine: Engine, action: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(events_table).where(events_table.c.action == action)
                            .order_by(events_table.c.id)).mappings().all()
    return [dict(r) for r in rows]


def seal(engine: Engine) -> None:
    settings = load_settings()
    seal_pending(engine, load_private_key(settings.signing_key_path), settings.checkpoint_dir)


def test_the_auditor_generates_and_downloads_a_report(oidc: str, engine: Engine) -> None:
    h = History(engine, PAST)
    h.add("request.created", "sam", customer_id="cust-7", request_id="7", ticket="SUP-7",
          reason="Renewal failed for the customer")
    wanted = [h.read("sam", timedelta(minutes=i + 1), grant="7", customer="cust-7",
                     ticket="SUP-7") for i in range(2)]
    h.read("sky", timedelta(minutes=5), grant="8", customer="cust-8")
    seal(engine)
    at = enrolled(oidc, "audrey.auditor", PAGE)
    assert not at.exception and "Type a customer id" in at.info[0].value
    labelled(at.text_input, "Customer").input("cust-7")
    labelled(at.button, "Generate").click().run()
    assert not at.exception
    assert "2 consultation(s)" in at.success[0].value
    assert [getattr(b, "label", None) for b in at.get("download_button")] == [
        "Download report (JSON)", "Download report (HTML)", "Download opening (names staff)"]
    table = at.dataframe[0].value
    assert list(table["event"]) == wanted and set(table["staff"]) == {"Staff A"}
    assert set(table["justification"]) == {"Renewal failed for the customer"}
    at.run()  # a rerun (as a download causes) shows the same report, records nothing new
    reports = recorded(engine, "transparency.reported")
    assert [(e["actor_sub"], e["customer_id"], e["details"]["row_count"]) for e in reports] \
        == [("audrey.auditor", "cust-7", 2)]
    state = at.session_state["transparency_report"]
    public = load_private_key(load_settings().signing_key_path).public_key()
    assert verify(json.loads(state.document), public, json.loads(state.opening)).ok


def test_bad_input_is_explained_and_recorded(oidc: str, engine: Engine) -> None:
    seal(engine)
    at = enrolled(oidc, "audrey.auditor", PAGE)
    labelled(at.text_input, "Customer").input("cust 7")
    labelled(at.button, "Generate").click().run()
    assert "customer" in at.error[0].value and not at.get("download_button")
    assert [e["outcome"] for e in recorded(engine, "transparency.reported")] == ["denied"]


@pytest.mark.parametrize("sub", ["sam.support", "ada.admin"])
def test_others_cannot_open_the_page(oidc: str, engine: Engine, sub: str) -> None:
    at = enrolled(oidc, sub)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE).run()
    direct = console(oidc, PAGE)
    direct.user = at.user
    direct.run()
    assert "Not allowed" in direct.error[0].value
    assert not direct.get("download_button") and not recorded(engine, "transparency.reported")


def _only_auditors(page: tuple[Any, ...]) -> bool:
    def holding(role: Role) -> Principal:
        return Principal(1, "iss", "sub", "name", frozenset({role}), "s", PAST, PAST, None)
    return allowed(holding(Role.AUDITOR), page[-1]) and \
        not allowed(holding(Role.PRIVACY_OFFICER), page[-1])


def test_the_privacy_officer_generates_and_downloads_without_other_auditor_pages(
        oidc: str, engine: Engine) -> None:
    h = History(engine, PAST)
    wanted = h.read("sam", timedelta(minutes=1), grant="7", customer="cust-7")
    seal(engine)
    at = enrolled(oidc, "pia.privacy", PAGE)
    assert not at.exception and at.title[0].value == "Transparency report"
    labelled(at.text_input, "Customer").input("cust-7")
    labelled(at.button, "Generate").click().run()
    assert not at.exception and not at.error, at.error
    assert "1 consultation(s)" in at.success[0].value
    assert len(at.get("download_button")) == 3
    assert list(at.dataframe[0].value["event"]) == [wanted]
    state = at.session_state["transparency_report"]
    public = load_private_key(load_settings().signing_key_path).public_key()
    assert verify(json.loads(state.document), public, json.loads(state.opening)).ok
    assert [(e["actor_sub"], e["actor_roles"], e["outcome"])
            for e in recorded(engine, "transparency.reported")] == [
        ("pia.privacy", "privacy_officer", "success")]
    auditors_only = [p[0] for p in PAGES if _only_auditors(p)]
    assert "console/pages/audit_log.py" in auditors_only
    for other in auditors_only:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(other).run()

"""Behind the console under test: the same database and keys, driven through the services.

A browser test uses this to set the scene quickly (people enrolled, a grant issued) and to read
what the audit log recorded; everything a test asserts about the page still happens in the
browser. Time is real, so two test-only levers replace waiting: `forget_last_code` (the next code
of the current time step is accepted again) and `age_step_up` (the next sensitive action asks for
a fresh code).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from access import runtime
from access.context import Gatehouse
from access.identity import totp
from access.ops.demo import Persona, _enrolled
from access.principal import Principal
from access.schema import ConsoleSession, MfaCredential, User
from access.workflow import create_request, decide_request
from audit.schema import events_table
from tests.e2e.conftest import wait_for_app
from tests.e2e.flows import sign_in


@dataclass
class Backstage:
    gh: Gatehouse
    issuer: str
    people: dict[str, Persona]
    grant_id: int = 0  # the scene's grant, when the test's fixture made one

    def enroll(self, sub: str) -> Persona:
        """`sub` exists and has an active authenticator (as if enrolled earlier)."""
        self.people[sub] = _enrolled(self.gh, self.issuer, sub)
        return self.people[sub]

    def sign_in(self, page: Page, url: str, sub: str) -> None:
        """Sign an enrolled `sub` in through the provider and the code screen."""
        sign_in(page, url, sub)
        self.enter_code(page, sub, "Verify")
        expect(page.get_by_role("heading", name="Two-step verification")).to_have_count(0)
        wait_for_app(page)

    def code(self, sub: str) -> str:
        """A code the console accepts now (the last used step is forgotten first)."""
        self.forget_last_code(sub)
        return totp.code_at_step(self.people[sub].secret, totp.time_step(time.time()))

    def enter_code(self, page: Page, sub: str, button: str) -> None:
        page.get_by_label("6-digit code").fill(self.code(sub))
        page.get_by_role("button", name=button, exact=True).click()

    def _user_id(self, sub: str) -> int:
        with self.gh.read() as db:
            return db.execute(select(User.id).where(User.sub == sub)).scalar_one()

    def forget_last_code(self, sub: str) -> None:
        with self.gh.write() as db:
            db.execute(update(MfaCredential).where(MfaCredential.user_id == self._user_id(sub))
                       .values(last_step=None))

    def age_step_up(self, sub: str) -> None:
        """Every session of `sub` last confirmed a code an hour ago."""
        with self.gh.write() as db:
            db.execute(update(ConsoleSession)
                       .where(ConsoleSession.user_id == self._user_id(sub))
                       .values(step_up_at=self.gh.now() - timedelta(hours=1)))

    def principal(self, sub: str) -> Principal:
        return self.people[sub].principal

    def request(self, holder: str, **draft: Any) -> int:
        return create_request.create(self.gh, self.principal(holder),
                                     create_request.RequestDraft(**draft))

    def grant(self, holder: str, approvers: list[str], **draft: Any) -> int:
        """A request by `holder`, approved by `approvers` until a grant is issued; its id."""
        request_id = self.request(holder, **draft)
        for admin in approvers:
            decision = decide_request.decide(self.gh, self.principal(admin), request_id, True,
                                             "checked the ticket")
            if decision.grant_id is not None:
                return decision.grant_id
        raise AssertionError(f"request {request_id} was not granted")

    def actions(self, prefix: str = "", after: int = 0) -> list[str]:
        """The audit log's actions (id > `after`) starting with `prefix`, oldest first."""
        e = events_table.c
        with self.gh.engine.connect() as conn:
            rows = conn.execute(select(e.action).where(e.id > after).order_by(e.id)).scalars()
            return [a for a in rows if a.startswith(prefix)]

    def events(self, prefix: str = "", after: int = 0) -> list[dict[str, Any]]:
        """The audit log's events (id > `after`) whose action starts with `prefix`, oldest
        first, each as a dict of its columns, its details as a dict."""
        with self.gh.engine.connect() as conn:
            rows = conn.execute(select(events_table).where(events_table.c.id > after)
                                .order_by(events_table.c.id)).mappings().all()
        return [{**row, "details": json.loads(row["details"])
                 if isinstance(row["details"], str) else row["details"]}
                for row in rows if row["action"].startswith(prefix)]

    def await_actions(self, wanted: list[str], prefix: str = "", after: int = 0,
                      seconds: float = 30) -> None:
        """Wait until the log holds exactly `wanted` (see `actions`): the server's own word
        that a click was handled, where the screen cannot tell an old message from a new one."""
        deadline = time.monotonic() + seconds
        while (seen := self.actions(prefix, after)) != wanted:
            assert time.monotonic() < deadline, f"the log holds {seen}, not {wanted}"
            time.sleep(0.2)

    def last_event_id(self) -> int:
        e = events_table.c
        with self.gh.engine.connect() as conn:
            return int(conn.execute(select(e.id).order_by(e.id.desc()).limit(1)).scalar() or 0)


def backstage_for(url: str, tmp_path: Path, idp: str,
                  monkeypatch: pytest.MonkeyPatch) -> Backstage:
    """The services over the data dir `start_console` made for the console at `url`."""
    data = tmp_path / f"console-{url.rsplit(':', 1)[1]}" / "data"
    for name in [n for n in os.environ if n.startswith("GATEHOUSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(data))
    return Backstage(runtime.build_for_cli(), idp, {})

"""No sensitive value in any log (ASVS 16.2.5; A6 33; the promise "we don't log sensitive
information"): the whole golden path runs, every secret it handled is collected, then every
place something is written for people to read is searched for them.

Secrets: TOTP seeds (and their otpauth URIs), every TOTP code typed, every recovery code
(as shown and normalised), every ID token (payload and signature), and the customer's
personal data the run revealed. Places: every audit row, the webhook outbox, the auditor's
CSV and JSONL exports, the verifiable bundle, what `python -m audit` prints, every log record
of every logger at DEBUG (SQLAlchemy's statements included), and captured stdout/stderr.

Already covered, not repeated: no TOTP secret or code in audit rows after MFA alone
(tests/access/identity/test_mfa.py), revealed values not in the log
(tests/access/data/test_broker.py), webhook URLs never recorded
(tests/access/workflow/test_notify.py)."""

from __future__ import annotations

import logging
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

from access import oversight
from access.context import Gatehouse
from access.data import broker
from access.identity import mfa, totp, users
from access.identity.sessions import logout, resume
from access.principal import Principal
from access.schema import Notification
from access.workflow import break_glass, create_request, decide_request, grants, notify, sweep
from audit.engine import make_engine
from audit.export_stream import ExportFormat
from audit.schema import events_table
from tests.adversarial.support import PYTHON, ROOT, cli_env
from tests.console.test_console_workflow import file_request, labelled
from tests.support.console_helpers import console, signed_in, submit_code
from tests.support.data_helpers import attach_customer_data
from tests.support.databases import Database
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.mfa_helpers import code_now
from tests.support.workflow_helpers import draft


@dataclass
class Secrets:
    """Everything sensitive the run handled, as it could appear in text."""

    values: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)  # six digits: searched as whole numbers

    def token(self, token: str) -> str:
        _, payload, signature = token.split(".")
        self.values |= {payload, signature}
        return token

    def recovery(self, codes: list[str]) -> None:
        self.values |= set(codes) | {c.replace("-", "") for c in codes}

    def leaks(self, text: str) -> list[str]:
        found = [v[:12] + "…" for v in self.values if v in text]
        digits = _MICROSECONDS.sub("µs", text)  # real clocks log six-digit microseconds
        found += [c for c in self.codes if re.search(rf"(?<![0-9A-Za-z]){c}(?![0-9A-Za-z])",
                                                     digits)]
        return sorted(found)


# The fraction of an ISO time ("…:06.521956") and the microsecond argument of a datetime repr
# ("…, 8, 6, 521956, tzinfo"): six digits that are not codes.
_MICROSECONDS = re.compile(r"(?<=:\d\d\.)\d{6}|(?<=\d, )\d{1,6}(?=, tzinfo)")


class Person:
    """A person signing in and typing codes through the real services, collecting secrets."""

    def __init__(self, gh: Gatehouse, idp: LocalIdP, clock: FakeClock, secrets: Secrets,
                 sub: str, groups: list[str]) -> None:
        self.gh, self.idp, self.clock, self.s = gh, idp, clock, secrets
        self.sub, self.groups = sub, groups
        self.principal = self.login()
        enrollment = mfa.begin_enrollment(gh, self.principal)
        self.secret = enrollment.secret
        secrets.values |= {enrollment.secret, enrollment.uri}
        self.principal, codes = mfa.activate(gh, self.principal, self.code(0))
        secrets.recovery(codes)
        self.recovery_codes = codes

    def login(self) -> Principal:
        token = self.s.token(self.idp.token(self.sub, self.groups))
        return resume(self.gh, token, "198.51.100.7", "Mozilla/5.0 (golden path)")

    def code(self, ahead: int = 1) -> str:
        code = code_now(self.gh, self.secret, ahead)
        self.s.codes.add(code)
        return code

    def step_up(self) -> Principal:
        self.clock.advance(seconds=30)
        self.principal = mfa.verify_code(self.gh, self.principal, self.code())
        return self.principal


def golden_path(gh: Gatehouse, idp: LocalIdP, clock: FakeClock, s: Secrets,
                tmp_path: Path) -> None:
    """Sign-in with MFA, a request approved by two admins, reads, a reveal, an export, a
    recovery code, break-glass and its review, revocation, release, disabling and enabling,
    an authenticator reset, sign-out, the auditor's searches and exports, the sweeper."""
    sam = Person(gh, idp, clock, s, "sam", ["support"])
    sky = Person(gh, idp, clock, s, "sky", ["support"])
    ada = Person(gh, idp, clock, s, "ada", ["admins"])
    alan = Person(gh, idp, clock, s, "alan", ["admins"])
    audrey = Person(gh, idp, clock, s, "audrey", ["auditors"])
    request_id = create_request.create(gh, sam.principal, draft(
        customer_id="cust-0001", scopes=["contacts", "account"],
        actions=["read", "reveal", "export"], duration=timedelta(hours=2)))
    decide_request.decide(gh, ada.step_up(), request_id, approve=True, comment="ticket checked")
    grant_id = decide_request.decide(gh, alan.step_up(), request_id, approve=True).grant_id
    assert grant_id is not None
    for scope in ("contacts", "account"):
        broker.read(gh, sam.principal, grant_id, "cust-0001", scope)
    revealed = broker.reveal(gh, sam.step_up(), grant_id, "cust-0001", "contacts",
                             ["contacts.full_name", "contacts.email", "contacts.phone"],
                             "customer asked us to confirm their contact details")
    personal = {str(v) for column in ("full_name", "email", "phone")
                for v in revealed.tables["contacts"][column] if v}
    assert len(personal) >= 3 and broker.MASK not in personal
    s.values |= personal
    exported = broker.export_csv(gh, sam.step_up(), grant_id, "cust-0001", "contacts")
    assert b"cust-0001" in exported
    phone_lost = sam.login()  # a new login, the phone lost: a recovery code instead
    mfa.use_recovery_code(gh, phone_lost, sam.recovery_codes[4])
    glass = break_glass.activate(gh, sky.step_up(), draft(
        customer_id="cust-0002", scopes=["account"], duration=timedelta(minutes=30)),
        "production outage INC-42, customer cannot log in")
    break_glass.review(gh, ada.principal, glass, "outage confirmed in INC-42")
    grants.revoke(gh, ada.principal, glass, "outage over")
    grants.release(gh, sam.principal, grant_id)
    users.disable(gh, ada.principal, sky.principal.user_id, "on leave")
    users.enable(gh, ada.principal, sky.principal.user_id, "back from leave")
    mfa.reset(gh, ada.step_up(), sky.principal.user_id, "new phone, ticket SUP-9")
    flt = oversight.event_filter(customer="cust-0001")
    oversight.search(gh, audrey.principal, flt)
    oversight.customer_access(gh, audrey.principal, "cust-0001")
    for fmt in (ExportFormat.CSV, ExportFormat.JSONL):
        oversight.export_events(gh, audrey.step_up(), oversight.event_filter(), fmt,
                               tmp_path / "exports" / fmt.value)
    clock.advance(hours=3)
    sweep.expire_pending(gh)
    sweep.record_expiries(gh)
    sent: list[bytes] = []

    def post(url: str, body: bytes) -> int:
        sent.append(body)
        return 200

    notify.deliver_pending(gh, "https://hooks.example/secret", post)
    assert sent
    logout(gh, sam.principal)


def everything_written(gh: Gatehouse, tmp_path: Path) -> dict[str, str]:
    with gh.engine.connect() as conn:
        rows = conn.execute(select(events_table)).mappings().all()
        outbox = conn.execute(select(Notification.payload)).scalars().all()
    written = {f"audit row {r['id']}": repr(dict(r)) for r in rows}
    written |= {f"webhook {i}": p for i, p in enumerate(outbox)}
    for path in sorted((tmp_path / "exports").rglob("*")) + sorted(
            (tmp_path / "bundle").rglob("*")):
        if path.is_file():
            written[str(path.relative_to(tmp_path))] = path.read_text(errors="replace")
    return written


def test_the_golden_path_logs_no_code_seed_token_or_personal_data(
        gh: Gatehouse, idp: LocalIdP, clock: FakeClock, sqlite_db: Database, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, and SQLAlchemy's statements and rows too
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # (it pins its own root at WARN)
    gh = attach_customer_data(gh, tmp_path, clock)
    secrets = Secrets()
    golden_path(gh, idp, clock, secrets, tmp_path)
    env = cli_env(sqlite_db.url, tmp_path / "cli")
    printed = []
    for args in (["keygen"], ["seal"], ["verify"], ["export", "--out", str(tmp_path / "bundle")],
                 ["proof", "3"]):
        done = subprocess.run([PYTHON, "-m", "audit", *args], env=env, cwd=ROOT, text=True,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        printed.append(done.stdout + done.stderr)
    written = everything_written(gh, tmp_path)
    written["log records"] = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}"
                                       for r in caplog.records)
    captured = capfd.readouterr()
    written["captured output"] = captured.out + captured.err
    written["python -m audit"] = "\n".join(printed)
    assert len(written) > 40 and len(caplog.records) > 100  # the places really were filled
    assert any("INSERT INTO audit_events" in r.getMessage() for r in caplog.records)
    leaks = {place: found for place, text in written.items() if (found := secrets.leaks(text))}
    assert leaks == {}


def test_the_search_finds_a_planted_secret(gh: Gatehouse, idp: LocalIdP) -> None:
    """The scan itself can fail: a code, a seed or a token planted in text is found."""
    secrets = Secrets(values={"JBSWY3DPEHPK3PXP"}, codes={"123456"})
    token = secrets.token(idp.token("sam", ["support"]))
    assert secrets.leaks("code=123456;") == ["123456"]
    assert secrets.leaks("step 91234567 ts 1234567") == []  # a longer number is not a code
    assert secrets.leaks("at 15:08:06.123456+00:00, datetime(2026, 1, 1, 0, 0, 0, 123456, "
                         "tzinfo=UTC)") == []  # nor are microseconds
    assert secrets.leaks(f"Authorization: Bearer {token}")
    assert secrets.leaks("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")


def test_the_console_golden_path_logs_no_code_seed_or_token(
        oidc: str, data_dir: Path, caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    """The same, through the pages (a real OpenID provider, Streamlit's AppTest): what
    Streamlit logs and prints while people enroll, request, approve and read."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    secrets = Secrets()
    sam = console_enrolled(oidc, "sam.support", "console/pages/request_access.py", secrets)
    file_request(sam, "cust-0042", "SUP-2001: renewal failed, check the subscription")
    ada = console_enrolled(oidc, "ada.admin", "console/pages/approvals.py", secrets)
    labelled(ada.button, "Approve").click().run()
    labelled(ada.button, "Confirm").click().run()  # every decision is confirmed
    assert "approved" in ada.success[0].value
    sam.switch_page("console/pages/customer_data.py").run()
    labelled(sam.button, "Read").click().run()  # reads happen only when asked for
    assert not sam.exception and (sam.table or sam.dataframe)  # a short page: a plain table
    with make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}").connect() as conn:
        rows = [repr(dict(r)) for r in conn.execute(select(events_table)).mappings()]
    captured = capfd.readouterr()
    ours = [r for r in caplog.records if not r.name.startswith(IDENTITY_PROVIDER_LOGGERS)]
    written = {"audit rows": "\n".join(rows), "captured output": captured.out + captured.err,
               "log records": "\n".join(f"{r.name} {r.getMessage()}" for r in ours)}
    assert len(rows) >= 8 and ours
    assert {place: found for place, text in written.items()
            if (found := secrets.leaks(text))} == {}


# The test's identity provider runs in this process; in production it is another service.
# (Its Authlib server logs every issued token at DEBUG, which is why it must never share a
# process or a log pipeline with anything else.)
IDENTITY_PROVIDER_LOGGERS = ("authlib.oauth2.rfc6749.grants", "authlib.oidc.core.grants",
                             "oidc_provider_mock", "werkzeug")


def console_enrolled(oidc: str, sub: str, page: str, secrets: Secrets) -> AppTest:
    """Sign in at the provider, enroll through the page, collect every secret shown."""
    at = signed_in(console(oidc), oidc, sub).run()
    secrets.token(at.user["tokens"]["id"])
    seed = at.code[0].value
    secrets.values.add(seed)
    step = totp.time_step(time.time())
    secrets.codes |= {totp.code_at_step(seed, step + k) for k in (-1, 0, 1, 2)}
    submit_code(at, "enroll_code", seed)
    secrets.recovery(at.code[0].value.splitlines())
    next(b for b in at.button if b.label == "Continue").click().run()
    return at.switch_page(page).run()


def test_a_database_error_does_not_quote_the_values_it_was_given(
        gh_any: Gatehouse, caplog: pytest.LogCaptureFixture) -> None:
    """Error text reaches logs and, before the console caught it, screens: it names the
    statement but never the bound values (a revealed email, a TOTP seed being sealed)."""
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    with pytest.raises(DBAPIError) as failed, gh_any.engine.connect() as conn:
        conn.execute(text("SELECT :value AS v FROM no_such_table"),
                     {"value": "ada.secret@example.test"})
    assert "no_such_table" in str(failed.value)
    assert "ada.secret" not in str(failed.value)
    assert "ada.secret" not in caplog.text and "no_such_table" in caplog.text

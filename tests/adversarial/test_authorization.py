"""Authorization: every service of `access/` against every role (ASVS 8.2.1, 8.3.1; A6 17, 19).

The matrix below is written by hand; it is the specification. The services are found by
introspection: every public function (or method) in `access/` with a parameter annotated
`Principal` must be classified here as a service, a sign-in step or a helper, so a new service
without a row fails `test_every_function_taking_a_principal_is_classified`.

For each service and each role (plus a principal with no role at all) the real function runs
against a real database: an allowed role is not refused, any other is refused with `Denied`,
leaves the access domain byte-for-byte unchanged, and is recorded as `auth.page.denied`.
Nobody at all is served before the second factor, and the sensitive services want a code from
the last five minutes. Related, not repeated here: tests/access/test_authz.py (the bare `require`
matrix), tests/console/test_console.py (hidden pages refuse when opened directly).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import itertools
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import access
from access import oversight, transparency_report, waiting
from access.data import broker, restrictions
from access.dsr import assignment, package, rights
from access.dsr import requests as dsr_requests
from access.errors import Denied, StepUpRequired
from access.identity import mfa, users
from access.principal import Principal, Role
from access.reviews import campaigns, cancelling, closing, decisions, pack
from access.reviews import queries as review_queries
from access.schema import ConsoleSession, MfaCredential, ReviewItem
from access.workflow import (
    break_glass,
    cancel_request,
    create_request,
    decide_request,
    grants,
    queries,
)
from audit.checkpoint import load_private_key
from audit.export_stream import ExportFormat
from audit.sealer import seal_pending
from audit.settings import load_settings
from tests.access.dsr.support import subject_of
from tests.adversarial.support import (
    ROOT,
    World,
    audit_keys,
    events_after,
    granted,
    last_event_id,
    state_digest,
    world,
)
from tests.support.identity_helpers import sign_in
from tests.support.workflow_helpers import (
    draft,
    lenient_breakglass,
    new_draft,
    with_privacy_officer,
)

R, A, U, P = Role.REQUESTER, Role.APPROVER, Role.AUDITOR, Role.PRIVACY_OFFICER


_UNTOUCHED_CUSTOMERS = itertools.count(3)  # cust-0001 and -0002 serve the other services
DSR_CUSTOMER = "cust-0030"  # the data subject of the DSR services (never erased here)


class Arena:
    """Makes fresh targets for one call: owned by sam (requester), decided by ada (approver)."""

    def __init__(self, w: World, tmp: Path) -> None:
        self.w, self.tmp = w, tmp

    def pending(self) -> int:
        return create_request.create(self.w.gh, self.w.people.sam,
                                     new_draft(customer_id="cust-0001"))

    def grant(self, *actions: str) -> int:
        return granted(self.w.gh, self.w.people, actions=actions or ("read",))

    def breakglass(self) -> int:
        return break_glass.activate(lenient_breakglass(self.w.gh), self.w.people.sam,
                                    _breakglass_draft(), "production outage, INC-1")

    def victim(self, disabled: bool = False, locked: bool = False) -> int:
        victim = sign_in(self.w.gh, self.w.idp, f"victim-{uuid.uuid4().hex[:8]}")
        if disabled:
            users.disable(self.w.gh, self.w.people.alan, victim.user_id, "matrix set-up")
        if locked:  # as after too many wrong codes
            mfa.begin_enrollment(self.w.gh, victim)
            with self.w.gh.write() as db:
                db.execute(update(MfaCredential).where(MfaCredential.user_id == victim.user_id)
                           .values(locked_until=self.w.gh.now() + timedelta(minutes=15)))
        return victim.user_id

    def customer(self, restricted: bool = False) -> str:
        """A customer of the demo data no other call of the matrix has restricted."""
        customer_id = f"cust-{next(_UNTOUCHED_CUSTOMERS):04d}"
        if restricted:
            admin = replace(self.w.people.alan, step_up_at=self.w.gh.now())
            restrictions.restrict(self.w.gh, admin, "production", customer_id, "matrix set-up")
        return customer_id

    def email(self) -> str:
        """The email of the data subject every DSR of the matrix is about."""
        return subject_of(self.w.gh, DSR_CUSTOMER).email

    def dsr(self, kind: str, verified: bool = True, pending: bool = False) -> int:
        """A data-subject request filed (and verified, and with a rectification waiting for
        approval) by priya, the privacy officer."""
        gh, priya = self.w.gh, self.w.people.priya
        assert priya is not None
        priya = replace(priya, step_up_at=gh.now())
        dsr_id = dsr_requests.file(gh, priya, kind, "gdpr", self.email(),
                                   grounds="objects to profiling" if kind == "objection"
                                   else None)
        if verified:
            dsr_requests.verify_identity(gh, priya, dsr_id, "reply from the address on file")
        if pending:
            rights.propose_rectification(gh, priya, dsr_id, {"job_title": "Head of Growth"})
        return dsr_id
    def officer(self) -> int:
        """Another privacy officer, to hand a request to."""
        return sign_in(self.w.gh, self.w.idp, f"po-{uuid.uuid4().hex[:8]}",
                       "privacy_officer").user_id

    def review_item(self) -> int:
        """A pending item (break-glass in production) that sam, sky, ada and alan review."""
        admin = self.w.people.ada
        campaign_id = campaigns.start(self.w.gh, admin, _review_draft(self, "breakglass"))
        with self.w.gh.read() as db:
            return db.execute(select(ReviewItem.id).where(
                ReviewItem.campaign_id == campaign_id)).scalar_one()

    def campaign(self) -> int:
        return campaigns.start(self.w.gh, self.w.people.ada, _review_draft(self, "breakglass"))

    def closed_campaign(self) -> int:
        """A closed campaign whose decisions are sealed under a checkpoint."""
        campaign_id = self.campaign()
        alan = replace(self.w.people.alan, step_up_at=self.w.gh.now())
        closing.close_campaign(self.w.gh, alan, campaign_id)
        settings = load_settings()
        seal_pending(self.w.gh.engine, load_private_key(settings.signing_key_path),
                     settings.checkpoint_dir)
        return campaign_id

    def directory(self, make: bool = False) -> Path:
        path = self.tmp / f"export-{uuid.uuid4().hex[:8]}"
        if make:
            path.mkdir(parents=True)
        return path


def _review_draft(a: Arena, scope: str) -> campaigns.CampaignDraft:
    return campaigns.CampaignDraft(
        name="matrix review", scopes=[scope], due_at=a.w.clock.now + timedelta(days=7),
        default_decision="keep", reviewers="sam sky ada alan")


def _breakglass_draft() -> create_request.RequestDraft:
    return draft(customer_id="cust-0002", scopes=["contacts"], duration=timedelta(minutes=30))


Target = Callable[[Arena], Any]
Call = Callable[[Arena, Principal, Any], object]


@dataclass(frozen=True)
class Service:
    roles: frozenset[Role]  # who may use it
    step_up: bool           # needs a code entered in the last few minutes
    call: Call              # the service, given the principal and the prepared target
    target: Target          # prepares what the call acts on, before the call


def service(roles: set[Role], call: Call, target: Target = lambda a: None,
            step_up: bool = False) -> Service:
    return Service(frozenset(roles), step_up, call, target)


def _filter() -> oversight.EventFilter:
    return oversight.event_filter(action="auth.login")


SERVICES: dict[str, Service] = {
    # the requester's use cases
    "create_request.create": service({R}, lambda a, p, _: create_request.create(
                    a.w.gh, p, new_draft(customer_id="cust-0001"))),
    "cancel_request.cancel": service({R}, lambda a, p, t: cancel_request.cancel(a.w.gh, p, t),
                                           Arena.pending),
    "queries.my_requests": service({R}, lambda a, p, _: queries.my_requests(a.w.gh, p)),
    "queries.my_grants": service({R}, lambda a, p, _: queries.my_grants(a.w.gh, p)),
    "queries.my_request_outcomes": service({R}, lambda a, p, _: queries.my_request_outcomes(
        a.w.gh, p)),
    "queries.my_grant_standing": service({R}, lambda a, p, t: queries.my_grant_standing(
        a.w.gh, p, t), lambda a: a.grant()),
    "grants.release": service({R}, lambda a, p, t: grants.release(a.w.gh, p, t),
                              lambda a: a.grant()),
    "break_glass.activate": service({R}, lambda a, p, _: break_glass.activate(
              a.w.gh, p, _breakglass_draft(), "production outage, INC-1"), step_up=True),
    "break_glass.check": service({R}, lambda a, p, _: break_glass.check(
              a.w.gh, p, _breakglass_draft(), "production outage, INC-1")),
    "broker.read": service({R}, lambda a, p, t: broker.read(a.w.gh, p, t, "cust-0001",
                                                            "contacts"), lambda a: a.grant()),
    "broker.reveal": service({R}, lambda a, p, t: broker.reveal(
        a.w.gh, p, t, "cust-0001", "contacts", ["contacts.email"],
        "customer asked to confirm the address"), lambda a: a.grant("read", "reveal"),
        step_up=True),
    "broker.export_csv": service({R}, lambda a, p, t: broker.export_csv(
        a.w.gh, p, t, "cust-0001", "contacts"), lambda a: a.grant("read", "export"),
        step_up=True),
    # a page's check of the input before it asks for a code: the role, never a fresh code
    "broker.check_reveal": service({R}, lambda a, p, t: broker.check_reveal(
        a.w.gh, p, t, "cust-0001", "contacts", ["contacts.email"],
        "customer asked to confirm the address"), lambda a: a.grant("read", "reveal")),
    "broker.check_export": service({R}, lambda a, p, t: broker.check_export(
        a.w.gh, p, t, "cust-0001", "contacts", columns=["contacts.email"],
        reason="customer asked for the file"), lambda a: a.grant("read", "reveal", "export")),
    # the approver's
    "decide_request.decide": service({A}, lambda a, p, t: decide_request.decide(
                    a.w.gh, p, t, approve=True), Arena.pending, step_up=True),
    "queries.approval_queue": service({A}, lambda a, p, _: queries.approval_queue(
      a.w.gh, p)),
    "queries.request_standing": service({A}, lambda a, p, t: queries.request_standing(
        a.w.gh, p, t), Arena.pending),
    "queries.all_grants": service({A}, lambda a, p, _: queries.all_grants(a.w.gh, p)),
    "grants.revoke": service({A}, lambda a, p, t: grants.revoke(
        a.w.gh, p, t, "ticket closed early"), lambda a: a.grant()),
    "break_glass.review": service({A}, lambda a, p, t: break_glass.review(
a.w.gh, p, t, "outage confirmed in INC-1"), Arena.breakglass),
    "break_glass.open_reviews": service({A}, lambda a, p, _: break_glass.open_reviews(
        a.w.gh, p)),
    "users.list_users": service({A}, lambda a, p, _: users.list_users(a.w.gh, p)),
    "users.disable": service({A}, lambda a, p, t: users.disable(
        a.w.gh, p, t, "left the company"), lambda a: a.victim(), step_up=True),
    "users.enable": service({A}, lambda a, p, t: users.enable(a.w.gh, p, t, "came back"),
                            lambda a: a.victim(disabled=True), step_up=True),
    "mfa.reset": service({A}, lambda a, p, t: mfa.reset(a.w.gh, p, t, "lost phone"),
                         lambda a: a.victim(), step_up=True),
    "mfa.unlock": service({A}, lambda a, p, t: mfa.unlock(a.w.gh, p, t, "typos, SUP-12"),
                          lambda a: a.victim(locked=True), step_up=True),
    "restrictions.restrictions": service({A}, lambda a, p, _: restrictions.restrictions(
        a.w.gh, p)),
    "restrictions.restrict": service({A}, lambda a, p, t: restrictions.restrict(
        a.w.gh, p, "production", t, "data subject contests accuracy, DPO-7"),
        lambda a: a.customer(), step_up=True),
    "restrictions.lift": service({A}, lambda a, p, t: restrictions.lift(
        a.w.gh, p, "production", t, "accuracy confirmed, DPO-7"),
        lambda a: a.customer(restricted=True), step_up=True),
    # access reviews: admins run campaigns; reviewers are named per campaign (any R or A)
    "campaigns.preview": service({A}, lambda a, p, _: campaigns.preview(
        a.w.gh, p, _review_draft(a, "role:requester"))),
    "campaigns.start": service({A}, lambda a, p, _: campaigns.start(
        a.w.gh, p, _review_draft(a, "breakglass"))),
    "closing.check": service({A}, lambda a, p, t: closing.check(a.w.gh, p, t),
                             Arena.campaign),
    "closing.close_campaign": service({A}, lambda a, p, t: closing.close_campaign(
        a.w.gh, p, t), Arena.campaign, step_up=True),
    "cancelling.check": service({A}, lambda a, p, t: cancelling.check(
        a.w.gh, p, t, "wrong scope"), Arena.campaign),
    "cancelling.cancel_campaign": service({A}, lambda a, p, t: cancelling.cancel_campaign(
        a.w.gh, p, t, "wrong scope"), Arena.campaign, step_up=True),
    "decisions.keep": service({R, A}, lambda a, p, t: decisions.keep(a.w.gh, p, t, "in use"),
                              Arena.review_item, step_up=True),
    "decisions.revoke": service({R, A}, lambda a, p, t: decisions.revoke(
        a.w.gh, p, t, "unused"), Arena.review_item, step_up=True),
    "decisions.reassign": service({R, A}, lambda a, p, t: decisions.reassign(
        a.w.gh, p, t, a.w.people.alan.user_id if p.sub != "alan" else
        a.w.people.ada.user_id, "alan runs break-glass drills"), Arena.review_item,
        step_up=True),
    # everyone with a home page (VIEW_HOME, the privacy officer's too since the DSR merge)
    "queries.my_items": service({R, A, U, P}, lambda a, p, _: review_queries.my_items(
        a.w.gh, p)),
    "queries.campaigns": service({A, U}, lambda a, p, _: review_queries.campaigns(a.w.gh, p)),
    "queries.campaign_items": service({A, U}, lambda a, p, t: review_queries.campaign_items(
        a.w.gh, p, t), Arena.campaign),
    "pack.evidence_pack": service({A, U}, lambda a, p, t: pack.evidence_pack(a.w.gh, p, t),
                                  Arena.closed_campaign),
    # the auditor's
    "oversight.search": service({U}, lambda a, p, _: oversight.search(a.w.gh, p, _filter())),
    "oversight.activity": service({U}, lambda a, p, _: oversight.activity(a.w.gh, p,
                                                                        _filter())),
    "oversight.anomalies": service({U}, lambda a, p, _: oversight.anomalies(
        a.w.gh, p, a.w.clock.now - timedelta(days=1), a.w.clock.now)),
    "oversight.grant_timeline": service({U}, lambda a, p, _: oversight.grant_timeline(
        a.w.gh, p, "1")),
    "oversight.customer_access": service({U}, lambda a, p, _: oversight.customer_access(
        a.w.gh, p, "cust-0001")),
    "oversight.export_events": service({U}, lambda a, p, t: oversight.export_events(
        a.w.gh, p, _filter(), ExportFormat.CSV, t), lambda a: a.directory(), step_up=True),
    "oversight.export_verifiable_bundle": service({U}, lambda a, p, t: (
        oversight.export_verifiable_bundle(a.w.gh, p, t)), lambda a: a.directory(make=True),
        step_up=True),
    "oversight.verify": service({U}, lambda a, p, _: oversight.verify(a.w.gh, p)),
    "oversight.overview": service({U}, lambda a, p, _: oversight.overview(a.w.gh, p)),
    "oversight.prove": service({U}, lambda a, p, _: oversight.prove(a.w.gh, p, 1)),
    "transparency_report.generate": service({U, P}, lambda a, p, _: transparency_report.generate(
        a.w.gh, p, "cust-0001", a.w.clock.now - timedelta(days=1), a.w.clock.now)),
    "transparency_report.handed_out": service({U, P}, lambda a, p, t: (
        transparency_report.handed_out(a.w.gh, p, t, "opening")),
        lambda a: transparency_report.generate(a.w.gh, a.w.people.audrey, "cust-0001",
                                               a.w.clock.now - timedelta(days=1), a.w.clock.now)),
    # the privacy officer's (and the admin who approves a rectification or an erasure)
    "requests.file": service({P}, lambda a, p, t: dsr_requests.file(
        a.w.gh, p, "access", "gdpr", t), lambda a: a.email()),
    "requests.verify_identity": service({P}, lambda a, p, t: dsr_requests.verify_identity(
        a.w.gh, p, t, "reply from the address on file"), lambda a: a.dsr("access", False)),
    "requests.extend": service({P}, lambda a, p, t: dsr_requests.extend(
        a.w.gh, p, t, "complex request"), lambda a: a.dsr("access")),
    "requests.requests": service({P, A}, lambda a, p, _: dsr_requests.requests(a.w.gh, p)),
    "requests.detail": service({P, A}, lambda a, p, t: dsr_requests.detail(a.w.gh, p, t),
                               lambda a: a.dsr("access")),
    "package.prepare": service({P}, lambda a, p, t: package.prepare(a.w.gh, p, t),
                               lambda a: a.dsr("access")),
    "package.redact": service({P}, lambda a, p, t: package.redact(
        a.w.gh, p, t, "consultation:1", "ongoing inquiry"), lambda a: a.dsr("access")),
    "package.release": service({P}, lambda a, p, t: package.release(a.w.gh, p, t),
                               lambda a: a.dsr("access"), step_up=True),
    "rights.propose_rectification": service({P}, lambda a, p, t: rights.propose_rectification(
        a.w.gh, p, t, {"job_title": "CTO"}), lambda a: a.dsr("rectification")),
    "rights.propose_erasure": service({P}, lambda a, p, t: rights.propose_erasure(
        a.w.gh, p, t), lambda a: a.dsr("erasure")),
    "rights.approve": service({A}, lambda a, p, t: rights.approve(a.w.gh, p, t),
                              lambda a: a.dsr("rectification", pending=True), step_up=True),
    "rights.reject": service({A}, lambda a, p, t: rights.reject(a.w.gh, p, t, "wrong value"),
                             lambda a: a.dsr("rectification", pending=True), step_up=True),
    "rights.waiting": service({P, A}, lambda a, p, t: rights.waiting(a.w.gh, p, t),
                              lambda a: a.dsr("rectification", pending=True)),
    "rights.restrict": service({P}, lambda a, p, t: rights.restrict(
        a.w.gh, p, t, "contests accuracy"), lambda a: a.dsr("restriction")),
    "rights.lift_restriction": service({P}, lambda a, p, t: rights.lift_restriction(
        a.w.gh, p, t, "objection withdrawn"), lambda a: a.dsr("objection")),
    "rights.decide_objection": service({P}, lambda a, p, t: rights.decide_objection(
        a.w.gh, p, t, True, "no compelling grounds"), lambda a: a.dsr("objection")),
    "rights.portability": service({P}, lambda a, p, t: rights.portability(a.w.gh, p, t),
                                  lambda a: a.dsr("portability"), step_up=True),
    # Home's "what waits for you": every role, each part asked only where the role allows
    "waiting.waiting_for": service({R, A, U, P}, lambda a, p, _: waiting.waiting_for(a.w.gh, p)),
    "assignment.officers": service({P}, lambda a, p, _: assignment.officers(a.w.gh, p)),
    "assignment.assign": service({P}, lambda a, p, t: assignment.assign(a.w.gh, p, *t),
                                 lambda a: (a.dsr("access"), a.officer())),
}

# What anyone signed in may do for themselves, before any role counts: finishing sign-in.
SIGN_IN_STEPS: dict[str, str] = {
    "mfa.begin_enrollment": "enrolls the caller's own authenticator (before MFA, no role)",
    "mfa.activate": "confirms the caller's own enrollment with a code",
    "mfa.verify_code": "the second factor itself, for the caller's own session",
    "mfa.use_recovery_code": "the second factor by recovery code, for the caller's own session",
    "sessions.logout": "ends the caller's own session",
}

# Functions that take a principal but are not use cases: the choke point itself, or pieces a
# service calls after it has passed the choke point. The console may call only the first two.
HELPERS: dict[str, str] = {
    "authz.allowed": "hides what a role cannot do; never enforces (console navigation)",
    "authz.require": "the choke point, wrapped by Gatehouse.authorize",
    "context.Gatehouse.authorize": "the choke point every service (and the page gate) calls",
    "context.event_for": "builds an audit event for a principal",
    "events.request_event": "builds an audit event of a request step",
    "create_request.validate": "checks a draft inside create() and break_glass.activate()",
    "grants.issue_grant": "issues the grant inside decide() and break_glass.activate()",
    "grants.usable_grant": "the per-grant check inside the broker's transaction",
    "sessions.mark_mfa": "records a passed code inside the mfa services",
    "users.refuse_own": "refuses an admin's action on their own account, inside the users "
                        "and mfa services, after authorize",
    "requests.dsr_event": "builds an audit event of a DSR step",
    "requests.refused": "builds the dsr.refused event of a refusal",
    "requests.step": "the locked transaction a DSR service runs its step in, after authorize",
    "requests.restrict_rows": "holds a subject's rows inside file() and rights.restrict()",
    "requests.close": "closes a DSR inside the services that answer it",
    "decisions.item_event": "builds the audit event of a review item step",
    "campaigns.open_campaign": "stores a campaign inside start() and the sweep's recurrence",
    "campaigns.by": "builds an audit event by a principal or by Gatehouse",
}
CONSOLE_MAY_CALL_HELPERS = frozenset({"authz.allowed", "context.Gatehouse.authorize"})


def functions_taking_a_principal() -> set[str]:
    """`module.function` (or `module.Class.method`) for every public callable in access/
    with a parameter annotated `Principal`."""
    found = set()
    for info in pkgutil.walk_packages(access.__path__, "access."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        short = info.name.rsplit(".", 1)[-1]  # tables name modules by their own name
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            members = [(name, obj)] if inspect.isfunction(obj) else []
            if inspect.isclass(obj):
                members = [(f"{name}.{m}", f) for m, f in vars(obj).items()
                           if inspect.isfunction(f) and not m.startswith("_")]
            for qualified, function in members:
                params = inspect.signature(function).parameters.values()
                if any("Principal" in str(p.annotation) for p in params):
                    found.add(f"{short}.{qualified}")
    return found


def test_the_introspection_finds_services_helpers_and_sign_in_steps() -> None:
    found = functions_taking_a_principal()
    assert {"decide_request.decide", "context.Gatehouse.authorize", "mfa.verify_code"} <= found
    assert "sweep.expire_pending" not in found  # the sweeper acts as the system


def test_every_function_taking_a_principal_is_classified() -> None:
    classified = [*SERVICES, *SIGN_IN_STEPS, *HELPERS]
    assert len(classified) == len(set(classified)), "a function is classified twice"
    found = functions_taking_a_principal()
    assert sorted(found - set(classified)) == [], \
        "new functions take a Principal: add each to SERVICES (with its roles) or explain it"
    assert sorted(set(classified) - found) == [], "rows for functions that no longer exist"


def test_the_console_calls_no_helper_that_skips_the_choke_point() -> None:
    """Pages may call services and sign-in steps; of the helpers only `allowed` (hiding) and
    the gate's `Gatehouse.authorize`."""
    called = set()
    for path in [*sorted((ROOT / "console").rglob("*.py")), ROOT / "streamlit_app.py"]:
        called |= _access_calls(ast.parse(path.read_text(), filename=str(path)))
    assert "decide_request.decide" in called and "authz.allowed" in called  # the scan sees calls
    forbidden = sorted(c for c in called if c in HELPERS and c not in CONSOLE_MAY_CALL_HELPERS)
    assert forbidden == []


def _is_module(dotted: str) -> bool:
    parent = importlib.import_module(dotted.rpartition(".")[0])
    return hasattr(parent, "__path__") and importlib.util.find_spec(dotted) is not None


def _access_calls(tree: ast.Module) -> set[str]:
    """`module.function` of every call the file makes into access/ (also `x.authorize(...)`,
    which in the console is only ever Gatehouse.authorize)."""
    modules, names = _access_imports(tree)
    calls = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id in modules:
                calls.add(f"{modules[func.value.id]}.{func.attr}")
            elif func.attr == "authorize":
                calls.add("context.Gatehouse.authorize")
        elif isinstance(func, ast.Name) and func.id in names:
            calls.add(names[func.id])
    return calls


def _access_imports(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """What the file imports from access/: ({local name: module}, {local name: module.name})."""
    modules, names = {}, {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("access"):
            continue
        for alias in node.names:
            if _is_module(f"{node.module}.{alias.name}"):
                modules[alias.asname or alias.name] = alias.name
            else:
                short = (node.module or "").rsplit(".", 1)[-1]
                names[alias.asname or alias.name] = f"{short}.{alias.name}"
    return modules, names


# -- the matrix, run against the real services -------------------------------------------


@pytest.fixture(scope="module")
def matrix_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as patch, world(request, "sqlite", tmp) as w:
        key = audit_keys(tmp / "audit", patch)
        seal_pending(w.gh.engine, key, tmp / "audit" / "checkpoints")  # so event 1 is provable
        with_privacy_officer(w.gh, w.idp, w.people)
        yield w


@pytest.fixture
def arena(matrix_world: World, tmp_path: Path) -> Arena:
    return Arena(matrix_world, tmp_path)


PRINCIPALS = ["requester", "approver", "auditor", "privacy_officer", "nobody"]


def principal_of(w: World, who: str) -> Principal:
    people = w.people
    assert people.priya is not None
    return {"requester": people.sam, "approver": people.ada, "auditor": people.audrey,
            "privacy_officer": people.priya,
            "nobody": replace(people.sam, roles=frozenset())}[who]


ROLE_OF = {"requester": R, "approver": A, "auditor": U, "privacy_officer": P, "nobody": None}


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_admits_exactly_its_roles(arena: Arena, name: str, who: str) -> None:
    spec, engine = SERVICES[name], arena.w.gh.engine
    principal = principal_of(arena.w, who)
    target = spec.target(arena)
    before, digest = last_event_id(engine), state_digest(engine)
    if ROLE_OF[who] in spec.roles:
        spec.call(arena, principal, target)
        assert "auth.page.denied" not in [e["action"] for e in events_after(engine, before)]
        return
    with pytest.raises(Denied) as refused:
        spec.call(arena, principal, target)
    assert not isinstance(refused.value, StepUpRequired)
    assert "role" in str(refused.value)
    _assert_refused_and_recorded(arena, before, digest, principal)


def _assert_refused_and_recorded(arena: Arena, before: int, digest: str,
                                 principal: Principal) -> None:
    """The refusal changed nothing in the access domain; its only trace is one event."""
    engine = arena.w.gh.engine
    new = events_after(engine, before)
    assert [(e["action"], e["outcome"]) for e in new] == [("auth.page.denied", "denied")]
    assert (new[0]["actor_sub"], new[0]["session_id"]) == (principal.sub, principal.session_id)
    assert state_digest(engine) == digest


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_service_serves_anyone_before_the_second_factor(arena: Arena, name: str) -> None:
    """Even a principal holding every role is refused until its session passed TOTP."""
    spec, engine = SERVICES[name], arena.w.gh.engine
    unverified = replace(arena.w.people.sam, roles=frozenset(Role), mfa_verified_at=None,
                         step_up_at=None)
    target = spec.target(arena)
    before, digest = last_event_id(engine), state_digest(engine)
    with pytest.raises(Denied, match="sign-in is not complete"):
        spec.call(arena, unverified, target)
    _assert_refused_and_recorded(arena, before, digest, unverified)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_step_up_is_required_exactly_where_the_specification_says(arena: Arena,
                                                                  name: str) -> None:
    spec = SERVICES[name]
    role = next(iter(spec.roles))
    who = next(k for k, v in ROLE_OF.items() if v == role)
    stale = replace(principal_of(arena.w, who),
                    step_up_at=arena.w.clock.now - timedelta(minutes=6))
    target = spec.target(arena)
    if not spec.step_up:
        spec.call(arena, stale, target)
        return
    digest = state_digest(arena.w.gh.engine)
    with pytest.raises(StepUpRequired):
        spec.call(arena, stale, target)
    assert state_digest(arena.w.gh.engine) == digest


# -- the console: a stale step-up must not lock an approver out of the queue -------------


def test_an_approver_with_a_stale_code_can_still_open_the_approvals_page(
        oidc: str, data_dir: Path) -> None:
    from audit.engine import make_engine
    from tests.support.console_helpers import console, signed_in, submit_code

    at = signed_in(console(oidc), oidc, "ada.admin").run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    engine = make_engine(f"sqlite:///{data_dir / 'gatehouse.db'}")
    with Session(engine) as db, db.begin():  # six minutes pass without a code (AppTest
        for session in db.scalars(select(ConsoleSession)):  # runs on real time)
            session.step_up_at = session.step_up_at and session.step_up_at - timedelta(minutes=6)
    engine.dispose()
    at.switch_page("console/pages/approvals.py").run()
    assert not at.exception
    offered_a_code_form = any(t.key and t.key.startswith("step_up_code") for t in at.text_input)
    shows_the_queue = bool(at.title) and at.title[0].value == "Approvals"
    assert shows_the_queue or offered_a_code_form

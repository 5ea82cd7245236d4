"""Hostile strings in every text input and filter (ASVS 1.2.4, 1.2.10 context; A6 32, 35):
SQL metacharacters, LIKE wildcards, Unicode tricks, control characters and 100 KB strings,
on SQLite and PostgreSQL.

The contract for each input: the value is either accepted and stored exactly as given (what
is logged is what was typed), or refused with `InvalidInput` naming the field, changing
nothing. Never a database error, never a silently altered value, never a wildcard match. The
broker is the one place where a refusal is itself recorded: every refused read is a
`data.denied` event, whatever the caller typed.

Already covered, not repeated: SQL-shaped customer ids and scopes at the broker, and a few bad
request fields (tests/access/data/test_broker.py, tests/access/workflow/test_requests.py);
malformed TOTP codes (tests/access/identity/test_totp.py, tests/access/identity/test_mfa.py);
text the audit model refuses (tests/audit/test_audit_events.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from access import oversight
from access.data import broker
from access.errors import Denied, GatehouseError, InvalidInput
from access.identity import mfa, users
from access.identity.sessions import NoRole, resume
from access.text import MAX_REASON
from access.workflow import break_glass, create_request, decide_request, grants, queries
from tests.adversarial.support import (
    World,
    events_after,
    granted,
    last_event_id,
    state_digest,
    world,
)
from tests.support.identity_helpers import sign_in
from tests.support.mfa_helpers import enroll
from tests.support.workflow_helpers import draft, lenient_breakglass, new_draft

PAYLOADS: dict[str, str] = {
    "sql quote": "' OR '1'='1' --",
    "sql stacked": "x'); DROP TABLE access_requests; --",
    "sql double quote": '" OR ""="',
    "sql comment": "cust-0001'/**/OR/**/1=1",
    "like percent": "%",
    "like underscore": "cust-000_",
    "like escape": "100\\% sure_",
    "rtl override": "cust-0001\u202egnp.exe",
    "zero width": "cust\u200b-0001",
    "combining marks": "e\u0301\u0301\u0301 z\u0336",
    "emoji": "\U0001f525\U0001f480 ok",
    "fullwidth digits": "\uff11\uff12\uff13\uff14\uff15\uff16",
    "arabic-indic digits": "\u0661\u0662\u0663\u0664\u0665\u0666",
    "cyrillic lookalike": "\u0441ust-0001",
    "crlf": "line one\r\nINFO forged line two",
    "ansi escape": "\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "line separators": "a\u2028b\u2029c\x85d",
    "bell backspace delete": "ab\x07\x08\x7fcd",
    "nul": "cust-0001\x00tail",
    "lone surrogate": "half\ud800pair",
    "100 KB": "A" * 100_000,
    "100 KB multibyte": "\u00e9" * 100_000,
    "100 KB quotes": "'" * 100_000,
}
UNSTORABLE = {"nul", "lone surrogate"}  # no database keeps these exactly: refuse, never alter
HUGE = {"100 KB", "100 KB multibyte", "100 KB quotes"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def w(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[World]:
    with world(request, request.param, tmp_path_factory.mktemp("injection")) as built:
        yield built


def outcome(call: Callable[..., Any]) -> tuple[str, Any]:  # (lambdas bind loop values as defaults)
    """('ok', result), ('InvalidInput', field), (other GatehouseError name, message); anything
    else (a database error, a ValueError from deep inside) is reported as 'CRASH'."""
    try:
        return "ok", call()
    except InvalidInput as exc:
        return "InvalidInput", exc.field
    except GatehouseError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # the finding: what escaped as something other than our errors
        return "CRASH", f"{type(exc).__name__}: {str(exc)[:120]}"


def refused_cleanly(w: World, field: str, call: Callable[..., Any]) -> str | None:
    """None if `call` is refused with InvalidInput(field), changed nothing and left one denied
    event naming the field (a refusal is evidence, its reason bounded); else why not."""
    before, digest = last_event_id(w.gh.engine), state_digest(w.gh.engine)
    result = outcome(call)
    if result != ("InvalidInput", field):
        return f"expected InvalidInput({field}), got {result}"
    if state_digest(w.gh.engine) != digest:
        return "refused, but something changed"
    logged = events_after(w.gh.engine, before)
    if [(e["outcome"], (e["reason"] or "").split(":")[0]) for e in logged] != [("denied", field)]:
        return f"refused, but logged {[(e['action'], e['outcome']) for e in logged]}"
    if len(logged[0]["reason"]) > create_request.MAX_REFUSAL:
        return "refused, but the refusal's reason is unbounded"
    return None


STRUCTURED: dict[str, Callable[[str], create_request.RequestDraft]] = {
    "customer": lambda v: draft(customer_id=v),
    "environment": lambda v: draft(customer_id="cust-0001", environment=v),
    "scopes": lambda v: draft(customer_id="cust-0001", scopes=[v]),
    "actions": lambda v: draft(customer_id="cust-0001", actions=[v]),
    "ticket": lambda v: draft(customer_id="cust-0001", ticket=v),
}


@pytest.mark.parametrize("field", sorted(STRUCTURED))
def test_structured_request_fields_refuse_every_hostile_string(w: World, field: str) -> None:
    problems = {}
    for name, payload in PAYLOADS.items():
        why = refused_cleanly(w, field, lambda p=payload: create_request.create(
            w.gh, w.people.sam, STRUCTURED[field](p)))
        if why:
            problems[name] = why
    assert problems == {}


def _free_text_expected(name: str, limit: int) -> bool:
    """Whether payload `name` must be accepted by a free-text field of at most `limit`."""
    return name not in UNSTORABLE and len(PAYLOADS[name].strip()) <= limit


def test_justifications_are_stored_exactly_or_refused_by_name(w: World) -> None:
    problems = {}
    prefix = "SUP-1234 needs: "
    for name, payload in PAYLOADS.items():
        text = prefix + payload
        call = lambda t=text: create_request.create(w.gh, w.people.sam, new_draft(  # noqa: E731
            customer_id="cust-0001", justification=t))
        if not _free_text_expected(name, w.gh.policy.justification_max - len(prefix)):
            if why := refused_cleanly(w, "justification", call):
                problems[name] = why
            continue
        before = last_event_id(w.gh.engine)
        kind, request_id = outcome(call)
        if kind != "ok":
            problems[name] = f"refused: {kind} {request_id}"
            continue
        stored = next(r.justification for r in queries.my_requests(w.gh, w.people.sam)
                      if r.id == request_id)
        [logged] = events_after(w.gh.engine, before)
        if stored != text.strip() or logged["reason"] != text.strip():
            problems[name] = "altered on the way in"
    assert problems == {}


ReasonCall = Callable[[World, str], Any]
REASONS: dict[str, tuple[str, ReasonCall]] = {
    "grant revoked": ("grant.revoked", lambda w, r: grants.revoke(
        w.gh, w.people.ada, granted(w.gh, w.people), r)),
    "user disabled": ("user.disabled", lambda w, r: users.disable(
        w.gh, w.people.ada, sign_in(w.gh, w.idp, f"u-{uuid.uuid4().hex[:8]}").user_id, r)),
    "break-glass reason": ("breakglass.activated", lambda w, r: break_glass.activate(
        lenient_breakglass(w.gh), w.people.sam, draft(customer_id="cust-0002", scopes=["contacts"],
                                  duration=timedelta(minutes=30)), r)),
    "break-glass review": ("breakglass.reviewed", lambda w, r: break_glass.review(
        w.gh, w.people.ada, break_glass.activate(
            lenient_breakglass(w.gh), w.people.sam,
            draft(customer_id="cust-0002", scopes=["contacts"], duration=timedelta(minutes=30)),
            "outage INC-1"), r)),
    "reveal reason": ("data.revealed", lambda w, r: broker.reveal(
        w.gh, w.people.sam, granted(w.gh, w.people, actions=("read", "reveal")), "cust-0001",
        "contacts", ["contacts.email"], r)),
    "deny comment": ("request.denied", lambda w, r: decide_request.decide(
        w.gh, w.people.ada,
        create_request.create(w.gh, w.people.sam, new_draft(customer_id="cust-0001")),
        approve=False, comment=r)),
}
LIMITS = {"deny comment": decide_request.MAX_COMMENT}
# The emergency reason is the break-glass request's justification: one rule, one field name.
FIELDS = {"deny comment": "comment", "break-glass reason": "justification"}


@pytest.mark.parametrize("site", sorted(REASONS))
def test_reasons_and_comments_are_logged_exactly_or_refused_by_name(w: World,
                                                                   site: str) -> None:
    action, call = REASONS[site]
    field = FIELDS.get(site, "reason")
    # a justification is at least ten characters, whatever the payload
    prefix = "emergency INC-1: " if field == "justification" else "why: "
    limit = w.gh.policy.justification_max if field == "justification" else \
        LIMITS.get(site, MAX_REASON)
    problems = {}
    for name, payload in PAYLOADS.items():
        text = prefix + payload
        if not _free_text_expected(name, limit - len(prefix)):
            # Targets are set up before the reason is checked, so only the kind is compared.
            result = outcome(lambda t=text: call(w, t))
            if result != ("InvalidInput", field):
                problems[name] = f"expected InvalidInput({field}), got {result}"
            continue
        before = last_event_id(w.gh.engine)
        kind, detail = outcome(lambda t=text: call(w, t))
        logged = [e for e in events_after(w.gh.engine, before) if e["action"] == action]
        if kind != "ok":
            problems[name] = f"refused: {kind} {detail}"
        elif [e["reason"] for e in logged] != [text.strip()]:
            problems[name] = "altered on the way into the log"
    assert problems == {}


@pytest.mark.parametrize("field", ["customer", "scope"])
def test_every_hostile_read_is_refused_and_recorded(w: World, field: str) -> None:
    grant_id = granted(w.gh, w.people)
    problems = {}
    for name, payload in PAYLOADS.items():
        customer, scope = (payload, "contacts") if field == "customer" else \
            ("cust-0001", payload)
        before = last_event_id(w.gh.engine)
        kind, detail = outcome(lambda c=customer, s=scope: broker.read(
            w.gh, w.people.sam, grant_id, c, s))
        recorded = events_after(w.gh.engine, before)
        if kind != "Denied":
            problems[name] = f"expected Denied, got {kind} {detail}"
        elif [e["action"] for e in recorded] != ["data.denied"]:
            problems[name] = "the refusal was not recorded"
        elif name not in UNSTORABLE:
            asked = recorded[0]["customer_id"] if field == "customer" else \
                recorded[0]["details"]["scope"]
            if asked != payload[:64]:
                problems[name] = f"recorded as {asked[:40]!r}, not as asked"
    assert problems == {}


FILTERS = ["actor", "customer", "request", "grant", "ticket", "action", "outcome"]


@pytest.mark.parametrize("field", FILTERS)
def test_audit_filters_match_exactly_or_refuse_by_name(w: World, field: str) -> None:
    """A wildcard or an injected condition would match the log's many other events; an exact
    match finds only events holding exactly that value (a refused read may have recorded one
    of these strings as the customer it asked for)."""
    problems = {}
    for name, payload in PAYLOADS.items():
        kind, detail = outcome(lambda p=payload: oversight.search(
            w.gh, w.people.audrey, oversight.event_filter(**{field: p})))
        if kind == "InvalidInput":
            if detail != field:
                problems[name] = f"refused naming {detail!r}"
        elif kind != "ok":
            problems[name] = f"{kind}: {detail}"
        elif any(getattr(e, COLUMN[field]) != payload.strip() for e in detail.events):
            problems[name] = "matched events holding something else"
    assert problems == {}


COLUMN = {"actor": "actor_sub", "customer": "customer_id", "request": "request_id",
          "grant": "grant_id", "ticket": "ticket", "action": "action", "outcome": "outcome"}


def test_an_audit_filter_with_an_unpaired_surrogate_is_refused(w: World) -> None:
    with pytest.raises(InvalidInput, match="actor"):
        oversight.search(w.gh, w.people.audrey,
                        oversight.event_filter(actor=PAYLOADS["lone surrogate"]))


def test_codes_refuse_every_hostile_string_before_any_check(w: World) -> None:
    victim = sign_in(w.gh, w.idp, f"codes-{uuid.uuid4().hex[:6]}")
    victim, _, _ = enroll(w.gh, victim)
    problems = {}
    for name, payload in PAYLOADS.items():
        if outcome(lambda p=payload: mfa.verify_code(w.gh, victim, p)) != ("InvalidInput",
                                                                           "code"):
            problems[f"totp {name}"] = "not refused as a malformed code"
        kind, _ = outcome(lambda p=payload: mfa.use_recovery_code(w.gh, victim, p))
        if kind not in ("InvalidInput", "AuthenticationFailed", "MfaLocked"):
            problems[f"recovery {name}"] = kind
    assert problems == {}


CLAIMS: dict[str, Callable[[str], dict[str, Any]]] = {
    "name": lambda v: {"name": v},
    "email": lambda v: {"email": v},
}


@pytest.mark.parametrize("claim", ["name", "email", "groups", "user agent"])
def test_hostile_identity_claims_and_headers_never_break_sign_in(w: World, claim: str) -> None:
    """What the identity provider or the browser sends is kept as given where it can be
    (a name may be at most 256 characters); a NUL or an unpaired surrogate is escaped. A
    claim of 100 KB makes the token itself too large: a clean, recorded refusal."""
    problems = {}
    for name, payload in PAYLOADS.items():
        sub = f"claims-{uuid.uuid4().hex[:8]}"
        groups = ["support", payload] if claim == "groups" else ["support"]
        extra = CLAIMS[claim](payload) if claim in CLAIMS else {}
        agent = payload if claim == "user agent" else "pytest"
        before = last_event_id(w.gh.engine)
        kind, detail = outcome(lambda s=sub, g=groups, e=extra, a=agent: resume(
            w.gh, w.idp.token(s, g, **e), "10.0.0.9", a))
        if kind == "InvalidIdToken" and name in HUGE and claim != "user agent":
            if [e["action"] for e in events_after(w.gh.engine, before)] != \
                    ["auth.login.failed"]:
                problems[name] = "refused without a record"
            continue
        if kind != "ok":
            problems[name] = f"{kind}: {detail}"
            continue
        [login] = events_after(w.gh.engine, before)
        expected = payload[:512 if claim == "user agent" else 256]
        kept = {"name": login["actor_name"], "user agent": login["user_agent"],
                "groups": login["details"]["groups"][-1],
                "email": _email_of(w, detail.user_id)}[claim]
        if name not in UNSTORABLE and kept != expected:
            problems[name] = f"kept as {kept!r:.40}"
        elif name in UNSTORABLE and ("\x00" in kept or kept == ""):
            problems[name] = "unstorable text kept raw or dropped"
    assert problems == {}


def _email_of(w: World, user_id: int) -> str:
    return next(u.email or "" for u in users.list_users(w.gh, w.people.ada) if u.id == user_id)


def test_a_no_role_sign_in_with_hostile_groups_is_still_recorded(w: World) -> None:
    for payload in (PAYLOADS["nul"], PAYLOADS["lone surrogate"], "G" * 5000):
        before = last_event_id(w.gh.engine)
        with pytest.raises(NoRole):
            resume(w.gh, w.idp.token(f"norole-{uuid.uuid4().hex[:8]}", [payload]))
        [refusal] = events_after(w.gh.engine, before)
        assert refusal["action"] == "auth.no_role"
        assert len(refusal["details"]["groups"][0]) <= 256 * 6


def test_a_refused_read_with_an_unstorable_id_is_recorded_escaped(w: World) -> None:
    grant_id = granted(w.gh, w.people)
    before = last_event_id(w.gh.engine)
    with pytest.raises(Denied):
        broker.read(w.gh, w.people.sam, grant_id, "cust-0001\x00", "contacts\ud800")
    [denied] = events_after(w.gh.engine, before)
    assert denied["customer_id"] == "cust-0001\\x00"
    assert denied["details"]["scope"] == "contacts\\ud800"

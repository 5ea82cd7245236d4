"""The text rules, pinned once: what can be stored, how outside text is logged, what a reason
must be. `access.text` is their one home; the audit log applies the same rule from
`audit.text`, the bottom layer."""

from __future__ import annotations

import pytest

import access.text
import audit.text
from access.data.servable import check_customer_id
from access.errors import InvalidInput
from access.text import MAX_REASON, UNSTORABLE_RULE, as_logged, checked_reason, storable
from audit.events import Actor, AuditEvent, InvalidEvent
from audit.query import EventFilter, InvalidFilter
from audit.vocabulary import CUSTOMER_ID_RULE


def test_access_and_audit_share_one_rule_not_two_copies() -> None:
    assert access.text.storable is audit.text.storable
    assert access.text.UNSTORABLE_RULE is audit.text.UNSTORABLE_RULE


@pytest.mark.parametrize(("text", "why"), [
    ("plain text, ünïcode and emoji 🙂", None),
    ("", None),
    ("nul\x00inside", "NUL characters cannot be stored"),
    ("half\ud800pair", "contains a lone surrogate, not valid Unicode text"),
])
def test_storable_text_has_no_nul_and_no_lone_surrogate(text: str, why: str | None) -> None:
    assert audit.text.why_unstorable(text) == why
    assert storable(text) is (why is None)


@pytest.mark.parametrize(("text", "logged"), [
    ("plain", "plain"),
    ("a\x00b", "a\\x00b"),
    ("a\ud800b", "a\\ud800b"),
    ("x" * 100, "x" * 64),
    ("\x00" * 100, "\\x00" * 64),  # cut first, then escaped
])
def test_as_logged_cuts_then_escapes_only_what_cannot_be_stored(text: str,
                                                                logged: str) -> None:
    assert as_logged(text, 64) == logged
    assert storable(as_logged(text, 64))


def test_checked_reason_is_trimmed_bounded_and_storable() -> None:
    assert checked_reason("  ticket OPS-1  ") == "ticket OPS-1"
    assert checked_reason("x" * MAX_REASON) == "x" * MAX_REASON
    for bad in (None, 7, "  ab  ", "x" * (MAX_REASON + 1)):
        with pytest.raises(InvalidInput) as caught:
            checked_reason(bad)
        assert caught.value.field == "reason"
        assert caught.value.rule == f"must be 3 to {MAX_REASON} characters"
    for bad in ("nul \x00 reason", "half \ud800 reason"):
        with pytest.raises(InvalidInput) as caught:
            checked_reason(bad)
        assert (caught.value.field, caught.value.rule) == ("reason", UNSTORABLE_RULE)


@pytest.mark.parametrize("bad", ["nul\x00", "half\ud800"])
def test_the_audit_log_refuses_the_same_text(bad: str) -> None:
    actor = Actor(iss="https://idp", sub="sam", roles=("requester",))
    with pytest.raises(InvalidEvent, match="reason: "):
        AuditEvent(actor=actor, action="user.enabled", reason=bad)
    with pytest.raises(InvalidFilter):
        EventFilter(actor=bad)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "cust\x00", "ünï", "c;--", 7])
def test_one_customer_id_rule_for_requests_and_audit_filters(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_customer_id(bad)
    assert (caught.value.field, caught.value.rule) == ("customer", CUSTOMER_ID_RULE)
    if isinstance(bad, str) and bad:
        with pytest.raises(InvalidFilter) as refused:
            EventFilter(customer=bad)
        assert refused.value.rule == CUSTOMER_ID_RULE
    assert check_customer_id("cust_0042-a") == "cust_0042-a"
    assert EventFilter(customer="cust_0042-a").customer == "cust_0042-a"

"""The audit event: who did what to which target, when, from where, with what outcome.

Contract: an `AuditEvent` that exists is valid. Construction refuses an unknown action, a detail
field the action does not allow, a value type that has no pinned encoding (floats, bytes,
objects), and text that the databases cannot store faithfully (NUL, lone surrogates). What is
stored is therefore exactly what is hashed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.text import why_unstorable
from audit.vocabulary import ALLOWED_DETAILS, Outcome

_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,63}", re.ASCII)
MAX_TEXT = 200_000  # a bound, not a truncation: larger text is refused, never cut silently


class InvalidEvent(ValueError):
    """The event breaks a rule of the model; the message names the field and the rule."""


DetailValue = str | int | bool | None | list[str] | list[int]


@dataclass(frozen=True, slots=True)
class Actor:
    """A person or a system component, keyed by (issuer, subject) and never by email."""

    iss: str
    sub: str
    name: str | None = None
    roles: tuple[str, ...] = ()


SYSTEM = Actor(iss="gatehouse", sub="system", name="Gatehouse")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: str
    actor: Actor
    outcome: Outcome = Outcome.SUCCESS
    session_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    customer_id: str | None = None
    request_id: str | None = None
    grant_id: str | None = None
    ticket: str | None = None
    reason: str | None = None
    policy_version: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ts: datetime | None = None

    def __post_init__(self) -> None:
        allowed = ALLOWED_DETAILS.get(self.action)
        if allowed is None:
            raise InvalidEvent(f"action: {self.action!r} is not in the audit vocabulary")
        Outcome(self.outcome)
        unknown = sorted(set(self.details) - allowed)
        if unknown:
            raise InvalidEvent(f"details: {unknown} not allowed for action {self.action}")
        for role in self.actor.roles:
            if not _ROLE.fullmatch(role):
                raise InvalidEvent(f"actor.roles: {role!r} must match {_ROLE.pattern}")
        for name in _TEXT_FIELDS:
            _check_text(name, getattr(self, name))
        for name in ("iss", "sub", "name"):
            _check_text(f"actor.{name}", getattr(self.actor, name))
        for key, value in self.details.items():
            _check_detail(key, value)
        if self.ts is not None and self.ts.utcoffset() is None:
            raise InvalidEvent("ts: must be timezone-aware (UTC)")


_TEXT_FIELDS = ("session_id", "source_ip", "user_agent", "target_type", "target_id",
                "customer_id", "request_id", "grant_id", "ticket", "reason", "policy_version")


def _check_text(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidEvent(f"{name}: must be text")
    if len(value) > MAX_TEXT:
        raise InvalidEvent(f"{name}: longer than {MAX_TEXT} characters")
    why = why_unstorable(value)
    if why is not None:
        raise InvalidEvent(f"{name}: {why}")


def _check_detail(key: str, value: object) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return
    if isinstance(value, str):
        _check_text(f"details.{key}", value)
        return
    if isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool)
                                       for v in value):
        for item in value:
            if isinstance(item, str):
                _check_text(f"details.{key}", item)
        return
    raise InvalidEvent(f"details.{key}: must be text, a whole number, a boolean, or a list of "
                       "text or whole numbers")


def to_micros(ts: datetime) -> int:
    """UTC microseconds since the epoch: exact, sortable, the same on both engines."""
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us // 1_000_000, tz=UTC).replace(
        microsecond=ts_us % 1_000_000)

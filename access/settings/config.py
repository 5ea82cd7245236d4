"""Gatehouse configuration (TOML): group → role mapping, session lifetimes, MFA rules, and the
thresholds of the auditors' anomaly rules.

Contract: `load_config` returns a valid `Config` or raises `InvalidInput` naming the file, the
key and the rule. Unknown keys are errors, not ignored: a typo must not silently fall back to
a default in a security setting.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from access.errors import InvalidInput
from access.principal import Role
from audit.anomalies import DAY_NAMES, AnomalyRules
from audit.settings import PROJECT_ROOT

DEFAULT_PATH = PROJECT_ROOT / "config" / "gatehouse.toml"


@dataclass(frozen=True)
class SessionPolicy:
    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class MfaPolicy:
    issuer_label: str = "Gatehouse"
    step_up: timedelta = timedelta(minutes=5)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Config:
    group_roles: dict[str, Role]
    sessions: SessionPolicy = SessionPolicy()
    mfa: MfaPolicy = MfaPolicy()
    anomalies: AnomalyRules = field(default_factory=AnomalyRules)

    def roles_for(self, groups: object) -> frozenset[Role]:
        """Roles granted by the `groups` claim; anything but a list of strings grants none."""
        if not isinstance(groups, list):
            return frozenset()
        return frozenset(self.group_roles[g] for g in groups
                         if isinstance(g, str) and g in self.group_roles)


def config_path() -> Path:
    return Path(os.environ.get("GATEHOUSE_CONFIG", DEFAULT_PATH))


def load_config(path: Path | None = None) -> Config:
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(str(path), f"cannot be read as TOML: {exc}") from None
    reader = _Reader(path, data)
    config = Config(
        group_roles=reader.roles(),
        sessions=SessionPolicy(
            absolute=timedelta(hours=reader.number("sessions", "absolute_hours", 12, 1, 24)),
            idle=timedelta(minutes=reader.number("sessions", "idle_minutes", 30, 1, 240))),
        mfa=MfaPolicy(
            issuer_label=reader.text("mfa", "issuer_label", "Gatehouse"),
            step_up=timedelta(minutes=reader.number("mfa", "step_up_minutes", 5, 1, 60)),
            max_failures=reader.number("mfa", "max_failures", 5, 1, 100),
            lockout=timedelta(minutes=reader.number("mfa", "lockout_minutes", 15, 1, 1440))),
        anomalies=_anomalies(reader))
    reader.refuse_unknown()
    return config


def _anomalies(reader: _Reader) -> AnomalyRules:
    number = reader.number
    start = number("anomalies", "work_start_hour", 7, 0, 23)
    end = number("anomalies", "work_end_hour", 19, 1, 24)
    if end <= start:
        raise reader._error("anomalies.work_end_hour", "must be later than work_start_hour")
    return AnomalyRules(
        reads_per_grant=number("anomalies", "reads_per_grant", 200, 1, 1_000_000),
        customers_per_ticket=number("anomalies", "customers_per_ticket", 3, 1, 1000),
        ticket_window=timedelta(minutes=number("anomalies", "ticket_window_minutes", 60, 1,
                                               10_080)),
        work_start_hour=start, work_end_hour=end,
        work_days=reader.weekdays("anomalies", "work_days", ["mon", "tue", "wed", "thu", "fri"]),
        breakglass_review=timedelta(hours=number("anomalies", "breakglass_review_hours", 24, 1,
                                                 720)),
        denials=number("anomalies", "denials", 5, 2, 1000),
        denial_window=timedelta(minutes=number("anomalies", "denial_window_minutes", 15, 1,
                                               1440)))


_KNOWN: dict[str, frozenset[str] | None] = {
    "roles": None,  # any group name may be mapped
    "sessions": frozenset({"absolute_hours", "idle_minutes"}),
    "mfa": frozenset({"issuer_label", "step_up_minutes", "max_failures", "lockout_minutes"}),
    "anomalies": frozenset({"reads_per_grant", "customers_per_ticket", "ticket_window_minutes",
                            "work_start_hour", "work_end_hour", "work_days",
                            "breakglass_review_hours", "denials", "denial_window_minutes"}),
}


class _Reader:

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def _error(self, key: str, rule: str) -> InvalidInput:
        return InvalidInput(f"{self.path}: {key}", rule)

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self._error(name, "must be a table")
        return value

    def number(self, section: str, key: str, default: int, low: int, high: int) -> int:
        value = self.section(section).get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._error(f"{section}.{key}", f"must be a whole number from {low} to {high}")
        return value

    def text(self, section: str, key: str, default: str) -> str:
        value = self.section(section).get(key, default)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise self._error(f"{section}.{key}", "must be non-empty text of at most 64 chars")
        return value

    def weekdays(self, section: str, key: str, default: list[str]) -> frozenset[int]:
        """Day names (mon … sun) as datetime weekday numbers (Monday = 0)."""
        value = self.section(section).get(key, default)
        names = [d.lower() for d in DAY_NAMES]
        if not isinstance(value, list) or not all(isinstance(d, str) and d.lower() in names
                                                  for d in value):
            raise self._error(f"{section}.{key}", f"must be a list of day names: {names}")
        return frozenset(names.index(d.lower()) for d in value)

    def roles(self) -> dict[str, Role]:
        mapping = {}
        for group, role in self.section("roles").items():
            if role not in Role.__members__.values():
                raise self._error(f"roles.{group}", f"must be one of {sorted(Role)}")
            mapping[group] = Role(role)
        return mapping

    def refuse_unknown(self) -> None:
        for section, value in self.data.items():
            if section not in _KNOWN:
                raise self._error(section, "is not a known section")
            known = _KNOWN[section]
            unknown = sorted(set(value) - known) if known is not None else []
            if unknown:
                raise self._error(f"{section}.{unknown[0]}", "is not a known key")

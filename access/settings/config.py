"""Gatehouse configuration (TOML): group → role mapping, session lifetimes, MFA rules, and the
thresholds of the auditors' anomaly rules.

Contract: `load_config` returns a valid `Config` or raises `InvalidInput` naming the file, the
key and the rule. Unknown keys are errors, not ignored: a typo must not silently fall back to
a default in a security setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from access.principal import Role
from access.reviews.rules import ReviewRules
from access.settings.toml import Table, read_toml
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
class BrokerPolicy:
    max_rows: int = 5000  # rows one read, reveal or export of a scope serves, at most


@dataclass(frozen=True)
class DsrPolicy:
    """Deadlines of data-subject requests per jurisdiction, and when the clock warns."""

    gdpr_months: int = 1             # GDPR Art. 12(3): one month of receipt
    gdpr_extension_months: int = 2   # once, by up to two more months, while the first runs
    ccpa_days: int = 45
    ccpa_extension_days: int = 45
    due_soon_days: int = 7
    notify_days_before: int = 5


@dataclass(frozen=True)
class Config:
    group_roles: dict[str, Role]
    sessions: SessionPolicy = SessionPolicy()
    mfa: MfaPolicy = MfaPolicy()
    anomalies: AnomalyRules = field(default_factory=AnomalyRules)
    broker: BrokerPolicy = BrokerPolicy()
    dsr: DsrPolicy = DsrPolicy()
    reviews: ReviewRules = field(default_factory=ReviewRules)

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
    _, data = read_toml(path)
    top = Table(path, "", data, allowed=frozenset(_KNOWN))
    sessions, mfa = (top.table(name, _KNOWN[name]) for name in ("sessions", "mfa"))
    return Config(
        group_roles=_roles(top.table("roles")),
        sessions=SessionPolicy(
            absolute=timedelta(hours=sessions.whole("absolute_hours", 1, 24, 12)),
            idle=timedelta(minutes=sessions.whole("idle_minutes", 1, 240, 30))),
        mfa=MfaPolicy(
            issuer_label=mfa.text("issuer_label", "Gatehouse"),
            step_up=timedelta(minutes=mfa.whole("step_up_minutes", 1, 60, 5)),
            max_failures=mfa.whole("max_failures", 1, 100, 5),
            lockout=timedelta(minutes=mfa.whole("lockout_minutes", 1, 1440, 15))),
        anomalies=_anomalies(top.table("anomalies", _KNOWN["anomalies"])),
        broker=BrokerPolicy(max_rows=top.table("broker", _KNOWN["broker"]).whole(
            "max_rows", 1, 1_000_000, 5000)),
        dsr=_dsr(top.table("dsr", _KNOWN["dsr"])),
        reviews=_reviews(top.table("reviews", _KNOWN["reviews"])))


def _dsr(table: Table) -> DsrPolicy:
    whole = table.whole
    return DsrPolicy(gdpr_months=whole("gdpr_months", 1, 3, 1),
                     gdpr_extension_months=whole("gdpr_extension_months", 0, 2, 2),
                     ccpa_days=whole("ccpa_days", 1, 90, 45),
                     ccpa_extension_days=whole("ccpa_extension_days", 0, 45, 45),
                     due_soon_days=whole("due_soon_days", 1, 60, 7),
                     notify_days_before=whole("notify_days_before", 0, 60, 5))


def _reviews(table: Table) -> ReviewRules:
    whole = table.whole
    return ReviewRules(
        look_back_days=whole("look_back_days", 1, 730, 90),
        no_sign_in_days=whole("no_sign_in_days", 1, 730, 60),
        wide_reading_customers=whole("wide_reading_customers", 1, 1_000_000, 300),
        wide_reading_tickets=whole("wide_reading_tickets", 1, 10_000, 3),
        anomaly_flags=whole("anomaly_flags", 1, 10_000, 3))


def _roles(table: Table) -> dict[str, Role]:
    mapping = {}
    for group, role in table.data.items():
        if role not in Role.__members__.values():
            raise table.error(group, f"must be one of {sorted(Role)}")
        mapping[group] = Role(role)
    return mapping


def _weekdays(table: Table, name: str, default: list[str]) -> frozenset[int]:
    """Day names (mon … sun) as datetime weekday numbers (Monday = 0)."""
    value = table.value(name, default)
    names = [d.lower() for d in DAY_NAMES]
    if not isinstance(value, list) or not all(isinstance(d, str) and d.lower() in names
                                              for d in value):
        raise table.error(name, f"must be a list of day names: {names}")
    return frozenset(names.index(d.lower()) for d in value)


def _anomalies(table: Table) -> AnomalyRules:
    whole = table.whole
    start = whole("work_start_hour", 0, 23, 7)
    end = whole("work_end_hour", 1, 24, 19)
    if end <= start:
        raise table.error("work_end_hour", "must be later than work_start_hour")
    return AnomalyRules(
        reads_per_grant=whole("reads_per_grant", 1, 1_000_000, 200),
        customers_per_ticket=whole("customers_per_ticket", 1, 1000, 3),
        ticket_window=timedelta(minutes=whole("ticket_window_minutes", 1, 10_080, 60)),
        work_start_hour=start, work_end_hour=end,
        work_days=_weekdays(table, "work_days", ["mon", "tue", "wed", "thu", "fri"]),
        breakglass_review=timedelta(hours=whole("breakglass_review_hours", 1, 720, 24)),
        denials=whole("denials", 2, 1000, 5),
        denial_window=timedelta(minutes=whole("denial_window_minutes", 1, 1440, 15)))


_KNOWN: dict[str, frozenset[str] | None] = {
    "roles": None,  # any group name may be mapped
    "broker": frozenset({"max_rows"}),
    "dsr": frozenset({"gdpr_months", "gdpr_extension_months", "ccpa_days",
                      "ccpa_extension_days", "due_soon_days", "notify_days_before"}),
    "sessions": frozenset({"absolute_hours", "idle_minutes"}),
    "mfa": frozenset({"issuer_label", "step_up_minutes", "max_failures", "lockout_minutes"}),
    "reviews": frozenset({"look_back_days", "no_sign_in_days", "wide_reading_customers",
                          "wide_reading_tickets", "anomaly_flags"}),
    "anomalies": frozenset({"reads_per_grant", "customers_per_ticket", "ticket_window_minutes",
                            "work_start_hour", "work_end_hour", "work_days",
                            "breakglass_review_hours", "denials", "denial_window_minutes"}),
}

"""The configuration loader refuses mistakes with the file, key and rule in the message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from access.errors import InvalidInput
from access.principal import Role
from access.settings.config import DEFAULT_PATH, load_config
from audit.anomalies import AnomalyRules


def test_the_shipped_configuration_loads() -> None:
    config = load_config(DEFAULT_PATH)
    assert config.sessions.absolute == timedelta(hours=12)
    assert config.sessions.idle == timedelta(minutes=30)
    assert config.roles_for(["support", "marketing"]) == {Role.REQUESTER}
    assert config.roles_for("support") == frozenset()  # a string is not a list of groups
    assert config.anomalies == AnomalyRules()  # the shipped thresholds are the defaults


def test_anomaly_thresholds_and_working_days_are_read(tmp_path: Path) -> None:
    path = tmp_path / "gatehouse.toml"
    path.write_text("[anomalies]\nreads_per_grant = 50\nwork_days = ['Sat', 'sun']\n"
                    "work_start_hour = 0\nwork_end_hour = 24\nticket_window_minutes = 5\n")
    rules = load_config(path).anomalies
    assert rules.reads_per_grant == 50 and rules.work_days == {5, 6}
    assert (rules.work_start_hour, rules.work_end_hour) == (0, 24)
    assert rules.ticket_window == timedelta(minutes=5)


@pytest.mark.parametrize(("text", "key", "rule"), [
    ("[roles]\nsupport = 'superuser'", "roles.support", "must be one of"),
    ("[sessions]\nidle_minutes = 0", "sessions.idle_minutes", "from 1 to 240"),
    ("[sessions]\nabsolute_hours = 48", "sessions.absolute_hours", "from 1 to 24"),
    ("[sessions]\nidle_minutes = '30'", "sessions.idle_minutes", "whole number"),
    ("[sessions]\nidel_minutes = 30", "sessions.idel_minutes", "not a known key"),
    ("[mfa]\nmax_failures = 1000", "mfa.max_failures", "from 1 to 100"),
    ("[mfa]\nissuer_label = ''", "mfa.issuer_label", "non-empty"),
    ("[typo]\nx = 1", "typo", "not a known section"),
    ("[anomalies]\nreads_per_grant = 0", "anomalies.reads_per_grant", "from 1 to"),
    ("[anomalies]\nwork_days = ['mon', 'funday']", "anomalies.work_days", "day names"),
    ("[anomalies]\nwork_days = 'mon'", "anomalies.work_days", "day names"),
    ("[anomalies]\nwork_start_hour = 9\nwork_end_hour = 9", "anomalies.work_end_hour",
     "later than work_start_hour"),
    ("[anomalies]\ndenials = 1", "anomalies.denials", "from 2 to"),
    ("[anomalies]\nread_per_grant = 5", "anomalies.read_per_grant", "not a known key"),
    ("not toml at all [", "", "cannot be read as TOML"),
])
def test_bad_configuration_names_file_key_and_rule(tmp_path: Path, text: str, key: str,
                                                   rule: str) -> None:
    path = tmp_path / "gatehouse.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        load_config(path)
    assert str(path) in caught.value.field and key in caught.value.field
    assert rule in caught.value.rule

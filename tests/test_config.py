"""The configuration loader refuses mistakes with the file, key and rule in the message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from access.config import DEFAULT_PATH, load_config
from access.errors import InvalidInput
from access.principal import Role


def test_the_shipped_configuration_loads() -> None:
    config = load_config(DEFAULT_PATH)
    assert config.sessions.absolute == timedelta(hours=12)
    assert config.sessions.idle == timedelta(minutes=30)
    assert config.roles_for(["support", "marketing"]) == {Role.REQUESTER}
    assert config.roles_for("support") == frozenset()  # a string is not a list of groups


@pytest.mark.parametrize(("text", "key", "rule"), [
    ("[roles]\nsupport = 'superuser'", "roles.support", "must be one of"),
    ("[sessions]\nidle_minutes = 0", "sessions.idle_minutes", "from 1 to 240"),
    ("[sessions]\nabsolute_hours = 48", "sessions.absolute_hours", "from 1 to 24"),
    ("[sessions]\nidle_minutes = '30'", "sessions.idle_minutes", "whole number"),
    ("[sessions]\nidel_minutes = 30", "sessions.idel_minutes", "not a known key"),
    ("[mfa]\nmax_failures = 1000", "mfa.max_failures", "from 1 to 100"),
    ("[mfa]\nissuer_label = ''", "mfa.issuer_label", "non-empty"),
    ("[typo]\nx = 1", "typo", "not a known section"),
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

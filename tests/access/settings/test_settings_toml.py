"""The one typed TOML reader behind configuration, policy and catalog: every error names the
file and the dotted key; unknown keys are refused and required ones checked on opening."""

from __future__ import annotations

from pathlib import Path

import pytest

from access.errors import InvalidInput
from access.settings.toml import Table, read_toml

PATH = Path("settings.toml")


def refused(build: object) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as caught:
        build()  # type: ignore[operator]
    return caught.value.field, caught.value.rule


def test_unknown_required_and_shape_errors_name_file_and_dotted_key() -> None:
    top = Table(PATH, "", {"a": {"b": {"c": 1}}})
    a = top.table("a")
    assert a.field("b") == "settings.toml: a.b" and top.field("") == "settings.toml: (top level)"
    assert refused(lambda: a.table("b", frozenset({"d"}))) == (
        "settings.toml: a.b.c", "is not a known key")
    assert refused(lambda: Table(PATH, "", {"typo": {}}, frozenset())) == (
        "settings.toml: typo", "is not a known key: not a known section")
    assert refused(lambda: a.table("b", required=frozenset({"c", "d"}))) == (
        "settings.toml: a.b.d", "is required: it has no default")
    assert refused(lambda: Table(PATH, "x", 3)) == ("settings.toml: x", "must be a table")
    assert refused(lambda: top.table("none", non_empty=True)) == (
        "settings.toml: none", "must be a non-empty table")


def test_typed_reads_refuse_what_is_not_their_type() -> None:
    table = Table(PATH, "t", {"n": True, "f": 1, "s": ""})
    assert refused(lambda: table.whole("n", 0, 9))[1] == "must be a whole number from 0 to 9"
    assert refused(lambda: table.flag("f"))[1] == "must be true or false"
    assert refused(lambda: table.text("s"))[1] == "must be non-empty text of at most 64 chars"
    assert table.whole("absent", 1, 9, default=3) == 3


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff not utf-8")
    field, rule = refused(lambda: read_toml(path))
    assert field == str(path) and rule.startswith("cannot be read as TOML")

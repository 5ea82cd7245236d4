"""One typed reader for Gatehouse's TOML files (configuration, policy, catalog).

Contract: every error is `InvalidInput` whose field names the file and the dotted key
(`policy.toml: rules.production.approvals`, `(top level)` for the file itself) and whose rule
says what is wrong. A table refuses unknown keys and checks required ones when it is opened,
the same way for every file: a typo must never fall back to a default in a security setting.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from access.errors import InvalidInput

__all__ = ["Table", "located", "read_toml"]

_Member = TypeVar("_Member", bound=StrEnum)


def located(path: Path | str, dotted: str) -> str:
    """How every settings error names a key: `file: dotted.key`."""
    return f"{path}: {dotted or '(top level)'}"


def read_toml(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes (whose hash versions it) and its parsed TOML; InvalidInput naming the
    file when it cannot be read, is not UTF-8 or is not TOML."""
    try:
        raw = path.read_bytes()
        return raw, tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(str(path), f"cannot be read as TOML: {exc}") from None


class Table:
    """One table of a parsed file: typed reads whose errors name file and dotted key.

    `allowed` None means any key (a mapping such as group → role); `required` keys have no
    default. Both are checked here, once, so each loader states its keys instead of code.
    """

    def __init__(self, path: Path, key: str, data: object,
                 allowed: frozenset[str] | None = None,
                 required: frozenset[str] = frozenset()) -> None:
        self.path, self.key = path, key
        if not isinstance(data, dict):
            raise self.error("", "must be a table")
        unknown = sorted(data.keys() - allowed) if allowed is not None else []
        if unknown:
            # (a mistyped [section] reads as one: the rule says both words)
            kind = ": not a known section" if isinstance(data[unknown[0]], dict) else ""
            raise self.error(unknown[0], f"is not a known key{kind}")
        missing = sorted(required - data.keys())
        if missing:
            raise self.error(missing[0], "is required: it has no default")
        self.data: dict[str, Any] = data

    def dotted(self, name: str) -> str:
        return ".".join(part for part in (self.key, name) if part)

    def field(self, name: str) -> str:
        return located(self.path, self.dotted(name))

    def error(self, name: str, rule: str) -> InvalidInput:
        return InvalidInput(self.field(name), rule)

    def table(self, name: str, allowed: frozenset[str] | None = None,
              required: frozenset[str] = frozenset(), *, non_empty: bool = False) -> Table:
        """A sub-table; an absent one is empty (required keys were checked by the parent)."""
        value = self.data.get(name, {})
        if non_empty and (not isinstance(value, dict) or not value):
            raise self.error(name, "must be a non-empty table")
        return Table(self.path, self.dotted(name), value, allowed, required)

    def value(self, name: str, default: object = None) -> Any:
        """The raw value; `default` when the key is absent and has one."""
        return self.data[name] if default is None else self.data.get(name, default)

    def whole(self, name: str, low: int, high: int, default: int | None = None) -> int:
        value = self.value(name, default)
        # TOML booleans are ints to Python; `approvals = true` must not mean 1.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(name, f"must be a whole number from {low} to {high}")
        return value

    def flag(self, name: str) -> bool:
        if not isinstance(self.data[name], bool):
            raise self.error(name, "must be true or false")
        return bool(self.data[name])

    def text(self, name: str, default: str | None = None, most: int = 64) -> str:
        value = self.value(name, default)
        if not isinstance(value, str) or not value.strip() or len(value) > most:
            raise self.error(name, f"must be non-empty text of at most {most} chars")
        return value

    def members(self, name: str, kind: type[_Member]) -> frozenset[_Member]:
        values, items = [m.value for m in kind], self.data[name]
        if not isinstance(items, list):
            raise self.error(name, f"must be a list drawn from {', '.join(values)}")
        unknown = [item for item in items if item not in values]
        if unknown:
            raise self.error(name, f"{unknown[0]!r} is not one of {', '.join(values)}")
        return frozenset(kind(item) for item in items)

"""The data catalog: which tables and columns each data scope covers, and how sensitive each
column is.

Contract: `load_catalog` returns a `Catalog` or raises `InvalidInput` whose field names the file
and the dotted key (`catalog.toml: tables.contacts.columns.email`) and whose rule says what is
wrong. Unknown keys are errors. Every policy scope is served by at least one table, and a table
belongs to exactly one scope. `customer_keys` can never be catalogued, so no grant can read
wrapped keys. pii and secret columns must be encrypted, and only pii, financial or secret
columns may be. `version` is the SHA-256 of the file's bytes.

`validate_against` checks a catalog against a live customer database: the broker refuses to
start when they disagree (a table or column the database lacks, or a live column nobody
classified), because a column without a classification cannot be masked correctly.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, LargeBinary, inspect

from access.errors import InvalidInput
from access.workflow.policy import DEFAULT_SCOPES
from audit.settings import PROJECT_ROOT

__all__ = ["DEFAULT_PATH", "Catalog", "Classification", "Column", "Table", "catalog_path",
           "load_catalog", "validate_against"]

DEFAULT_PATH = PROJECT_ROOT / "config" / "catalog.toml"
NEVER_CATALOGUED = frozenset({"customer_keys"})  # wrapped data keys: no grant may read them


class Classification(StrEnum):
    PUBLIC = "public"        # a value from a fixed, published vocabulary
    INTERNAL = "internal"    # customer-specific, neither personal nor financial
    PII = "pii"              # identifies a person
    FINANCIAL = "financial"  # payment data and money amounts
    SECRET = "secret"        # noqa: S105 (a label, not a password) credentials and keys


ENCRYPTABLE = frozenset({Classification.PII, Classification.FINANCIAL, Classification.SECRET})
MUST_ENCRYPT = frozenset({Classification.PII, Classification.SECRET})


@dataclass(frozen=True)
class Column:
    name: str
    classification: Classification
    encrypted: bool  # stored sealed with the customer's data key (`access.data.envelope`)


@dataclass(frozen=True)
class Table:
    name: str
    scope: str
    customer_column: str  # binds every query on this table to one customer
    columns: tuple[Column, ...]
    row_id_column: str = "id"  # bound into each sealed value's AAD


@dataclass(frozen=True)
class Catalog:
    tables: dict[str, Table]
    version: str
    source: str = ""  # the file it was read from; names it in errors

    def scopes(self) -> tuple[str, ...]:
        """Every scope some table serves, sorted."""
        return tuple(sorted({table.scope for table in self.tables.values()}))

    def tables_for(self, scope: str) -> list[Table]:
        """The tables of one scope, in catalog order; InvalidInput("scope", ...) if unknown."""
        tables = [table for table in self.tables.values() if table.scope == scope]
        if not tables:
            raise InvalidInput("scope", f"{scope!r} is not a scope of the catalog: one of "
                                        f"{', '.join(self.scopes())}")
        return tables


def catalog_path() -> Path:
    """`GATEHOUSE_CATALOG`, else the shipped `config/catalog.toml`."""
    return Path(os.environ.get("GATEHOUSE_CATALOG") or DEFAULT_PATH)


def load_catalog(path: Path | None = None,
                 known_scopes: Sequence[str] = DEFAULT_SCOPES) -> Catalog:
    """Read and check a catalog file (default `catalog_path()`); see the module contract."""
    path = catalog_path() if path is None else path
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(str(path), f"cannot be read as TOML: {exc}") from None
    errors = _Errors(path)
    errors.keys("", data, allowed={"tables"}, required={"tables"})
    tables_data = errors.table("tables", data["tables"])
    tables = {name: _table(errors, name, spec, known_scopes) for name, spec in tables_data.items()}
    served = {table.scope for table in tables.values()}
    for scope in known_scopes:
        if scope not in served:
            raise errors("tables", f"no table serves scope {scope!r}: every scope needs one")
    return Catalog(tables, hashlib.sha256(raw).hexdigest(), str(path))


_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")  # what the broker may name in a query
_TABLE_KEYS = frozenset({"scope", "customer_column", "row_id_column", "columns"})
_COLUMN_KEYS = frozenset({"class", "encrypted"})


def _table(errors: _Errors, name: str, spec: object, known_scopes: Sequence[str]) -> Table:
    key = f"tables.{name}"
    if name in NEVER_CATALOGUED:
        raise errors(key, "must never be in the catalog: it holds wrapped data keys")
    errors.identifier(key, name)
    spec = errors.keys(key, spec, allowed=_TABLE_KEYS,
                       required=_TABLE_KEYS - {"row_id_column"})
    scope = spec["scope"]
    if not isinstance(scope, str):
        raise errors(f"{key}.scope", "must be the name of exactly one scope: a table belongs "
                                     "to one scope")
    if scope not in known_scopes:
        raise errors(f"{key}.scope", f"{scope!r} is not a known scope: one of "
                                     f"{', '.join(known_scopes)}")
    columns = tuple(_column(errors, f"{key}.columns.{column}", column, value)
                    for column, value in errors.table(f"{key}.columns",
                                                      spec["columns"]).items())
    names = {column.name: column for column in columns}
    for role in ("customer_column", "row_id_column"):
        chosen = spec.get(role, "id")
        if chosen not in names:
            raise errors(f"{key}.{role}", f"must name one of the table's listed columns, "
                                          f"not {chosen!r}")
        if names[chosen].encrypted:
            raise errors(f"{key}.{role}", "must name a column that is not encrypted: queries "
                                          "and AAD bind on its plain value")
    return Table(name, scope, spec["customer_column"], columns, spec.get("row_id_column", "id"))


def _column(errors: _Errors, key: str, name: str, value: object) -> Column:
    errors.identifier(key, name)
    spec = errors.keys(key, value, allowed=_COLUMN_KEYS, required=_COLUMN_KEYS)
    if spec["class"] not in Classification.__members__.values():
        raise errors(f"{key}.class", f"{spec['class']!r} is not one of "
                                     f"{', '.join(Classification)}")
    classification = Classification(spec["class"])
    encrypted = spec["encrypted"]
    if not isinstance(encrypted, bool):
        raise errors(f"{key}.encrypted", "must be true or false")
    if encrypted and classification not in ENCRYPTABLE:
        raise errors(f"{key}.encrypted", f"is only for pii, financial or secret columns, not "
                                         f"{classification}")
    if not encrypted and classification in MUST_ENCRYPT:
        raise errors(f"{key}.encrypted", f"must be true for a {classification} column: "
                                         "sensitive information is encrypted at rest")
    return Column(name, classification, encrypted)


class _Errors:
    """Builds InvalidInput naming `file: dotted.key`, and checks the shape of a TOML table."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, key: str, rule: str) -> InvalidInput:
        return InvalidInput(f"{self.path}: {key or '(top level)'}", rule)

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict) or not value:
            raise self(key, "must be a non-empty table")
        return value

    def keys(self, key: str, value: object, allowed: frozenset[str] | set[str],
             required: frozenset[str] | set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self(key, "must be a table")
        dotted = f"{key}." if key else ""
        unknown = sorted(value.keys() - allowed)
        if unknown:
            raise self(f"{dotted}{unknown[0]}", "is not a known key")
        missing = sorted(required - value.keys())
        if missing:
            raise self(f"{dotted}{missing[0]}", "is required")
        return value

    def identifier(self, key: str, name: str) -> None:
        if not _IDENTIFIER.fullmatch(name):
            raise self(key, "must be a lower-case SQL identifier (a-z, 0-9, _)")


def validate_against(catalog: Catalog, engine: Engine) -> None:
    """Raise InvalidInput naming the catalog key when the live database does not match: a
    catalogued table or column it lacks, a live column the catalog does not classify, an
    encrypted column that is not binary, or a row id column that is not the primary key."""
    inspector = inspect(engine)
    live_tables = set(inspector.get_table_names())

    def error(key: str, rule: str) -> InvalidInput:
        return InvalidInput(f"{catalog.source}: {key}" if catalog.source else key, rule)

    for table in catalog.tables.values():
        key = f"tables.{table.name}"
        if table.name not in live_tables:
            raise error(key, "is not a table of the customer database")
        live = {column["name"]: column for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in live:
                raise error(f"{key}.columns.{column.name}",
                            f"is not a column of {table.name} in the customer database")
            if column.encrypted and not isinstance(live[column.name]["type"], LargeBinary):
                raise error(f"{key}.columns.{column.name}",
                            "is marked encrypted but the database column is not binary")
        unlisted = sorted(live.keys() - {column.name for column in table.columns})
        if unlisted:
            raise error(f"{key}.columns", f"does not list live column {unlisted[0]!r}: every "
                                          "column must be classified")
        primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
        if primary != [table.row_id_column]:
            raise error(f"{key}.row_id_column",
                        f"must be the table's primary key ({', '.join(primary) or 'none'})")

"""The data catalog: which tables and columns each data scope covers, and how sensitive each
column is.

Contract: `load_catalog` returns a `Catalog` or raises `InvalidInput` whose field names the file
and the dotted key (`catalog.toml: tables.contacts.columns.email`) and whose rule says what is
wrong. Unknown keys are errors. Every policy scope is served by at least one table, and a table
belongs to exactly one scope. `customer_keys` can never be catalogued, so no grant can read
wrapped keys. pii and secret columns must be encrypted, and only pii, financial or secret
columns may be. Each column's `mask` names how a read shows it when it is not revealed
(`access.data.masks`): `none` only for public and internal columns, `full` or `last4` for
financial ones, `full`, `last4`, `email_domain` or `initial` for pii, and `full` only for
secrets; by default `full` for pii, financial and secret columns and `none` otherwise. A refused
rule names the table, the column and the rule. `version` is the SHA-256 of the file's bytes, so
it changes with every rule.

`validate_against` checks a catalog against a live customer database: the broker refuses to
start when they disagree (a table or column the database lacks, or a live column nobody
classified), because a column without a classification cannot be masked correctly.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, LargeBinary, inspect

from access.data.masks import MaskRule
from access.errors import InvalidInput
from access.settings import toml
from access.workflow.policy import DEFAULT_SCOPES
from audit.settings import PROJECT_ROOT

__all__ = ["ALLOWED_MASKS", "DEFAULT_PATH", "Catalog", "Classification", "Column", "Table",
           "catalog_path", "default_mask", "load_catalog", "validate_against"]

DEFAULT_PATH = PROJECT_ROOT / "config" / "catalog.toml"
# wrapped data keys, and the blind index of emails: no grant may read them
NEVER_CATALOGUED = frozenset({"customer_keys", "contact_email_index"})


class Classification(StrEnum):
    PUBLIC = "public"        # a value from a fixed, published vocabulary
    INTERNAL = "internal"    # customer-specific, neither personal nor financial
    PII = "pii"              # identifies a person
    FINANCIAL = "financial"  # payment data and money amounts
    SECRET = "secret"        # noqa: S105 (a label, not a password) credentials and keys


ENCRYPTABLE = frozenset({Classification.PII, Classification.FINANCIAL, Classification.SECRET})
MUST_ENCRYPT = frozenset({Classification.PII, Classification.SECRET})

_PARTIAL = frozenset({MaskRule.FULL, MaskRule.LAST4, MaskRule.EMAIL_DOMAIN, MaskRule.INITIAL})
ALLOWED_MASKS: dict[Classification, frozenset[MaskRule]] = {
    Classification.PUBLIC: frozenset(MaskRule),
    Classification.INTERNAL: frozenset(MaskRule),
    Classification.PII: _PARTIAL,
    # an initial or a domain says nothing useful of a payment value
    Classification.FINANCIAL: frozenset({MaskRule.FULL, MaskRule.LAST4}),
    # a credential is never shown in part: any part of a key shortens the search for the rest
    Classification.SECRET: frozenset({MaskRule.FULL}),
}


def default_mask(classification: Classification) -> MaskRule:
    """`full` for pii, financial and secret columns; `none` for public and internal ones."""
    return MaskRule.FULL if classification in ENCRYPTABLE else MaskRule.NONE


@dataclass(frozen=True)
class Column:
    name: str
    classification: Classification
    encrypted: bool  # stored sealed with the customer's data key (`access.data.envelope`)
    mask: MaskRule = MaskRule.FULL  # how a read shows it unless revealed (`access.data.masks`)

    @property
    def masked(self) -> bool:
        """Whether a read hides any of it (a rule other than `none`)."""
        return self.mask != MaskRule.NONE

    @property
    def revealable(self) -> bool:
        """Whether a reveal may show it in clear: a masked column that is not a secret."""
        return self.masked and self.classification != Classification.SECRET


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
    raw, data = toml.read_toml(path)
    top = toml.Table(path, "", data, allowed=frozenset({"tables"}), required=frozenset({"tables"}))
    tables_data = top.table("tables", non_empty=True)
    tables = {name: _table(tables_data, name, known_scopes) for name in tables_data.data}
    served = {table.scope for table in tables.values()}
    for scope in known_scopes:
        if scope not in served:
            raise top.error("tables", f"no table serves scope {scope!r}: every scope needs one")
    return Catalog(tables, hashlib.sha256(raw).hexdigest(), str(path))


_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")  # what the broker may name in a query
_TABLE_KEYS = frozenset({"scope", "customer_column", "row_id_column", "columns"})
_COLUMN_KEYS = frozenset({"class", "encrypted", "mask"})


def _table(tables: toml.Table, name: str, known_scopes: Sequence[str]) -> Table:
    if name in NEVER_CATALOGUED:
        raise tables.error(name, "must never be in the catalog: it holds wrapped data keys "
                                 "or the blind index")
    _identifier(tables, name)
    spec = tables.table(name, _TABLE_KEYS, required=_TABLE_KEYS - {"row_id_column"})
    scope = spec.data["scope"]
    if not isinstance(scope, str):
        raise spec.error("scope", "must be the name of exactly one scope: a table belongs "
                                  "to one scope")
    if scope not in known_scopes:
        raise spec.error("scope", f"{scope!r} is not a known scope: one of "
                                  f"{', '.join(known_scopes)}")
    listed = spec.table("columns", non_empty=True)
    columns = tuple(_column(listed, column) for column in listed.data)
    names = {column.name: column for column in columns}
    for role in ("customer_column", "row_id_column"):
        chosen = spec.data.get(role, "id")
        if chosen not in names:
            raise spec.error(role, f"must name one of the table's listed columns, "
                                   f"not {chosen!r}")
        if names[chosen].encrypted:
            raise spec.error(role, "must name a column that is not encrypted: queries "
                                   "and AAD bind on its plain value")
    return Table(name, scope, spec.data["customer_column"], columns,
                 spec.data.get("row_id_column", "id"))


def _column(columns: toml.Table, name: str) -> Column:
    _identifier(columns, name)
    spec = columns.table(name, _COLUMN_KEYS, required=_COLUMN_KEYS - {"mask"})
    if spec.data["class"] not in Classification.__members__.values():
        raise spec.error("class", f"{spec.data['class']!r} is not one of "
                                  f"{', '.join(Classification)}")
    classification = Classification(spec.data["class"])
    encrypted = spec.flag("encrypted")
    if encrypted and classification not in ENCRYPTABLE:
        raise spec.error("encrypted", f"is only for pii, financial or secret columns, not "
                                      f"{classification}")
    if not encrypted and classification in MUST_ENCRYPT:
        raise spec.error("encrypted", f"must be true for a {classification} column: "
                                      "sensitive information is encrypted at rest")
    return Column(name, classification, encrypted, _mask(spec, name, classification))


def _mask(spec: toml.Table, column: str, classification: Classification) -> MaskRule:
    """The column's mask rule; InvalidInput naming table, column and rule when it is unknown
    or not allowed for the column's classification."""
    rule = spec.data.get("mask", default_mask(classification).value)
    where = f"{spec.key.split('.')[1]}.{column}"  # tables.<table>.columns.<column>
    if rule not in MaskRule.__members__.values():
        raise spec.error("mask", f"{rule!r} on {where} is not a mask rule: one of "
                                 f"{', '.join(MaskRule)}")
    allowed = ALLOWED_MASKS[classification]
    if MaskRule(rule) not in allowed:
        raise spec.error("mask", f"{rule!r} on {where} is not allowed for a {classification} "
                                 f"column: one of {', '.join(sorted(allowed))}")
    return MaskRule(rule)


def _identifier(table: toml.Table, name: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        raise table.error(name, "must be a lower-case SQL identifier (a-z, 0-9, _)")


def validate_against(catalog: Catalog, engine: Engine) -> None:
    """Raise InvalidInput naming the catalog key when the live database does not match: a
    catalogued table or column it lacks, a live column the catalog does not classify, an
    encrypted column that is not binary, or a row id column that is not the primary key."""
    inspector = inspect(engine)
    live_tables = set(inspector.get_table_names())

    def error(key: str, rule: str) -> InvalidInput:
        return InvalidInput(toml.located(catalog.source, key) if catalog.source else key, rule)

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

"""The data catalog: scopes → tables → classified columns, checked on load and against the
live customer database."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, LargeBinary

from access.data.catalog import (
    ALLOWED_MASKS,
    DEFAULT_PATH,
    Catalog,
    Classification,
    default_mask,
    load_catalog,
    validate_against,
)
from access.data.customer_db.schema import CustomerBase, create_schema
from access.data.envelope import LocalMasterKey
from access.data.masks import MaskRule
from access.data.subject_index import BlindIndex
from access.errors import InvalidInput
from access.ops.generate_customers import generate
from access.workflow.policy import DEFAULT_SCOPES
from audit.engine import make_engine

SHIPPED = DEFAULT_PATH.read_text(encoding="utf-8")
SCOPE_TABLES = {
    "account": ["customers"],
    "contacts": ["contacts"],
    "subscriptions": ["subscriptions", "subscription_events"],
    "billing": ["invoices"],
    "telemetry": ["telemetry_events"],
    "devices": ["devices"],
    "bot_runs": ["bot_runs"],
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'customers.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def shipped() -> Catalog:
    return load_catalog(DEFAULT_PATH)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    """The shipped catalog with one edit; fails loudly if the text to edit is not there."""
    assert SHIPPED.count(old) == 1, f"the shipped catalog no longer contains {old!r} once"
    return SHIPPED.replace(old, new)


# The shipped catalog


def test_shipped_catalog_loads_and_matches_a_generated_database(engine: Engine,
                                                                shipped: Catalog) -> None:
    generate(engine, LocalMasterKey(os.urandom(32)), customers=3,
             today=datetime(2026, 5, 1, tzinfo=UTC), index=BlindIndex(os.urandom(32)))
    validate_against(shipped, engine)


def test_shipped_scopes_are_exactly_the_policy_scopes(shipped: Catalog) -> None:
    assert shipped.scopes() == tuple(sorted(DEFAULT_SCOPES))
    assert {scope: [t.name for t in shipped.tables_for(scope)]
            for scope in shipped.scopes()} == SCOPE_TABLES


def test_every_column_of_every_customer_table_is_classified(shipped: Catalog) -> None:
    schema = {name: {column.name for column in table.columns}
              for name, table in CustomerBase.metadata.tables.items()}
    assert "customer_keys" not in shipped.tables
    del schema["customer_keys"]
    assert {name: {c.name for c in table.columns}
            for name, table in shipped.tables.items()} == schema
    for table in shipped.tables.values():
        assert all(isinstance(c.classification, Classification) for c in table.columns)


def test_encrypted_columns_are_exactly_the_sealed_binary_columns(shipped: Catalog) -> None:
    binary = {(name, column.name) for name, table in CustomerBase.metadata.tables.items()
              for column in table.columns if isinstance(column.type, LargeBinary)
              and name != "customer_keys"}
    encrypted = {(t.name, c.name) for t in shipped.tables.values() for c in t.columns
                 if c.encrypted}
    assert encrypted == binary


@pytest.mark.parametrize(("table", "column", "classification", "encrypted"), [
    ("contacts", "full_name", "pii", True),
    ("contacts", "email", "pii", True),
    ("contacts", "phone", "pii", True),
    ("invoices", "card_last4", "financial", True),
    ("invoices", "amount_cents", "financial", False),
    ("subscription_events", "amount_cents", "financial", False),
    ("customers", "company_name", "internal", False),
    ("telemetry_events", "session_hash", "internal", False),
])
def test_sensitive_columns_carry_their_promised_classification(
        shipped: Catalog, table: str, column: str, classification: str, encrypted: bool) -> None:
    found = {c.name: c for c in shipped.tables[table].columns}[column]
    assert (found.classification, found.encrypted) == (classification, encrypted)


def test_every_table_is_bound_to_customers_and_has_a_row_id(shipped: Catalog) -> None:
    assert {t.customer_column for t in shipped.tables.values()} == {"customer_id"}
    assert {t.name: t.row_id_column for t in shipped.tables.values()
            if t.row_id_column != "id"} == {"customers": "customer_id"}


def test_unknown_scope_is_refused_naming_the_field(shipped: Catalog) -> None:
    with pytest.raises(InvalidInput) as caught:
        shipped.tables_for("marketing")
    assert caught.value.field == "scope"
    assert "marketing" in caught.value.rule


def test_version_is_the_sha256_of_the_file(tmp_path: Path, shipped: Catalog) -> None:
    assert shipped.version == hashlib.sha256(DEFAULT_PATH.read_bytes()).hexdigest()
    commented = load_catalog(write(tmp_path, SHIPPED + "# a comment is a new version\n"))
    assert commented.version != shipped.version


def test_environment_variable_chooses_the_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, SHIPPED + "\n")
    monkeypatch.setenv("GATEHOUSE_CATALOG", str(path))
    assert load_catalog().source == str(path)


# Broken catalogs: each error names the file, the key and the rule


_COLUMNS = "[tables.contacts.columns]\n"
BROKEN = {
    "unknown top-level key": (
        SHIPPED + "\n[owners]\nteam = \"support\"\n", "owners", "not a known key"),
    "unknown table key": (
        edited('scope = "contacts"\n', 'scope = "contacts"\nowner = "support"\n'),
        "tables.contacts.owner", "not a known key"),
    "unknown column key": (
        edited('job_title = { class = "internal", encrypted = false }',
               'job_title = { class = "internal", encrypted = false, masked = true }'),
        "tables.contacts.columns.job_title.masked", "not a known key"),
    "unknown classification": (
        edited('company_name = { class = "internal"', 'company_name = { class = "confidential"'),
        "tables.customers.columns.company_name.class", "not one of"),
    "missing classification": (
        edited('job_title = { class = "internal", encrypted = false }',
               "job_title = { encrypted = false }"),
        "tables.contacts.columns.job_title.class", "is required"),
    "encrypted column that is not sensitive": (
        edited('job_title = { class = "internal", encrypted = false }',
               'job_title = { class = "internal", encrypted = true }'),
        "tables.contacts.columns.job_title.encrypted", "only for pii, financial or secret"),
    "pii column left in plaintext": (
        edited('email = { class = "pii", encrypted = true,',
               'email = { class = "pii", encrypted = false,'),
        "tables.contacts.columns.email.encrypted", "must be true"),
    "encrypted flag that is not a boolean": (
        edited('phone = { class = "pii", encrypted = true,',
               'phone = { class = "pii", encrypted = "yes",'),
        "tables.contacts.columns.phone.encrypted", "true or false"),
    "customer column that is not a column": (
        edited('scope = "contacts"\ncustomer_column = "customer_id"',
               'scope = "contacts"\ncustomer_column = "client_id"'),
        "tables.contacts.customer_column", "must name one of the table's listed columns"),
    "table without its customer column listed": (
        edited(_COLUMNS + 'id = { class = "internal", encrypted = false }\n'
                          'customer_id = { class = "internal", encrypted = false }\n',
               _COLUMNS + 'id = { class = "internal", encrypted = false }\n'),
        "tables.contacts.customer_column", "must name one of the table's listed columns"),
    "table in two scopes": (
        edited('scope = "contacts"\n', 'scope = ["contacts", "account"]\n'),
        "tables.contacts.scope", "exactly one scope"),
    "unknown scope": (
        edited('scope = "devices"\n', 'scope = "hardware"\n'),
        "tables.devices.scope", "not a known scope"),
    "scope that no table serves": (
        edited('scope = "bot_runs"\n', 'scope = "telemetry"\n'),
        "tables", "no table serves scope 'bot_runs'"),
    "table without a scope": (
        edited('scope = "devices"\n', ""),
        "tables.devices.scope", "is required"),
    "the key table catalogued": (
        SHIPPED + '\n[tables.customer_keys]\nscope = "account"\ncustomer_column = "customer_id"'
                  '\n[tables.customer_keys.columns]\n'
                  'customer_id = { class = "internal", encrypted = false }\n',
        "tables.customer_keys", "must never be in the catalog"),
    "column name that is not an identifier": (
        edited('job_title = { class', '"job title" = { class'),
        "tables.contacts.columns.job title", "lower-case SQL identifier"),
    "row id that is encrypted": (
        edited('scope = "contacts"\n', 'scope = "contacts"\nrow_id_column = "email"\n'),
        "tables.contacts.row_id_column", "not encrypted"),
    "no tables": ("[tables]\n", "tables", "non-empty table"),
    # mask rules: unknown ones, and any that would show more than the class allows
    "unknown mask rule": (
        edited('phone = { class = "pii", encrypted = true, mask = "last4" }',
               'phone = { class = "pii", encrypted = true, mask = "first4" }'),
        "tables.contacts.columns.phone.mask", "'first4' on contacts.phone is not a mask rule"),
    "mask rule that is not text": (
        edited('mask = "initial"', 'mask = 4'),
        "tables.contacts.columns.full_name.mask", "4 on contacts.full_name is not a mask rule"),
    "pii shown in clear": (
        edited('mask = "email_domain"', 'mask = "none"'),
        "tables.contacts.columns.email.mask",
        "'none' on contacts.email is not allowed for a pii column"),
    "financial shown in clear": (
        edited('amount_cents = { class = "financial", encrypted = false, mask = "full" }',
               'amount_cents = { class = "financial", encrypted = false, mask = "none" }'),
        "tables.invoices.columns.amount_cents.mask",
        "'none' on invoices.amount_cents is not allowed for a financial column: one of full, "
        "last4"),
    "financial shown by its initial": (
        edited('card_last4 = { class = "financial", encrypted = true, mask = "last4" }',
               'card_last4 = { class = "financial", encrypted = true, mask = "initial" }'),
        "tables.invoices.columns.card_last4.mask",
        "'initial' on invoices.card_last4 is not allowed for a financial column"),
    "secret shown in clear": (
        edited('job_title = { class = "internal", encrypted = false }',
               'job_title = { class = "secret", encrypted = true, mask = "none" }'),
        "tables.contacts.columns.job_title.mask",
        "'none' on contacts.job_title is not allowed for a secret column: one of full"),
    "secret shown in part": (
        edited('job_title = { class = "internal", encrypted = false }',
               'job_title = { class = "secret", encrypted = true, mask = "last4" }'),
        "tables.contacts.columns.job_title.mask",
        "'last4' on contacts.job_title is not allowed for a secret column"),
}


@pytest.mark.parametrize(("text", "key", "rule"), list(BROKEN.values()), ids=list(BROKEN))
def test_broken_catalog_is_refused_naming_file_key_and_rule(tmp_path: Path, text: str, key: str,
                                                            rule: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as caught:
        load_catalog(path)
    assert caught.value.field == f"{path}: {key}"
    assert rule in caught.value.rule


def test_a_table_declared_twice_is_not_valid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED + '\n[tables.contacts]\nscope = "account"\n')
    with pytest.raises(InvalidInput) as caught:
        load_catalog(path)
    assert caught.value.field == str(path)
    assert "cannot be read as TOML" in caught.value.rule


def test_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_catalog(tmp_path / "absent.toml")
    assert caught.value.field == str(tmp_path / "absent.toml")


# The catalog against the live database


MISMATCHED = {
    "unknown table": (
        SHIPPED + '\n[tables.refunds]\nscope = "billing"\ncustomer_column = "customer_id"\n'
                  '[tables.refunds.columns]\nid = { class = "internal", encrypted = false }\n'
                  'customer_id = { class = "internal", encrypted = false }\n',
        "tables.refunds", "is not a table of the customer database"),
    "unknown column": (
        edited('card_last4 = { class = "financial", encrypted = true, mask = "last4" }',
               'card_last4 = { class = "financial", encrypted = true, mask = "last4" }\n'
               'coupon = { class = "internal", encrypted = false }'),
        "tables.invoices.columns.coupon", "is not a column of invoices"),
    "live column left unclassified": (
        edited('locale = { class = "internal", encrypted = false }\n', ""),
        "tables.devices.columns", "does not list live column 'locale'"),
    "encrypted column stored as plain data": (
        edited('issued_at = { class = "internal", encrypted = false }\n'
               'amount_cents = { class = "financial", encrypted = false,',
               'issued_at = { class = "internal", encrypted = false }\n'
               'amount_cents = { class = "financial", encrypted = true,'),
        "tables.invoices.columns.amount_cents", "not binary"),
    "row id that is not the primary key": (
        edited('row_id_column = "customer_id"', 'row_id_column = "company_name"'),
        "tables.customers.row_id_column", "primary key"),
}


@pytest.mark.parametrize(("text", "key", "rule"), list(MISMATCHED.values()), ids=list(MISMATCHED))
def test_catalog_that_does_not_match_the_database_is_refused(
        tmp_path: Path, engine: Engine, text: str, key: str, rule: str) -> None:
    path = write(tmp_path, text)
    catalog = load_catalog(path)  # valid on its own: only the database can tell
    with pytest.raises(InvalidInput) as caught:
        validate_against(catalog, engine)
    assert caught.value.field == f"{path}: {key}"
    assert rule in caught.value.rule


# Mask rules


def test_shipped_rules_show_part_of_contacts_and_billing(shipped: Catalog) -> None:
    rules = {f"{t.name}.{c.name}": c.mask for t in shipped.tables.values() for c in t.columns}
    assert {k: rules[k] for k in ("contacts.full_name", "contacts.email", "contacts.phone",
                                  "invoices.card_last4", "invoices.amount_cents")} == {
        "contacts.full_name": MaskRule.INITIAL, "contacts.email": MaskRule.EMAIL_DOMAIN,
        "contacts.phone": MaskRule.LAST4, "invoices.card_last4": MaskRule.LAST4,
        "invoices.amount_cents": MaskRule.FULL}


def test_every_sensitive_column_is_masked_by_default_and_every_other_is_not(
        tmp_path: Path) -> None:
    bare = SHIPPED
    for rule in ('mask = "initial"', 'mask = "email_domain"', 'mask = "last4"', 'mask = "full"'):
        bare = bare.replace(", " + rule, "")
    assert "mask =" not in "\n".join(x for x in bare.splitlines() if not x.startswith("#"))
    catalog = load_catalog(write(tmp_path, bare))
    for table in catalog.tables.values():
        for column in table.columns:
            sensitive = column.classification in {Classification.PII, Classification.FINANCIAL,
                                                  Classification.SECRET}
            assert column.mask == (MaskRule.FULL if sensitive else MaskRule.NONE), column
            assert column.mask == default_mask(column.classification)


def test_the_version_changes_with_a_mask_rule(tmp_path: Path, shipped: Catalog) -> None:
    changed = load_catalog(write(tmp_path, edited('mask = "initial"', 'mask = "full"')))
    assert changed.version != shipped.version
    assert changed.tables["contacts"].columns[2].mask == MaskRule.FULL


def test_a_public_or_internal_column_may_be_masked_and_then_revealed(tmp_path: Path) -> None:
    catalog = load_catalog(write(tmp_path, edited(
        'job_title = { class = "internal", encrypted = false }',
        'job_title = { class = "internal", encrypted = false, mask = "initial" }')))
    job_title = next(c for c in catalog.tables["contacts"].columns if c.name == "job_title")
    assert (job_title.masked, job_title.revealable) == (True, True)


@pytest.mark.parametrize(("classification", "allowed"), [
    ("public", set(MaskRule)), ("internal", set(MaskRule)),
    ("pii", {"full", "last4", "email_domain", "initial"}),
    ("financial", {"full", "last4"}), ("secret", {"full"})])
def test_the_rules_each_class_allows(classification: str, allowed: set[str]) -> None:
    assert ALLOWED_MASKS[Classification(classification)] == allowed

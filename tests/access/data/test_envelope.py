"""Envelope encryption: a unique AES-256 data key per customer, wrapped by a master key that
never lives in the database; values bound to their customer, table, column and row."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from access.data.customer_db.schema import CustomerKey, create_schema
from access.data.envelope import (
    KeyDestroyed,
    LocalMasterKey,
    ValueUnreadable,
    create_data_key,
    create_master_key_file,
    data_key,
    destroy_data_key,
    master_key_from_env,
    open_value,
    rewrap_all,
    seal_value,
)
from access.errors import Conflict, InvalidInput
from audit.engine import make_engine, write_engine

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RAW_MASTER = bytes(range(32))  # known bytes, so the test can look for them in the file


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "customers.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{db_path}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def master() -> LocalMasterKey:
    return LocalMasterKey(RAW_MASTER)


def new_key(engine: Engine, master: LocalMasterKey, customer_id: str) -> bytes:
    with write_engine(engine).begin() as conn:
        return create_data_key(conn, master, customer_id, NOW)


def read_key(engine: Engine, master: LocalMasterKey, customer_id: str) -> bytes:
    with engine.connect() as conn:
        return data_key(conn, master, customer_id)


def file_bytes(engine: Engine, db_path: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, and its WAL before a checkpoint."""
    engine.dispose()
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


# Column values


def test_sealed_value_round_trips() -> None:
    dek = os.urandom(32)
    sealed = seal_value(dek, "cust-0001", "contacts", "email", 7, "zoë@example.com")
    assert b"example" not in sealed and sealed[:1] == b"\x01"
    assert open_value(dek, "cust-0001", "contacts", "email", 7, sealed) == "zoë@example.com"


def test_sealing_the_same_value_twice_gives_different_ciphertexts() -> None:
    dek = os.urandom(32)
    first = seal_value(dek, "cust-0001", "contacts", "email", 7, "a@example.com")
    assert first != seal_value(dek, "cust-0001", "contacts", "email", 7, "a@example.com")


def test_another_customers_data_key_cannot_open_a_value(engine: Engine,
                                                        master: LocalMasterKey) -> None:
    alice, bob = new_key(engine, master, "cust-0001"), new_key(engine, master, "cust-0002")
    assert alice != bob
    sealed = seal_value(alice, "cust-0001", "contacts", "email", 1, "a@example.com")
    with pytest.raises(ValueUnreadable):
        open_value(bob, "cust-0001", "contacts", "email", 1, sealed)
    with pytest.raises(ValueUnreadable):
        open_value(bob, "cust-0002", "contacts", "email", 1, sealed)


@pytest.mark.parametrize(("customer_id", "table", "column", "row_id"), [
    ("cust-0002", "contacts", "email", 1),    # moved to another customer
    ("cust-0001", "invoices", "email", 1),    # ... another table
    ("cust-0001", "contacts", "phone", 1),    # ... another column
    ("cust-0001", "contacts", "email", 2),    # ... another row
])
def test_value_moved_to_another_context_does_not_open(customer_id: str, table: str, column: str,
                                                       row_id: int) -> None:
    dek = os.urandom(32)
    sealed = seal_value(dek, "cust-0001", "contacts", "email", 1, "a@example.com")
    assert open_value(dek, "cust-0001", "contacts", "email", 1, sealed) == "a@example.com"
    with pytest.raises(ValueUnreadable) as caught:
        open_value(dek, customer_id, table, column, row_id, sealed)
    assert "a@example.com" not in str(caught.value)


@pytest.mark.parametrize("tamper", [
    lambda b: b"\x02" + b[1:],                         # unknown version
    lambda b: b[:5] + bytes([b[5] ^ 1]) + b[6:],       # nonce
    lambda b: b[:15] + bytes([b[15] ^ 1]) + b[16:],    # ciphertext
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),             # tag
    lambda b: b[:-1],                                  # truncated
    lambda b: b"",                                     # emptied
], ids=["version", "nonce", "ciphertext", "tag", "truncated", "empty"])
def test_tampered_value_does_not_open(tamper: Callable[[bytes], bytes]) -> None:
    dek = os.urandom(32)
    sealed = seal_value(dek, "cust-0001", "contacts", "email", 1, "a@example.com")
    with pytest.raises(ValueUnreadable):
        open_value(dek, "cust-0001", "contacts", "email", 1, tamper(sealed))


def test_unreadable_error_names_the_context_but_no_plaintext_or_key() -> None:
    dek, other = os.urandom(32), os.urandom(32)
    sealed = seal_value(dek, "cust-0001", "contacts", "phone", 3, "+44 7700 900123")
    with pytest.raises(ValueUnreadable) as caught:
        open_value(other, "cust-0001", "contacts", "phone", 3, sealed)
    message = str(caught.value)
    assert "contacts.phone" in message and "cust-0001" in message
    for secret in ("900123", dek.hex(), other.hex(), base64.b64encode(dek).decode()):
        assert secret not in message


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"customer_id": "cust|0001"}, "customer_id"),
    ({"table": "con|tacts"}, "table"),
    ({"column": ""}, "column"),
    ({"dek": b"short"}, "dek"),
])
def test_ambiguous_context_or_bad_key_is_refused(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"dek": os.urandom(32), "customer_id": "cust-0001",
                               "table": "contacts", "column": "email", "row_id": 1,
                               "plaintext": "x"}
    with pytest.raises(InvalidInput) as caught:
        seal_value(**(args | kwargs))  # type: ignore[arg-type]
    assert caught.value.field == field


# Data keys


def test_data_key_is_stored_wrapped_and_unwraps_to_the_same_key(engine: Engine,
                                                                master: LocalMasterKey) -> None:
    dek = new_key(engine, master, "cust-0001")
    assert len(dek) == 32
    assert read_key(engine, master, "cust-0001") == dek
    with engine.connect() as conn:
        row = conn.execute(select(CustomerKey.wrapped_key, CustomerKey.master_key_id)).one()
    assert row.wrapped_key is not None and dek not in row.wrapped_key
    assert row.master_key_id == master.key_id == hashlib.sha256(RAW_MASTER).hexdigest()[:16]


def test_every_customer_gets_its_own_data_key(engine: Engine, master: LocalMasterKey) -> None:
    keys = {new_key(engine, master, f"cust-{n:04d}") for n in range(1, 21)}
    assert len(keys) == 20


def test_wrapped_key_copied_to_another_customer_does_not_unwrap(
        engine: Engine, master: LocalMasterKey) -> None:
    new_key(engine, master, "cust-0001")
    new_key(engine, master, "cust-0002")
    with write_engine(engine).begin() as conn:
        stolen = conn.execute(select(CustomerKey.wrapped_key)
                              .where(CustomerKey.customer_id == "cust-0001")).scalar_one()
        conn.execute(update(CustomerKey).where(CustomerKey.customer_id == "cust-0002")
                     .values(wrapped_key=stolen))
    with pytest.raises(ValueUnreadable):
        read_key(engine, master, "cust-0002")


def test_another_master_key_cannot_unwrap(engine: Engine, master: LocalMasterKey) -> None:
    new_key(engine, master, "cust-0001")
    with pytest.raises(ValueUnreadable):
        read_key(engine, LocalMasterKey(os.urandom(32)), "cust-0001")


def test_customer_without_a_data_key_is_a_lookup_error(engine: Engine,
                                                       master: LocalMasterKey) -> None:
    with pytest.raises(LookupError):
        read_key(engine, master, "cust-0404")


def test_a_customer_never_gets_a_second_data_key(engine: Engine, master: LocalMasterKey) -> None:
    first = new_key(engine, master, "cust-0001")
    with pytest.raises(Conflict):
        new_key(engine, master, "cust-0001")
    assert read_key(engine, master, "cust-0001") == first


# Crypto-shredding


def test_destroyed_key_makes_the_customers_data_unreadable(engine: Engine,
                                                           master: LocalMasterKey) -> None:
    dek = new_key(engine, master, "cust-0001")
    other = new_key(engine, master, "cust-0002")
    sealed = seal_value(dek, "cust-0001", "contacts", "email", 1, "a@example.com")
    with write_engine(engine).begin() as conn:
        assert destroy_data_key(conn, "cust-0001", NOW) is True
    with pytest.raises(KeyDestroyed) as caught:
        read_key(engine, master, "cust-0001")
    assert caught.value.customer_id == "cust-0001"
    with engine.connect() as conn:
        row = conn.execute(select(CustomerKey.wrapped_key, CustomerKey.destroyed_at)
                           .where(CustomerKey.customer_id == "cust-0001")).one()
    assert row.wrapped_key is None and row.destroyed_at == NOW
    with pytest.raises(ValueUnreadable):  # with the key gone, nothing else opens the value
        open_value(other, "cust-0001", "contacts", "email", 1, sealed)
    assert read_key(engine, master, "cust-0002") == other  # neighbours are untouched


def test_destroy_is_idempotent(engine: Engine, master: LocalMasterKey) -> None:
    new_key(engine, master, "cust-0001")
    with write_engine(engine).begin() as conn:
        assert destroy_data_key(conn, "cust-0001", NOW) is True
    with write_engine(engine).begin() as conn:
        assert destroy_data_key(conn, "cust-0001", NOW + timedelta(days=1)) is False
        destroyed_at = conn.execute(select(CustomerKey.destroyed_at)).scalar_one()
    assert destroyed_at == NOW  # the first destruction is the one on record
    with pytest.raises(KeyDestroyed):
        read_key(engine, master, "cust-0001")


def test_destroying_a_key_that_never_existed_is_a_lookup_error(engine: Engine) -> None:
    with write_engine(engine).begin() as conn, pytest.raises(LookupError):
        destroy_data_key(conn, "cust-0404", NOW)


def test_destroyed_wrapped_key_is_gone_from_the_database_file(
        engine: Engine, master: LocalMasterKey, db_path: Path) -> None:
    for n in range(1, 30):
        new_key(engine, master, f"cust-{n:04d}")
    with engine.connect() as conn:
        wrapped = conn.execute(select(CustomerKey.wrapped_key)
                               .where(CustomerKey.customer_id == "cust-0007")).scalar_one()
    assert wrapped is not None and wrapped in file_bytes(engine, db_path)
    with write_engine(engine).begin() as conn:
        destroy_data_key(conn, "cust-0007", NOW)
    with engine.connect() as conn:  # what the retention job does after committing
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert wrapped not in file_bytes(engine, db_path)


# Master-key rotation


def test_rotation_rewraps_every_live_key_and_leaves_data_readable(
        engine: Engine, master: LocalMasterKey) -> None:
    deks = {f"cust-{n:04d}": new_key(engine, master, f"cust-{n:04d}") for n in range(1, 5)}
    sealed = seal_value(deks["cust-0002"], "cust-0002", "invoices", "card_last4", 9, "4242")
    with write_engine(engine).begin() as conn:
        destroy_data_key(conn, "cust-0004", NOW)
    new = LocalMasterKey(os.urandom(32))
    with write_engine(engine).begin() as conn:
        assert rewrap_all(conn, master, new) == 3
    for customer_id in ("cust-0001", "cust-0002", "cust-0003"):
        assert read_key(engine, new, customer_id) == deks[customer_id]
        with pytest.raises(ValueUnreadable):
            read_key(engine, master, customer_id)
    dek = read_key(engine, new, "cust-0002")
    assert open_value(dek, "cust-0002", "invoices", "card_last4", 9, sealed) == "4242"
    with engine.connect() as conn:
        rows = dict(conn.execute(select(CustomerKey.customer_id, CustomerKey.master_key_id)).all())
    assert rows == {"cust-0001": new.key_id, "cust-0002": new.key_id, "cust-0003": new.key_id,
                    "cust-0004": master.key_id}  # a shredded key stays shredded
    with pytest.raises(KeyDestroyed):
        read_key(engine, new, "cust-0004")


def test_resumed_rotation_skips_keys_already_rewrapped(engine: Engine,
                                                       master: LocalMasterKey) -> None:
    new_key(engine, master, "cust-0001")
    new = LocalMasterKey(os.urandom(32))
    with write_engine(engine).begin() as conn:
        assert rewrap_all(conn, master, new) == 1
    with write_engine(engine).begin() as conn:
        assert rewrap_all(conn, master, new) == 0


def test_rotation_refuses_a_key_wrapped_under_neither_master(engine: Engine,
                                                             master: LocalMasterKey) -> None:
    first = new_key(engine, master, "cust-0001")
    stranger = LocalMasterKey(os.urandom(32))
    new_key(engine, stranger, "cust-0002")
    new = LocalMasterKey(os.urandom(32))
    with pytest.raises(ValueUnreadable) as caught, write_engine(engine).begin() as conn:
        rewrap_all(conn, master, new)
    assert "cust-0002" in str(caught.value)
    assert read_key(engine, master, "cust-0001") == first  # rolled back: nothing half-rotated


def test_rotation_to_the_same_master_key_is_refused(engine: Engine,
                                                    master: LocalMasterKey) -> None:
    with write_engine(engine).begin() as conn, pytest.raises(InvalidInput):
        rewrap_all(conn, master, LocalMasterKey(RAW_MASTER))


# The master key lives outside the database


def test_no_key_material_appears_in_the_database_file(engine: Engine, master: LocalMasterKey,
                                                      db_path: Path) -> None:
    deks = [new_key(engine, master, f"cust-{n:04d}") for n in range(1, 11)]
    with write_engine(engine).begin() as conn:
        rewrap_all(conn, master, LocalMasterKey(os.urandom(32)))
    stored = file_bytes(engine, db_path)
    assert b"cust-0010" in stored  # the scan does see the database's contents
    forbidden = [RAW_MASTER, base64.b64encode(RAW_MASTER), base64.urlsafe_b64encode(RAW_MASTER),
                 RAW_MASTER.hex().encode(), *deks]
    assert [key for key in forbidden if key in stored] == []


def test_master_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("GATEHOUSE_MASTER_KEY", base64.b64encode(RAW_MASTER).decode())
    monkeypatch.setenv("GATEHOUSE_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    assert master_key_from_env().key_id == LocalMasterKey(RAW_MASTER).key_id


def test_master_key_file_is_created_once_private_and_then_used(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GATEHOUSE_MASTER_KEY", raising=False)
    monkeypatch.setenv("GATEHOUSE_MASTER_KEY_FILE", str(tmp_path / "keys" / "master.key"))
    path = create_master_key_file()
    assert path == tmp_path / "keys" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    assert create_master_key_file() is None and path.read_bytes() == content  # never replaced
    key = master_key_from_env()
    assert key.unwrap(key.wrap(b"k" * 32, "cust-0001"), "cust-0001") == b"k" * 32
    assert key.key_id == LocalMasterKey.from_base64(content.decode()).key_id


def test_master_key_defaults_to_the_data_folder(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    for name in ("GATEHOUSE_MASTER_KEY", "GATEHOUSE_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path))
    assert create_master_key_file() == tmp_path / "keys" / "master.key"


def test_missing_master_key_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv("GATEHOUSE_MASTER_KEY", raising=False)
    monkeypatch.setenv("GATEHOUSE_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(InvalidInput) as caught:
        master_key_from_env()
    assert caught.value.field == "GATEHOUSE_MASTER_KEY"
    assert "absent.key" in caught.value.rule


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"x" * 16).decode()])
def test_malformed_master_key_names_the_variable_without_echoing_it(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GATEHOUSE_MASTER_KEY", value)
    with pytest.raises(InvalidInput) as caught:
        master_key_from_env()
    assert caught.value.field == "GATEHOUSE_MASTER_KEY"
    assert value not in str(caught.value)


def test_generated_master_keys_are_random_and_valid() -> None:
    first, second = LocalMasterKey.generate_base64(), LocalMasterKey.generate_base64()
    assert first != second
    assert LocalMasterKey.from_base64(first).key_id != LocalMasterKey.from_base64(second).key_id


@pytest.mark.parametrize("text", [
    base64.b64encode(RAW_MASTER).decode(),             # standard alphabet
    base64.urlsafe_b64encode(RAW_MASTER).decode().rstrip("=") + "\n",  # url-safe, bare, newline
    base64.b64encode(RAW_MASTER[:31]).decode(),        # 31 bytes
    "not base64 at all!", "", "ünï", 42,
])
def test_master_and_mfa_keys_are_parsed_by_one_rule(text: object) -> None:
    """Same input, same outcome: the master key and the MFA key share one parser."""
    from access.keys.secretbox import SecretBox

    def outcome(parse: Callable[[], object]) -> object:
        try:
            return parse()
        except InvalidInput as refused:
            return (refused.field, refused.rule)

    expected = outcome(lambda: SecretBox.key_from_base64(text, field="F"))  # type: ignore[arg-type]
    got = outcome(lambda: LocalMasterKey.from_base64(text, "F").key_id)  # type: ignore[arg-type]
    if isinstance(expected, bytes):
        assert got == LocalMasterKey(expected).key_id
    else:
        assert got == expected

"""Envelope encryption of customer data: "all sensitive information is encrypted with a unique
key for each customer; AES-256 at rest".

Each customer has its own random 256-bit data key (DEK). Sensitive column values are sealed
with it (AES-256-GCM, `seal_value`). The DEK is stored only wrapped by a master key (KEK) in
`customer_keys`; the master key comes from the environment or a key file, or could be a KMS
behind `MasterKey`, and never lives in any database. So a copy of the customer database alone
reveals no sensitive value, and destroying one wrapped DEK makes exactly that customer's data
unreadable (crypto-shredding, NIST SP 800-88 "cryptographic erase").

Contracts:
- A sealed value opens only with the same DEK and the same (customer, table, column, row): the
  AAD binds them, so a value copied to another row, column, table or customer fails, as does
  any tampering. Every such failure is `ValueUnreadable`; its message names the context and
  never the plaintext or key bytes.
- `data_key` raises `KeyDestroyed` for a shredded customer and `LookupError` when there is no
  key at all. The key functions run in the caller's transaction (`conn`), so a failure rolls
  back with the caller's other writes.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, bindparam, select, update

from access.data.customer_db.schema import CustomerBase, CustomerKey
from access.errors import Conflict, Denied, InvalidInput
from access.keys.files import KeyFile
from access.keys.secretbox import KEY_BYTES, SealedDataInvalid, SecretBox

__all__ = [
    "MASTER_KEY",
    "KeyDestroyed",
    "LocalMasterKey",
    "MasterKey",
    "ValueUnreadable",
    "create_data_key",
    "create_master_key_file",
    "data_key",
    "destroy_data_key",
    "master_key_from_env",
    "master_key_path",
    "open_value",
    "rewrap_all",
    "seal_value",
]

MASTER_KEY = KeyFile("GATEHOUSE_MASTER_KEY", "GATEHOUSE_MASTER_KEY_FILE", "master.key")
MASTER_KEY_ENV, MASTER_KEY_FILE_ENV = MASTER_KEY.env, MASTER_KEY.file_env

_KEYS = CustomerBase.metadata.tables[CustomerKey.__tablename__]


class KeyDestroyed(Denied):
    """The customer's data key was destroyed (the customer was purged): its data is gone."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"the data key of customer {customer_id} was destroyed; "
                         "its data can no longer be read")
        self.customer_id = customer_id


class ValueUnreadable(Denied):
    """A sealed value or a wrapped data key did not open: wrong key, moved to another context,
    tampered, truncated or of an unknown version. One error for every cause, so no caller can
    act as a decryption oracle; the message names where, never what."""


class MasterKey(Protocol):
    """A key-encryption key. A KMS client could implement this; the key never leaves it."""

    key_id: str  # stored beside each wrapped key, so an operator can tell what wrapped it

    def wrap(self, dek: bytes, customer_id: str) -> bytes:
        """Encrypt a data key for `customer_id`; the result unwraps for that customer only."""
        ...

    def unwrap(self, wrapped: bytes, customer_id: str) -> bytes:
        """The data key wrapped for `customer_id`; `ValueUnreadable` on any failure."""
        ...


class LocalMasterKey:
    """A master key held in process memory: AES-256-GCM whose AAD binds the purpose and the
    customer id, so a wrapped key copied to another customer's row will not unwrap."""

    __slots__ = ("_box", "key_id")  # no raw key bytes in attributes, repr or pickles

    def __init__(self, key: bytes) -> None:
        """InvalidInput("key", ...) unless `key` is exactly 32 bytes."""
        self._box = SecretBox(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str, field: str = MASTER_KEY_ENV) -> LocalMasterKey:
        """From standard or URL-safe base64 of 32 bytes; InvalidInput(field, ...) otherwise,
        without echoing the value. The same parser as every configured key
        (`SecretBox.key_from_base64`)."""
        return cls(SecretBox.key_from_base64(text, field=field))

    @staticmethod
    def generate_base64() -> str:
        """A fresh random master key as URL-safe base64, for a secret store or key file."""
        return SecretBox.generate_key_base64()

    def wrap(self, dek: bytes, customer_id: str) -> bytes:
        if len(dek) != KEY_BYTES:
            raise InvalidInput("dek", f"must be exactly {KEY_BYTES} bytes")
        return self._box.seal(dek, _wrap_aad(customer_id))

    def unwrap(self, wrapped: bytes, customer_id: str) -> bytes:
        try:
            return self._box.open(wrapped, _wrap_aad(customer_id))
        except SealedDataInvalid:
            raise ValueUnreadable(f"the data key of customer {customer_id} does not unwrap "
                                  f"under master key {self.key_id}") from None


def _wrap_aad(customer_id: str) -> bytes:
    return f"gatehouse-data-key|{customer_id}".encode()


def master_key_path() -> Path:
    """`GATEHOUSE_MASTER_KEY_FILE`, else `keys/master.key` in the data folder."""
    return MASTER_KEY.path()


def master_key_from_env() -> LocalMasterKey:
    """`GATEHOUSE_MASTER_KEY` (base64 of 32 bytes) when set, else the key file.

    Raises InvalidInput naming the variable when neither gives a valid key.
    """
    return LocalMasterKey(MASTER_KEY.load())


def create_master_key_file() -> Path | None:
    """Write a new random key to `master_key_path()` (mode 0600) if no file is there yet.

    Returns the path when it wrote one, None when a file already existed (it is never
    overwritten: that would orphan every data key wrapped under it).
    """
    return MASTER_KEY.create()


def data_key(conn: Connection, master: MasterKey, customer_id: str) -> bytes:
    """The customer's data key, unwrapped. KeyDestroyed if it was shredded, LookupError if the
    customer never had one, ValueUnreadable if `master` did not wrap it."""
    row = conn.execute(select(_KEYS.c.wrapped_key, _KEYS.c.destroyed_at)
                       .where(_KEYS.c.customer_id == customer_id)).one_or_none()
    if row is None:
        raise LookupError(f"customer {customer_id} has no data key")
    if row.wrapped_key is None or row.destroyed_at is not None:
        raise KeyDestroyed(customer_id)
    return master.unwrap(row.wrapped_key, customer_id)


def create_data_key(conn: Connection, master: MasterKey, customer_id: str,
                    now: datetime) -> bytes:
    """Make, wrap and store a fresh random data key; returns it unwrapped.

    Conflict if the customer already has a key, even a destroyed one: a purged customer's id
    must not silently get a new key.
    """
    _check_context("customer_id", customer_id)
    exists = conn.execute(select(_KEYS.c.customer_id)
                          .where(_KEYS.c.customer_id == customer_id)).first()
    if exists is not None:
        raise Conflict(f"customer {customer_id} already has a data key")
    dek = os.urandom(KEY_BYTES)
    conn.execute(_KEYS.insert().values(customer_id=customer_id,
                                       wrapped_key=master.wrap(dek, customer_id),
                                       master_key_id=master.key_id, created_at=now))
    return dek


def destroy_data_key(conn: Connection, customer_id: str, now: datetime) -> bool:
    """Crypto-shred: drop the wrapped key and record when. True if this call destroyed it,
    False if it was already destroyed (idempotent); LookupError if there never was one.

    On SQLite, `secure_delete` zeroes the old bytes inside the page instead of leaving them in
    free space. Older copies still exist until the WAL is checkpointed (SQLite), the table is
    vacuumed (PostgreSQL) and backups age out; the caller runs those after committing.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")
    shredded = conn.execute(update(_KEYS)
                            .where(_KEYS.c.customer_id == customer_id,
                                   _KEYS.c.destroyed_at.is_(None))
                            .values(wrapped_key=None, destroyed_at=now))
    if shredded.rowcount == 1:
        return True
    exists = conn.execute(select(_KEYS.c.customer_id)
                          .where(_KEYS.c.customer_id == customer_id)).first()
    if exists is None:
        raise LookupError(f"customer {customer_id} has no data key")
    return False


def rewrap_all(conn: Connection, old: MasterKey, new: MasterKey) -> int:
    """Master-key rotation: rewrap every live data key from `old` to `new`; sealed data is not
    touched. Returns how many keys were rewrapped.

    A key that already opens under `new` (a rotation resumed after a crash) is left as is; a
    key that opens under neither raises ValueUnreadable, and nothing of this call is kept once
    the caller's transaction rolls back.
    """
    if old.key_id == new.key_id:
        raise InvalidInput("new", "must be a different master key from the old one")
    live = conn.execute(select(_KEYS.c.customer_id, _KEYS.c.wrapped_key)
                        .where(_KEYS.c.wrapped_key.is_not(None),
                               _KEYS.c.destroyed_at.is_(None))).all()
    rewrapped = []
    for customer_id, wrapped in live:
        try:
            dek = old.unwrap(wrapped, customer_id)
        except ValueUnreadable:
            _already_rewrapped(new, old, wrapped, customer_id)
            continue
        rewrapped.append({"cid": customer_id, "wrapped": new.wrap(dek, customer_id)})
    if rewrapped:
        conn.execute(update(_KEYS).where(_KEYS.c.customer_id == bindparam("cid"))
                     .values(wrapped_key=bindparam("wrapped"), master_key_id=new.key_id),
                     rewrapped)
    return len(rewrapped)


def _already_rewrapped(new: MasterKey, old: MasterKey, wrapped: bytes, customer_id: str) -> None:
    try:
        new.unwrap(wrapped, customer_id)
    except ValueUnreadable:
        raise ValueUnreadable(f"the data key of customer {customer_id} unwraps under neither "
                              f"master key {old.key_id} nor {new.key_id}") from None


def seal_value(dek: bytes, customer_id: str, table: str, column: str, row_id: int | str,
               plaintext: str) -> bytes:
    """Encrypt one column value: version 0x01 ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext
    and tag, with AAD "customer_id|table|column|row_id"."""
    return _box(dek).seal(plaintext.encode("utf-8"), _value_aad(customer_id, table, column,
                                                                 row_id))


def open_value(dek: bytes, customer_id: str, table: str, column: str, row_id: int | str,
               sealed: bytes) -> str:
    """The plaintext `seal_value` sealed for exactly this context; else ValueUnreadable."""
    aad = _value_aad(customer_id, table, column, row_id)
    try:
        return _box(dek).open(sealed, aad).decode("utf-8")
    except SealedDataInvalid:
        raise ValueUnreadable(f"{table}.{column} of row {row_id} of customer {customer_id} "
                              "could not be decrypted") from None


def _box(dek: bytes) -> SecretBox:
    if not isinstance(dek, bytes) or len(dek) != KEY_BYTES:
        raise InvalidInput("dek", f"must be exactly {KEY_BYTES} bytes")
    return SecretBox(dek)


def _value_aad(customer_id: str, table: str, column: str, row_id: int | str) -> bytes:
    for field, part in (("customer_id", customer_id), ("table", table), ("column", column)):
        _check_context(field, part)
    return f"{customer_id}|{table}|{column}|{row_id}".encode()


def _check_context(field: str, value: str) -> None:
    # "|" separates the AAD's parts; allowing it would let two contexts share one AAD.
    if not isinstance(value, str) or not value or "|" in value:
        raise InvalidInput(field, "must be non-empty text without '|'")

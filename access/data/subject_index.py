"""The keyed blind index of contact emails: how a data subject is found without decrypting
every contact of every customer (as CipherSweet does).

Each contact's email, normalised (`normalised_email`: Unicode NFKC, trimmed, lower-cased), is
MACed with HMAC-SHA256 under the blind-index key, a 32-byte key that lives outside every
database (`GATEHOUSE_BLIND_INDEX_KEY`, else the key file `keys/blind-index.key`, loaded like the
other keys by `access.keys.files`). The hex MAC is stored in `contact_email_index` next to the
contacts; a lookup MACs the asked-for email and reads that one indexed column.

Contracts:
- Whatever writes a contact's email writes its index row in the same transaction (the demo
  generator, a rectification: `reindex`); deleting a contact deletes its row (`forget`), and
  the retention purge drops a customer's rows (`forget_customer`).
- What the index leaks: to someone holding the customer database but not the key, which
  contacts share one email (equal MACs), and nothing about the email itself; to someone who
  also holds the key, whether a guessed email is present (a dictionary attack), which is why
  the key never lives in a database and is not the master key.
- The DSR tables of the console database keep only the MAC and a display hint
  (`display_hint`), never the email.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select

from access.data.customer_db.schema import ContactEmailIndex, IndexBase
from access.errors import InvalidInput
from access.keys.files import KeyFile
from access.keys.secretbox import KEY_BYTES
from access.text import UNSTORABLE_RULE, storable

__all__ = ["BLIND_INDEX_KEY", "MAX_EMAIL", "BlindIndex", "SubjectRow", "blind_index_from_env",
           "create_blind_index_key_file", "display_hint", "find", "forget", "forget_customer",
           "index_rows", "normalised_email", "reindex"]

BLIND_INDEX_KEY = KeyFile("GATEHOUSE_BLIND_INDEX_KEY", "GATEHOUSE_BLIND_INDEX_KEY_FILE",
                          "blind-index.key")
MAX_EMAIL = 254  # RFC 5321's limit on a forward path
_DOMAIN = b"gatehouse-contact-email|"  # separates this MAC from any other use of the key
_INDEX = IndexBase.metadata.tables[ContactEmailIndex.__tablename__]


def normalised_email(email: object) -> str:
    """`email` as the index sees it: NFKC, trimmed, lower-cased. InvalidInput("email", ...)
    unless it is text of 3 to 254 characters with one "@" and something either side."""
    if not isinstance(email, str) or not storable(email):
        raise InvalidInput("email", UNSTORABLE_RULE if isinstance(email, str)
                           else "must be text")
    text = unicodedata.normalize("NFKC", email).strip().lower()
    local, at, domain = text.partition("@")
    if not 3 <= len(text) <= MAX_EMAIL or not at or not local or not domain or "@" in domain:
        raise InvalidInput("email", f"must be one address like name@example.com, at most "
                                    f"{MAX_EMAIL} characters")
    return text


def display_hint(email: str) -> str:
    """Enough to tell requests apart on a page, not enough to know the person:
    "jane.doe@example.com" → "j•••@example.com"."""
    local, _, domain = normalised_email(email).partition("@")
    return f"{local[0]}•••@{domain}"


class BlindIndex:
    """HMAC-SHA256 under the blind-index key; the key bytes are in no attribute or repr."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInput(BLIND_INDEX_KEY.env, f"must be exactly {KEY_BYTES} bytes")
        self._key = key

    def of_email(self, email: str) -> str:
        """The index of `email` (normalised first), as 64 hex digits."""
        message = _DOMAIN + normalised_email(email).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def blind_index_from_env() -> BlindIndex:
    """`GATEHOUSE_BLIND_INDEX_KEY` when set, else its key file; InvalidInput naming them."""
    return BlindIndex(BLIND_INDEX_KEY.load())


def create_blind_index_key_file() -> Path | None:
    """A new blind-index key file (owner-only) unless one exists, or the key comes from the
    environment; its path if written. Never replaced: every index row was made under it."""
    if os.environ.get(BLIND_INDEX_KEY.env) is not None:
        return None
    return BLIND_INDEX_KEY.create()


@dataclass(frozen=True)
class SubjectRow:
    customer_id: str
    contact_id: int


def index_rows(index: BlindIndex, contacts: list[dict[str, object]]) -> list[dict[str, object]]:
    """Index rows for plaintext contact rows (with `id`, `customer_id`, `email`)."""
    return [{"contact_id": row["id"], "customer_id": row["customer_id"],
             "email_index": index.of_email(str(row["email"]))} for row in contacts]


def find(conn: Connection, email_index: str) -> list[SubjectRow]:
    """Every contact whose email has this index, in customer and id order: one indexed query,
    nothing decrypted."""
    rows = conn.execute(select(_INDEX.c.customer_id, _INDEX.c.contact_id)
                        .where(_INDEX.c.email_index == email_index)
                        .order_by(_INDEX.c.customer_id, _INDEX.c.contact_id)).all()
    return [SubjectRow(customer_id, contact_id) for customer_id, contact_id in rows]


def reindex(conn: Connection, index: BlindIndex, row: SubjectRow, email: str) -> None:
    """Point `row`'s index at `email` (in the caller's transaction, with the contact's write)."""
    forget(conn, [row])
    conn.execute(insert(_INDEX).values(contact_id=row.contact_id, customer_id=row.customer_id,
                                       email_index=index.of_email(email)))


def forget(conn: Connection, rows: list[SubjectRow]) -> None:
    for row in rows:
        conn.execute(delete(_INDEX).where(_INDEX.c.contact_id == row.contact_id,
                                          _INDEX.c.customer_id == row.customer_id))


def forget_customer(conn: Connection, customer_id: str) -> None:
    """Drop a purged customer's index rows."""
    conn.execute(delete(_INDEX).where(_INDEX.c.customer_id == customer_id))

"""Authenticated encryption of small secrets at rest (TOTP seeds), ASVS 11.3.3 / 13.3.1.

The key comes from configuration (env or a secrets file), never from the database, so a dump of
the database alone does not reveal the sealed secrets (NIST 800-63B 5.1.4.2: seeds "SHALL be
strongly protected").
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from access.errors import GatehouseError, InvalidInput

__all__ = ["KEY_BYTES", "SealedDataInvalid", "SecretBox"]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce size; random nonces are safe far beyond our volume
TAG_BYTES = 16
VERSION = b"\x01"  # lets a later format or algorithm coexist with rows sealed under this one
_HEADER = len(VERSION) + NONCE_BYTES


class SealedDataInvalid(GatehouseError):
    """Sealed data did not open: wrong key, wrong AAD, tampered, truncated or unknown version.

    Deliberately one error for every cause, so callers cannot act as a decryption oracle.
    """

    def __init__(self) -> None:
        super().__init__("sealed data could not be opened")


class SecretBox:
    """Seals small secrets with AES-256-GCM under a key that comes from configuration, never the
    database."""

    __slots__ = ("_aead",)  # keep only the cipher; no key bytes in attributes, repr or pickles

    def __init__(self, key: bytes) -> None:
        """Build a box from a raw key; InvalidInput("key", ...) unless it is exactly 32 bytes."""
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise InvalidInput("key", f"must be exactly {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, text: str, *, field: str = "key") -> SecretBox:
        """Build a box from standard or URL-safe base64 of 32 bytes (padding optional).

        `field` names the setting in the InvalidInput raised for bad input (e.g.
        "GATEHOUSE_SECRET_KEY"); the message never echoes the value.
        """
        return cls(cls.key_from_base64(text, field=field))

    @staticmethod
    def key_from_base64(text: str, *, field: str = "key") -> bytes:
        """The one parser of a configured key (this box's, and the data master key of
        `access.data.envelope`): 32 bytes from standard or URL-safe base64, padding optional,
        surrounding blanks ignored. InvalidInput(field, ...) otherwise, never echoing the value."""
        rule = f"must be base64 of exactly {KEY_BYTES} bytes"
        if not isinstance(text, str):
            raise InvalidInput(field, rule)
        # Tolerate a trailing newline from a secrets file and either base64 alphabet.
        cleaned = text.strip().replace("-", "+").replace("_", "/")
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            key = base64.b64decode(cleaned.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            raise InvalidInput(field, rule) from None  # `from None`: the cause may quote the input
        if len(key) != KEY_BYTES:
            raise InvalidInput(field, rule)
        return key

    @staticmethod
    def generate_key_base64() -> str:
        """A fresh random 32-byte key as URL-safe base64, for operators to put in configuration."""
        return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate `plaintext`; returns version 0x01 || 12-byte nonce || ct+tag.

        `aad` binds the ciphertext to its context (e.g. b"user:42|totp"), so a sealed value copied
        to another row will not open there. A fresh random nonce is used for every call.
        """
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        """The plaintext sealed under this key and the same `aad`; else SealedDataInvalid."""
        if (
            not isinstance(sealed, bytes)
            or len(sealed) < _HEADER + TAG_BYTES
            or sealed[:1] != VERSION
        ):
            raise SealedDataInvalid()
        try:
            return self._aead.decrypt(sealed[1:_HEADER], sealed[_HEADER:], aad)
        except InvalidTag:
            raise SealedDataInvalid() from None

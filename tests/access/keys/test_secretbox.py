"""Specification of access.keys.secretbox: AES-256-GCM sealing of small secrets at rest."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from access.errors import GatehouseError, InvalidInput
from access.keys.secretbox import SealedDataInvalid, SecretBox

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
AAD = b"user:42|totp"
SECRET = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(KEY)


@pytest.fixture
def sealed(box: SecretBox) -> bytes:
    return box.seal(SECRET, AAD)


def test_round_trip(box: SecretBox, sealed: bytes) -> None:
    assert box.open(sealed, AAD) == SECRET
    assert box.open(box.seal(b"", AAD), AAD) == b""


def test_a_second_box_with_the_same_key_opens_it(sealed: bytes) -> None:
    assert SecretBox(KEY).open(sealed, AAD) == SECRET


def test_sealed_layout_is_version_nonce_ciphertext_tag(sealed: bytes) -> None:
    assert sealed[0] == 0x01
    assert len(sealed) == 1 + 12 + len(SECRET) + 16
    assert SECRET not in sealed


def test_nonce_differs_on_every_seal(box: SecretBox) -> None:
    seals = [box.seal(SECRET, AAD) for _ in range(20)]
    assert len({s[1:13] for s in seals}) == 20
    assert len(set(seals)) == 20


def test_wrong_aad_is_rejected(box: SecretBox, sealed: bytes) -> None:
    # The AAD binds the ciphertext to its row: a value copied to another user does not open.
    with pytest.raises(SealedDataInvalid):
        box.open(sealed, b"user:43|totp")
    with pytest.raises(SealedDataInvalid):
        box.open(sealed, b"")


def test_wrong_key_is_rejected(sealed: bytes) -> None:
    with pytest.raises(SealedDataInvalid):
        SecretBox(OTHER_KEY).open(sealed, AAD)


def test_every_flipped_bit_is_rejected(box: SecretBox, sealed: bytes) -> None:
    for index in range(len(sealed)):  # version, nonce, ciphertext and tag alike
        for bit in range(8):
            tampered = bytearray(sealed)
            tampered[index] ^= 1 << bit
            with pytest.raises(SealedDataInvalid):
                box.open(bytes(tampered), AAD)


@pytest.mark.parametrize("keep", [0, 1, 12, 13, 28, -1])
def test_truncated_data_is_rejected(box: SecretBox, sealed: bytes, keep: int) -> None:
    with pytest.raises(SealedDataInvalid):
        box.open(sealed[:keep], AAD)


def test_minimal_seal_of_empty_plaintext_is_not_mistaken_for_truncation(box: SecretBox) -> None:
    minimal = box.seal(b"", AAD)
    assert len(minimal) == 29
    assert box.open(minimal, AAD) == b""
    with pytest.raises(SealedDataInvalid):
        box.open(minimal[:-1], AAD)


@pytest.mark.parametrize("version", [0x00, 0x02, 0xFF])
def test_unknown_version_is_rejected(box: SecretBox, sealed: bytes, version: int) -> None:
    with pytest.raises(SealedDataInvalid):
        box.open(bytes([version]) + sealed[1:], AAD)


@pytest.mark.parametrize("value", [None, "text", bytearray(b"\x01" * 40)])
def test_non_bytes_sealed_value_is_rejected(box: SecretBox, value: Any) -> None:
    with pytest.raises(SealedDataInvalid):
        box.open(value, AAD)


def test_sealed_data_invalid_is_a_domain_error_that_reveals_nothing(
    box: SecretBox, sealed: bytes
) -> None:
    with pytest.raises(SealedDataInvalid) as exc:
        SecretBox(OTHER_KEY).open(sealed, AAD)
    assert isinstance(exc.value, GatehouseError)
    assert exc.value.__cause__ is None  # no InvalidTag chain to act as an oracle or leak
    assert SECRET.decode() not in str(exc.value)
    assert AAD.decode() not in str(exc.value)


@pytest.mark.parametrize("key", [b"", b"\x00" * 16, b"\x00" * 31, b"\x00" * 33, "k" * 32])
def test_bad_key_length_names_the_key(key: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        SecretBox(key)
    assert exc.value.field == "key"


def test_key_material_is_not_in_the_repr(box: SecretBox) -> None:
    assert KEY.hex() not in repr(box)
    assert not hasattr(box, "__dict__")


# --- keys from configuration -------------------------------------------------------------------

PLUS_SLASH_KEY = b"\xfb\xff" * 16  # encodes to "+/" in standard and "-_" in URL-safe base64


@pytest.mark.parametrize(
    "text",
    [
        base64.b64encode(PLUS_SLASH_KEY).decode(),
        base64.urlsafe_b64encode(PLUS_SLASH_KEY).decode(),
        base64.urlsafe_b64encode(PLUS_SLASH_KEY).decode().rstrip("="),
        base64.b64encode(PLUS_SLASH_KEY).decode() + "\n",  # as read from a secrets file
    ],
)
def test_from_base64_accepts_standard_and_url_safe(text: str) -> None:
    assert "+" in base64.b64encode(PLUS_SLASH_KEY).decode()
    sealed = SecretBox(PLUS_SLASH_KEY).seal(SECRET, AAD)
    assert SecretBox.from_base64(text).open(sealed, AAD) == SECRET


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!!",
        base64.b64encode(b"\x00" * 16).decode(),
        base64.b64encode(b"\x00" * 33).decode(),
        base64.b64encode(KEY).decode()[:-2] + "*=",
        "é" * 44,
        None,
    ],
)
def test_bad_base64_key_names_the_configured_field(text: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        SecretBox.from_base64(text, field="GATEHOUSE_SECRET_KEY")
    assert exc.value.field == "GATEHOUSE_SECRET_KEY"
    assert exc.value.__cause__ is None
    if text:
        assert str(text) not in str(exc.value)


def test_from_base64_field_defaults_to_key() -> None:
    with pytest.raises(InvalidInput) as exc:
        SecretBox.from_base64("AAAA")
    assert exc.value.field == "key"


def test_generated_keys_are_fresh_32_byte_keys() -> None:
    first, second = SecretBox.generate_key_base64(), SecretBox.generate_key_base64()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    box = SecretBox.from_base64(first)
    assert box.open(box.seal(SECRET, AAD), AAD) == SECRET

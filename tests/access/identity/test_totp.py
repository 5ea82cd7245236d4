"""Specification of access.identity.totp: RFC 6238 vectors, the replay rule, code parsing,
recovery codes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest

from access.errors import InvalidInput
from access.identity import totp

RFC_SEED = b"12345678901234567890"
SHA1_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_015.0  # 15 s into its step, so +/-1 step is a whole step away either side
NOW_STEP = int(NOW // 30)


def b32(seed: bytes) -> str:
    return base64.b32encode(seed).decode("ascii")


def test_public_surface_is_pinned() -> None:
    assert set(totp.__all__) == {
        "STEP_SECONDS",
        "code_at_step",
        "current_code",
        "hash_recovery_code",
        "matching_step",
        "new_recovery_codes",
        "new_secret",
        "parse_code",
        "provisioning_uri",
        "qr_png",
        "recovery_code_matches",
        "time_step",
    }
    assert totp.STEP_SECONDS == 30


# --- RFC 6238 Appendix B ---------------------------------------------------------------------


def test_rfc_sha1_seed_is_the_documented_base32() -> None:
    assert b32(RFC_SEED) == SHA1_SECRET


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_sha1_vectors(unix_time: int, expected: str) -> None:
    step = totp.time_step(unix_time)
    assert totp.code_at_step(SHA1_SECRET, step, digits=8) == expected
    assert totp.code_at_step(SHA1_SECRET, step) == expected[-6:]  # the 6-digit form


@pytest.mark.parametrize(
    ("seed", "digest", "expected"),
    [
        ((RFC_SEED * 2)[:32], hashlib.sha256, "46119246"),
        ((RFC_SEED * 4)[:64], hashlib.sha512, "90693936"),
    ],
)
def test_rfc6238_sha256_and_sha512_vectors_at_59(
    seed: bytes, digest: Callable[..., Any], expected: str
) -> None:
    assert totp.code_at_step(b32(seed), totp.time_step(59), digits=8, digest=digest) == expected


def test_current_code_is_the_code_of_the_current_step() -> None:
    assert totp.current_code(SHA1_SECRET, 59) == "287082"
    assert totp.current_code(SECRET, NOW) == totp.code_at_step(SECRET, NOW_STEP)
    assert totp.current_code(SECRET, NOW) == pyotp.TOTP(SECRET).at(int(NOW))


@pytest.mark.parametrize(("now", "step"), [(0, 0), (29.999, 0), (30, 1), (59, 1), (60, 2)])
def test_time_step_floors_to_30_second_steps(now: float, step: int) -> None:
    assert totp.time_step(now) == step


@pytest.mark.parametrize("now", [-1.0, float("nan"), float("inf")])
def test_time_step_rejects_impossible_times(now: float) -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.time_step(now)
    assert exc.value.field == "now"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"secret": SECRET, "step": -1}, "step"),
        ({"secret": SECRET, "step": 1, "digits": 5}, "digits"),
        ({"secret": SECRET, "step": 1, "digest": hashlib.md5}, "digest"),
        ({"secret": "not base32!", "step": 1}, "secret"),
        ({"secret": "JBSWY3DP", "step": 1}, "secret"),  # 40 bits, below pyotp's 112-bit floor
    ],
)
def test_code_at_step_rejects_bad_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.code_at_step(**kwargs)
    assert exc.value.field == field
    assert str(kwargs["secret"]) not in str(exc.value)
    assert exc.value.__cause__ is None


# --- the +/-1 window and replay (NIST 800-63B 5.1.4, A6 13) ------------------------------------


def code(offset: int) -> str:
    return totp.code_at_step(SECRET, NOW_STEP + offset)


def test_fixture_codes_are_distinct_across_the_window() -> None:
    # Guards the tests below against a coincidental collision between neighbouring steps.
    assert len({code(k) for k in range(-3, 4)}) == 7


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_window_accepts_previous_current_and_next_step(offset: int) -> None:
    assert totp.matching_step(SECRET, code(offset), NOW, None) == NOW_STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_window_rejects_steps_two_or_more_away(offset: int) -> None:
    assert totp.matching_step(SECRET, code(offset), NOW, None) is None


def test_window_zero_accepts_only_the_current_step() -> None:
    assert totp.matching_step(SECRET, code(0), NOW, None, window=0) == NOW_STEP
    assert totp.matching_step(SECRET, code(-1), NOW, None, window=0) is None
    assert totp.matching_step(SECRET, code(1), NOW, None, window=0) is None


def test_negative_window_is_rejected() -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.matching_step(SECRET, code(0), NOW, None, window=-1)
    assert exc.value.field == "window"


def test_wrong_code_is_rejected() -> None:
    wrong = f"{(int(code(0)) + 1) % 1_000_000:06d}"
    assert wrong not in {code(k) for k in (-1, 0, 1)}
    assert totp.matching_step(SECRET, wrong, NOW, None) is None


def test_replay_within_the_same_step_is_rejected() -> None:
    step = totp.matching_step(SECRET, code(0), NOW, None)
    assert step == NOW_STEP
    assert totp.matching_step(SECRET, code(0), NOW, last_used_step=step) is None
    assert totp.matching_step(SECRET, code(0), NOW + 10, last_used_step=step) is None


def test_code_accepted_at_t_cannot_be_replayed_at_t_plus_one_step() -> None:
    step = totp.matching_step(SECRET, code(0), NOW, None)
    # One step later the same code is still inside the -1 window, but its step was used.
    assert totp.matching_step(SECRET, code(0), NOW + 30, last_used_step=step) is None


def test_earlier_window_step_rejected_once_a_later_step_was_used() -> None:
    assert totp.matching_step(SECRET, code(-1), NOW, last_used_step=NOW_STEP) is None
    assert totp.matching_step(SECRET, code(0), NOW, last_used_step=NOW_STEP + 1) is None


def test_a_later_step_is_accepted_after_an_earlier_one() -> None:
    assert totp.matching_step(SECRET, code(1), NOW, last_used_step=NOW_STEP) == NOW_STEP + 1


def test_when_a_code_matches_two_window_steps_the_later_step_is_burned() -> None:
    # Found by search: SECRET gives the same code at steps 473597 and 473598. Returning the
    # later step means the caller's stored last step covers both.
    early, late = 473597, 473598
    assert totp.code_at_step(SECRET, early) == totp.code_at_step(SECRET, late) == "519179"
    now = late * 30 + 15
    assert totp.matching_step(SECRET, "519179", now, None) == late
    assert totp.matching_step(SECRET, "519179", now, last_used_step=early) == late
    assert totp.matching_step(SECRET, "519179", now, last_used_step=late) is None


def test_window_near_the_epoch_does_not_reach_negative_steps() -> None:
    assert totp.matching_step(SHA1_SECRET, totp.code_at_step(SHA1_SECRET, 0), 5, None) == 0


# --- parsing what the user typed (A6 16) -------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        None,
        123456,
        123456.0,
        b"123456",
        ["123456"],
        "",
        " 123456",
        "123456 ",
        "\t123456",
        "123456\n",
        "12 456",
        "12345",
        "1234567",
        "12a456",
        "123-45",
        "+12345",
        "-12345",
        "١٢٣٤٥٦",  # Arabic-Indic: str.isdigit() is True
        "۱۲۳۴۵۶",  # Extended Arabic-Indic
        "１２３４５６",  # fullwidth
        "12345²",  # superscript two: isdigit() is True
    ],
)
def test_parse_code_rejects_anything_but_six_ascii_digits(raw: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.parse_code(raw)
    assert exc.value.field == "code"
    assert exc.value.rule == "must be exactly 6 digits 0-9"
    assert str(exc.value) == "code: must be exactly 6 digits 0-9"  # never echoes the input


@pytest.mark.parametrize("raw", ["000000", "012345", "999999"])
def test_parse_code_returns_valid_codes_unchanged(raw: str) -> None:
    assert totp.parse_code(raw) == raw


def test_matching_step_refuses_unparsed_input() -> None:
    with pytest.raises(InvalidInput):
        totp.matching_step(SECRET, "١٢٣٤٥٦", NOW, None)


# --- enrolment ---------------------------------------------------------------------------------


def test_new_secret_is_160_random_bits_of_base32() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", first)
    assert len(base64.b32decode(first)) == 20
    assert first != second


def test_provisioning_uri_names_issuer_account_and_secret() -> None:
    uri = totp.provisioning_uri(SECRET, "alice@example.com", "Gatehouse Prod")
    assert uri.startswith("otpauth://totp/")
    assert "issuer=Gatehouse%20Prod" in uri
    assert f"secret={SECRET}" in uri
    parsed = pyotp.parse_uri(uri)
    assert (parsed.secret, parsed.name, parsed.issuer) == (
        SECRET,
        "alice@example.com",
        "Gatehouse Prod",
    )


def test_qr_png_is_a_png() -> None:
    png = totp.qr_png(totp.provisioning_uri(SECRET, "alice@example.com", "Gatehouse"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 100


# --- recovery codes (NIST 800-63B 5.1.2) -------------------------------------------------------

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
CODE_SHAPE = re.compile(rf"[{CROCKFORD}]{{4}}-[{CROCKFORD}]{{4}}-[{CROCKFORD}]{{4}}")


def test_recovery_codes_are_distinct_and_human_friendly() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for c in codes:
        assert CODE_SHAPE.fullmatch(c), c
        assert not set(c) & set("ilou")  # nothing to misread as 0 or 1


def test_recovery_codes_draw_on_the_whole_32_symbol_alphabet() -> None:
    # 12 symbols x log2(32) = 60 bits only if all 32 symbols are used. Missing one symbol in
    # 2,400 draws has probability about 32 * (31/32)**2400, i.e. never.
    symbols = "".join(totp.new_recovery_codes(100)).replace("-", "")
    assert len(symbols) == 1200
    symbols += "".join(totp.new_recovery_codes(100)).replace("-", "")
    assert set(symbols) == set(CROCKFORD)


@pytest.mark.parametrize("count", [0, -1, 101, True])
def test_recovery_code_count_is_bounded(count: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.new_recovery_codes(count)
    assert exc.value.field == "count"


@pytest.fixture(scope="module")
def issued() -> tuple[str, str]:
    code = totp.new_recovery_codes(1)[0]
    return code, totp.hash_recovery_code(code)


def test_recovery_hash_has_the_documented_format(issued: tuple[str, str]) -> None:
    code, stored = issued
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert code.replace("-", "") not in stored


def test_recovery_code_verifies(issued: tuple[str, str]) -> None:
    code, stored = issued
    assert totp.recovery_code_matches(code, stored)


def test_wrong_recovery_code_fails(issued: tuple[str, str]) -> None:
    code, stored = issued
    other = next(c for c in totp.new_recovery_codes(2) if c != code)
    assert not totp.recovery_code_matches(other, stored)
    last = code[-1]
    neighbour = CROCKFORD[(CROCKFORD.index(last) + 1) % 32]
    assert not totp.recovery_code_matches(code[:-1] + neighbour, stored)


def test_recovery_hash_is_salted(issued: tuple[str, str]) -> None:
    code, stored = issued
    again = totp.hash_recovery_code(code)
    assert again != stored
    assert totp.recovery_code_matches(code, again)


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.upper(),
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: f"  {c.upper().replace('-', ' - ')} ",
    ],
)
def test_recovery_code_input_is_normalised(
    issued: tuple[str, str], typed: Callable[[str], str]
) -> None:
    code, stored = issued
    assert totp.recovery_code_matches(typed(code), stored)


def test_recovery_code_lookalike_letters_read_as_digits() -> None:
    stored = totp.hash_recovery_code("k7q0-2xwd-9hf1")
    assert totp.recovery_code_matches("K7QO-2XWD-9HFL", stored)
    assert totp.recovery_code_matches("k7qo-2xwd-9hfi", stored)


@pytest.mark.parametrize("typed", ["", "k7qm-2xwd-9hf", "k7qm-2xwd-9hfnn", "k7qm_2xwd_9hfn", None])
def test_malformed_recovery_code_input_fails(issued: tuple[str, str], typed: Any) -> None:
    assert not totp.recovery_code_matches(typed, issued[1])


def test_hashing_a_malformed_recovery_code_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        totp.hash_recovery_code("k7qm-2xwd-9hf!")
    assert exc.value.field == "recovery_code"
    assert "k7qm" not in str(exc.value)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: "",
        lambda s: None,
        lambda s: s.replace("scrypt$", "pbkdf2$", 1),
        lambda s: s.replace("$16384$", "$1048576$", 1),  # other cost parameters are refused
        lambda s: s.replace("$8$1$", "$1$1$", 1),
        lambda s: s + "$extra",
        lambda s: s.rsplit("$", 1)[0],
        lambda s: s.rsplit("$", 1)[0] + "$!!notbase64!!",
        lambda s: s.rsplit("$", 1)[0] + "$" + base64.b64encode(b"short").decode(),
        lambda s: s.rsplit("$", 1)[0] + "$" + "é" * 44,
    ],
)
def test_malformed_stored_hash_never_matches(
    issued: tuple[str, str], mangle: Callable[[str], Any]
) -> None:
    code, stored = issued
    assert not totp.recovery_code_matches(code, mangle(stored))

"""TOTP (RFC 6238) and recovery codes as pure functions; persistence lives in a service.

Replay protection is the caller's half of the contract: `matching_step` only accepts a step
greater than the user's last used one, and the caller must store the returned step atomically
(`UPDATE ... WHERE last_step IS NULL OR last_step < :step`, rowcount 1), so that each step is
accepted at most once per user (NIST 800-63B 5.1.4, ASVS 6.5.1). pyotp has no replay or
throttling protection of its own; rate limiting (800-63B 5.2.2) is also the service's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import math
import re
import secrets
from collections.abc import Callable
from typing import Any

import pyotp
import segno

from access.errors import InvalidInput

__all__ = [
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
]

STEP_SECONDS = 30  # RFC 6238 default X; ASVS 6.5.5 caps a code's lifetime at 30 s
CODE_DIGITS = 6

_CODE_RE = re.compile(r"[0-9]{6}", re.ASCII)
_CODE_RULE = "must be exactly 6 digits 0-9"

# Crockford base32: drops i, l, o and u so nothing reads as 0 or 1; 32 symbols = 5 bits each.
_RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RECOVERY_GROUPS = 3
_RECOVERY_GROUP_LEN = 4
_RECOVERY_LEN = _RECOVERY_GROUPS * _RECOVERY_GROUP_LEN  # 12 symbols x 5 bits = 60 bits
_RECOVERY_RE = re.compile(f"[{_RECOVERY_ALPHABET}]{{{_RECOVERY_LEN}}}", re.ASCII)
_AMBIGUOUS = str.maketrans({"i": "1", "l": "1", "o": "0", " ": None, "-": None})

# scrypt parameters (about 16 MiB, tens of ms); stored values must use exactly these.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_DKLEN, _SALT_BYTES = 2**14, 8, 1, 32, 16
_SCRYPT_PREFIX = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}$"


def new_secret() -> str:
    """A fresh 160-bit TOTP seed as 32 base32 characters, from a CSPRNG (ASVS 6.5.3)."""
    return str(pyotp.random_base32())


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app enrols from. It carries the secret: show it once."""
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    return str(totp.provisioning_uri(name=account, issuer_name=issuer))


def qr_png(uri: str) -> bytes:
    """`uri` as a QR code PNG (error correction M, 6 px modules)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="png", scale=6)
    return buf.getvalue()


def parse_code(raw: object) -> str:
    """Return `raw` if it is exactly six ASCII digits, else raise InvalidInput("code", ...).

    Nothing is stripped or converted. Why not str.isdigit() or `^...$`: isdigit() accepts
    Arabic-Indic and fullwidth digits, and `$` also matches before a trailing newline; hence
    fullmatch with re.ASCII. Codes stay strings, because an int loses leading zeros.
    """
    if not isinstance(raw, str) or _CODE_RE.fullmatch(raw) is None:
        raise InvalidInput("code", _CODE_RULE)
    return raw


def time_step(now: float) -> int:
    """The RFC 6238 time step T = floor((now - T0) / X) with T0 = 0 and X = 30 s."""
    if isinstance(now, bool) or not math.isfinite(now) or now < 0:
        raise InvalidInput("now", "must be a finite, non-negative POSIX time")
    return int(now // STEP_SECONDS)


def code_at_step(
    secret: str, step: int, digits: int = CODE_DIGITS, digest: Callable[..., Any] = hashlib.sha1
) -> str:
    """The RFC 6238 code for time step `step`: HOTP (RFC 4226) with the step as the counter.

    `digest` is SHA-1 (what authenticator apps use), SHA-256 or SHA-512, the RFC 6238 choices.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidInput("step", "must be a non-negative integer")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 6 <= digits <= 10:
        raise InvalidInput("digits", "must be an integer from 6 to 10")
    if digest not in (hashlib.sha1, hashlib.sha256, hashlib.sha512):
        raise InvalidInput("digest", "must be hashlib.sha1, sha256 or sha512")
    try:
        return str(pyotp.HOTP(secret, digits=digits, digest=digest).at(step))
    except (ValueError, TypeError, binascii.Error):
        # `from None`: keep the traceback free of anything derived from the secret.
        raise InvalidInput("secret", "must be base32 of at least 112 bits") from None


def current_code(secret: str, now: float) -> str:
    """The 6-digit code at time `now` (for the demo helper that prints a persona's code)."""
    return code_at_step(secret, time_step(now))


def matching_step(
    secret: str, code: str, now: float, last_used_step: int | None, window: int = 1
) -> int | None:
    """The step in now_step-window .. now_step+window whose code equals `code`, if it is unused.

    Returns the matched step only if it is greater than `last_used_step`, else None, so a code
    is never accepted twice and an older window step is refused once a later one was used
    (800-63B 5.1.4, ASVS 6.5.1). The caller must persist the returned step atomically.
    Checks every step (no early exit) with hmac.compare_digest.
    """
    code = parse_code(code)  # cheap, and compare_digest raises on non-ASCII str
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise InvalidInput("window", "must be a non-negative integer")
    now_step = time_step(now)
    matched: int | None = None
    for step in range(max(now_step - window, 0), now_step + window + 1):
        fresh = last_used_step is None or step > last_used_step
        if hmac.compare_digest(code_at_step(secret, step), code) and fresh:
            matched = step  # ascending, so the latest matching step wins and is the one burned
    return matched


def _normalise_recovery_code(code: object) -> str | None:
    """Lower-case, drop spaces and hyphens, map i/l/o to 1/0; None if not a well-formed code."""
    if not isinstance(code, str):
        return None
    normalised = code.lower().translate(_AMBIGUOUS)
    return normalised if _RECOVERY_RE.fullmatch(normalised) else None


def new_recovery_codes(count: int = 10) -> list[str]:
    """`count` distinct single-use recovery codes like "k7qm-2xwd-9hfn" (60 bits each, CSPRNG).

    These are look-up secrets (NIST 800-63B 5.1.2): show them once, store only
    `hash_recovery_code` values, burn each on use. Below 64 bits, 5.1.2.2 requires a salted
    hash (done here) and the service's 100-failure throttle (5.2.2).
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
        raise InvalidInput("count", "must be an integer from 1 to 100")
    codes: dict[str, None] = {}  # ordered set: retry the (negligible) chance of a duplicate
    while len(codes) < count:
        codes["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LEN))] = None
    size = _RECOVERY_GROUP_LEN
    return ["-".join(c[i : i + size] for i in range(0, _RECOVERY_LEN, size)) for c in codes]


def _scrypt(normalised: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        normalised.encode("ascii"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_SCRYPT_DKLEN,
    )


def hash_recovery_code(code: str) -> str:
    """Salted scrypt hash "scrypt$16384$8$1$<salt b64>$<hash b64>" of the normalised code."""
    normalised = _normalise_recovery_code(code)
    if normalised is None:
        raise InvalidInput("recovery_code", "must be 12 characters from the recovery alphabet")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(normalised, salt)
    return _SCRYPT_PREFIX + "$".join(base64.b64encode(b).decode("ascii") for b in (salt, digest))


def recovery_code_matches(code: str, stored: str) -> bool:
    """True if `code` is the one hashed into `stored` (constant-time compare).

    False for a malformed code, or for a stored value that is not exactly our format and
    parameters (refusing other parameters also stops a crafted row from demanding huge memory).
    """
    normalised = _normalise_recovery_code(code)
    if normalised is None or not isinstance(stored, str) or not stored.startswith(_SCRYPT_PREFIX):
        return False
    parts = stored[len(_SCRYPT_PREFIX) :].split("$")
    if len(parts) != 2:
        return False
    try:
        salt, expected = (base64.b64decode(p.encode("ascii"), validate=True) for p in parts)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return False
    if len(salt) != _SALT_BYTES or len(expected) != _SCRYPT_DKLEN:
        return False
    return hmac.compare_digest(_scrypt(normalised, salt), expected)

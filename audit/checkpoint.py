"""Signed checkpoints (tree heads) in the C2SP signed-note format, and their keys.

A checkpoint commits to the first `size` leaves of the log by their RFC 6962 root, says when, and
names the previous checkpoint by the SHA-256 of its note, so checkpoints form a chain as well as
a tree. Body (C2SP tlog-checkpoint, with two extension lines):

    gatehouse/audit
    <size>
    <base64 root>
    time <UTC microseconds>
    prev <base64 SHA-256 of the previous note, or "-">

then a blank line and one signature line `— <key name> <base64(key id ‖ Ed25519 signature)>`,
where key id = SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4] (C2SP signed-note). The private key
lives outside the database; a database owner can rewrite rows and hashes but cannot sign.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.private_files import open_private, replace_atomically

ORIGIN = "gatehouse/audit"
KEY_NAME = "gatehouse-audit"
_SIG_PREFIX = "\u2014 "


class CheckpointInvalid(ValueError):
    """A note that does not parse, or whose signature does not verify under the pinned key."""


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    ts_us: int
    prev: bytes | None
    note: str

    @property
    def note_hash(self) -> bytes:
        return note_hash(self.note)


def note_hash(note: str) -> bytes:
    """What the next checkpoint's `prev` line names: SHA-256 of the whole signed note."""
    return hashlib.sha256(note.encode()).digest()


def key_id(public: Ed25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(KEY_NAME.encode() + b"\n\x01" + raw).digest()[:4]


def sign_checkpoint(key: Ed25519PrivateKey, size: int, root: bytes, ts_us: int,
                    prev: bytes | None) -> Checkpoint:
    prev_text = base64.b64encode(prev).decode() if prev else "-"
    body = (f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
            f"time {ts_us}\nprev {prev_text}\n")
    return Checkpoint(size, root, ts_us, prev, sign_note(key, body))


def sign_note(key: Ed25519PrivateKey, body: str) -> str:
    """`body` (lines, each ending in a newline) as a C2SP signed note under `key`."""
    signature = key_id(key.public_key()) + key.sign(body.encode())
    return f"{body}\n{_SIG_PREFIX}{KEY_NAME} {base64.b64encode(signature).decode()}\n"


def signed_body(note: str, public: Ed25519PublicKey) -> str:
    """The body of `note` if its signature verifies under `public`; CheckpointInvalid if not."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointInvalid("no signature block")
    body += "\n"
    if not _signed_by(body, signatures, public):
        raise CheckpointInvalid("bad signature")
    return body


def open_checkpoint(note: str, public: Ed25519PublicKey) -> Checkpoint:
    """Parse `note` and check its signature under `public`; raise CheckpointInvalid otherwise."""
    body = signed_body(note, public)
    try:
        origin, size, root, time_line, prev_line = body.splitlines()
        if origin != ORIGIN or not time_line.startswith("time ") or not prev_line.startswith(
                "prev "):
            raise ValueError("unexpected body lines")
        prev_text = prev_line.removeprefix("prev ")
        prev = None if prev_text == "-" else base64.b64decode(prev_text, validate=True)
        return Checkpoint(int(size), base64.b64decode(root, validate=True),
                          int(time_line.removeprefix("time ")), prev, note)
    except ValueError:
        # not the parser's message: it quotes the note's text, which nothing has vouched for
        raise CheckpointInvalid("malformed body") from None


def _signed_by(body: str, signatures: str, public: Ed25519PublicKey) -> bool:
    wanted = key_id(public)
    for line in signatures.splitlines():
        name, _, sig_text = line.removeprefix(_SIG_PREFIX).partition(" ")
        if not line.startswith(_SIG_PREFIX) or name != KEY_NAME:
            continue
        try:
            raw = base64.b64decode(sig_text, validate=True)
        except ValueError:
            continue
        if raw[:4] != wanted:
            continue
        try:
            public.verify(raw[4:], body.encode())
            return True
        except InvalidSignature:
            return False
    return False


# --- keys -------------------------------------------------------------------------------

def generate_keypair(private_path: Path, public_path: Path) -> None:
    """Write a new Ed25519 key pair; the private key readable by its owner only."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with open_private(private_path) as out:  # never over a file, never through a symlink
        out.write(pem)
    public_path.write_bytes(public_pem(key.public_key()))


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointInvalid(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointInvalid(f"{path}: not an Ed25519 public key")
    return key


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


# --- publication outside the database ---------------------------------------------------

def publish(directory: Path, checkpoint: Checkpoint) -> Path:
    """Write the note to `directory` atomically (`replace_atomically`); idempotent."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{checkpoint.size:016d}.note"
    if target.exists():
        return target
    return replace_atomically(target, checkpoint.note)


def published_notes(directory: Path) -> list[str]:
    """Every note in `directory`, in tree-size order."""
    return [text for _, text in published_files(directory)]


def published_files(directory: Path) -> list[tuple[Path, str]]:
    """Every `*.note` file in `directory` and its text, in name (tree-size) order; a file that
    is not UTF-8 text is read with replacement characters (it will not verify)."""
    if not directory.is_dir():
        return []
    return [(p, p.read_bytes().decode("utf-8", errors="replace"))
            for p in sorted(directory.glob("*.note"))]

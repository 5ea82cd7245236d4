"""Signed notes and the signing key are written through `audit.private_files` (issue 15,
"Private files"): an insider who can write the checkpoint or statement folder plants a symlink
at the temp name a note is written through, or at the key's path, to have Gatehouse overwrite a
file of their choosing. The link is removed or refused; the victim is never written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint import generate_keypair, publish, sign_checkpoint
from audit.private_files import PathTaken
from audit.statements import publish_statement, sign_statement

VICTIM = b"the victim's own file\n"


def plant_link(at: Path, victim: Path) -> None:
    victim.write_bytes(VICTIM)
    at.symlink_to(victim)


def test_a_checkpoint_note_never_writes_through_a_link_at_its_temp_name(tmp_path: Path) -> None:
    folder, victim = tmp_path / "checkpoints", tmp_path / "victim"
    folder.mkdir()
    checkpoint = sign_checkpoint(Ed25519PrivateKey.generate(), 3, bytes(32), 1, None)
    plant_link(folder / f"{3:016d}.tmp", victim)
    written = publish(folder, checkpoint)
    assert written.read_text(encoding="utf-8") == checkpoint.note
    assert not written.is_symlink() and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in folder.iterdir()) == [written.name]


def test_a_statement_replaces_its_predecessor_whole_and_never_through_a_link(
        tmp_path: Path) -> None:
    folder, victim, key = tmp_path / "statements", tmp_path / "victim", Ed25519PrivateKey.generate()
    first = sign_statement(key, 1, 10, 0, ((1, 2),), None)
    target = publish_statement(folder, first)
    plant_link(target.with_suffix(".tmp"), victim)
    again = sign_statement(key, 1, 20, 0, ((1, 3),), None)  # the same number, written anew
    assert publish_statement(folder, again) == target
    assert target.read_text(encoding="utf-8") == again.note
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in folder.iterdir()) == [target.name]


def test_a_new_signing_key_refuses_a_planted_link_and_writes_nothing(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    plant_link(tmp_path / "signing.key", victim)
    with pytest.raises(PathTaken, match=r"signing\.key: a symlink is already there"):
        generate_keypair(tmp_path / "signing.key", tmp_path / "signing.pub")
    assert victim.read_bytes() == VICTIM
    assert not (tmp_path / "signing.pub").exists()

"""Export and bundle files are created new and private (issue 15, "Private files"): an insider
who can write the export folder plants a symlink (to have the export overwrite a file of their
choosing, or land where they can read it) or a file of their own (to read what goes in). Both
are refused with an error naming the path; nothing is written through the link."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import publish, sign_checkpoint
from audit.export_stream import ExportFormat, split_file, write_export, zip_directory
from audit.private_files import PathTaken, create_private, open_private, place, read_private
from audit.query import EventFilter, stream
from audit.sealer import seal_pending
from tests.support.audit_helpers import write_events
from tests.support.databases import Database

VICTIM = b"the victim's own file\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def plant_link(at: Path, victim: Path) -> None:
    victim.write_bytes(VICTIM)
    at.symlink_to(victim)


def export(db: Database, directory: Path, fmt: ExportFormat = ExportFormat.CSV,
           part_bytes: int = 1 << 30) -> list[Path]:
    with db.engine.connect() as conn:
        return write_export(stream(conn, EventFilter()), fmt, directory, "events",
                            part_bytes=part_bytes).parts


@pytest.mark.parametrize("planted", ["events-001.csv", "events.csv"])
def test_a_planted_symlink_in_the_export_folder_is_refused_and_never_written_through(
        db: Database, tmp_path: Path, planted: str) -> None:
    """`events-001.csv` is the part being written; `events.csv` the name a single part gets
    when it is done (a rename would have replaced the link; the export refuses instead)."""
    write_events(db, 5)
    folder, victim = tmp_path / "exports", tmp_path / "victim.txt"
    folder.mkdir()
    plant_link(folder / planted, victim)
    with pytest.raises(PathTaken, match=f"refusing to write .*{planted}: a symlink is "
                                        "already there"):
        export(db, folder)
    assert victim.read_bytes() == VICTIM
    assert (folder / planted).is_symlink()


def test_a_planted_file_is_refused_and_left_as_it_was(db: Database, tmp_path: Path) -> None:
    write_events(db, 5)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "events-001.jsonl").write_bytes(VICTIM)
    with pytest.raises(PathTaken, match="a file is already there"):
        export(db, folder, ExportFormat.JSONL)
    assert (folder / "events-001.jsonl").read_bytes() == VICTIM


def test_an_export_folder_that_is_a_symlink_is_refused(db: Database, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (tmp_path / "exports").symlink_to(theirs)
    with pytest.raises(PathTaken, match="a symlink is already there"):
        export(db, tmp_path / "exports")
    assert list(theirs.iterdir()) == []


def test_export_parts_are_0600(db: Database, tmp_path: Path) -> None:
    write_events(db, 2_500, per_transaction=500)  # parts roll over at chunk boundaries
    parts = export(db, tmp_path / "exports", part_bytes=20_000)
    assert len(parts) > 1
    assert {mode(p) for p in parts} == {0o600}
    assert mode(tmp_path / "exports") == 0o700


@pytest.mark.parametrize("planted", ["manifest.json", "events.jsonl", "audit-signing.pub",
                                     "checkpoints"])
def test_a_bundle_refuses_a_planted_symlink(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path, planted: str) -> None:
    write_events(sqlite_db, 4)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    out, victim = tmp_path / "bundle", tmp_path / "victim"
    out.mkdir()
    if planted == "checkpoints":
        victim.mkdir()
        (out / planted).symlink_to(victim)
    else:
        plant_link(out / planted, victim)
    with pytest.raises(PathTaken, match=f"{planted}: a symlink is already there"):
        export_bundle(sqlite_db.engine, out, signing_key.public_key(), checkpoint_dir)
    if planted == "checkpoints":
        assert list(victim.iterdir()) == []
    else:
        assert victim.read_bytes() == VICTIM


def test_a_bundle_refuses_a_planted_checkpoint_file(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    """The old writer skipped a checkpoint file that was there: a planted one was shipped."""
    write_events(sqlite_db, 4)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    out = tmp_path / "bundle"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / f"{4:016d}.note").write_bytes(VICTIM)
    with pytest.raises(PathTaken, match="a file is already there"):
        export_bundle(sqlite_db.engine, out, signing_key.public_key(), checkpoint_dir)


def test_a_bundle_is_private_and_still_verifies(
        sqlite_db: Database, signing_key: Ed25519PrivateKey, checkpoint_dir: Path,
        tmp_path: Path) -> None:
    write_events(sqlite_db, 4)
    seal_pending(sqlite_db.engine, signing_key, checkpoint_dir)
    out = tmp_path / "bundle"
    export_bundle(sqlite_db.engine, out, signing_key.public_key(), checkpoint_dir)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 4 and {mode(p) for p in files} == {0o600}
    assert {mode(out), mode(out / "checkpoints")} == {0o700}
    assert verify_bundle(out).ok


def test_zipping_refuses_a_planted_target_and_leaves_out_symlinks(tmp_path: Path) -> None:
    source, secret = tmp_path / "bundle", tmp_path / "secret.txt"
    source.mkdir()
    (source / "events.jsonl").write_bytes(b"{}\n")
    secret.write_bytes(b"not for the bundle")
    (source / "planted.txt").symlink_to(secret)
    plant_link(tmp_path / "taken.zip", tmp_path / "victim.zip")
    with pytest.raises(PathTaken):
        zip_directory(source, tmp_path / "taken.zip")
    assert (tmp_path / "victim.zip").read_bytes() == VICTIM
    archive = zip_directory(source, tmp_path / "b.zip")
    assert zipfile.ZipFile(archive).namelist() == ["events.jsonl"]
    assert mode(archive) == 0o600


def test_splitting_refuses_a_planted_piece(tmp_path: Path) -> None:
    whole = tmp_path / "b.zip"
    with open_private(whole) as out:
        out.write(bytes(range(256)) * 40)
    plant_link(tmp_path / "b.zip.002", tmp_path / "victim")
    with pytest.raises(PathTaken, match=r"b\.zip\.002: a symlink"):
        split_file(whole, piece_bytes=4_000)
    assert (tmp_path / "victim").read_bytes() == VICTIM


def test_the_rule_refuses_a_dangling_symlink_and_never_creates_its_target(
        tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "would-be-created")
    with pytest.raises(PathTaken, match="a symlink is already there"):
        create_private(tmp_path / "link")
    assert not (tmp_path / "would-be-created").exists()
    (tmp_path / "done").write_bytes(b"x")
    (tmp_path / "taken").write_bytes(VICTIM)
    with pytest.raises(PathTaken, match="taken: a file is already there"):
        place(tmp_path / "done", tmp_path / "taken")
    assert (tmp_path / "taken").read_bytes() == VICTIM and (tmp_path / "done").exists()


def test_a_symlink_swapped_in_after_the_export_is_not_followed_on_download(
        tmp_path: Path) -> None:
    """Whoever swaps an export part for a symlink to another file (between writing and the
    download) gets a refusal, not that file's contents served to the auditor."""
    secret = tmp_path / "victim"
    secret.write_bytes(b"not for the auditor")
    part = tmp_path / "part.csv"
    part.symlink_to(secret)
    with pytest.raises(OSError, match=r"part\.csv"):
        read_private(part)
    regular = tmp_path / "real.csv"
    regular.write_bytes(b"a,b\n")
    assert read_private(regular) == b"a,b\n"


def test_publishing_a_checkpoint_never_writes_through_a_planted_temp_symlink(
        tmp_path: Path) -> None:
    """Whoever can write the checkpoint folder plants a symlink at the note's temp name: the
    sealer publishes all the same and the link's target is untouched."""
    key = Ed25519PrivateKey.generate()
    checkpoint = sign_checkpoint(key, 3, bytes(32), 1_000_000, None)
    victim = tmp_path / "victim"
    plant_link(tmp_path / f"{3:016d}.tmp", victim)
    published = publish(tmp_path, checkpoint)
    assert published.read_text() == checkpoint.note
    assert victim.read_bytes() == VICTIM
    assert mode(published) == 0o600

"""Private folders and files (issue 15, finding F1): exports, keys and SQLite databases are
reachable only by the service's user, and a folder someone else made first is refused."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from access import oversight, runtime
from access.errors import InvalidInput
from access.keys.files import create_private, private_dir, private_sqlite
from access.ops.migrate import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "exports"
    monkeypatch.setenv(oversight.EXPORT_DIR_ENV, str(folder))
    return folder


def test_the_export_folder_defaults_to_the_data_folder(data_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(oversight.EXPORT_DIR_ENV, raising=False)
    assert oversight.export_root() == data_dir / "exports"


def test_exports_go_into_folders_only_this_user_can_open(exports: Path) -> None:
    one = oversight.new_export_dir()
    assert one.parent == exports
    assert (mode(exports), mode(one)) == (0o700, 0o700)
    oversight.remove_export(one)
    assert not one.exists()


def test_a_pre_created_world_writable_export_folder_is_refused(exports: Path) -> None:
    exports.mkdir()
    exports.chmod(0o777)
    with pytest.raises(InvalidInput) as caught:
        oversight.new_export_dir()
    assert caught.value.field == str(exports)
    assert "must have mode 0700 (owner only), not 0777" in caught.value.rule
    assert list(exports.iterdir()) == []


def test_a_symlinked_export_folder_is_refused(exports: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "someone-elses"
    theirs.mkdir(mode=0o700)
    exports.symlink_to(theirs)
    with pytest.raises(InvalidInput, match="must not be a symlink") as caught:
        oversight.new_export_dir()
    assert caught.value.field == str(exports)
    assert list(theirs.iterdir()) == []


def test_the_console_refuses_to_start_naming_the_export_folder_and_the_rule(
        exports: Path, data_dir: Path) -> None:
    exports.mkdir()
    exports.chmod(0o755)
    with pytest.raises(InvalidInput, match="exports: must have mode 0700"):
        runtime.check_private_files([])


def test_the_console_refuses_to_start_on_a_readable_database_file(exports: Path,
                                                                  tmp_path: Path) -> None:
    database = tmp_path / "gatehouse.db"
    sqlite3.connect(database).close()
    database.chmod(0o644)
    with pytest.raises(InvalidInput) as caught:
        runtime.check_private_files([f"sqlite:///{database}"])
    assert caught.value.field == str(database)
    assert "must have mode 0600" in caught.value.rule


def test_private_files_are_0600_new_and_never_through_a_symlink(tmp_path: Path) -> None:
    os.umask(old := os.umask(0))  # read the umask; the rule must hold whatever it is
    try:
        os.close(create_private(tmp_path / "new"))
        assert mode(tmp_path / "new") == 0o600
        with pytest.raises(FileExistsError):
            create_private(tmp_path / "new")
        (tmp_path / "link").symlink_to(tmp_path / "target")
        with pytest.raises(FileExistsError):
            create_private(tmp_path / "link")
        assert not (tmp_path / "target").exists()
    finally:
        os.umask(old)


def test_a_private_folder_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        assert mode(private_dir(tmp_path / "a" / "b")) == 0o700
    finally:
        os.umask(old)


def test_sqlite_databases_and_their_wal_and_shm_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which gave 0644 before
    try:
        url = f"sqlite:///{tmp_path / 'gatehouse.db'}"
        upgrade(url)
        customers = tmp_path / "customers-production.db"
        private_sqlite(f"sqlite:///{customers}", check_existing=False)
        with sqlite3.connect(customers) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE t (x)")
            conn.execute("INSERT INTO t VALUES (1)")
            files = [p for p in tmp_path.iterdir() if p.name.startswith(("gatehouse.db",
                                                                          "customers-"))]
            assert {p.name for p in files} >= {"gatehouse.db", "customers-production.db",
                                               "customers-production.db-wal",
                                               "customers-production.db-shm"}
            assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
        private_sqlite(url)  # an existing private file passes the start-up check
    finally:
        os.umask(old)

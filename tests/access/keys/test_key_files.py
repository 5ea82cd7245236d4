"""One key-file loader for the MFA key and the master key: the variable first, else the key
file; created owner-only in an owner-only folder, never replaced, safe when keygens race."""

from __future__ import annotations

import base64
import stat
import threading
from pathlib import Path

import pytest

from access import runtime
from access.data import envelope
from access.errors import InvalidInput
from access.keys.files import KeyFile

KEY = KeyFile("GATEHOUSE_TEST_KEY", "GATEHOUSE_TEST_KEY_FILE", "test.key")
RAW = bytes(range(32))


def test_both_keys_use_the_one_loader() -> None:
    assert (runtime.MFA_KEY.env, runtime.MFA_KEY.file_env) == (
        "GATEHOUSE_MFA_KEY", "GATEHOUSE_MFA_KEY_FILE")
    assert (envelope.MASTER_KEY.env, envelope.MASTER_KEY.file_env) == (
        "GATEHOUSE_MASTER_KEY", "GATEHOUSE_MASTER_KEY_FILE")


def test_created_key_is_private_in_a_private_folder_and_then_loaded(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(KEY.env, raising=False)
    monkeypatch.delenv(KEY.file_env, raising=False)
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path))
    path = KEY.create()
    assert path == tmp_path / "keys" / "test.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert KEY.load() == base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())


def test_the_variable_comes_first_and_a_blank_one_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEY.file_env, str(tmp_path / "k.key"))
    KEY.create()
    monkeypatch.setenv(KEY.env, base64.b64encode(RAW).decode())
    assert KEY.load() == RAW
    monkeypatch.setenv(KEY.env, "  ")
    with pytest.raises(InvalidInput) as caught:
        KEY.load()
    assert caught.value.field == KEY.env


def test_a_missing_or_bad_file_is_named_without_the_key(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(KEY.env, raising=False)
    monkeypatch.setenv(KEY.file_env, str(tmp_path / "absent.key"))
    with pytest.raises(InvalidInput) as caught:
        KEY.load()
    assert caught.value.field == KEY.env and "absent.key" in caught.value.rule
    assert "python -m access keygen" in caught.value.rule
    bad = tmp_path / "bad.key"
    bad.write_text("c2hvcnQ=\n", encoding="ascii")
    monkeypatch.setenv(KEY.file_env, str(bad))
    with pytest.raises(InvalidInput) as caught:
        KEY.load()
    assert caught.value.field == f"{KEY.file_env} ({bad})"
    assert "c2hvcnQ" not in str(caught.value)


def race(key: KeyFile, runners: int = 2) -> tuple[list[Path | None], list[BaseException]]:
    """`key.create()` in `runners` threads released at the same instant."""
    start = threading.Barrier(runners)
    results: list[Path | None] = []
    errors: list[BaseException] = []

    def keygen() -> None:
        start.wait()
        try:
            results.append(key.create())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=keygen) for _ in range(runners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.parametrize("key", [runtime.MFA_KEY, envelope.MASTER_KEY, KEY],
                         ids=lambda k: k.env)
def test_two_keygens_racing_leave_the_winners_key_alone(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: KeyFile) -> None:
    monkeypatch.delenv(key.env, raising=False)
    for attempt in range(20):
        path = tmp_path / str(attempt) / "keys" / "race.key"
        monkeypatch.setenv(key.file_env, str(path))
        results, errors = race(key)
        assert errors == []
        assert sorted(results, key=str) == sorted([path, None], key=str)  # one wins, one is told
        written = path.read_text(encoding="ascii")
        assert key.load() == base64.urlsafe_b64decode(written.strip())
        assert key.create() is None and path.read_text(encoding="ascii") == written

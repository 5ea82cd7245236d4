"""What an auditor downloads: names that say what, whom and when; sizes as people read them;
and no export left on the server once served or once its page lets go of it."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from access import oversight
from console.audit_widgets import ExportFiles, _serve, human_size

AT = datetime(2026, 12, 6, 16, 12, 3, tzinfo=UTC)


@pytest.fixture
def exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "exports"
    monkeypatch.setenv(oversight.EXPORT_DIR_ENV, str(folder))
    return folder


def test_an_export_is_named_for_what_whom_and_when() -> None:
    assert oversight.export_name("export", AT) == "gatehouse-audit-export-20261206T161203Z"
    flt = oversight.event_filter(customer="cust-0042", grant="7", request="12", actor="sam")
    assert oversight.export_name("export", AT, flt) == \
        "gatehouse-audit-export-cust-0042-request-12-grant-7-20261206T161203Z"
    # the time is UTC whatever the zone it came in, and a second later is another name
    assert oversight.export_name("bundle", AT.astimezone(timezone(timedelta(hours=-5)))) == \
        "gatehouse-audit-bundle-20261206T161203Z"
    assert oversight.export_name("bundle", AT + timedelta(seconds=1)) != \
        oversight.export_name("bundle", AT)


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 B"), (812, "812 B"), (1_000, "1.0 KB"), (3_456, "3.5 KB"), (35_000, "35 KB"),
    (999_499, "999 KB"), (1_200_000, "1.2 MB"), (64_000_000, "64 MB"), (2_500_000_000, "2.5 GB")])
def test_sizes_read_as_people_read_them(size: int, shown: str) -> None:
    assert human_size(size) == shown


def one_export(parts: int) -> tuple[Path, list[Path]]:
    directory = oversight.new_export_dir()
    files = [directory / f"part-{i}.csv" for i in range(parts)]
    for i, path in enumerate(files):
        path.write_bytes(b"x" * (1000 * (i + 1)))
    return directory, files


def test_each_file_is_removed_once_served_and_the_folder_with_the_last(exports: Path) -> None:
    directory, files = one_export(2)
    export = ExportFiles.of(directory, files, "text/csv")
    assert list(export.sizes.values()) == [1000, 2000]
    assert _serve(files[0], directory, tuple(files)) == b"x" * 1000
    assert not files[0].exists() and directory.exists()
    assert _serve(files[1], directory, tuple(files)) == b"x" * 2000
    assert list(exports.iterdir()) == []


def test_an_export_nobody_downloads_goes_when_its_page_lets_go(exports: Path) -> None:
    directory, files = one_export(1)
    kept: dict[str, object] = {"log_export": ExportFiles.of(directory, files, "text/csv")}
    assert directory.exists()
    del kept["log_export"]  # as leaving the page drops what it kept
    gc.collect()
    assert list(exports.iterdir()) == []

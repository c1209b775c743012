"""Files holding personal data are their owner's only: the store (and its WAL files), failure reports,
reports; folders accel creates for them are 0700; a folder that was there is left as it is."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from sync.core.private_files import ensure_private_dir, write_private
from sync.core.store import open_store
from sync.roster.apply import write_failure_report
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.people import add_user
from tests.helpers import EXAMPLE, cohort, standard_rows, write_roster


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The most permissive usual umask: what accel creates must be private whatever the umask says."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_store_its_wal_files_and_its_new_folders_are_private(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "data" / "accel" / "accel.sqlite3"
    store = open_store(path)
    store.execute("CREATE TABLE t (x)")
    store.execute("INSERT INTO t VALUES (1)")
    store.commit()
    assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for name in ("accel.sqlite3", "accel.sqlite3-wal", "accel.sqlite3-shm"):
        assert mode(path.parent / name) == 0o600, name
    assert mode(tmp_path / "data") == 0o700 and mode(tmp_path / "data" / "accel") == 0o700
    assert mode(tmp_path) == 0o755  # the user's own folder is not touched
    store.close()


def test_an_existing_store_readable_by_others_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "accel.sqlite3"
    open_store(path).close()
    os.chmod(path, 0o644)
    open_store(path).close()
    assert mode(path) == 0o600


def test_failure_report_is_private_and_whole(tmp_path: Path) -> None:
    report = tmp_path / "new" / "failures.csv"
    write_failure_report(report, [], [], [(3, "Иванова Анна", "conflict")])
    assert mode(report) == 0o600 and mode(report.parent) == 0o700
    # A write that fails midway leaves the old report as it was and no temporary file behind.
    before = report.read_bytes()

    def broken(target: Path) -> None:
        target.write_text("half", encoding="utf-8")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_private(report, broken)
    assert report.read_bytes() == before
    assert sorted(p.name for p in report.parent.iterdir()) == ["failures.csv"]


def test_a_library_that_replaces_the_file_still_leaves_it_private(tmp_path: Path) -> None:
    def replace(target: Path) -> None:
        target.unlink()
        target.write_text("x", encoding="utf-8")  # 0666 under this umask

    write_private(tmp_path / "r.txt", replace)
    assert mode(tmp_path / "r.txt") == 0o600


def test_ensure_private_dir_leaves_existing_folders_alone(tmp_path: Path) -> None:
    shared = tmp_path / "reports"
    shared.mkdir(mode=0o775)
    os.chmod(shared, 0o775)
    ensure_private_dir(shared / "2022" / "q1")
    assert mode(shared) == 0o775
    assert mode(shared / "2022") == 0o700 and mode(shared / "2022" / "q1") == 0o700


def test_roster_sync_failure_report_from_the_cli_is_private(
    fake_moodle: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "store" / "accel.sqlite3"))
    cohort(fake_moodle)
    add_user(fake_moodle, "someone.else", email="P7@EXAMPLE.ORG", idnumber="X-7")
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    report = tmp_path / "out" / "failures.csv"
    result = run_cli("roster", "sync", str(path), "--apply", "--report", str(report), config=EXAMPLE)
    assert result.exit_code == 1, result.output
    assert mode(report) == 0o600 and mode(report.parent) == 0o700
    assert mode(tmp_path / "store") == 0o700 and mode(tmp_path / "store" / "accel.sqlite3") == 0o600


def test_service_report_folder_and_reports_are_private(tmp_path: Path) -> None:
    from sync.core.config import load_config
    from sync.indicators.report.write import write_cohort_reports
    from sync.indicators.snapshot import Snapshot, save_snapshot

    config = load_config(EXAMPLE)
    store = open_store(tmp_path / "s.sqlite3")
    save_snapshot(store, Snapshot(cohort=config.cohort.code, taken_at=1_640_000_000))
    written = write_cohort_reports(store, config, tmp_path / "reports", ["json", "xlsx"], now=1_640_000_000)
    assert mode(tmp_path / "reports") == 0o700
    assert [mode(p) for p in written] == [0o600, 0o600]

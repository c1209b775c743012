"""A rehearsal stays a rehearsal: `serve --once --now` keeps its own store and report folder, sends no message
unless --send, and says so when it starts; the service's store, `accel status` and the "not twice a day" rule
of the real reminders are untouched."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from sync.core.config import load_config
from tests.fake_moodle import FakeMoodle
from tests.helpers import (
    EXAMPLE_ROSTER,
    build_recorded_cohort,
    cohort,
    cut_roster,
    reminders_sent,
    write_config,
)

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))


def rows(store: Path, table: str) -> int:
    connection = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        connection.close()


def test_a_rehearsal_sends_nothing_and_leaves_the_service_alone(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    store = tmp_path / "accel.sqlite3"
    # The service has run before (a snapshot of today), so its store exists.
    assert run_cli("--config", str(config), "indicators", "gather").exit_code == 0
    snapshots_before = rows(store, "indicator_snapshots")

    rehearsal = run_cli("--config", str(config), "serve", "--once", "--now", "2026-12-07T09:00")
    assert rehearsal.exit_code == 0, rehearsal.output
    notice = rehearsal.stderr.splitlines()[0]
    assert notice.startswith("Rehearsal at 2026-12-07T09:00+12:00: state in ")
    assert str(tmp_path / "accel.rehearsal.sqlite3") in notice and "no message is sent" in notice
    assert re.search(
        r"^reminders: ok .*would remind 1 mentor of 3 submissions; not sent", rehearsal.stdout, re.M
    )
    assert reminders_sent(fake_moodle) == [] and fake_moodle.count("core_message_send_instant_messages") == 0

    # The service's store holds no run, no new snapshot and no reminder dated 7 December.
    assert rows(store, "indicator_snapshots") == snapshots_before
    with pytest.raises(sqlite3.OperationalError):
        rows(store, "job_runs")  # the service never ran here: its tables do not even exist
    status = run_cli("--config", str(config), "status", "--json")
    assert all(job["last_run"] is None for job in json.loads(status.stdout)["jobs"])
    # Reports of a rehearsal go to their own folder.
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["rehearsal"]
    assert len(list((tmp_path / "reports" / "rehearsal").iterdir())) == 3
    # The rehearsal's own state is there to look at.
    shown = json.loads(run_cli("--config", str(config), "status", "--rehearsal", "--json").stdout)
    assert {job["job"]: job["last_run"] for job in shown["jobs"]}["reminders"].startswith("2026-12-07T09:00")

    # The real reminders (the real clock) are not skipped as "already sent today" by the rehearsal.
    real = run_cli("--config", str(config), "serve", "--once", "--job", "reminders")
    assert real.exit_code == 0, real.output
    assert "Rehearsal" not in real.output
    assert re.search(r"^reminders: ok .*mentors reminded: 1", real.stdout, re.M)
    assert len(reminders_sent(fake_moodle)) == 1


def test_a_rehearsal_sends_when_told_and_still_keeps_apart(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    sent = run_cli(
        "--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T09:30", "--json"
    )
    assert sent.exit_code == 0, sent.output
    assert "its messages ARE sent (--send)" in sent.stderr
    payload = json.loads(sent.stdout)
    assert payload["rehearsal"] == {"store": str(tmp_path / "accel.rehearsal.sqlite3"), "send": True}
    assert len(reminders_sent(fake_moodle)) == 1
    assert not (tmp_path / "accel.sqlite3").exists()  # the service's store was never even made
    # Within the rehearsal, its own "not twice a day" holds.
    again = run_cli(
        "--config",
        str(config),
        "serve",
        "--once",
        "--send",
        "--now",
        "2022-02-03T15:00",
        "--job",
        "reminders",
    )
    assert "reminders: nothing" in again.stdout and len(reminders_sent(fake_moodle)) == 1


def test_a_first_rehearsal_starts_from_the_services_state_without_changing_it(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    store = tmp_path / "accel.sqlite3"
    assert run_cli("--config", str(config), "serve", "--once", "--job", "snapshot").exit_code == 0
    runs_before, snapshots_before = rows(store, "job_runs"), rows(store, "indicator_snapshots")
    run_cli("--config", str(config), "serve", "--once", "--now", "2026-12-07T09:00")
    rehearsal = tmp_path / "accel.rehearsal.sqlite3"
    assert rows(rehearsal, "job_runs") > runs_before  # the service's run, then the rehearsal's
    assert rows(rehearsal, "indicator_snapshots") == 2
    assert rows(store, "job_runs") == runs_before
    assert rows(store, "indicator_snapshots") == snapshots_before
    assert rehearsal.stat().st_mode & 0o077 == 0


def test_a_held_roster_change_in_a_rehearsal_tells_nobody(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    roster = tmp_path / "roster.csv"
    shutil.copy(EXAMPLE_ROSTER, roster)
    config = write_config(tmp_path, 'roster_file = "roster.csv"\nroster_check_minutes = 15\n')
    synced = run_cli(
        "--config", str(config), "serve", "--once", "--now", "2022-02-03T10:00", "--job", "roster_sync"
    )
    assert "roster_sync: ok" in synced.stdout, synced.output
    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n % 2 == 0)  # half the people gone
    held = run_cli("--config", str(config), "serve", "--once", "--now", "2022-02-03T10:45")
    assert re.search(r"^roster_sync: held .*admin not told: a rehearsal sends no message", held.stdout, re.M)
    assert fake_moodle.messages == []


def test_send_goes_with_now_and_a_missing_rehearsal_is_said(run_cli: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_cli("--config", str(config), "serve", "--once", "--send")
    assert result.exit_code == 2 and "--send goes with --now" in result.output
    result = run_cli("--config", str(config), "status", "--rehearsal")
    assert result.exit_code == 2 and "no rehearsal has run yet" in result.output


def test_a_rehearsal_with_a_relative_configuration_path_writes_its_reports_in_the_right_folder(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cohort").mkdir()
    write_config(tmp_path / "cohort")
    monkeypatch.chdir(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(Path("cohort/accelerator.toml")))
    assert run_cli("--config", "cohort/accelerator.toml", "indicators", "gather").exit_code == 0
    result = run_cli(
        "--config",
        "cohort/accelerator.toml",
        "serve",
        "--once",
        "--now",
        "2026-12-07T07:00",
        "--job",
        "report",
    )
    assert result.exit_code == 0, result.output
    reports = tmp_path / "cohort" / "reports" / "rehearsal"
    assert f"reports into {reports};" in result.stderr
    assert len(list(reports.iterdir())) == 3

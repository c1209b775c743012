"""`accel serve --once`, `accel status` and `accel serve` end to end on the fake site."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from sync.core.config import load_config
from tests.fake_moodle import ADMIN_ID, FakeMoodle
from tests.fake_moodle.http import serve_over_http
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


def test_serve_once_runs_what_is_due_and_reminds_each_mentor_once_a_day(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    cohort_ids = build_recorded_cohort(fake_moodle, load_config(config))

    first = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T09:30")
    assert first.exit_code == 0, first.output
    assert re.search(r"^snapshot: ok", first.output, re.M)
    assert re.search(r"^reminders: ok .*mentors reminded: 1, submissions listed: 3", first.output, re.M)
    assert re.search(r"^report: ok", first.output, re.M)
    sent = reminders_sent(fake_moodle)
    assert len(sent) == 1
    assert int(sent[0]["useridto"]) == cohort_ids.mentor
    # Both teams' refined projects wait since 28.01 and team Эссо's consultation log since 01.12; team
    # Шаромы's log was answered with a comment and no grade (field note 24): not reminded.
    items = re.findall(r"<li>(.*?)</li>", sent[0]["text"])
    logs = [item for item in items if "«Журнал консультаций»" in item]
    assert len(items) == 3 and len(logs) == 1 and logs[0].startswith("Команда «Эссо»")
    assert "Доработанный проект" in sent[0]["text"] and "/mod/assign/view.php" in sent[0]["text"]
    reports = sorted(p.name for p in (tmp_path / "reports" / "rehearsal").iterdir())
    assert [Path(name).suffix for name in reports] == [".html", ".json", ".xlsx"]

    again = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T09:45")
    assert again.exit_code == 0 and "Nothing is due" in again.output
    forced = run_cli(
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
    assert forced.exit_code == 0, forced.output
    assert "reminders: nothing" in forced.output
    assert len(reminders_sent(fake_moodle)) == 1  # never the same submission to the same mentor twice a day

    next_day = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-04T09:05")
    assert next_day.exit_code == 0, next_day.output
    assert "snapshot: ok" in next_day.output and "reminders: ok" in next_day.output
    assert len(reminders_sent(fake_moodle)) == 2

    status = run_cli("--config", str(config), "status", "--rehearsal", "--json", "--now", "2022-02-04T10:00")
    payload = json.loads(status.output)
    jobs = {job["job"]: job for job in payload["jobs"]}
    assert jobs["reminders"]["last_outcome"] == "ok"
    assert jobs["reminders"]["next_run"].startswith("2022-02-05T09:00")
    assert jobs["report"]["next_run"].startswith("2022-02-07T07:00")
    assert jobs["snapshot"]["last_duration"] is not None
    values = {row["key"]: row for row in payload["indicators"]["values"]}
    assert values["participants"]["value"] == 8 and values["participants"]["target"] == 50
    text = run_cli("--config", str(config), "status", "--rehearsal", "--now", "2022-02-04T10:00")
    assert "reminders" in text.output and "Indicators (snapshot of 2022-02-04" in text.output


def test_reminders_refused_by_the_site_are_sent_when_the_job_is_retried(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    from integration.functions import required_functions

    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    # The administrator forgot to add the messaging function to the service: Moodle refuses the whole call.
    fake_moodle.service_functions = set(required_functions()) - {"core_message_send_instant_messages"}
    first = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T09:30")
    assert re.search(r"^reminders: failed .*accessexception", first.output, re.M), first.output
    assert reminders_sent(fake_moodle) == []
    fake_moodle.service_functions = None  # added
    retry = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T09:40")
    assert re.search(r"^reminders: ok .*mentors reminded: 1, submissions listed: 3", retry.output, re.M), (
        retry.output
    )
    assert len(reminders_sent(fake_moodle)) == 1


@pytest.mark.parametrize("coordinator", ["admin", None], ids=["configured", "from-the-roster"])
def test_an_unsafe_roster_change_is_held_and_the_coordinator_told_once(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, coordinator: str | None
) -> None:
    cohort(fake_moodle)
    roster = tmp_path / "roster.csv"
    shutil.copy(EXAMPLE_ROSTER, roster)
    config = write_config(tmp_path, 'roster_file = "roster.csv"\nroster_check_minutes = 15\n', coordinator)
    # The [service] table is already open above, so the two keys land in it.
    synced = run_cli(
        "--config",
        str(config),
        "serve",
        "--once",
        "--send",
        "--now",
        "2022-02-03T10:00",
        "--job",
        "roster_sync",
    )
    assert synced.exit_code == 0, synced.output
    assert "roster_sync: ok" in synced.output and "applied" in synced.output
    quiet = run_cli(
        "--config",
        str(config),
        "serve",
        "--once",
        "--send",
        "--now",
        "2022-02-03T10:15",
        "--job",
        "roster_sync",
    )
    assert "Moodle already in step" in quiet.output or "unchanged" in quiet.output

    unchanged = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T10:30")
    assert "roster_sync: unchanged" in unchanged.output

    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n % 2 == 0)  # half the people gone
    before = len(fake_moodle.messages)
    writes_before = fake_moodle.count("enrol_manual_enrol_users")
    held = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T10:45")
    assert held.exit_code == 0, held.output
    assert "roster_sync: held" in held.output
    assert fake_moodle.count("enrol_manual_enrol_users") == writes_before  # nothing suspended
    notices = fake_moodle.messages[before:]
    if coordinator:
        assert "admin told" in held.output
        expected = ADMIN_ID
    else:  # the roster's coordinator (Координаторова, coordinator@example.org) has an account by now
        assert "the roster's coordinators told" in held.output
        expected = next(
            u["id"] for u in fake_moodle.users.values() if u["email"] == "coordinator@example.org"
        )
    assert len(notices) == 1 and int(notices[0]["useridto"]) == expected
    assert "остановлена" in notices[0]["text"]

    still = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T11:00")
    assert "roster_sync: held" in still.output
    assert len(fake_moodle.messages) == before + 1  # told once, not every quarter of an hour

    shutil.copy(EXAMPLE_ROSTER, roster)  # the coordinator puts the file right: Moodle is in step with it
    back = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T11:15")
    assert "roster_sync: unchanged" in back.output
    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n != 0)  # one participant really left
    small = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T11:30")
    assert re.search(r"roster_sync: ok .*applied .*3 suspensions", small.output), small.output


def test_a_held_change_whose_notice_failed_is_told_on_the_retry(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    from integration.functions import required_functions

    cohort(fake_moodle)
    roster = tmp_path / "roster.csv"
    shutil.copy(EXAMPLE_ROSTER, roster)
    config = write_config(tmp_path, 'roster_file = "roster.csv"\nroster_check_minutes = 15\n')
    synced = run_cli(
        "--config",
        str(config),
        "serve",
        "--once",
        "--send",
        "--now",
        "2022-02-03T10:00",
        "--job",
        "roster_sync",
    )
    assert "roster_sync: ok" in synced.output, synced.output
    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n % 2 == 0)  # half the people gone
    before = len(fake_moodle.messages)
    fake_moodle.service_functions = set(required_functions()) - {"core_message_send_instant_messages"}
    failed = run_cli(
        "--config",
        str(config),
        "serve",
        "--once",
        "--send",
        "--now",
        "2022-02-03T10:45",
        "--job",
        "roster_sync",
    )
    assert "roster_sync: failed" in failed.output and "accessexception" in failed.output, failed.output
    fake_moodle.service_functions = None
    retry = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T11:00")
    assert re.search(r"^roster_sync: held .*admin told", retry.output, re.M), retry.output
    assert len(fake_moodle.messages) == before + 1


def test_site_down_for_an_hour_then_a_clean_catch_up(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    # Moodle is stopped: every request fails to connect.
    down = 10_000
    for wsfunction in ("core_webservice_get_site_info", "core_course_get_courses_by_field"):
        fake_moodle.inject(wsfunction, "connection", times=down)
    outcomes = []
    for minute in range(0, 60):  # `serve --once` from a timer, every minute for an hour
        result = run_cli(
            "--config", str(config), "serve", "--once", "--send", "--now", f"2022-02-03T09:{minute:02d}"
        )
        outcomes.append(result.stdout.strip())
    attempts = [o for o in outcomes if "site-down" in o]
    assert 3 <= len(attempts) <= 5  # the jobs try at 5, 10, 20 minutes... not once a minute
    # Between the attempts no site job runs; the report waits for a first snapshot (no request, no back-off).
    between = [o for o in outcomes if "site-down" not in o]
    assert all(o.startswith(("Nothing is due", "report: waiting")) for o in between)
    assert not any("snapshot:" in o or "reminders:" in o for o in between)
    probes = down - fake_moodle.injected[0].remaining
    job_attempts = down - fake_moodle.injected[1].remaining
    assert probes <= 60  # at most one quick "are you back?" per run, never retried
    assert job_attempts == 5 * len(attempts)  # each job attempt: one request and its 4 retries
    for fault in fake_moodle.injected:
        fault.remaining = 0  # Moodle is started again
    back = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T10:00")
    assert back.exit_code == 0, back.output
    # The very next run catches up, though the jobs' back-off runs until later.
    assert "snapshot: ok" in back.output and "reminders: ok" in back.output and "report: ok" in back.output
    again = run_cli("--config", str(config), "serve", "--once", "--send", "--now", "2022-02-03T10:01")
    assert "Nothing is due" in again.output


def test_serve_as_a_process_stops_cleanly_on_sigterm(fake_moodle: FakeMoodle, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    store = tmp_path / "accel.sqlite3"
    in_flight = threading.Event()
    arrived: list[float] = []  # when each request reached the site

    def slow_submissions(wsfunction: str) -> None:
        arrived.append(time.monotonic())
        if wsfunction == "mod_assign_get_submissions":
            in_flight.set()
            time.sleep(1.5)  # SIGTERM arrives while this request is being answered

    fake_moodle.before_answer = slow_submissions
    with serve_over_http(fake_moodle) as url:
        env = {
            **os.environ,
            "MOODLE_URL": url,
            "MOODLE_TOKEN": fake_moodle.token,
            "ACCEL_STORE": str(store),
        }
        env.pop("MOODLE_TOKEN_FILE", None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "--config",
                str(config),
                "--log-format",
                "json",
                "-v",
                "serve",
                "--tick",
                "1",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert in_flight.wait(timeout=60), "the service never reached the slow request"
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        calls_after = fake_moodle.functions_called()
    assert process.returncode == 0, err
    # The request in flight was answered; no new one was sent after it. The gather's reads of this step go
    # at once: those already on their way may still arrive in the first moment after the signal, none later.
    assert calls_after[-1] == "mod_assign_get_submissions"
    assert not [at for at in arrived if at > signalled + 0.5]
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("job") == "snapshot" and entry.get("outcome") == "interrupted" for entry in logs)
    assert any(entry["message"] == "service stopped" for entry in logs)
    assert fake_moodle.token not in err + out
    # It said when it started (the cohort, the site, each job's next run) and how each run went.
    lines = out.splitlines()
    assert lines[0] == (
        f"accel serve: cohort kam21 (Камчатка 2021), site {url}; next runs: roster_sync: not in the timetable, "
        "snapshot: now, reminders: now, report: now"
    )
    assert re.fullmatch(
        r"snapshot: interrupted \(\d+\.\ds, \d+ requests\): stopped by shutdown; it runs again next time",
        lines[1],
    ), out
    assert len(lines) == 2
    with sqlite3.connect(store) as connection:
        rows = connection.execute("SELECT job, outcome FROM job_runs ORDER BY id").fetchall()
    assert ("snapshot", "interrupted") in rows

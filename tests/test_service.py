"""The service's timetable, retries, site back-off and lock, with an injected clock (no sleeping)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from integration.errors import Cancelled, MoodleUnreachable
from sync.core.config import load_config
from sync.core.lock import LockBusy, exclusive
from sync.core.store import open_store
from sync.service.runner import Job, JobContext, JobNotReady, JobResult, ServiceRunner
from sync.service.timetable import Schedule, Timetable
from tests.helpers import Recorder, at, config_with_service, runner_for

EXAMPLE = Path(__file__).parent.parent / "examples" / "kamchatka-2021.toml"


def test_schedule_slots() -> None:
    daily = Schedule(times=(dt.time(2, 0), dt.time(14, 0)))
    assert daily.latest(at(3, 1)) == at(2, 14)
    assert daily.latest(at(3, 2)) == at(3, 2)
    assert daily.next(at(3, 2)) == at(3, 14)
    weekly = Schedule(times=(dt.time(7, 0),), weekday=0)  # Mondays; 2021-11-01 was a Monday
    assert weekly.latest(at(3, 12)) == at(1, 7)
    assert weekly.next(at(3, 12)) == at(8, 7)
    every = Schedule(every_minutes=15)
    assert every.latest(at(3, 10, 7)) == at(3, 10, 0)
    assert every.next(at(3, 10, 7)) == at(3, 10, 15)
    assert Schedule().latest(at(3, 10)) is None and Schedule().next(at(3, 10)) is None


def test_interval_that_does_not_divide_the_day_restarts_at_midnight() -> None:
    """Intervals count from midnight, so the next slot after 23:45 is 00:00 (what latest() then gives), not 00:10."""
    every = Schedule(every_minutes=25)
    assert every.latest(at(3, 23, 50)) == at(3, 23, 45)
    assert every.next(at(3, 23, 50)) == at(4, 0, 0)
    assert every.latest(at(4, 0, 0)) == at(4, 0, 0)


def test_timetable_runs_each_slot_once_and_catches_up_once(tmp_path: Path) -> None:
    snapshot = Recorder()
    runner = runner_for(tmp_path, {"snapshot": snapshot}, snapshot_at=["02:00"])
    runner.tick(at(3, 2, 1))
    runner.tick(at(3, 2, 2))
    runner.tick(at(3, 23))
    assert snapshot.runs == [at(3, 2, 1)]
    # The service was down for three days: the missed nights run once, not three times.
    runner.tick(at(7, 12))
    runner.tick(at(7, 12, 1))
    assert snapshot.runs == [at(3, 2, 1), at(7, 12)]
    status = {s.job: s for s in runner.status(at(7, 12, 2))}
    assert status["snapshot"].last_outcome == "ok"
    assert status["snapshot"].next_run == at(8, 2).isoformat()


def test_next_run_is_never_in_the_past_and_waits_for_the_site(tmp_path: Path) -> None:
    snapshot = Recorder(None, RuntimeError("boom"))
    runner = runner_for(tmp_path, {"snapshot": snapshot}, snapshot_at=["02:00"], retry_minutes=5)
    runner.tick(at(3, 2))
    # `serve --job snapshot` fails after the slot was done: nothing retries it, the next slot is tomorrow's.
    assert runner.run_now("snapshot", at(3, 12)).outcome == "failed"
    assert runner.status(at(3, 13))[0].next_run == at(4, 2).isoformat()

    down = MoodleUnreachable("core_webservice_get_site_info: did not answer")
    runner = runner_for(
        tmp_path / "down",
        {"snapshot": Recorder(down), "reminders": Recorder()},
        snapshot_at=["02:00"],
        reminders_at=["02:00"],
        retry_minutes=5,
    )
    assert [r.outcome for r in runner.tick(at(3, 2))] == ["site-down"]
    # The reminders are due but wait for the site with every other site job.
    assert runner.tick(at(3, 2, 1)) == []
    status = {s.job: s.next_run for s in runner.status(at(3, 2, 1))}
    assert status == {"snapshot": at(3, 2, 5).isoformat(), "reminders": at(3, 2, 5).isoformat()}


def test_a_failing_job_is_retried_with_backoff_and_never_stops_the_others(tmp_path: Path) -> None:
    failing = Recorder(RuntimeError("boom"), RuntimeError("boom again"), None)
    other = Recorder()
    runner = runner_for(
        tmp_path,
        {"snapshot": failing, "reminders": other},
        snapshot_at=["02:00"],
        reminders_at=["02:00"],
        retry_minutes=5,
    )
    records = runner.tick(at(3, 2))
    assert [(r.job, r.outcome) for r in records] == [("snapshot", "failed"), ("reminders", "ok")]
    assert "boom" in records[0].detail
    runner.tick(at(3, 2, 4))  # before the 5-minute retry
    assert len(failing.runs) == 1
    runner.tick(at(3, 2, 5))  # first retry, fails again: next in 10 minutes
    runner.tick(at(3, 2, 14))
    assert len(failing.runs) == 2
    runner.tick(at(3, 2, 15))
    assert len(failing.runs) == 3
    assert len(other.runs) == 1
    assert {s.job: s.last_outcome for s in runner.status(at(3, 3))} == {"snapshot": "ok", "reminders": "ok"}


def test_an_hour_of_site_downtime_ends_in_a_clean_catch_up(tmp_path: Path) -> None:
    down = MoodleUnreachable("core_webservice_get_site_info: did not answer")
    snapshot = Recorder(down, down, down, down)
    reminders = Recorder()
    runner = runner_for(
        tmp_path,
        {"snapshot": snapshot, "reminders": reminders},
        snapshot_at=["02:00"],
        reminders_at=["02:00"],
        retry_minutes=5,
        retry_max_minutes=60,
    )
    attempts_per_minute = []
    moment = at(3, 2)
    for _ in range(80):  # the loop wakes up every minute for 80 minutes; the site is back after 75
        attempts_per_minute.append(len(runner.tick(moment)))
        moment += dt.timedelta(minutes=1)
    # While the site is down, the other site job waits too: one probe per back-off step, not a storm.
    assert [r - at(3, 2) for r in snapshot.runs] == [dt.timedelta(minutes=m) for m in (0, 5, 15, 35, 75)]
    assert len(reminders.runs) == 1
    assert reminders.runs[0] == snapshot.runs[-1]  # both catch up in the same round once the site is back
    assert sum(attempts_per_minute) == 6


def test_cancelled_job_is_due_again(tmp_path: Path) -> None:
    snapshot = Recorder(Cancelled("stop"), None)
    runner = runner_for(tmp_path, {"snapshot": snapshot}, snapshot_at=["02:00"])
    assert [r.outcome for r in runner.tick(at(3, 2))] == ["interrupted"]
    assert [r.outcome for r in runner.tick(at(3, 2, 1))] == ["ok"]


def test_held_outcome_counts_as_done(tmp_path: Path) -> None:
    roster = Recorder(JobResult("held", "would suspend 40% of KAM21-M1"))
    runner = runner_for(tmp_path, {"roster_sync": roster}, roster_file="roster.csv", roster_check_minutes=15)
    assert [r.outcome for r in runner.tick(at(3, 10, 2))] == ["held"]
    assert runner.tick(at(3, 10, 14)) == []
    assert len(runner.tick(at(3, 10, 15))) == 1


def test_lock_refuses_a_second_holder_and_says_who(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    with exclusive(path, "roster sync --apply"):
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, "provision --apply"):
                pass
        assert "roster sync --apply" in str(caught.value)
        assert f"process {os.getpid()}" in str(caught.value)
    with exclusive(path, "provision --apply"):
        pass


def test_lock_waits_then_gives_up_with_an_injected_clock(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with exclusive(path, "serve: roster_sync"):
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, "cli", wait=3, poll=1, clock=lambda: now[0], sleep=sleep):
                pass
    assert waits == [1, 1, 1]
    assert "after waiting 3s" in str(caught.value)


def test_a_stale_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
            from pathlib import Path
            from sync.core.lock import exclusive
            with exclusive(Path({str(path)!r}), "roster sync --apply"):
                print("locked", flush=True)
                time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockBusy):
        with exclusive(path, "cli"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    started = time.monotonic()
    with exclusive(path, "cli"):
        pass
    assert time.monotonic() - started < 5
    assert path.read_text() == ""  # the content is cleared by the next holder on release


def test_timetable_from_the_example_config() -> None:
    config = load_config(EXAMPLE)
    timetable = Timetable.from_config(config)
    assert set(timetable.schedules) == {"roster_sync", "snapshot", "reminders", "report"}


def test_a_long_running_service_does_not_keep_every_warning(tmp_path: Path, fake_moodle: Any) -> None:
    from integration.transport import MoodleWarning
    from tests.helpers import make_client

    client = make_client(fake_moodle)

    def warns(context: JobContext) -> JobResult:
        context.client().warnings.append(MoodleWarning("mod_assign_get_grades", "No grades found"))
        return JobResult("ok")

    config = config_with_service(tmp_path, snapshot_at=["02:00"])
    runner = ServiceRunner(
        config,
        open_store(tmp_path / "store.sqlite3"),
        lambda: client,
        [Job("snapshot", warns)],
        lock_path=tmp_path / "lock",
    )
    for day in (3, 4, 5):
        runner.tick(at(day, 2))
    assert client.warnings == []


def test_expected_failures_log_one_line_and_bugs_keep_their_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    snapshot = Recorder(RuntimeError("roster file roster.csv: No such file or directory"))
    report = Recorder(ZeroDivisionError("division by zero"))
    runner = runner_for(tmp_path, {"snapshot": snapshot, "report": report}, snapshot_at=["02:00"])
    with caplog.at_level(logging.ERROR, logger="accel.service"):
        runner.tick(at(3, 2))
    failed = {r.getMessage().split(":")[0]: r for r in caplog.records if "failed" in r.getMessage()}
    assert "No such file" in failed["snapshot failed"].getMessage()
    assert not failed["snapshot failed"].exc_info
    assert failed["report failed"].exc_info


def test_a_job_not_ready_waits_without_back_off(tmp_path: Path) -> None:
    report = Recorder(JobNotReady("no snapshot yet"), JobNotReady("no snapshot yet"), None)
    runner = runner_for(tmp_path, {"report": report}, report_weekday="wednesday", report_at="07:00")
    assert [r.outcome for r in runner.tick(at(3, 7))] == ["waiting"]
    assert [r.outcome for r in runner.tick(at(3, 7, 1))] == ["waiting"]  # next round, not after a back-off
    assert [r.outcome for r in runner.tick(at(3, 7, 2))] == ["ok"]
    assert runner.tick(at(3, 7, 3)) == []
    assert {s.job: s.failures for s in runner.status(at(3, 8))} == {"report": 0}


# -- the timetable is made of `schedule` jobs ------------------------------------------------------------------


def test_the_timetable_is_made_of_schedule_library_jobs() -> None:
    import schedule

    config = load_config(EXAMPLE)  # roster every 15 minutes and at 06:00, report on Mondays at 07:00
    timetable = Timetable.from_config(config)
    made = {
        job: [slot.make(schedule.Scheduler()) for slot in timetable.schedules[job].slots]
        for job in timetable.schedules
    }
    assert all(isinstance(job, schedule.Job) for jobs in made.values() for job in jobs)
    [report] = made["report"]
    assert (report.unit, report.start_day, report.at_time) == ("weeks", "monday", dt.time(7, 0))
    roster = made["roster_sync"]
    assert [(j.unit, j.at_time) for j in roster] == [("days", dt.time(6, 0))] + [
        ("hours", dt.time(0, minute)) for minute in (0, 15, 30, 45)
    ]


@pytest.mark.parametrize(
    ("minutes", "now", "latest", "following"),
    [
        (1, at(3, 10, 7), at(3, 10, 7), at(3, 10, 8)),
        (20, at(3, 10, 59), at(3, 10, 40), at(3, 11, 0)),
        (90, at(3, 10, 0), at(3, 9, 0), at(3, 10, 30)),
        (7, at(3, 0, 1), at(3, 0, 0), at(3, 0, 7)),
        (7, at(3, 23, 59), at(3, 23, 55), at(4, 0, 0)),  # 205 slots of 7 minutes, then midnight again
    ],
)
def test_every_n_minutes_counts_from_midnight(
    minutes: int, now: dt.datetime, latest: dt.datetime, following: dt.datetime
) -> None:
    every = Schedule(every_minutes=minutes)
    assert every.latest(now) == latest
    assert every.next(now) == following


def test_the_timetable_is_in_the_cohorts_time_zone_whatever_the_machines() -> None:
    """schedule works in naive local time: the timetable hands it the cohort's wall clock, not the machine's."""
    daily = Schedule(times=(dt.time(2, 0),))
    moscow = dt.timezone(dt.timedelta(hours=3))
    now = at(3, 1, 30).astimezone(moscow)  # 01:30 in Kamchatka is 16:30 the day before in Moscow
    assert daily.next(now.astimezone(at(3, 0).tzinfo)) == at(3, 2)
    timetable = Timetable(schedules={"snapshot": daily}, tz=at(3, 0).tzinfo)  # type: ignore[arg-type]
    assert timetable.next("snapshot", now) == at(3, 2)
    assert timetable.latest("snapshot", now) == at(2, 2)


def test_schedule_keeps_the_real_clock_for_everyone_else() -> None:
    """The timetable's clock is seen by schedule only while the timetable asks; a job made outside runs on
    the real clock, as the library's users expect."""
    import schedule

    Schedule(times=(dt.time(2, 0),)).next(at(3, 1))  # the timetable asked about 2021
    job = schedule.Scheduler().every(10).minutes.do(lambda: None)
    assert job.next_run is not None
    assert abs((job.next_run - dt.datetime.now()).total_seconds() - 600) < 60
    # The library's until() still recognises any datetime as one.
    assert isinstance(dt.datetime(2021, 1, 1), schedule.datetime.datetime)


def test_the_loop_wakes_up_at_the_next_slot_not_at_a_tick(tmp_path: Path) -> None:
    """serve_forever sleeps until the next run any job has: the snapshot at 02:00 runs at 02:00, although the
    loop would look only every hour otherwise; a retry wakes it up too."""
    import threading

    from sync.service.runner import serve_forever

    snapshot = Recorder(None, RuntimeError("boom"), None)
    runner = runner_for(tmp_path, {"snapshot": snapshot}, snapshot_at=["02:00"], retry_minutes=5)
    now = [at(3, 0, 17)]
    runner.tick(at(2, 2, 1))  # last night's slot is done
    sleeps: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert timeout is not None
            sleeps.append(timeout)
            now[0] += dt.timedelta(seconds=timeout)
            if len(sleeps) == 4:
                self.set()
            return self.is_set()

    serve_forever(runner, stop=Stop(), clock=lambda: now[0], tick_seconds=3600)
    # 00:17 -> 01:17 (the longest sleep), then to 02:00 where the snapshot fails, then to its retry at 02:05,
    # then the longest sleep again (tomorrow's slot is far).
    assert [round(s) for s in sleeps] == [3600, 43 * 60, 5 * 60, 3600]
    assert [run.replace(microsecond=0) for run in snapshot.runs] == [at(2, 2, 1), at(3, 2), at(3, 2, 5)]
    assert runner.next_wake(at(3, 2, 6)) == at(4, 2)

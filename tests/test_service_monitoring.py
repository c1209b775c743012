"""For monitoring and scripts: `accel status` exits 1 when a job failed or is held, `serve --once` and `report`
speak JSON; the service waits as long as the site's Retry-After says, and an uncertain answer of a site that
is up does not hold every site job."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from integration.errors import MoodleUnreachable, UncertainAnswer
from integration.transport import MoodleClient
from sync.core.config import load_config
from sync.core.store import open_store
from sync.service.runner import Job, JobResult, ServiceRunner
from tests.fake_moodle import FakeMoodle
from tests.helpers import Recorder, at, build_recorded_cohort, runner_for, write_config

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))


def no_site() -> MoodleClient:
    raise AssertionError("these jobs do not use the site")


def record_run(tmp_path: Path, config: Path, name: str, job: Recorder, when: dt.datetime) -> None:
    """Let one job run on the service's store (the one `accel status` reads)."""
    runner = ServiceRunner(
        load_config(config),
        open_store(tmp_path / "accel.sqlite3"),
        no_site,
        [Job(name, job, needs_site=False)],
        lock_path=tmp_path / "lock",
    )
    runner.run_now(name, when)


@pytest.mark.parametrize(
    ("action", "code", "said"),
    [
        (JobResult("ok", "wrote it"), 0, None),
        (JobResult("unchanged", "roster.csv has not changed"), 0, None),
        (JobResult("held", "would suspend 40% of KAM21-M1"), 1, "held for a decision: roster_sync"),
        (
            RuntimeError("roster file roster.csv: No such file or directory"),
            1,
            "last run failed: roster_sync",
        ),
    ],
    ids=["ok", "unchanged", "held", "failed"],
)
def test_status_exits_1_when_a_job_failed_or_is_held(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, action: object, code: int, said: str | None
) -> None:
    config = write_config(tmp_path, 'roster_file = "roster.csv"\n')
    record_run(tmp_path, config, "roster_sync", Recorder(action), at(3, 10))
    text = run_cli("--config", str(config), "status", "--now", "2021-11-03T10:05")
    assert text.exit_code == code, text.output
    if said:
        assert f"Needs attention ({said})" in text.output
    as_json = run_cli("--config", str(config), "status", "--json", "--now", "2021-11-03T10:05")
    assert as_json.exit_code == code
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is (code == 0)
    assert payload["problems"] == ([] if code == 0 else ["roster_sync"])


def test_status_of_a_store_where_nothing_ran_is_well(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("--config", str(write_config(tmp_path)), "status")
    assert result.exit_code == 0, result.output
    assert "No job has run yet" in result.output


def test_serve_once_and_report_speak_json(fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    build_recorded_cohort(fake_moodle, load_config(config))
    waiting = run_cli("--config", str(config), "serve", "--once", "--job", "report", "--json")
    assert waiting.exit_code == 1  # asked for by name and could not do its work
    payload = json.loads(waiting.stdout)
    assert payload["ok"] is False
    [run] = payload["runs"]
    assert run["job"] == "report" and run["outcome"] == "waiting" and run["requests"] == 0

    assert run_cli("--config", str(config), "indicators", "gather").exit_code == 0
    done = run_cli("--config", str(config), "serve", "--once", "--job", "report", "--json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["ok"] is True and payload["runs"][0]["outcome"] == "ok"
    assert "indicators-kam21-" in payload["runs"][0]["detail"]

    out = tmp_path / "report.json"
    report = run_cli("--config", str(config), "report", "--format", "json", "--out", str(out), "--json")
    assert report.exit_code == 0, report.output
    written = json.loads(report.stdout)
    assert written["written"] == str(out.resolve()) and written["format"] == "json"
    assert written["bytes"] == out.stat().st_size > 0
    assert written["cohort"] == "kam21" and isinstance(written["snapshot_id"], int)

    assert run_cli("--config", str(config), "serve", "--json").exit_code == 2  # --json goes with --once


def test_the_service_waits_as_long_as_the_site_asked(tmp_path: Path) -> None:
    busy = MoodleUnreachable("site info: HTTP 503, Retry-After 3600s", retry_after=3600)
    runner = runner_for(tmp_path, {"snapshot": Recorder(busy)}, snapshot_at=["02:00"], retry_minutes=5)
    [record] = runner.tick(at(3, 2))
    assert record.outcome == "site-down"
    assert runner.site_retry_at() == at(3, 3)  # an hour, not the five minutes of the first back-off


def test_an_uncertain_answer_fails_its_job_without_holding_the_other_site_jobs(tmp_path: Path) -> None:
    uncertain = UncertainAnswer("messages: Moodle ran the write but its answer failed validation")
    runner = runner_for(
        tmp_path,
        {"snapshot": Recorder(uncertain), "reminders": Recorder(JobResult("ok"))},
        snapshot_at=["02:00"],
        reminders_at=["02:00"],
    )
    records = runner.tick(at(3, 2))
    assert [(r.job, r.outcome) for r in records] == [("snapshot", "failed"), ("reminders", "ok")]
    assert runner.site_retry_at() is None

"""What `accel indicators gather` says while it works and after: Moodle's normal answers are not warnings, and
a progress bar moves step by step (on a terminal only, never with --json)."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from click.testing import Result

from integration.transport import MoodleWarning
from sync.core.config import AccelConfig, load_config
from sync.core.progress import Advance
from sync.indicators.gather import GATHER_STEPS, gather
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE, build_recorded_cohort, make_client, ts

SNAPSHOT_AT = ts(2022, 4, 1)


@pytest.fixture
def config() -> AccelConfig:
    return load_config(EXAMPLE)


def _nobody_submitted(site: FakeMoodle, *keys: str) -> list[int]:
    """Take away every submission of the assignments with these ID numbers: Moodle then answers each with
    warning 3, "No submissions found". Their instance ids."""
    ids = [m["instance"] for m in site.modules.values() if m["modname"] == "assign" and m["idnumber"] in keys]
    assert len(ids) == len(keys)
    site.submissions = [s for s in site.submissions if s["assignment"] not in ids]
    return ids


def test_no_submissions_found_is_moodles_normal_answer_not_a_warning(
    fake_moodle: FakeMoodle, config: AccelConfig, caplog: pytest.LogCaptureFixture
) -> None:
    build_recorded_cohort(fake_moodle, config)
    (idea,) = _nobody_submitted(fake_moodle, "m1-idea")
    client = make_client(fake_moodle)
    with caplog.at_level(logging.INFO):
        snap = gather(client, config, now=SNAPSHOT_AT)
    # Moodle did answer with its warning 3 ...
    said = [w for w in client.warnings if w.itemid == idea]
    assert [(w.wsfunction, w.warningcode, w.message) for w in said] == [
        ("mod_assign_get_submissions", "3", "No submissions found")
    ]
    assert said[0].normal
    # ... which is logged once, at info level (seen with -v), and is neither a warning nor a note of the snapshot.
    about = [r for r in caplog.records if "No submissions found" in r.getMessage()]
    assert [r.levelno for r in about] == [logging.INFO]
    assert not [n for n in snap.notes if "No submissions found" in n.text]
    assert "m1-idea" in {a.key for a in snap.activities}
    assert not [s for s in snap.submissions if s.key == "m1-idea"]


def test_other_moodle_warnings_stay_warnings() -> None:
    """Only the answers known to be normal are quiet: a warning of another function, or another code of the
    same function, is still a warning."""
    assert MoodleWarning("mod_assign_get_submissions", "No submissions found", "3").normal
    assert not MoodleWarning("mod_assign_get_submissions", "Something else", "1").normal
    assert not MoodleWarning("mod_assign_get_assignments", "User is not enrolled", "1").normal


def test_gather_says_once_and_plainly_that_nobody_has_submitted_yet(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result]
) -> None:
    _nobody_submitted(cohort_site, "m1-idea", "m1-concept")
    result = run_cli("--config", str(EXAMPLE), "indicators", "gather")
    assert result.exit_code == 0, result.output
    # One plain line for both assignments (stdout and stderr together: no log line, no warning).
    assert result.output.count("Nobody has submitted work yet to:") == 1
    line = next(x for x in result.output.splitlines() if x.startswith("Nobody has submitted work yet to:"))
    assert "(m1-idea)" in line and "(m1-concept)" in line
    assert "No submissions found" not in result.output
    assert "warning" not in result.output.lower()

    payload = json.loads(run_cli("--config", str(EXAMPLE), "indicators", "gather", "--json").output)
    assert payload["warnings"] == [] and payload["notes"] == []
    assert {"m1-idea", "m1-concept"} <= set(payload["no_work_yet"])


def test_a_real_moodle_warning_is_still_shown(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result]
) -> None:
    """The token's user not enrolled in module 3: Moodle warns on the assignments' read, and that is said."""
    m3 = next(c["id"] for c in cohort_site.courses.values() if c["shortname"] == "KAM21-M3")
    del cohort_site.enrolments[(m3, cohort_site.token_userid)]
    result = run_cli("--config", str(EXAMPLE), "indicators", "gather")
    assert result.exit_code == 0, result.output
    assert "Moodle warnings:" in result.stdout
    assert "User is not enrolled" in result.stdout


class _Recorder:
    """A Progress that remembers its tasks and how far each went."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int | None, list[int]]] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        steps: list[int] = []
        self.tasks.append((description, total, steps))
        yield steps.append


def test_gather_moves_its_progress_on_after_each_step(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    build_recorded_cohort(fake_moodle, config)
    shown = _Recorder()
    gather(make_client(fake_moodle), config, now=SNAPSHOT_AT, progress=shown)
    assert shown.tasks == [("Reading the cohort from Moodle", GATHER_STEPS, [1] * GATHER_STEPS)]


def test_gather_draws_a_bar_only_on_a_terminal_and_never_with_json(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []
    recorder = _Recorder()

    def progress(enabled: bool = True) -> _Recorder:
        asked.append(enabled)
        return recorder

    # The module, not the click group of the same name that sync.commands exports.
    monkeypatch.setattr(importlib.import_module("sync.commands.indicators"), "progress", progress)
    assert run_cli("--config", str(EXAMPLE), "indicators", "gather", "--json").exit_code == 0
    assert run_cli("--config", str(EXAMPLE), "indicators", "gather").exit_code == 0
    assert asked == [False, True]
    # Not a terminal here (CliRunner): the command line's own progress() gives nothing to draw on.
    from sync.commands.terminal import progress as terminal_progress
    from sync.core.progress import NO_PROGRESS

    assert terminal_progress(enabled=True) is NO_PROGRESS

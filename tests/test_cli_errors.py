"""What a coordinator or a Moodle administrator sees when something is wrong: one clear line, no
traceback, the documented exit code (README, "Exit codes")."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import cli
from sync.commands import main
from sync.core.config import load_config
from tests.fake_moodle import FakeMoodle
from tests.helpers import build_recorded_cohort

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"
ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"
Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOODLE_URL", "MOODLE_TOKEN", "MOODLE_TOKEN_FILE", "ACCEL_CONFIG", "MOODLE_MAX_INPUT_VARS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))


def accel(*args: str) -> Result:
    """`accel` without a site (no client factory): what a person gets at the command line."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_error_line(result: Result) -> str:
    """The output is a single "Error: ..." line; returns it."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# -- configuration and files (already right: kept so) -----------------------------------------------------


def test_a_bad_configuration_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "accelerator.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8").replace('code = "kam21"', "code = 5", 1), "utf-8")
    result = accel("--config", str(config), "status")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"Error: {config}: ") and "cohort.code: must be text in quotes (got 5)" in line


def test_several_configuration_problems_come_one_per_line_under_the_file(tmp_path: Path) -> None:
    config = tmp_path / "accelerator.toml"
    # A typo'd key is two problems: the unknown key and the missing one.
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("start = 2021-10-01", "strat = 2021-10-01", 1)
    )
    result = accel("--config", str(config), "status")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {config}:",
        "  modules.m1.start: required key is missing",
        "  modules.m1.strat: unknown key",
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["indicators", "show"],
        ["roster", "check", "nope.csv"],
        ["serve", "--once", "--job", "report"],
    ],
)
def test_a_missing_file_is_one_line(tmp_path: Path, command: list[str]) -> None:
    result = accel("--config", str(tmp_path / "nope.toml"), *command)
    assert result.exit_code == 2
    expected = (
        "nope.csv: no such file"
        if "check" in command
        else f"cohort configuration {tmp_path / 'nope.toml'} not found"
    )
    assert expected in one_error_line(result)


# -- the local store and the lock beside it --------------------------------------------------------------


def test_a_store_that_cannot_be_opened_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("ACCEL_STORE", str(in_the_way / "accel.sqlite3"))
    result = accel("roster", "history")
    assert result.exit_code == 2
    assert f"store {in_the_way / 'accel.sqlite3'}: cannot open it" in one_error_line(result)

    monkeypatch.setenv("ACCEL_STORE", str(in_the_way))  # a file that is not a database
    result = accel("roster", "history")
    assert result.exit_code == 2
    assert "file is not a database" in one_error_line(result)


def cohort_lock(site: FakeMoodle) -> Path:
    """The example cohort's one-writer lock on the fake site (in the test's own ACCEL_LOCK_DIR)."""
    from sync.core.lock import lock_path_for

    return lock_path_for(site.url, load_config(EXAMPLE).cohort.code)


def test_a_lock_file_that_cannot_be_created_is_a_configuration_error(
    fake_moodle: FakeMoodle, run_cli: Run
) -> None:
    cohort_lock(fake_moodle).mkdir(parents=True)  # something in the lock file's way
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 2
    assert f"lock file {cohort_lock(fake_moodle)}: cannot create it" in one_error_line(result)


def test_waiting_for_the_lock_names_who_holds_it(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    from sync.core.lock import exclusive

    with exclusive(cohort_lock(fake_moodle), "roster sync --apply"):
        result = run_cli("provision", "--apply", "--wait", "0.2", config=EXAMPLE)
    assert result.exit_code == 5
    waiting = result.output.splitlines()[0]
    assert waiting.startswith(
        "Waiting up to 0.2s for another sync or apply to finish: roster sync --apply (process "
    )
    assert "LockHolder(" not in result.output


# -- connection settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5", "1000.7", "many"])
def test_moodle_max_input_vars_has_the_bound_of_the_option(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOODLE_URL", "https://127.0.0.1:9")
    monkeypatch.setenv("MOODLE_TOKEN", "0123456789abcdef")
    monkeypatch.setenv("MOODLE_CONNECT_TIMEOUT", "0.1")
    monkeypatch.setenv("MOODLE_MAX_INPUT_VARS", value)
    result = accel("doctor")
    assert result.exit_code == 2
    assert f"MOODLE_MAX_INPUT_VARS='{value}' must be a whole number of at least 10" in one_error_line(result)


# -- templates and provision -----------------------------------------------------------------------------


def test_a_missing_templates_folder_is_one_line_naming_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "accelerator.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + '\n[templates]\ndir = "shablony"\n', "utf-8")
    for command in (["templates", "check"], ["provision"]):
        result = accel("--config", str(config), *command)
        assert result.exit_code == 2
        assert one_error_line(result) == (
            f"Error: {config}: templates.dir: {tmp_path / 'shablony'} is not a folder (it holds m1.yaml, "
            "m2.yaml, m3.yaml; without [templates] the bundled ones are used)"
        )


# -- serve and status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--once"], ["--once", "--job", "snapshot"], []])
def test_serve_without_moodle_url_stops_at_once(args: list[str]) -> None:
    result = accel("--config", str(EXAMPLE), "serve", *args)
    assert result.exit_code == 2
    assert "MOODLE_URL is not set" in one_error_line(result)


def test_serve_once_with_a_bad_now_says_so_before_anything_else() -> None:
    result = accel("--config", str(EXAMPLE), "serve", "--once", "--now", "2022-02-30T09:00")
    assert result.exit_code == 2
    assert "--now '2022-02-30T09:00' is not an ISO date-time such as 2021-11-03T09:00" in one_error_line(
        result
    )


def test_serve_once_report_job_needs_no_site() -> None:
    result = accel("--config", str(EXAMPLE), "serve", "--once", "--job", "report")
    assert result.exit_code == 1  # it ran, and could not report for want of a snapshot: not of MOODLE_URL
    assert "MOODLE_URL" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("report: waiting") and "run `accel indicators gather` first" in last


def test_status_of_an_empty_store_names_the_store(tmp_path: Path) -> None:
    # A mistyped ACCEL_STORE gives a new, empty store: say which one is being read.
    result = accel("--config", str(EXAMPLE), "status", "--now", "2022-02-03T10:00")
    assert result.exit_code == 0
    assert f"No job has run yet with this store ({tmp_path / 'accel.sqlite3'})." in result.output
    assert "No indicator snapshot yet" in result.output


def test_status_shows_indicator_values_as_indicators_show_does(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    assert run_cli("indicators", "gather", config=EXAMPLE).exit_code == 0
    shown = run_cli("indicators", "show", config=EXAMPLE).output
    status = run_cli("status", config=EXAMPLE).output
    for value in ("95,000 roubles", "7.62", "62.5%"):
        assert value in shown and value in status
    assert "0.625" not in status and "95000" not in status


# -- roster ----------------------------------------------------------------------------------------------


def test_roster_sync_waits_for_the_lock_when_told_to(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    from sync.core.lock import exclusive

    with exclusive(cohort_lock(fake_moodle), "provision --apply"):
        result = run_cli("roster", "sync", str(ROSTER), "--apply", "--wait", "0.2", config=EXAMPLE)
    assert result.exit_code == 5
    assert result.output.startswith(
        "Waiting up to 0.2s for another sync or apply to finish: provision --apply"
    )
    assert accel("roster", "sync", str(ROSTER), "--wait", "-1").exit_code == 2


def test_an_unwritable_failure_report_stops_the_apply_before_anything_is_written(
    tmp_path: Path, run_cli: Run
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder", encoding="utf-8")
    report = in_the_way / "failures.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        ROSTER.read_text(encoding="cp1251").replace("kam21.p002@example.org", "kam21.p002@"), "cp1251"
    )
    for roster in (bad, ROSTER):  # invalid rows are reported; a valid roster's failures would be
        result = run_cli("roster", "sync", str(roster), "--apply", "--report", str(report), config=EXAMPLE)
        assert result.exit_code == 2
        assert f"{report}: cannot write the failure report ({in_the_way} is not a folder)" in one_error_line(
            result
        )
    # A folder that does not exist yet is made when there is something to report.
    later = tmp_path / "reports" / "failures.csv"
    result = run_cli("roster", "sync", str(bad), "--apply", "--report", str(later), config=EXAMPLE)
    assert result.exit_code == 1 and later.exists()


def test_roster_check_of_a_file_without_valid_rows_says_so(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("ФИО;Адрес;Команда;Роль\nИванова Анна;anna@example.org;Шаромы;участник\n", "utf-8")
    result = accel("roster", "check", str(roster))
    assert result.exit_code == 1
    assert result.output.splitlines()[1] == "  no valid rows; 0 teams in 0 districts"
    assert f"error: {roster}, row 1: no «Email» column" in result.output


def test_roster_check_counts_people_teams_and_districts_in_good_english(tmp_path: Path) -> None:
    result = accel("roster", "check", str(ROSTER))
    assert result.exit_code == 0
    assert result.output.splitlines()[1] == (
        "  1 coordinator, 2 experts, 2 mentors, 32 participants; 9 teams in 2 districts"
    )
    one = tmp_path / "one.csv"
    one.write_text(
        "ФИО;Email;Команда;Муниципальный район;Роль\nИванова Анна;anna@example.org;Шаромы;Мильковский МР;участник\n",
        "utf-8",
    )
    assert (
        accel("roster", "check", str(one)).output.splitlines()[1] == "  1 participant; 1 team in 1 district"
    )


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_roster_history_limit_is_at_least_one(limit: str) -> None:
    # --limit 0 said "No roster sync has been applied yet", and -5 listed every run (SQLite's LIMIT -5).
    result = accel("roster", "history", "--limit", limit)
    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.output


# -- help ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ([], "--max-input-vars N "),
        (["doctor"], "4 when the token is invalid or its service lacks access"),
        (["roster", "sync"], "--wait SECONDS "),
        (["roster", "sync"], "--max-suspend-share SHARE "),
        (["roster", "sync"], "unenrol removes them from the courses"),
        (["roster", "history"], "--run N "),
        (["roster", "history"], "--limit N "),
        (["serve"], "--tick SECONDS "),
    ],
)
def test_help_names_options_as_the_readme_does(command: list[str], shown: str) -> None:
    result = accel(*command, "--help")
    assert result.exit_code == 0
    assert shown in " ".join(result.output.split()) + " "


def test_the_console_script_is_the_commands_main_group_with_every_command() -> None:
    """`accel = "cli:main"` and `python -m cli`: cli.py only hands over to sync/commands."""
    assert cli.main is main
    assert sorted(main.commands) == [
        "doctor", "indicators", "provision", "report", "roster", "serve", "status", "templates",
    ]  # fmt: skip
    shown = subprocess.run(
        [sys.executable, "-m", "cli", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.startswith("Usage: accel [OPTIONS] COMMAND [ARGS]...")
    assert "roster" in shown.stdout and "serve" in shown.stdout

"""The service, the configuration, the store and the wire in Russian (issue 13): `accel serve`'s start line and
run lines, `accel status`, a job's outcome, a configuration error, a settings error, the wire's errors and
the plural forms; logs stay English whatever the reader's language."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import responses
from click.testing import Result

from i18n import set_language
from integration.errors import MoodleUnreachable, SiteRedirected
from integration.transport import MoodleClient, endpoint_for
from sync.commands.service import job_title, outcome_title, run_line, start_line
from sync.core.config import ConfigError, load_config
from sync.core.lock import LockBusy, exclusive
from sync.core.settings import MoodleSettings, SettingsError
from sync.service.jobs import _applied, _would_remind
from sync.service.runner import DONE_OUTCOMES, PROBLEM_OUTCOMES, JobResult, RunRecord
from sync.service.text import Text, text
from sync.service.timetable import JOB_NAMES
from tests.helpers import EXAMPLE, Recorder, at, runner_for, write_config

Run = Callable[..., Result]


@pytest.fixture
def russian() -> None:
    set_language("ru")  # the autouse fixture of conftest.py puts English back


def record(job: str, outcome: str, detail: str, requests: int) -> RunRecord:
    return RunRecord(job, None, "2021-11-03T02:00:00+12:00", "", 1.25, outcome, detail, requests)


# -- accel serve: the start line and a line per run ------------------------------------------------------------


def test_the_start_line_names_the_cohort_the_site_and_each_jobs_next_run(
    tmp_path: Path, russian: None
) -> None:
    runner = runner_for(
        tmp_path,
        {"roster_sync": Recorder(), "snapshot": Recorder(), "reminders": Recorder(), "report": Recorder()},
        roster_file=None,
        snapshot_at=["02:00"],
        reminders_at=["09:00"],
        report_weekday="monday",
        report_at="07:00",
    )
    runner.tick(at(3, 8))  # Wednesday 03.11.2021 08:00: the night's snapshot and Monday's report catch up
    line = start_line(runner.config, "https://moodle.example.org", runner, at(3, 8, 30))
    assert line == (
        "accel serve: поток kam21 («Камчатка 2021»), сайт https://moodle.example.org; следующие запуски: "
        "синхронизация списка — нет в расписании, снимок данных — 04.11.2021 02:00, "
        "напоминания — 03.11.2021 09:00, отчёт — 08.11.2021 07:00"
    )
    set_language("en")
    assert start_line(runner.config, "https://m.example.org", runner, at(3, 8, 30)).endswith(
        "next runs: roster_sync: not in the timetable, snapshot: 2021-11-04 02:00, reminders: 2021-11-03 09:00, "
        "report: 2021-11-08 07:00"
    )


def test_a_run_line_in_russian_with_the_plural_of_requests(russian: None) -> None:
    assert run_line(record("snapshot", "ok", "снимок данных 3 сохранён", 1)) == (
        "снимок данных: выполнено (1.2 с, 1 запрос): снимок данных 3 сохранён"
    )
    assert run_line(record("reminders", "nothing", "", 3)) == "напоминания: нечего делать (1.2 с, 3 запроса)"
    assert run_line(record("roster_sync", "site-down", "", 25)).startswith(
        "синхронизация списка: сайт недоступен (1.2 с, 25 запросов)"
    )
    assert run_line(record("report", "waiting", "", 0)) == "отчёт: ждёт (1.2 с, 0 запросов)"


def test_the_long_running_service_prints_a_line_per_run(tmp_path: Path, russian: None) -> None:
    """serve_forever hands each run to the caller as soon as it is recorded, in the reader's language."""
    import threading

    from sync.service.runner import serve_forever

    runner = runner_for(tmp_path, {"snapshot": Recorder(RuntimeError("boom"))}, snapshot_at=["02:00"])
    printed: list[str] = []
    stop = threading.Event()

    def tell(run: RunRecord) -> None:
        printed.append(run_line(run))
        stop.set()

    serve_forever(runner, stop=stop, clock=lambda: at(3, 2), on_run=tell)
    assert len(printed) == 1
    assert re.fullmatch(
        r"снимок данных: ошибка \(\d+\.\d с, 0 запросов\): RuntimeError: boom; повтор в 03\.11\.2021 02:05",
        printed[0],
    ), printed


# -- a job's outcome: on screen and in the store in the reader's language, in the log in English -------------


def test_a_jobs_detail_is_stored_in_russian_and_logged_in_english(
    tmp_path: Path, russian: None, caplog: pytest.LogCaptureFixture
) -> None:
    from i18n import N_

    said = text(N_("{file} has not changed since the last sync"), file="roster.csv")
    runner = runner_for(
        tmp_path, {"roster_sync": Recorder(JobResult("unchanged", said))}, roster_file="roster.csv"
    )
    with caplog.at_level(logging.INFO, logger="accel.service"):
        [run] = runner.tick(at(3, 10, 2))
    assert run.detail == "roster.csv не менялся с последней синхронизации"
    stored = runner.store.execute("SELECT detail FROM job_runs").fetchone()[0]
    assert stored == run.detail
    assert "roster_sync: unchanged — roster.csv has not changed since the last sync" in caplog.text
    assert "менялся" not in caplog.text


def test_serve_once_in_russian(
    fake_moodle: object, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    monkeypatch.setenv("ACCEL_LANG", "ru")
    config = write_config(tmp_path)
    waiting = run_cli("--config", str(config), "serve", "--once", "--job", "report")
    assert waiting.exit_code == 1
    last = waiting.output.strip().splitlines()[-1]
    assert last.startswith("отчёт: ждёт (") and "0 запросов): для отчёта ещё нет снимка данных (" in last
    status = run_cli("--config", str(config), "status", "--now", "2021-11-03T10:00")
    assert status.exit_code == 0, status.output
    assert "задание" in status.output and "следующий запуск" in status.output
    assert re.search(r"^отчёт\s+\d\d\.\d\d\.\d{4} \d\d:\d\d\s+ждёт", status.output, re.M), status.output
    assert "Снимка данных для показателей ещё нет" in status.output
    usage = run_cli("--config", str(config), "serve", "--json")
    assert (
        usage.exit_code == 2 and "--now, --job и --json используются только вместе с --once" in usage.output
    )


def test_status_says_what_needs_attention_in_russian(
    fake_moodle: object, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.core.store import open_store
    from sync.service.runner import Job, ServiceRunner

    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    config = write_config(tmp_path, 'roster_file = "roster.csv"\n')
    runner = ServiceRunner(
        load_config(config),
        open_store(tmp_path / "accel.sqlite3"),
        lambda: pytest.fail("no site"),  # type: ignore[arg-type,return-value]
        [Job("roster_sync", Recorder(JobResult("held", "would suspend 40% of KAM21-M1")), needs_site=False)],
        lock_path=tmp_path / "lock",
    )
    runner.run_now("roster_sync", at(3, 10))
    monkeypatch.setenv("ACCEL_LANG", "ru")
    result = run_cli("--config", str(config), "status", "--now", "2021-11-03T10:05")
    assert result.exit_code == 1
    assert "Требует внимания (ждёт решения: синхронизация списка)." in result.output
    assert re.search(r"^синхронизация списка\s+03\.11\.2021 10:00\s+задержано", result.output, re.M), (
        result.output
    )


def test_job_and_outcome_names_are_the_services_own_words(russian: None) -> None:
    """Short words ("ok", "report", "interrupted") are the service's own in a message context: another
    catalog's "interrupted" (a roster apply's «прерван») does not change what a job's outcome reads."""
    assert [job_title(job) for job in JOB_NAMES] == [
        "синхронизация списка",
        "снимок данных",
        "напоминания",
        "отчёт",
    ]
    outcomes = ["ok", "unchanged", "held", "nothing", "failed", "site-down", "busy", "waiting", "interrupted"]
    assert [outcome_title(outcome) for outcome in outcomes] == [
        "выполнено",
        "без изменений",
        "задержано",
        "нечего делать",
        "ошибка",
        "сайт недоступен",
        "занято",
        "ждёт",
        "прервано",
    ]
    assert set(outcomes) >= PROBLEM_OUTCOMES | DONE_OUTCOMES
    set_language("en")
    assert [outcome_title(outcome) for outcome in outcomes] == outcomes
    assert [job_title(job) for job in JOB_NAMES] == list(JOB_NAMES)


# -- plurals ---------------------------------------------------------------------------------------------------


def test_applied_roster_changes_take_the_russian_plural_forms(russian: None) -> None:
    said = _applied({"create_user": 1, "enrol": 3, "suspend": 5, "create_group": 21, "add_member": 2})
    assert str(said) == (
        "1 новая учётная запись, 3 записи на курсы, 5 записей на курсы приостановлено, 21 новая команда, "
        "2 человека добавлены в команды"
    )
    assert said.english() == (
        "1 new account, 3 enrolments, 5 suspensions, 21 new teams, 2 members added to teams"
    )
    assert isinstance(said, Text)


# -- the configuration, the settings, the store's lock -------------------------------------------------------


def test_a_configuration_error_in_russian_names_the_file_and_the_key(tmp_path: Path, russian: None) -> None:
    path = tmp_path / "accelerator.toml"
    source = EXAMPLE.read_text(encoding="utf-8")
    path.write_text(
        source.replace('code = "kam21"', "code = 5").replace("[modules.m1]", "[modules.m1]\nstrat = 1"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "cohort.code: нужен текст в кавычках (указано 5)" in message
    assert "modules.m1.strat: неизвестный ключ" in message
    path.write_text(source.replace('report_at = "07:00"', 'report_at = "7 утра"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"service\.report_at: '7 утра' — не время суток в виде ЧЧ:ММ"):
        load_config(path)


def test_a_settings_error_in_russian_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, russian: None
) -> None:
    monkeypatch.setenv("MOODLE_READ_TIMEOUT", "долго")
    monkeypatch.setenv("MOODLE_MAX_INPUT_VARS", "5")
    with pytest.raises(SettingsError) as caught:
        MoodleSettings.read()
    assert str(caught.value).splitlines() == [
        "MOODLE_MAX_INPUT_VARS='5': нужно целое число не меньше 10 (значение max_input_vars в PHP сайта: "
        "php -i | grep max_input_vars)",
        "MOODLE_READ_TIMEOUT='долго': нужно число секунд больше нуля",
    ]


def test_a_busy_lock_in_russian_says_who_holds_it(tmp_path: Path, russian: None) -> None:
    path = tmp_path / "kam21.lock"
    with exclusive(path, "accel serve: roster sync"):
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, "roster sync --apply"):
                pass
    assert str(caught.value).startswith(
        "уже идёт другая синхронизация или выполнение плана: accel serve: roster"
    )
    assert "(процесс " in str(caught.value) and "--wait СЕКУНДЫ" in str(caught.value)


# -- the wire ----------------------------------------------------------------------------------------------------


def test_the_wires_errors_in_russian(russian: None) -> None:
    from integration.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"обычный http:// к moodle\.example\.org не используется"):
        endpoint_for("http://moodle.example.org")


@responses.activate
def test_a_redirect_and_an_unreachable_site_in_russian(russian: None) -> None:
    site = "https://moodle.example.org"
    endpoint = site + "/webservice/rest/server.php"
    moved = "https://new.example.org/webservice/rest/server.php"
    responses.add(responses.POST, endpoint, status=301, headers={"Location": moved})
    client = MoodleClient(site, "s3cr3t-t0ken", sleep=lambda _s: None)
    with pytest.raises(SiteRedirected) as redirected:
        client.call("core_webservice_get_site_info")
    assert str(redirected.value).startswith(
        f"core_webservice_get_site_info: {endpoint} ответил HTTP 301 — перенаправлением на {moved}."
    )
    assert "задайте MOODLE_URL=https://new.example.org." in str(redirected.value)
    responses.replace(responses.POST, endpoint, status=503, body="<html>Maintenance</html>")
    with pytest.raises(MoodleUnreachable) as down:
        client.call("core_webservice_get_site_info")
    assert f"{site} ответил HTTP 503 после 5 попыток" in str(down.value)
    assert "s3cr3t-t0ken" not in str(down.value) + str(redirected.value)


def test_english_stays_in_the_logs(caplog: pytest.LogCaptureFixture, tmp_path: Path, russian: None) -> None:
    runner = runner_for(tmp_path, {"snapshot": Recorder(RuntimeError("boom"))}, snapshot_at=["02:00"])
    with caplog.at_level(logging.INFO, logger="accel.service"):
        [run] = runner.tick(at(3, 2))
    assert run.detail == "RuntimeError: boom; повтор в 03.11.2021 02:05"
    assert "snapshot failed: RuntimeError: boom; retry at 2021-11-03 02:05" in caplog.text
    assert "повтор" not in caplog.text


def test_a_rehearsal_detail_in_russian_has_both_plurals(russian: None) -> None:
    assert str(_would_remind(2, 5)) == (
        "репетиция: напоминание ушло бы 2 наставникам — о 5 работах; не отправлено (--send отправит)"
    )
    assert str(_would_remind(1, 1)) == (
        "репетиция: напоминание ушло бы 1 наставнику — о 1 работе; не отправлено (--send отправит)"
    )
    assert (
        _would_remind(1, 3).english()
        == "rehearsal: would remind 1 mentor of 3 submissions; not sent (--send sends them)"
    )


def test_the_site_down_detail_names_when_the_jobs_try_again(tmp_path: Path, russian: None) -> None:
    down = MoodleUnreachable("core_webservice_get_site_info: сайт не ответил")
    runner = runner_for(tmp_path, {"snapshot": Recorder(down)}, snapshot_at=["02:00"], retry_minutes=5)
    [run] = runner.tick(at(3, 2))
    assert run.outcome == "site-down"
    assert run.detail == (
        "core_webservice_get_site_info: сайт не ответил; все задания, которым нужен сайт, ждут до 03.11.2021 02:05"
    )
    assert runner.site_retry_at() == at(3, 2, 5)


def test_the_features_doctor_names_are_translated(russian: None) -> None:
    from i18n import _
    from integration.functions import FUNCTIONS_BY_FEATURE, features_needing

    assert [_(feature) for feature in features_needing("core_message_send_instant_messages")] == [
        "служба (serve: напоминания, уведомления о задержанной синхронизации)"
    ]
    assert all(_(feature) != feature for feature in FUNCTIONS_BY_FEATURE)

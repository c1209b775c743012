"""The indicators, the pending list and the reports in the coordinators' language: Russian by default (these
tests ask for it, the suite reads English), English with --lang en; plural forms; errors; a snapshot read in
another language than the one it was gathered in."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from openpyxl import load_workbook

from i18n import set_language
from sync.core.config import load_config
from sync.indicators.compute import compute
from sync.indicators.gather import gather
from sync.indicators.models import Period
from sync.indicators.pending import pending_heading, waited_text
from sync.indicators.snapshot import GatherNote, Snapshot
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE, build_recorded_cohort, make_client, ts


@pytest.fixture
def russian(monkeypatch: pytest.MonkeyPatch) -> None:
    """accel in Russian, as a coordinator runs it (the conftest puts English back after the test)."""
    monkeypatch.setenv("ACCEL_LANG", "ru")
    set_language("ru")


def _accel(run_cli: Callable[..., Result], *args: str) -> Result:
    return run_cli("--config", str(EXAMPLE), *args)


def _columns(line: str) -> list[str]:
    """A table line's cells (two spaces or more apart)."""
    return re.split(r"\s{2,}", line.strip())


def test_show_in_russian(cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None) -> None:
    assert _accel(run_cli, "indicators", "gather").exit_code == 0
    result = _accel(run_cli, "indicators", "show")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Показатели гранта — Камчатка 2021"
    assert lines[1].startswith("Период: весь период гранта; данные Moodle на ") and "(снимок №1)" in lines[1]
    assert _columns(lines[3]) == ["Показатель", "Факт", "План", "% плана", "Статус"]
    rows = {cells[0]: cells[1:] for cells in map(_columns, lines[4:17])}
    assert rows["Инициативные группы (команды модуля 1)"] == ["2", "7", "28,6 %", "отставание"]
    assert rows["Привлечённые средства (обещания партнёров), руб."] == ["95\u00a0000 руб.", "—", "без плана"]
    assert rows["Удовлетворённость: средняя полезность школы (1–10)"] == ["7,62", "—", "без плана"]
    assert "Примечания к показателям:" in lines
    assert any(line.startswith("  - Проекты-лидеры") and "меньше трёх: 1" in line for line in lines)
    mentors = lines.index("Наставники")
    assert _columns(lines[mentors + 1])[:2] == ["Наставник", "Проверено"]
    assert _columns(lines[mentors + 2]) == ["Наталья Наставникова", "5", "5", "36", "3"]
    # Nothing of the English is left.
    assert not re.search(r"\b(Indicator|Value|Target|behind|no target|Notes)\b", result.output)


def test_show_in_english_on_request(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None
) -> None:
    assert _accel(run_cli, "indicators", "gather").exit_code == 0
    result = _accel(run_cli, "--lang", "en", "indicators", "show")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Grant indicators — Камчатка 2021\nPeriod: the whole grant period;")
    assert "Funds raised (partners' pledges), roubles" in result.output and "95,000 roubles" in result.output
    assert "отставание" not in result.output


def test_pending_in_russian_with_plural_forms(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None
) -> None:
    assert _accel(run_cli, "indicators", "gather").exit_code == 0
    result = _accel(run_cli, "indicators", "pending")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Ждут проверки 3 командные работы (сначала самые давние):"
    assert _columns(lines[1]) == ["Сдано", "Ждёт", "Команда", "Задание", "Наставники", "Ссылка"]
    first = _columns(lines[2])
    assert first[2:5] == ["Команда «Эссо»", "Журнал консультаций", "Наталья Наставникова"]
    assert re.fullmatch(r"\d+ (день|дня|дней)", first[1])
    assert first[5].startswith(cohort_site.url + "/mod/assign/view.php?id=")


def test_plural_forms_agree_with_the_number(russian: None) -> None:
    assert [waited_text(h) for h in (1, 3, 5, 11, 21, 47)] == [
        "1 час", "3 часа", "5 часов", "11 часов", "21 час", "47 часов",
    ]  # fmt: skip
    assert [waited_text(d * 24) for d in (2, 5, 21, 22, 25, 111)] == [
        "2 дня", "5 дней", "21 день", "22 дня", "25 дней", "111 дней",
    ]  # fmt: skip
    assert [pending_heading(n) for n in (1, 2, 5)] == [
        "Ждёт проверки 1 командная работа (сначала самые давние):",
        "Ждут проверки 2 командные работы (сначала самые давние):",
        "Ждут проверки 5 командных работ (сначала самые давние):",
    ]
    assert pending_heading(0) == "Нет командных работ, ждущих проверки."
    set_language("en")
    assert [waited_text(1), waited_text(5), waited_text(48)] == ["1 hour", "5 hours", "2 days"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "42"], "Ошибка: нет сохранённого снимка данных с номером 42"),
        (["--from", "2021-13-01"], "Ошибка: --from '2021-13-01': ожидается дата вида 2021-12-31"),
        (["--from", "2022-01-02", "--to", "2022-01-01"], "--from 2022-01-02 позже, чем --to 2022-01-01"),
    ],
)
def test_errors_in_russian(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None, args: list[str], message: str
) -> None:
    assert _accel(run_cli, "indicators", "gather").exit_code == 0
    result = _accel(run_cli, "indicators", "show", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_show_before_any_gather_says_what_to_do_in_russian(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None
) -> None:
    result = _accel(run_cli, "indicators", "pending")
    assert result.exit_code == 2
    assert "для потока kam21 нет сохранённого снимка данных: сначала выполните `accel indicators gather`" in (
        result.output
    )


def test_gather_in_russian(cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None) -> None:
    result = _accel(run_cli, "indicators", "gather")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Снимок данных №1 сохранён для потока kam21."
    table = {cells[0]: cells[1] for cells in map(_columns, lines[2:7])}
    assert table == {
        "курсов найдено": "3 из 3",
        "активностей программы найдено": "12 из 12",
        "людей в курсах": "10",
        "работ прочитано": "12",
        "запросов к Moodle": table["запросов к Moodle"],
    }
    assert "Пока никто не сдал работу в заданиях: «План фандрайзинга» (m1-fundraising)." in lines


def test_help_in_russian(run_cli: Callable[..., Result], russian: None) -> None:
    result = run_cli("indicators", "--help")
    assert result.exit_code == 0
    assert "Показатели гранта: собрать снимок данных из Moodle" in result.output
    gather_help = run_cli("indicators", "gather", "--help").output
    assert "Прочитать курсы потока из Moodle" in gather_help and "Вывод для программ (JSON)." in gather_help
    report_help = run_cli("report", "--help").output
    assert "Формат отчёта." in report_help and "Файл, в который записать отчёт." in report_help


def test_reports_in_russian(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], russian: None, tmp_path: Path
) -> None:
    assert _accel(run_cli, "indicators", "gather").exit_code == 0
    for fmt in ("xlsx", "json"):
        result = _accel(run_cli, "report", "--format", fmt, "--out", str(tmp_path / f"otchet.{fmt}"))
        assert result.exit_code == 0, result.output
        assert result.output == f"Отчёт записан: {tmp_path / f'otchet.{fmt}'}\n"
    book = load_workbook(tmp_path / "otchet.xlsx")
    assert book.sheetnames == [
        "Показатели", "Команды", "Наставники", "Районы и сёла", "Доказательства", "Ждут проверки",
        "Примечания", "Динамика",
    ]  # fmt: skip
    sheet = book["Показатели"]
    assert sheet["A1"].value == "Показатели гранта — Камчатка 2021"
    header = next(sheet.iter_rows(min_row=4, max_row=4, values_only=True))
    assert header[:4] == ("Показатель", "План", "Факт", "Факт (число)")
    rows = {r[0]: r for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]}
    assert rows["Инициативные группы (команды модуля 1)"][6] == "отставание"
    teams = list(book["Команды"].iter_rows(values_only=True))
    column = teams[0].index("Журнал консультаций")
    assert {r[0]: r[column] for r in teams[1:]} == {
        "Команда «Шаромы»": "проверено: отзыв без оценки",
        "Команда «Эссо»": "сдано",
    }
    # JSON: the keys stay English, the texts people read are Russian.
    data = json.loads((tmp_path / "otchet.json").read_text(encoding="utf-8"))
    assert data["language"] == "ru"
    assert data["titles"]["votes_cast"] == "Голоса в народном голосовании"
    consultations = next(r for r in data["indicators"]["results"] if r["key"] == "consultations_held")
    assert set(consultations) >= {"key", "title", "status", "status_text", "breakdown", "evidence", "notes"}
    assert consultations["status"] == "behind" and consultations["status_text"] == "отставание"


def test_a_snapshot_speaks_the_readers_language_not_the_gatherers(fake_moodle: FakeMoodle) -> None:
    """Gathering's notes are stored as what to say (template and values), so a snapshot gathered by the
    English-speaking service reads in Russian for the coordinator, and the other way round."""
    config = load_config(EXAMPLE)
    build_recorded_cohort(fake_moodle, config)
    vote = next(m for m in fake_moodle.modules.values() if m["idnumber"] == "m3-vote")
    vote["idnumber"] = ""  # the vote lost its ID number on the site
    snap = gather(make_client(fake_moodle), config, now=ts(2022, 4, 1))  # in English (the suite's language)
    (note,) = [n for n in snap.notes if n.kind == "missing_activity"]
    assert note.text == "Activity «m3-vote» (choice) is not in course KAM21-M3."
    stored = Snapshot.model_validate_json(snap.model_dump_json())
    set_language("ru")
    assert "Активность «m3-vote» (choice) не найдена в курсе KAM21-M3." in compute(stored).notes
    set_language("en")
    assert "Activity «m3-vote» (choice) is not in course KAM21-M3." in compute(stored).notes


def test_a_snapshot_stored_before_notes_had_templates_shows_its_text_as_it_is() -> None:
    old = GatherNote.model_validate({"kind": "missing_activity", "text": "Активность «m3-vote» не найдена."})
    assert old.message() == "Активность «m3-vote» не найдена."
    set_language("ru")
    assert old.message() == "Активность «m3-vote» не найдена."


def test_the_period_reads_in_the_readers_language(russian: None) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Kamchatka")
    start, end = ts(2021, 10, 1), ts(2021, 12, 31)
    assert Period().label(tz) == "весь период гранта"
    assert Period(start=start, end=end).label(tz) == "с 01.10.2021 по 31.12.2021"
    assert Period(start=start).label(tz) == "с 01.10.2021 по дату снимка"
    set_language("en")
    assert Period(end=end).label(tz) == "from the start to 31.12.2021"

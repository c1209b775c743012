"""What people read of the roster wing: a file's problems grouped (the same problem on many rows said once),
the plan as tables, progress through the Progress protocol, and all of it in Russian."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from i18n import set_language
from sync.roster.plan import Roles
from sync.roster.read import RosterFileError, RosterProblem, read_roster
from sync.roster.read.problems import group_problems, row_ranges, rows_text
from sync.roster.sync import apply_sync, plan_sync
from tests.fake_moodle import FakeMoodle
from tests.helpers import COURSES, EXAMPLE, cohort, make_client, standard_rows, write_roster

Run = Callable[..., Result]

UPLOAD_HEADER = ["username", "firstname", "lastname", "email", "course1", "role1", "course2", "role2"]
UPLOAD_HEADER += ["course3", "role3"]


def upload_file(path: Path, courses: Callable[[int], tuple[str, str, str]], people: int = 1200) -> Path:
    """A Moodle upload-users file of ``people`` students; person i takes the three courses ``courses(i)``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(UPLOAD_HEADER)
    for i in range(people):
        first, second, third = courses(i)
        row = [f"user{i}", "Анна", f"Иванова{i}", f"u{i}@example.org"]
        writer.writerow([*row, first, "student", second, "student", third, "student"])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def last_year(tmp_path: Path) -> Path:
    """Issue 13's case: 1,200 rows whose courses are last year's, not the cohort's (3,600 problems)."""
    return upload_file(tmp_path / "upload.csv", lambda i: ("KAM20-M1", "KAM20-M2", "KAM20-M3"))


def in_russian(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both: the command line picks its language from ACCEL_LANG; functions called directly use the current one.
    monkeypatch.setenv("ACCEL_LANG", "ru")
    set_language("ru")


# --- grouping -----------------------------------------------------------------------------------------------


def test_rows_become_ranges() -> None:
    assert row_ranges([7, 2, 3, 4, 3, 9, 10]) == [(2, 4), (7, 7), (9, 10)]
    assert rows_text([2, 3, 4, 7, 9, 10]) == "2–4, 7, 9–10"
    assert rows_text(range(2, 1202)) == "2–1201"
    assert rows_text(range(2, 40, 2), limit=3) == "2, 4, 6, …"
    assert rows_text(range(2, 40, 2), limit=None).endswith("36, 38")


def test_the_same_problem_on_many_rows_is_one_group_and_one_row_reads_as_before() -> None:
    problems = [
        RosterProblem("r.csv", row, "course1", "course «X» is not one of the cohort's module courses")
        for row in range(2, 1202)
    ]
    problems.append(RosterProblem("r.csv", 5, "Email", "«bad@» is not a valid email address"))
    problems.append(
        RosterProblem("r.csv", 6, "course1", "course «Y» is not one of the cohort's module courses")
    )
    groups = group_problems(problems)
    assert [(g.message[:10], g.count) for g in groups] == [
        ("course «X»", 1200),
        ("«bad@» is ", 1),
        ("course «Y»", 1),
    ]
    assert groups[0].text() == (
        "r.csv, column «course1»: course «X» is not one of the cohort's module courses: rows 2–1201 (1,200 rows)"
    )
    assert groups[1].text() == "r.csv, row 5, column «Email»: «bad@» is not a valid email address"


# --- roster check and roster sync read through --------------------------------------------------------------


def test_roster_check_of_1200_rows_from_other_courses_prints_a_few_lines(
    tmp_path: Path, run_cli: Run
) -> None:
    path = last_year(tmp_path)
    result = run_cli("roster", "check", str(path), config=EXAMPLE)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 5, result.stdout  # the file, who is in it, one line per course column
    for column, course in (("course1", "KAM20-M1"), ("course2", "KAM20-M2"), ("course3", "KAM20-M3")):
        assert (
            f"  error: {path}, column «{column}»: course «{course}» is not one of the cohort's module courses: "
            "rows 2–1201 (1,200 rows)"
        ) in lines
    assert "Error: 3,600 errors in" in result.output

    # The JSON output keeps every problem of every row.
    as_json = run_cli("roster", "check", str(path), "--json", config=EXAMPLE)
    errors = json.loads(as_json.stdout)["errors"]
    assert len(errors) == 3600 and {e["row"] for e in errors} == set(range(2, 1202))


def scattered(tmp_path: Path) -> Path:
    """1,200 rows in 30 kinds of problem (a course of 30 unknown ones per row), none on consecutive rows."""
    return upload_file(tmp_path / "scattered.csv", lambda i: (f"OTHER-{i % 30}", "KAM21-M2", "KAM21-M3"))


def test_the_first_25_groups_are_shown_and_details_shows_them_all(tmp_path: Path, run_cli: Run) -> None:
    path = scattered(tmp_path)
    short = run_cli("roster", "check", str(path), config=EXAMPLE)
    errors = [line for line in short.stdout.splitlines() if line.startswith("  error: ")]
    assert len(errors) == 25
    assert "rows 2, 32, 62, 92, 122, 152, 182, 212, 242, 272, … (40 rows)" in errors[0]
    assert short.stdout.splitlines()[-1] == "  ... and 5 more lines (200 errors): --details shows them all"

    full = run_cli("roster", "check", str(path), "--details", config=EXAMPLE)
    errors = [line for line in full.stdout.splitlines() if line.startswith("  error: ")]
    assert len(errors) == 30 and "more lines" not in full.stdout
    every_row = ", ".join(str(row) for row in range(2, 1202, 30))
    assert errors[0].endswith(f"rows {every_row} (40 rows)")
    assert {f"OTHER-{n}" for n in range(30)} == {re.search(r"«(OTHER-\d+)»", e)[1] for e in errors}  # type: ignore[index]


def test_roster_sync_of_a_file_with_errors_groups_them_too(tmp_path: Path, run_cli: Run) -> None:
    path = scattered(tmp_path)
    short = run_cli("roster", "sync", str(path), config=EXAMPLE)
    assert short.exit_code == 1
    assert len(short.stdout.splitlines()) == 26  # 25 groups and how many more
    assert "Error: " in short.output and "1,200 errors; nothing was written" in short.output
    full = run_cli("roster", "sync", str(path), "--details", config=EXAMPLE)
    assert len(full.stdout.splitlines()) == 30


# --- the plan as tables, and progress -----------------------------------------------------------------------


def test_the_plan_is_a_table_per_kind_of_change(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    plan = run_cli("roster", "sync", str(path), config=EXAMPLE)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    # (A table pads its cells: rows may end in spaces.)
    assert "Plan: 141 changes" in out
    assert re.search(r"^Change +Planned *$", out, re.M)
    assert re.search(r"^users to create +17 *$", out, re.M) and re.search(
        r"^enrolments to add +49 *$", out, re.M
    )
    assert "users to create: 17" in out and "enrolments to add: 49" in out
    assert re.search(r"^Row +Who or what +Details *$", out, re.M)  # accounts: no course column
    assert re.search(r"^2 +Участникова1 Анна Петровна +username anna\.uchastnikova1 *$", out, re.M)
    assert re.search(r"^17 +Наставникова Наталья +KAM21-M1 +as teacher \(4\) *$", out, re.M)
    assert re.search(r"^«Команда В» +KAM21-M1 +district «Быстринский МР» *$", out, re.M)
    assert "  ... and 24 more (--details or --json shows all)" in out  # 49 enrolments, 25 shown
    full = run_cli("roster", "sync", str(path), "--details", config=EXAMPLE)
    assert "more (--details" not in full.stdout
    assert len(re.findall(r"KAM21-M\d +as (student|teacher)", full.stdout)) == 49


class Recorder:
    """A Progress that keeps each task's description, total and how far it was advanced."""

    def __init__(self) -> None:
        self.tasks: list[list[object]] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        entry: list[object] = [description, total, 0]
        self.tasks.append(entry)

        def advance(n: int) -> None:
            entry[2] = int(entry[2]) + n  # type: ignore[call-overload]

        yield advance


def test_reading_checking_and_applying_report_their_progress(fake_moodle: FakeMoodle, tmp_path: Path) -> None:
    cohort(fake_moodle)
    bars = Recorder()
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    roster = read_roster(path, progress=bars)
    assert bars.tasks == [[f"Reading {path}", None, 18], [f"Checking the rows of {path}", 17, 17]]

    client = make_client(fake_moodle)
    bars = Recorder()
    outcome = plan_sync(client, roster, COURSES, roles=Roles(), progress=bars)
    apply_sync(client, outcome, store=None, report_path=None, removal="suspend", progress=bars)
    changes = len(outcome.plan.changes)
    assert bars.tasks == [["Reading the site", None, 0], ["Applying the plan", changes, changes]]


# --- in Russian ---------------------------------------------------------------------------------------------


def test_a_plan_in_russian(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    in_russian(monkeypatch)
    plan = run_cli("roster", "sync", str(path), config=EXAMPLE)
    assert plan.exit_code == 0, plan.output
    out = plan.stdout
    assert f"Список участников {path}: 17 человек" in out
    assert "План: 141 изменение" in out  # 141: the form of 1
    assert re.search(r"^Изменение +По плану *$", out, re.M)
    assert re.search(r"^создать учётные записи +17 *$", out, re.M)
    assert "создать учётные записи: 17" in out and "записать на курсы: 49" in out
    assert re.search(r"^Строка +Кто или что +Курс +Подробности *$", out, re.M)
    assert re.search(r"^2 +Участникова1 Анна Петровна +KAM21-M1 +с ролью «студент» \(5\) *$", out, re.M)
    assert re.search(r"^«Команда В» +KAM21-M2 +в район «Быстринский МР» *$", out, re.M)
    assert "  … и ещё 24 (все покажет --details или --json)" in out
    assert "Ничего не записано. Чтобы выполнить план, запустите команду снова с --apply." in out
    assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", out.replace("--details или --json", "")), out

    # The JSON keeps its English keys; the descriptions are for people, in their language.
    payload = json.loads(run_cli("roster", "sync", str(path), "--json", config=EXAMPLE).stdout)
    enrol = next(op for op in payload["operations"] if op["kind"] == "enrol")
    assert enrol["description"] == (
        "Участникова1 Анна Петровна: записать на курс KAM21-M1 с ролью «студент» (5)"
    )


def test_an_error_naming_file_row_and_column_in_russian(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = standard_rows()
    rows[0][2] = "bad@"
    path = write_roster(tmp_path / "roster.csv", rows)
    in_russian(monkeypatch)
    result = run_cli("roster", "check", str(path))
    assert result.exit_code == 1
    assert (
        f"  ошибка: {path}, строка 2, столбец «Email»: «bad@» — неверный адрес электронной почты"
        in result.stdout
    )
    assert f"Ошибка: 1 ошибка в {path}" in result.output
    with pytest.raises(RosterFileError, match=r"missing\.csv: файл не найден$"):
        read_roster(tmp_path / "missing.csv")


def test_the_issues_grouped_line_in_russian(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = last_year(tmp_path)
    in_russian(monkeypatch)
    result = run_cli("roster", "check", str(path), config=EXAMPLE)
    assert (
        f"  ошибка: {path}, столбец «course1»: курс «KAM20-M1» не из курсов модулей потока: "
        "строки 2–1201 (1\u00a0200 строк)"
    ) in result.stdout.splitlines()
    assert "1\u00a0200 человек (файл загрузки пользователей Moodle, utf-8, разделитель «,»)" in result.stdout
    assert f"Ошибка: 3\u00a0600 ошибок в {path}" in result.output


@pytest.mark.parametrize(
    ("people", "teams", "districts", "line"),
    [
        (1, 1, 1, "  1 участник; 1 команда в 1 районе"),
        (3, 2, 2, "  3 участника; 2 команды в 2 районах"),
        (5, 5, 1, "  5 участников; 5 команд в 1 районе"),
        (21, 21, 1, "  21 участник; 21 команда в 1 районе"),
        (12, 12, 1, "  12 участников; 12 команд в 1 районе"),
    ],
)
def test_plural_forms_in_russian(
    people: int,
    teams: int,
    districts: int,
    line: str,
    tmp_path: Path,
    run_cli: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        [
            f"A-{n}",
            f"Иванова{n} Анна",
            f"a{n}@example.org",
            "Эссо",
            f"Район {n % districts}",
            f"Команда {n % teams}",
        ]
        for n in range(people)
    ]
    path = tmp_path / "roster.csv"
    path.write_text(
        "№ заявки;ФИО;Email;Населённый пункт;Муниципальный район;Команда\n"
        + "".join(";".join(row) + "\n" for row in rows),
        encoding="utf-8",
    )
    in_russian(monkeypatch)
    result = run_cli("roster", "check", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == line
    assert result.stdout.splitlines()[-1] == "Ошибок в списке участников нет."


def test_grouped_rows_agree_with_their_number_in_russian(monkeypatch: pytest.MonkeyPatch) -> None:
    in_russian(monkeypatch)
    texts = {
        n: group_problems([RosterProblem("r.csv", row, None, "нет имени") for row in range(2, 2 + n)])[
            0
        ].text()
        for n in (2, 5, 21, 22, 1200)
    }
    assert texts[2].endswith("строки 2–3 (2 строки)")
    assert texts[5].endswith("строки 2–6 (5 строк)")
    assert texts[21].endswith("строки 2–22 (21 строка)")
    assert texts[22].endswith("строки 2–23 (22 строки)")
    assert texts[1200].endswith("строки 2–1201 (1\u00a0200 строк)")


def test_an_apply_with_failures_in_russian(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort(fake_moodle)
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "store.sqlite3"))
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    fake_moodle.inject("enrol_manual_enrol_users", "connection", times=100)
    in_russian(monkeypatch)
    report = tmp_path / "failures.csv"
    result = run_cli("roster", "sync", str(path), "--apply", "--report", str(report), config=EXAMPLE)
    assert result.exit_code == 1, result.output
    out = result.stdout
    # 49 enrolments whose outcome is unknown, and the 51 group memberships that depended on them.
    assert "Выполнено: 41 из 141 изменения (запуск 1 в журнале)" in out
    assert re.search(r"^Статус +Строка +Изменение +Причина *$", out, re.M)
    assert re.search(
        r"^не выполнено +2 +Участникова1 Анна Петровна: записать на курс KAM21-M1 с ролью «студент» \(5\) +"
        r"связь прервалась во время записи",
        out,
        re.M,
    )
    assert "  … и ещё 75 (все покажет --details или --json)" in out
    assert f"Отчёт об ошибках: {report}" in out
    assert "Ошибка: 100 изменений не выполнено" in result.output

    history = run_cli("roster", "history", config=EXAMPLE)
    assert re.search(
        r"^1 +\S+ +завершён, часть изменений не выполнена +41 +100 +suspend", history.stdout, re.M
    )
    entries = run_cli("roster", "history", "--run", "1", config=EXAMPLE)
    assert re.search(
        r"^1 +\S+ +пропущено +Участникова1 Анна Петровна: добавить в группу «Команда А» в курсе KAM21-M1 +"
        r"пропущено: не удалось записать на этот курс *$",
        entries.stdout,
        re.M,
    )

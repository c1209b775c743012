"""`accel provision` and `accel templates check` as people read them: in Russian (plan, errors, plurals), the
plan as an aligned table, and the apply's progress (a bar through the Progress protocol, none with --json)."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import Result

from course_templates.loader import TemplateError, parse_template
from i18n import set_language
from integration.errors import UncertainWrite
from sync.core.config import load_config
from sync.core.progress import Advance
from sync.provision.apply import apply_plan
from sync.provision.changes import DeleteEvent, ProvisionPlan
from sync.provision.plan import compute_plan
from sync.provision.render import plan_view
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE, TEMPLATES, make_client, seed_site

Run = Callable[..., Result]
# The module, not the command of the same name that sync.commands exports.
provision_command = importlib.import_module("sync.commands.provision")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    # Output that is not a terminal: wide enough that no cell of the plan's table is folded (rich reads it).
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def russian(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Russian for this test, in-process and for the command line (the conftest puts English back)."""
    monkeypatch.setenv("ACCEL_LANG", "ru")
    set_language("ru")
    yield
    set_language("en")


# -- a Progress that records what it is told ----------------------------------------------------------------


@dataclass
class Task:
    description: str
    total: int | None
    done: int = 0
    #: the tasks open when this one started (a course copy runs inside the apply's task)
    inside: tuple[str, ...] = ()
    closed: bool = False


@dataclass
class RecordingProgress:
    tasks: list[Task] = field(default_factory=list)
    open: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        task = Task(description, total, inside=tuple(self.open))
        self.tasks.append(task)
        self.open.append(description)

        def advance(n: int = 1) -> None:
            task.done += n

        try:
            yield advance
        finally:
            self.open.pop()
            task.closed = True


# -- Russian ---------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("russian")
def test_the_plan_in_russian(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    result = run_cli("provision", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("План для потока kam21 (Камчатка 2021): 20 изменений.\n"), out
    header = next(line for line in out.splitlines() if line.startswith("№"))
    assert header.split() == ["№", "Действие", "Модуль", "Что", "Причина"]
    assert "создать курс" in out and "курс KAM21-M1" in out and "назвать раздел" in out
    # A plural in the plan's rows: m2's template course has 4 sections, its file 5.
    assert "1 раздел в KAM21-M2" in out and "в файле шаблона 5 разделов, в курсе — 4" in out
    assert "Предупреждения: даты элементов вне дат их курса (заметка 15):" in out
    assert "m1-fundraising «План фандрайзинга»" in out and "позже окончания курса" in out
    assert "ждёт команду «Эссо: тропа эвенов»" in out
    assert out.rstrip().endswith(
        "Ничего не записано. Чтобы выполнить план, запустите `accel provision --apply`."
    )
    for english in ("Plan for", "change", "Warnings", "Notes", "Nothing was written", "create course"):
        assert english not in out, english


@pytest.mark.usefixtures("russian")
def test_the_plans_json_keeps_english_keys_and_translates_what_people_read(
    fake_moodle: FakeMoodle, run_cli: Run
) -> None:
    seed_site(fake_moodle)
    result = run_cli("provision", "--json", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    change = json.loads(result.output)["plan"]["changes"][1]
    assert change["action"] == "create_course" and change["data"]["fields"]["idnumber"] == "kam21-m1"
    assert change["target"] == "курс KAM21-M1" and change["reason"].startswith("нет курса с идентификатором")


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "1 изменение"),
        (2, "2 изменения"),
        (4, "4 изменения"),
        (5, "5 изменений"),
        (11, "11 изменений"),
        (21, "21 изменение"),
    ],
)
def test_the_plans_headline_agrees_with_the_number_of_changes(n: int, words: str) -> None:
    set_language("ru")
    changes = [DeleteEvent(target=f"событие {i}", reason="нет в расписании", eventid=i) for i in range(n)]
    plan = ProvisionPlan(changes=list(changes), cohort="kam21", cohort_name="Камчатка 2021")
    assert plan_view(plan).headline == f"План для потока kam21 (Камчатка 2021): {words}."
    set_language("en")
    assert plan_view(plan).headline.endswith(f"{n} change." if n == 1 else f"{n} changes.")


@pytest.mark.usefixtures("russian")
def test_a_blocked_plan_in_russian(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle, m1={"shortname": "ELSEWHERE"})
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 1
    assert "Проблемы (план не будет выполнен, пока они не исправлены):" in result.output
    assert "[m1] курс-шаблон ACCEL-TPL-M1 не найден на сайте Moodle, поэтому KAM21-M1 создать нельзя" in (
        result.output
    )
    assert "в плане есть проблемы (они перечислены выше); ничего не записано" in result.output


@pytest.mark.usefixtures("russian")
def test_an_apply_and_a_stopped_apply_in_russian(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    fake_moodle.inject("core_course_update_courses", "drop-after-apply")
    stopped = run_cli("provision", "--apply", config=EXAMPLE)
    assert stopped.exit_code == 3, stopped.output
    assert "Выполнение плана:\n[1/20] создать категорию: категория «" in stopped.output
    assert "Выполнение плана остановлено после 1 из 20 шагов" in stopped.output
    assert "Незавершённый шаг: создать курс: курс KAM21-M1" in stopped.output
    assert "Ничего не потеряно: запустите `accel provision --apply` ещё раз." in stopped.output

    done = run_cli("provision", "--apply", config=EXAMPLE)
    assert done.exit_code == 0, done.output
    # The category is there and m1's copy is adopted (an update instead of a copy): 18 changes are left.
    assert "Готово: выполнено 18 изменений. Новый план пуст: сайт Moodle соответствует конфигурации." in (
        done.output
    )
    again = run_cli("provision", "--apply", config=EXAMPLE)
    assert "План для потока kam21 (Камчатка 2021): изменений нет" in again.output


@pytest.mark.usefixtures("russian")
def test_templates_check_in_russian(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle, m1={"skip": ("m1-concept",)})
    result = run_cli("templates", "check", config=EXAMPLE)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "m1: курс-шаблон ACCEL-TPL-M1 (id курса" in out and "— ЕСТЬ ПРОБЛЕМЫ" in out
    assert "m2: курс-шаблон ACCEL-TPL-M2 (id курса" in out and "— ВСЁ В ПОРЯДКЕ" in out
    assert "ОШИБКА   m1-concept: отсутствует (элемент assign «" in out
    assert "СВЕДЕНИЯ в курсе 4 раздела, в шаблоне — 5;" in out  # a plural: 2-4
    assert "СВЕДЕНИЯ раздел 0 называется «General», а в шаблоне — «О школе»" in out
    assert "Стандартные веб-сервисы Moodle не умеют создавать элементы курса" in out


def test_template_file_errors_in_russian() -> None:
    text = (ROOT / "course_templates" / "m1.yaml").read_text("utf-8")
    bad = text.replace("groupmodeforce: false", "groupmodeforce: нет").replace(
        "format: topics", "format: tabs"
    )
    set_language("ru")
    with pytest.raises(TemplateError) as caught:
        parse_template(bad.replace("title: Фандрайзинг", "title: ''"), "m1.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "ошибка в шаблоне модуля:"
    assert any(
        line.endswith(
            "course.format: ожидается одно из: 'topics', 'weeks', 'singleactivity', 'social' (указано 'tabs')"
        )
        for line in lines
    ), lines
    assert any(
        line.endswith("course.groupmodeforce: ожидается true или false (указано 'нет')") for line in lines
    )
    assert any(line.endswith(".title: ожидается не меньше 1 символа (указано '')") for line in lines), lines
    with pytest.raises(TemplateError, match="ключ раздела 'general' встречается дважды"):
        parse_template(text.replace("key: practices", "key: general"), "m1.yaml")
    set_language("en")
    with pytest.raises(TemplateError, match=r"course.groupmodeforce: expected true or false \(got 'нет'\)"):
        parse_template(bad, "m1.yaml")


# -- the table and the progress --------------------------------------------------------------------------------


def test_the_plan_is_an_aligned_table(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    lines = run_cli("provision", config=EXAMPLE).output.splitlines()
    header = next(line for line in lines if line.startswith("#"))
    columns = [header.index(title) for title in ("Action", "Module", "What", "Why")]
    rows = [line for line in lines if line[:1].isdigit()]
    assert len(rows) == 20
    for row in rows:
        for column in columns:
            # Each cell starts in its column, after the blank that ends the cell before it.
            assert row[column - 1] == " " and row[column] != " ", (row, column)
    assert rows[1][columns[0] :].startswith("create course") and rows[1][columns[1] :].startswith("m1")


def test_the_apply_reports_its_progress_with_each_course_copy_inside(fake_moodle: FakeMoodle) -> None:
    seed_site(fake_moodle)
    client = make_client(fake_moodle)
    config = load_config(EXAMPLE)
    plan = compute_plan(client, config, TEMPLATES)
    recording = RecordingProgress()
    result = apply_plan(client, plan, progress=recording)
    overall, *copies = recording.tasks
    assert (overall.description, overall.total, overall.done) == ("Applying the plan", 20, len(result.done))
    assert [c.description for c in copies] == [
        f"Copying the template course into KAM21-M{n}" for n in (1, 2, 3)
    ]
    assert all(c.total is None and c.inside == ("Applying the plan",) for c in copies)
    assert all(task.closed for task in recording.tasks)

    # A plan with nothing to do shows no bar at all (not an empty one).
    again = RecordingProgress()
    apply_plan(client, compute_plan(client, config, TEMPLATES), progress=again)
    assert again.tasks == []


def test_a_stopped_apply_has_advanced_by_what_was_done(fake_moodle: FakeMoodle) -> None:
    seed_site(fake_moodle)
    fake_moodle.inject("core_course_update_courses", "drop-after-apply")
    client = make_client(fake_moodle)
    plan = compute_plan(client, load_config(EXAMPLE), TEMPLATES)
    recording = RecordingProgress()
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan, progress=recording)
    assert recording.tasks[0].done == 1  # the category; the copy whose update was lost is not counted
    assert all(task.closed for task in recording.tasks)


def test_the_command_shows_a_bar_on_a_terminal_lines_elsewhere_and_nothing_with_json(
    fake_moodle: FakeMoodle, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_site(fake_moodle)
    asked: list[bool] = []
    recording = RecordingProgress()

    def terminal_progress(enabled: bool = True) -> RecordingProgress:
        asked.append(enabled)
        return recording  # as on a terminal: a bar

    monkeypatch.setattr(provision_command, "progress", terminal_progress)
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    assert asked == [True] and recording.tasks[0].done == 20
    # The bar says how far it got: no step lines then.
    assert "Applying:" not in result.output and "[1/20]" not in result.output
    assert "Done: 20 changes applied." in result.output

    result = run_cli("provision", "--apply", "--json", config=EXAMPLE)
    assert result.exit_code == 0 and json.loads(result.stdout)["applied"] is True
    assert asked == [True, False]

"""End to end on the fake: `accel indicators gather` -> stored snapshot -> `indicators show/pending` and
`accel report` in XLSX, HTML and JSON; the HTML page opened in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from openpyxl import load_workbook

from i18n import set_language
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.activities import add_entry, submit
from tests.helpers import EXAMPLE, gathered, ts

CHROMIUM = "/usr/bin/chromium"


def test_gather_then_show_from_the_store(cohort_site: FakeMoodle, run_cli: Callable[..., Result]) -> None:
    payload = json.loads(gathered(run_cli).output)
    assert payload["snapshot_id"] == 1 and payload["cohort"] == "kam21"
    assert "m3-pledges" in payload["activities"]
    # The stored snapshot answers without the site.
    calls_before = len(cohort_site.calls)
    shown = run_cli("--config", str(EXAMPLE), "indicators", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert len(cohort_site.calls) == calls_before
    data = json.loads(shown.output)
    values = {r["key"]: r["value"] for r in data["indicators"]["results"]}
    assert values["funds_raised"] == 95000 and values["votes_cast"] == 8
    text = run_cli("--config", str(EXAMPLE), "indicators", "show")
    assert "Funds raised" in text.output and "95,000 roubles" in text.output
    again = run_cli("--config", str(EXAMPLE), "indicators", "gather")
    assert again.exit_code == 0 and again.output.startswith("Snapshot 2 stored for cohort kam21.")
    assert "3 of 3" in again.output and "12 of 12" in again.output


def test_show_for_a_period_counts_only_what_happened_in_it(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result]
) -> None:
    gathered(run_cli)
    # Q4 2021: module 1 work and the first webinar; the fair (pledges, pitches) is in March 2022.
    q4 = run_cli(
        "--config", str(EXAMPLE), "indicators", "show", "--from", "2021-10-01", "--to", "2021-12-31", "--json"
    )
    values = {r["key"]: r["value"] for r in json.loads(q4.output)["indicators"]["results"]}
    assert values["projects_developed"] == 2
    assert values["webinars_held"] == 1
    assert values["funds_raised"] == 0
    assert values["projects_presented"] == 0
    results = {r["key"]: r for r in json.loads(q4.output)["indicators"]["results"]}
    assert any("whatever the period" in n for n in results["participants"]["notes"])
    q1 = run_cli(
        "--config", str(EXAMPLE), "indicators", "show", "--from", "2022-01-01", "--to", "2022-03-31", "--json"
    )
    values = {r["key"]: r["value"] for r in json.loads(q1.output)["indicators"]["results"]}
    assert values["projects_developed"] == 0
    assert values["funds_raised"] == 95000
    assert values["projects_presented"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2021-13-01"], "--from '2021-13-01': expected a date"),
        (["--from", "2022-01-02", "--to", "2022-01-01"], "is after --to"),
        (["--snapshot", "42"], "no stored snapshot with id 42"),
    ],
)
def test_bad_period_or_snapshot_is_a_usage_error(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], args: list[str], message: str
) -> None:
    gathered(run_cli)
    result = run_cli("--config", str(EXAMPLE), "indicators", "show", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_show_before_any_gather_says_what_to_do(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result]
) -> None:
    result = run_cli("--config", str(EXAMPLE), "indicators", "show")
    assert result.exit_code == 2
    assert "accel indicators gather" in result.output


def test_pending_lists_oldest_first(cohort_site: FakeMoodle, run_cli: Callable[..., Result]) -> None:
    gathered(run_cli)
    result = run_cli("--config", str(EXAMPLE), "indicators", "pending", "--json")
    items = json.loads(result.output)["pending"]
    # Team Шаромы's consultation log was answered with a comment and no grade (field note 24): not waiting.
    assert [(i["team"], i["activity_key"]) for i in items] == [
        ("Команда «Эссо»", "m2-consultations"),
        ("Команда «Шаромы»", "m2-final-project"),
        ("Команда «Эссо»", "m2-final-project"),
    ]
    assert items[0]["waited_hours"] >= items[1]["waited_hours"] >= items[2]["waited_hours"] > 0
    assert items[0]["mentors"] == ["Наталья Наставникова"]
    text = run_cli("--config", str(EXAMPLE), "indicators", "pending")
    assert "3 team submissions are waiting for a review (oldest first):" in text.output
    lines = text.output.splitlines()
    assert lines[1].split() == ["Submitted", "Waiting", "Team", "Assignment", "Mentors", "Link"]
    # One row per submission, oldest first, with how long it has waited and the link to grade it.
    assert "Команда «Эссо»" in lines[2] and "days" in lines[2] and "/mod/assign/view.php?id=" in lines[2]
    assert len(lines) == 5


def test_report_in_three_formats(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    gathered(run_cli)
    # A second, later snapshot gives the over-time chart two points. In between, team Шаромы (group 1)
    # resubmitted its graded idea (assignment 1): it waits again, and its old grading time no longer
    # measures this submission.
    submit(cohort_site, 1, groupid=1, when=ts(2022, 3, 20))
    gathered(run_cli)
    for fmt in ("xlsx", "html", "json"):
        out = tmp_path / f"report.{fmt}"
        result = run_cli("--config", str(EXAMPLE), "report", "--format", fmt, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert out.exists()
    assert not list(tmp_path.glob(".report.*"))  # no temporary files left behind

    wb = load_workbook(tmp_path / "report.xlsx")
    assert wb.sheetnames[:7] == [
        "Indicators", "Teams", "Mentors", "Districts and villages", "Evidence", "Waiting for review", "Notes",
    ]  # fmt: skip
    rows = {r[0]: r for r in wb["Indicators"].iter_rows(min_row=5, values_only=True) if r[0]}
    funds = rows["Funds raised (partners' pledges), roubles"]
    assert funds[3] == 95000 and funds[2] == "95,000 roubles"
    groups = rows["Initiative groups (module 1 teams)"]
    assert (groups[3], groups[4], groups[6]) == (2, 7, "behind")
    evidence = list(wb["Evidence"].iter_rows(min_row=2, values_only=True))
    assert any(r[1] == "ООО «Камчатрыба»" and str(r[5]).startswith(cohort_site.url) for r in evidence)
    mentors = list(wb["Mentors"].iter_rows(min_row=2, values_only=True))
    # reviews 5 (the resubmitted idea keeps its grade; the consultation log answered without a grade); median
    # of 48, 24, 36, 24 hours; 3 + the resubmission wait
    assert mentors[0][:6] == ("Наталья Наставникова", "Команда «Шаромы», Команда «Эссо»", 5, 5, 30, 4)
    teams = {r[0]: r for r in wb["Teams"].iter_rows(min_row=2, values_only=True)}
    header = next(wb["Teams"].iter_rows(min_row=1, max_row=1, values_only=True))
    column = header.index("Consultation log")
    assert teams["Команда «Шаромы»"][column] == "reviewed: feedback without a grade"
    assert teams["Команда «Эссо»"][column] == "submitted"
    waiting = list(wb["Waiting for review"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[4]) for r in waiting][-1] == ("Команда «Шаромы»", "yes")

    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["format"] == "accel-indicators-report"
    assert len(data["history"]) == 2
    assert data["snapshot_id"] == 2

    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count('<svg class="chart"') == 3
    assert "<script src" not in page and "http://" not in page.split("<body>")[0]  # self-contained
    assert "Показатели гранта — Камчатка 2021" in page
    # The teams' grid: team Шаромы's answered consultation log is not "сдано, ждёт оценки"; team Эссо's is.
    cells = dict(re.findall(r"<title>([^<]+?) — Журнал консультаций: ([^<]+)</title>", page))
    assert cells == {"Команда «Шаромы»": "проверено: отзыв без оценки", "Команда «Эссо»": "сдано"}


def test_text_typed_on_the_site_is_never_a_formula_in_the_workbook(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    """Partners, projects, team names and comments are typed by people on the site. One that starts with "="
    stays text in the XLSX report: openpyxl would store it as a formula that Excel runs when the file opens."""
    pledges = next(iter(cohort_site.databases))
    values = {"partner": "=1+1", "project": '=HYPERLINK("http://x")', "amount": "1000", "kind": "Деньги"}
    add_entry(cohort_site, pledges, values, when=ts(2022, 3, 10))
    gathered(run_cli)
    out = tmp_path / "report.xlsx"
    assert run_cli("--config", str(EXAMPLE), "report", "--format", "xlsx", "--out", str(out)).exit_code == 0
    cells = [c for row in load_workbook(out)["Evidence"].iter_rows() for c in row]
    typed = [c for c in cells if str(c.value).startswith(("=1+1", "=HYPERLINK"))]
    assert {c.value for c in typed} == {"=1+1", '=HYPERLINK("http://x"); Деньги'}
    assert all(c.data_type == "s" for c in typed)


def test_report_to_a_missing_directory_fails_cleanly(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    gathered(run_cli)
    out = tmp_path / "nope" / "r.html"
    result = run_cli("--config", str(EXAMPLE), "report", "--format", "html", "--out", str(out))
    assert result.exit_code == 2
    assert "cannot write the report" in result.output
    assert not out.exists()


@pytest.mark.browser
def test_html_charts_render_in_headless_chromium(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"headless Chromium not installed ({CHROMIUM} missing; apt-get install -y chromium)")
    gathered(run_cli)
    submit(cohort_site, 1, groupid=1, when=ts(2022, 3, 20))
    gathered(run_cli)
    out = tmp_path / "report.html"
    assert run_cli("--config", str(EXAMPLE), "report", "--format", "html", "--out", str(out)).exit_code == 0
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--dump-dom", out.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # The inline script ran after layout and found drawn marks in each of the three charts.
    assert 'data-charts="3"' in dom
    assert 'data-rendered="3"' in dom
    for chart in ("chart-progress", "chart-history", "chart-teams"):
        assert f'id="{chart}"' in dom
    assert 'data-marks="0"' not in dom


def test_numbers_are_written_as_the_readers_language_writes_them() -> None:
    """Russian: a decimal comma, a space between thousands; English: a decimal point, a comma."""
    from sync.indicators.report.model import format_percent, format_value, number_text, ru_number

    assert format_percent(28.571) == "28.571%" and format_percent(None) == "—"
    assert format_value("satisfaction", 7.625) == "7.62" and format_value("ngo_intent", 0.625) == "62.5%"
    assert format_value("funds_raised", 95000.0) == "95,000 roubles" and number_text(42.5) == "42.5"
    set_language("ru")
    assert format_percent(28.571) == "28,571 %" and format_percent(28.6) == "28,6 %"
    assert format_percent(50.0) == "50 %" and format_percent(None) == "—"
    assert ru_number(42.5) == "42,5" and number_text(42.5) == "42,5"
    assert format_value("initiative_groups", 7.0) == "7"
    assert format_value("satisfaction", 7.625) == "7,62"
    assert format_value("funds_raised", 95000.0) == "95\u00a0000 руб."
    assert format_value("votes_cast", None) == "нет данных"


def test_the_html_report_uses_decimal_commas(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    gathered(run_cli)
    out = tmp_path / "r.html"
    assert run_cli("--config", str(EXAMPLE), "report", "--format", "html", "--out", str(out)).exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "28,6 %" in page
    assert not re.search(r"\d\.\d+ %", page)


def test_team_grid_shows_a_review_without_grade_as_answered() -> None:
    """«сдано, ждёт оценки» is for work no mentor has answered; a comment saved without a grade answers it."""
    from sync.indicators.breakdowns import REVIEWED_WITHOUT_GRADE
    from sync.indicators.report.html import _cell_state

    assert _cell_state("сдано") == "submitted"
    assert _cell_state(REVIEWED_WITHOUT_GRADE) == "graded"
    assert _cell_state("оценено: 8") == "graded"

"""End to end on the fake: `accel indicators gather` -> stored snapshot -> `indicators show/pending` and
`accel report` in XLSX, HTML and JSON (the HTML page itself, and in headless Chromium: test_report_html.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from openpyxl import load_workbook

from i18n import set_language
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.activities import add_entry, submit
from tests.helpers import EXAMPLE, gathered, ts


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
    # The HTML page: tests/test_report_html.py.


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

"""What a spreadsheet would run stays text: the CSV outputs neutralise formula starts; in the XLSX report only
the links the product builds are live, never text typed on the site."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from openpyxl import load_workbook

from sync.roster.apply import FORMULA_STARTS, spreadsheet_text, write_failure_report
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.activities import add_entry
from tests.helpers import EXAMPLE, gathered, ts

DANGEROUS = ["=1+1", "+7 900 000-00-00", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://x")']


def test_every_formula_start_gets_a_quote_and_plain_text_does_not() -> None:
    for text in DANGEROUS:
        assert spreadsheet_text(text) == "'" + text
    assert {t[0] for t in DANGEROUS} == set(FORMULA_STARTS)
    for text in ("Иванова Анна", "anna@example.org", "5", "", "a=b", "KAM21-001"):
        assert spreadsheet_text(text) == text
    assert spreadsheet_text(None) == "" and spreadsheet_text(12) == "12"


def test_failure_report_cells_never_start_a_formula(tmp_path: Path) -> None:
    report = tmp_path / "failures.csv"
    write_failure_report(
        report, [], [], [(n, text, f"Moodle: {text}") for n, text in enumerate(DANGEROUS, 2)]
    )
    rows = list(csv.reader(report.open(encoding="utf-8-sig", newline=""), delimiter=";"))
    names = [r[1] for r in rows[1:]]
    assert names == ["'" + t for t in DANGEROUS]
    assert all(not cell.startswith(FORMULA_STARTS) for row in rows for cell in row)


def test_site_text_in_the_workbook_is_text_and_never_a_link(
    cohort_site: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    pledges = next(iter(cohort_site.databases))
    typed = ["=1+1", "+79000000000", "-2+3", "@SUM(A1)", "http://phish.example/login", "ctrl\x0bchar"]
    for n, partner in enumerate(typed):
        values = {"partner": partner, "project": f"Проект {n}", "amount": "1000", "kind": "Деньги"}
        add_entry(cohort_site, pledges, values, when=ts(2022, 3, 10))
    gathered(run_cli)
    out = tmp_path / "report.xlsx"
    result = run_cli("--config", str(EXAMPLE), "report", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    book = load_workbook(out)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    labels = {c.value: c for c in cells if c.column == 2 and c.parent.title == "Evidence"}
    for text in typed[:5]:
        assert labels[text].data_type == "s", text
        assert labels[text].hyperlink is None, text
    assert "ctrlchar" in labels  # a control character is dropped, not a refused report
    # No cell anywhere holds a formula; the only links are the product's own Moodle links.
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    links = [c for c in cells if c.hyperlink is not None]
    assert links and all(str(c.value).startswith(cohort_site.url) for c in links)
    assert all(c.hyperlink.target == c.value for c in links)

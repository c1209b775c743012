"""The XLSX workbook of the grant indicators (openpyxl): indicators, teams, mentors, places, evidence,
pending work, notes. Sheet and column titles are in the reader's language; links are real hyperlinks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from i18n import _
from sync.indicators.program import ASSIGNMENT_TITLES
from sync.indicators.registry import TITLES
from sync.indicators.report.model import (
    Report,
    format_target,
    format_value,
    number_text,
    team_assignment_keys,
)

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
STATUS_FILL = {
    "met": PatternFill("solid", fgColor="C6EFCE"),
    "on_track": PatternFill("solid", fgColor="FFF2CC"),
    "behind": PatternFill("solid", fgColor="F8CBAD"),
}
LINK_FONT = Font(color="0563C1", underline="single")


def _text(value: Any) -> Any:
    """A value as the workbook stores it: text keeps only the characters XML allows (a control character
    pasted into a comment on the site would make openpyxl refuse the whole report)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _table(
    ws: Worksheet,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[int],
    start: int = 1,
    links: Sequence[int] = (),
) -> None:
    """A table from row ``start``. Only the columns in ``links`` (0-based: the Moodle links the product
    builds from the site's address and ids) become hyperlinks; every other string, whatever it starts with
    (``=``, ``+``, ``-``, ``@``, ``http://``), is stored as text: names, comments and partners are typed on
    the site and must never become a formula Excel runs or a link someone clicks."""
    for col, title in enumerate(headers, start=1):
        cell = ws.cell(start, col, title)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=start + 1):
        for col, value in enumerate(row, start=1):
            cell = ws.cell(r, col, _text(value))
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would make "=..." a formula
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if col - 1 in links and isinstance(value, str) and value.startswith(("http://", "https://")):
                cell.hyperlink = value
                cell.font = LINK_FONT
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = ws.cell(start + 1, 1)


def write_xlsx(report: Report, path: Path) -> None:
    ind = report.indicators
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Indicators")
    ws["A1"] = _("Grant indicators — {cohort}").format(cohort=report.cohort_name)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = _("Period: {period}; Moodle data as of {taken_at}; site {site}").format(
        period=ind.period_label, taken_at=report.date(ind.taken_at, True), site=ind.site_url
    )
    rows = []
    for r in ind.results:
        rows.append(
            [
                r.title,
                format_target(r.key, r.target),
                format_value(r.key, r.value),
                r.value,
                r.target,
                (r.percent / 100.0) if r.percent is not None else None,
                r.status_text,
                "; ".join(f"{k}: {number_text(v)}" for k, v in r.breakdown.items()),
                "\n".join(r.notes),
            ]
        )
    _table(
        ws,
        [
            _("Indicator"),
            _("Target"),
            _("Value"),
            _("Value (number)"),
            _("Target (number)"),
            _("% of target"),
            _("Status"),
            _("Breakdown"),
            _("Notes"),
        ],
        rows,
        [48, 14, 18, 12, 12, 10, 14, 40, 60],
        start=4,
    )
    for i, r in enumerate(ind.results):
        row = 5 + i
        ws.cell(row, 6).number_format = "0.0%"
        if r.status in STATUS_FILL:
            ws.cell(row, 7).fill = STATUS_FILL[r.status]

    ws = wb.create_sheet(_("Teams"))
    keys = team_assignment_keys(ind.teams)
    _table(
        ws,
        [_("Team"), _("District"), _("Village"), _("Participants"), _("Mentors")]
        + [ASSIGNMENT_TITLES[k] for k in keys]
        + [_("Work submitted"), _("Reviewed"), _("Mentor reviews"), _("Progress"), _("Overdue"), _("Link")],
        [
            [t.name, t.district, t.village, t.members, ", ".join(t.mentors)]
            + [t.status.get(k, "") for k in keys]
            + [
                t.submissions,
                t.graded,
                t.feedback_received,
                _("{done} of {total}").format(done=t.done, total=t.total),
                ", ".join(t.overdue),
                t.url,
            ]
            for t in ind.teams
        ],
        [26, 20, 14, 11, 26] + [22] * len(keys) + [11, 10, 12, 10, 24, 40],
        links=[5 + len(keys) + 5],
    )

    ws = wb.create_sheet(_("Mentors"))
    _table(
        ws,
        [_("Mentor"), _("Teams"), _("Work reviewed"), _("With a comment"), _("Median hours to review"),
         _("Waiting for review"), _("Longest wait, hours")],
        [
            [m.name, ", ".join(m.teams), m.reviews, m.with_feedback, m.median_hours, m.pending,
             m.oldest_pending_hours]
            for m in ind.mentors
        ],
        [28, 40, 14, 14, 16, 14, 16],
    )  # fmt: skip

    ws = wb.create_sheet(_("Districts and villages"))
    _table(
        ws,
        [_("District"), _("Village"), _("Participants"), _("Teams"), _("Projects developed"),
         _("Projects presented")],
        [[_("District: {district}").format(district=d.district), _("all"), d.participants, d.teams,
          d.projects_developed, d.projects_presented]
         for d in ind.districts]
        + [[v.district, v.village, v.participants, v.teams, v.projects_developed, v.projects_presented]
           for v in ind.villages],
        [24, 18, 12, 10, 14, 14],
    )  # fmt: skip

    ws = wb.create_sheet(_("Evidence"))
    _table(
        ws,
        [_("Indicator"), _("What was counted"), _("Details"), _("Date"), _("Value"), _("Link in Moodle")],
        [
            [TITLES[r.key], e.label, e.detail, report.date(e.when, True) if e.when else "", e.value, e.url]
            for r in ind.results
            for e in r.evidence
        ],
        [40, 34, 50, 17, 10, 60],
        links=[5],
    )

    ws = wb.create_sheet(_("Waiting for review"))
    _table(
        ws,
        [_("Team"), _("Assignment"), _("Submitted"), _("Waiting, hours"), _("Submitted again"), _("Mentors"),
         _("Link")],
        [
            [p.team, p.activity, report.date(p.submitted_at, True), p.waited_hours, _("yes") if p.resubmitted else "",
             ", ".join(p.mentors), p.url]
            for p in ind.pending
        ],
        [26, 30, 17, 10, 10, 30, 60],
        links=[6],
    )  # fmt: skip

    ws = wb.create_sheet(_("Notes"))
    _table(
        ws,
        [_("Kind"), _("Text")],
        [[_("Note"), n] for n in ind.notes] + [[_("Moodle warning"), w] for w in ind.warnings],
        [24, 120],
    )

    if report.history:
        ws = wb.create_sheet(_("Over time"))
        _table(
            ws,
            [_("Snapshot date")] + [TITLES[k] for k in report.history[0].values],
            [[report.date(h.taken_at, True), *h.values.values()] for h in report.history],
            [17] + [16] * len(report.history[0].values),
        )
    wb.save(path)

"""The indicators for the terminal (``accel indicators show``): the heading, the indicators' table, their notes,
the mentors' table, gathering's notes and Moodle's warnings, as plain texts and rows in the reader's language.

The command prints them (sync.commands: aligned tables, colour only on a terminal); nothing here knows the
terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from i18n import _
from sync.indicators.models import Status
from sync.indicators.report.model import Report, format_percent, format_target, format_value, number_text


@dataclass
class Rows:
    """A table: its headers and rows of texts."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


def heading(report: Report) -> list[str]:
    """The report's title and what it covers (period, the data's date, the snapshot)."""
    ind = report.indicators
    taken = report.date(ind.taken_at, True)
    if report.snapshot_id:
        covers = _("Period: {period}; Moodle data as of {taken_at} (snapshot {id})").format(
            period=ind.period_label, taken_at=taken, id=report.snapshot_id
        )
    else:
        covers = _("Period: {period}; Moodle data as of {taken_at}").format(
            period=ind.period_label, taken_at=taken
        )
    return [_("Grant indicators — {cohort}").format(cohort=report.cohort_name), covers]


def indicator_rows(report: Report) -> tuple[Rows, list[Status]]:
    """One row per indicator (title, value, target, % of target, status), and each row's status."""
    table = Rows([_("Indicator"), _("Value"), _("Target"), _("% of target"), _("Status")])
    statuses: list[Status] = []
    for r in report.indicators.results:
        table.rows.append(
            [
                r.title,
                format_value(r.key, r.value),
                format_target(r.key, r.target),
                format_percent(r.percent) if r.percent is not None else "",
                r.status_text,
            ]
        )
        statuses.append(r.status)
    return table, statuses


def indicator_notes(report: Report) -> list[str]:
    """What each indicator's computation has to say, each note headed by its indicator."""
    return [
        _("{indicator}: {note}").format(indicator=r.title, note=note)
        for r in report.indicators.results
        for note in r.notes
    ]


def mentor_rows(report: Report) -> Rows:
    """One row per mentor: reviews, with a comment, median hours to review, work waiting."""
    table = Rows(
        [
            _("Mentor"),
            _("Reviewed"),
            _("With a comment"),
            _("Median hours to review"),
            _("Waiting for review"),
        ]
    )
    for m in report.indicators.mentors:
        median = number_text(m.median_hours) if m.median_hours is not None else "—"
        table.rows.append([m.name, str(m.reviews), str(m.with_feedback), median, str(m.pending)])
    return table

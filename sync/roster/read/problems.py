"""A roster's problems as a person reads them through: the same problem on many rows said once.

A 1,200-row Moodle upload file whose courses are not the cohort's has 3,600 problems (one per row and course
column) but only three different ones. :func:`group_problems` gathers the problems that say the same thing
about the same column (same file, column, message and severity) and keeps their rows, which
:meth:`ProblemGroup.text` compresses into ranges: «course «X» is not one of the cohort's module courses:
rows 2–1201 (1,200 rows)». A problem found on one row only reads as it always did (file, row, column).

The machine-readable output keeps every problem (``RosterProblem.as_dict``); only people's text is grouped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from babel.numbers import format_decimal, format_percent

from i18n import _, current_language, ngettext
from sync.roster.read.model import RosterProblem, Severity

#: Row ranges written out in a group's line by default (the count says how many rows there are in all);
#: ``--details`` writes them all.
SHOWN_RANGES = 10


def number(n: int) -> str:
    """``n`` as the reader writes numbers: «1 200» in Russian, "1,200" in English."""
    return format_decimal(n, locale=current_language())


def percent(share: float) -> str:
    """``share`` (0.29) as a whole percentage the reader's way: «29 %» in Russian, "29%" in English."""
    return format_percent(share, locale=current_language())


def row_ranges(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, distinct rows as runs of consecutive numbers: 2, 3, 4, 7 -> (2, 4), (7, 7)."""
    ranges: list[tuple[int, int]] = []
    for row in sorted(set(rows)):
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], row)
        else:
            ranges.append((row, row))
    return ranges


def rows_text(rows: Iterable[int], *, limit: int | None = SHOWN_RANGES) -> str:
    """``2–1201, 1205, 1207–1210``: the rows as ranges, the first ``limit`` of them (None: all) then «…»."""
    ranges = row_ranges(rows)
    shown = ranges if limit is None else ranges[:limit]
    text = ", ".join(str(first) if first == last else f"{first}–{last}" for first, last in shown)
    return text + ", …" if len(shown) < len(ranges) else text


@dataclass(frozen=True)
class ProblemGroup:
    """Problems that say the same thing about the same column of the same file, on one row or many."""

    severity: Severity
    file: str
    column: str | None
    message: str
    #: the rows, sorted and distinct (empty for a problem of the file as a whole)
    rows: tuple[int, ...]
    #: how many problems the group holds
    count: int
    first: RosterProblem

    def text(self, *, all_rows: bool = False) -> str:
        """The group in one line; its rows as ranges (the first few unless ``all_rows``) and how many."""
        if len(self.rows) <= 1:
            return str(self.first)
        n = len(self.rows)
        rows = ngettext("rows {rows} ({count} row)", "rows {rows} ({count} rows)", n).format(
            rows=rows_text(self.rows, limit=None if all_rows else SHOWN_RANGES), count=number(n)
        )
        if self.column:
            text = _("{file}, column «{column}»: {message}: {rows}")
        else:
            text = _("{file}: {message}: {rows}")
        return text.format(file=self.file, column=self.column, message=self.message, rows=rows)


def group_problems(problems: Sequence[RosterProblem]) -> list[ProblemGroup]:
    """The problems grouped (same severity, file, column and message), in the order each was first found."""
    found: dict[tuple[str, str, str | None, str], list[RosterProblem]] = {}
    for problem in problems:
        key = (problem.severity, problem.file, problem.column, problem.message)
        found.setdefault(key, []).append(problem)
    return [
        ProblemGroup(
            severity=members[0].severity,
            file=members[0].file,
            column=members[0].column,
            message=members[0].message,
            rows=tuple(sorted({p.row for p in members if p.row is not None})),
            count=len(members),
            first=members[0],
        )
        for members in found.values()
    ]

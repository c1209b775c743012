"""The report of the grant indicators: the model every writer shows, and how its values read.

A report is built from one snapshot (the indicators, breakdowns and pending list for a period) plus the
history of every stored snapshot of the cohort (the indicators over time). The writers import this module:
JSON in ``json.py``, the terminal table in ``text.py``, XLSX in ``xlsx.py``, HTML in ``html.py``; ``write.py``
writes a report in a given format (and the service's weekly files). Texts are in the language chosen when the
report is built (:mod:`i18n`: Russian by default, English on request), and so are numbers: a decimal comma
and a space between thousands in Russian, a decimal point and a comma in English.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from i18n import _, current_language
from sync.indicators.compute import compute
from sync.indicators.models import IndicatorReport, Period, TeamRow, fmt_date
from sync.indicators.program import TEAM_ASSIGNMENTS
from sync.indicators.registry import BY_KEY
from sync.indicators.snapshot import Snapshot


class HistoryPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot_id: int
    taken_at: int
    values: dict[str, float | None]
    percents: dict[str, float | None]


class Report(BaseModel):
    """Everything a report shows."""

    model_config = ConfigDict(extra="forbid")

    cohort: str
    cohort_name: str
    timezone: str
    generated_at: int
    snapshot_id: int | None
    indicators: IndicatorReport
    history: list[HistoryPoint] = Field(default_factory=list)

    @property
    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone)

    def date(self, ts: int | None, with_time: bool = False) -> str:
        return fmt_date(ts, self.tz, with_time)


def build_report(
    snapshot: Snapshot,
    *,
    targets: dict[str, float | None],
    period: Period,
    cohort_name: str,
    timezone: str,
    snapshot_id: int | None = None,
    history: Sequence[tuple[int, Snapshot]] = (),
    now: int,
) -> Report:
    """Indicators of `snapshot` for `period`, and the same indicators for every snapshot of `history`."""
    indicators = compute(snapshot, targets, period)
    indicators.period_label = period.label(ZoneInfo(timezone))
    points: list[HistoryPoint] = []
    for sid, snap in sorted(history, key=lambda h: (h[1].taken_at, h[0])):
        past = compute(snap, targets, period)
        points.append(
            HistoryPoint(
                snapshot_id=sid,
                taken_at=snap.taken_at,
                values={r.key: r.value for r in past.results},
                percents={r.key: r.percent for r in past.results},
            )
        )
    return Report(
        cohort=snapshot.cohort,
        cohort_name=cohort_name,
        timezone=timezone,
        generated_at=now,
        snapshot_id=snapshot_id,
        indicators=indicators,
        history=points,
    )


def ru_number(value: float) -> str:
    """A number as Russian readers write it: decimal comma (28,6), no trailing zeros."""
    return f"{value:g}".replace(".", ",")


def _decimal(text: str) -> str:
    """``text`` (a number Python formatted: decimal point) with the reader's decimal mark."""
    return text.replace(".", ",") if current_language() == "ru" else text


def number_text(value: float) -> str:
    """A number as readers of the current language write it, no trailing zeros (28,6 / 28.6)."""
    return _decimal(f"{value:g}")


def format_percent(value: float | None) -> str:
    return "—" if value is None else _("{number}%").format(number=number_text(value))


def format_value(key: str, value: float | None) -> str:
    """An indicator value as people read it."""
    if value is None:
        return _("no data")
    shown_as = BY_KEY[key].shown_as if key in BY_KEY else "number"
    if shown_as == "share":
        return _("{number}%").format(number=_decimal(f"{value * 100:.1f}"))
    if shown_as == "score":
        return _decimal(f"{value:.2f}")
    if shown_as == "roubles":
        # Thousands apart: a no-break space in Russian (95 000), a comma in English (95,000).
        whole = f"{value:,.0f}"
        return _("{amount} roubles").format(
            amount=whole.replace(",", "\u00a0") if current_language() == "ru" else whole
        )
    return number_text(value)


def team_assignment_keys(teams: Sequence[TeamRow]) -> list[str]:
    """The team assignments the team tables show: those found in the courses, in program order."""
    return [k for k in TEAM_ASSIGNMENTS if any(k in t.status for t in teams)]


def format_target(key: str, target: float | None) -> str:
    if target is None:
        return "—"
    return format_value(key, target)


def parse_period(date_from: str | None, date_to: str | None, tz: dt.tzinfo) -> Period:
    """--from/--to dates (YYYY-MM-DD, the cohort's local dates, both inclusive) as a Period.

    Raises ValueError naming the option when a date is malformed or the range is empty.
    """

    def day(text: str, option: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(
                _("{option} {value}: expected a date like 2021-12-31").format(option=option, value=repr(text))
            ) from None

    start = end = None
    if date_from:
        d = day(date_from, "--from")
        start = int(dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
    if date_to:
        d = day(date_to, "--to")
        end = int((dt.datetime(d.year, d.month, d.day, tzinfo=tz) + dt.timedelta(days=1)).timestamp()) - 1
    if start is not None and end is not None and start > end:
        raise ValueError(_("--from {start} is after --to {end}").format(start=date_from, end=date_to))
    return Period(start=start, end=end)

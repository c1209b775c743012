"""Reports of the grant indicators: the shared model, the JSON report and safe file writing.

A report is built from one snapshot (the indicators, breakdowns and pending list for a period) plus the
history of every stored snapshot of the cohort (the indicators over time). Writers: JSON here,
XLSX in ``sync/report_xlsx.py``, HTML in ``sync/report_html.py``. Texts are in Russian.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sync.core.private_files import ensure_private_dir, write_private
from sync.indicators import (
    INDICATOR_KEYS,
    TEAM_ASSIGNMENTS,
    TITLES,
    IndicatorReport,
    Period,
    TeamRow,
    compute,
    fmt_date,
)
from sync.snapshot import Snapshot

if TYPE_CHECKING:
    from sync.core.config import AccelConfig

FORMATS: tuple[str, ...] = ("xlsx", "html", "json")


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
        from zoneinfo import ZoneInfo

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
    from zoneinfo import ZoneInfo

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


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{ru_number(value)} %"


def format_value(key: str, value: float | None) -> str:
    """An indicator value as people read it."""
    if value is None:
        return "нет данных"
    if key == "ngo_intent":
        return f"{value * 100:.1f} %".replace(".", ",")
    if key == "satisfaction":
        return f"{value:.2f}".replace(".", ",")
    if key == "funds_raised":
        return f"{value:,.0f}".replace(",", "\u00a0") + " руб."
    return ru_number(value)


def team_assignment_keys(teams: Sequence[TeamRow]) -> list[str]:
    """The team assignments the team tables show: those found in the courses, in program order."""
    return [k for k in TEAM_ASSIGNMENTS if any(k in t.status for t in teams)]


def format_target(key: str, target: float | None) -> str:
    if target is None:
        return "—"
    return format_value(key, target)


def report_json(report: Report) -> dict[str, Any]:
    """The JSON report for other tools: machine keys, unix times, and the Russian texts alongside."""
    data = report.model_dump(mode="json")
    data["format"] = "accel-indicators-report"
    data["format_version"] = 1
    data["titles"] = {k: TITLES[k] for k in INDICATOR_KEYS}
    return data


def write_report(report: Report, fmt: str, path: Path) -> None:
    if fmt == "json":
        text = json.dumps(report_json(report), ensure_ascii=False, indent=2)
        write_private(path, lambda p: p.write_text(text + "\n", encoding="utf-8"), make_dirs=False)
    elif fmt == "xlsx":
        from sync.report_xlsx import write_xlsx

        write_private(path, lambda p: write_xlsx(report, p), make_dirs=False)
    elif fmt == "html":
        from sync.report_html import render_html

        page = render_html(report)
        write_private(path, lambda p: p.write_text(page, encoding="utf-8"), make_dirs=False)
    else:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


def parse_period(date_from: str | None, date_to: str | None, tz: dt.tzinfo) -> Period:
    """--from/--to dates (YYYY-MM-DD, the cohort's local dates, both inclusive) as a Period.

    Raises ValueError naming the option when a date is malformed or the range is empty.
    """

    def day(text: str, option: str) -> dt.date:
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{option} {text!r}: expected a date like 2021-12-31") from None

    start = end = None
    if date_from:
        d = day(date_from, "--from")
        start = int(dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
    if date_to:
        d = day(date_to, "--to")
        end = int((dt.datetime(d.year, d.month, d.day, tzinfo=tz) + dt.timedelta(days=1)).timestamp()) - 1
    if start is not None and end is not None and start > end:
        raise ValueError(f"--from {date_from} is after --to {date_to}")
    return Period(start=start, end=end)


def render_indicators_text(report: Report) -> str:
    """The indicators as a terminal table, with notes and Moodle warnings (Russian texts)."""
    ind = report.indicators
    lines = [
        f"Показатели гранта — {report.cohort_name}",
        f"Период: {ind.period_label}; данные Moodle на {report.date(ind.taken_at, True)}"
        + (f" (снимок №{report.snapshot_id})" if report.snapshot_id else ""),
        "",
    ]
    width = max(len(r.title) for r in ind.results)
    for r in ind.results:
        pct = format_percent(r.percent) if r.percent is not None else ""
        lines.append(
            f"{r.title:<{width}}  {format_value(r.key, r.value):>14}  план {format_target(r.key, r.target):>12}"
            f"  {pct:>8}  {r.status_text}"
        )
        lines.extend(f"{'':<{width}}  ! {note}" for note in r.notes)
    if ind.mentors:
        lines += ["", "Наставники (проверено / с комментарием / медиана часов / ждут):"]
        for m in ind.mentors:
            median = ru_number(m.median_hours) if m.median_hours is not None else "—"
            lines.append(f"  {m.name}: {m.reviews} / {m.with_feedback} / {median} / {m.pending}")
    if ind.notes:
        lines += ["", "Примечания:"] + [f"  - {n}" for n in ind.notes]
    if ind.warnings:
        lines += ["", "Предупреждения Moodle:"] + [f"  - {w}" for w in ind.warnings]
    return "\n".join(lines)


def write_cohort_reports(
    store: sqlite3.Connection,
    config: AccelConfig,
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    *,
    now: int,
    period: Period | None = None,
) -> list[Path]:
    """Reports of the cohort's newest snapshot, one file per format, named by cohort and snapshot date
    (``indicators-kam21-2022-03-31.html``); for the service's weekly report job."""
    from sync.snapshot import find_snapshot, load_all_snapshots

    sid, snapshot = find_snapshot(store, cohort=config.cohort.code)
    report = build_report(
        snapshot,
        targets=config.targets_for(),
        period=period or Period(),
        cohort_name=config.cohort.name,
        timezone=config.cohort.timezone,
        snapshot_id=sid,
        history=load_all_snapshots(store, snapshot.cohort),
        now=now,
    )
    day = dt.datetime.fromtimestamp(snapshot.taken_at, config.tz).date().isoformat()
    ensure_private_dir(out_dir)  # reports name people: a folder accel makes is its owner's only
    written = []
    for fmt in formats:
        path = out_dir / f"indicators-{config.cohort.code}-{day}.{fmt}"
        write_report(report, fmt, path)
        written.append(path)
    return written

"""The HTML report: one self-contained page (inline CSS and SVG charts, no network), in the reader's language.

The page is rendered by Jinja2 from the templates in ``templates/`` (shipped in the package): ``report.html``
the page, ``charts.html`` the three SVG charts as macros, ``report.css`` and ``check.js`` inlined. Autoescape
is on, so every text that comes from the site (team names, mentors' names, partners, comments) is escaped by
Jinja2 and never by hand; the templates translate their own words with ``_()``/``ngettext()``
(``jinja2.ext.i18n`` bound to :mod:`i18n`, so the page follows the chosen language, ``<html lang>`` too).

This module only works out what the charts show (positions, colours: a team's assignment is coloured by its
state, ``TeamRow.states``, never by reading its text) and which links are live: a link is an ``<a href>`` only when it points into the report's own Moodle site,
as the links accel builds do (``sync.indicators.context.Links``); any other address is shown as text.

Charts are inline SVG, so the page works offline and in any browser; a few lines of inline script only
check, once the page is laid out, that every chart has drawn marks and then set ``data-rendered`` on the page
(what the headless-browser test looks for).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined

from i18n import N_, _, current_language, ngettext
from sync.indicators.models import CellState, IndicatorResult, TeamRow
from sync.indicators.program import ASSIGNMENT_TITLES
from sync.indicators.report.model import (
    HistoryPoint,
    Report,
    format_percent,
    format_target,
    format_value,
    number_text,
    team_assignment_keys,
)

STATUS_COLOR = {"met": "#2e7d32", "on_track": "#f9a825", "behind": "#c62828", "no_target": "#607d8b"}
LINE_COLORS = [
    "#1565c0",
    "#2e7d32",
    "#c62828",
    "#6a1b9a",
    "#ef6c00",
    "#00838f",
    "#5d4037",
    "#ad1457",
    "#558b2f",
]
#: the state of a team's assignment (TeamRow.states) -> its colour in the teams' grid and what the colour means
CELL_COLORS: dict[CellState, tuple[str, str]] = {
    "graded": ("#2e7d32", N_("graded, or reviewed (feedback without a grade)")),
    "submitted": ("#1565c0", N_("submitted, waiting for a grade")),
    "draft": ("#f9a825", N_("draft / sent back for changes")),
    "overdue": ("#c62828", N_("not submitted, past the due date")),
    "none": ("#cfd8dc", N_("not submitted")),
    "absent": ("#ffffff", N_("the team does not take part in this module")),
}


def _f(value: float) -> str:
    """An SVG coordinate as the page has always written it (one decimal)."""
    return f"{value:.1f}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ------------------------------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class ProgressBar:
    y: int
    label: str  # the indicator's title, shortened to fit the label column
    title: str  # the whole title (the bar's tooltip)
    value: str
    target: str
    percent: str
    status_text: str  # "" when there is no data to judge
    width: str
    color: str


@dataclass(frozen=True)
class ProgressChart:
    """Each indicator with a target: a bar of its percentage of the target, and the 100 % line."""

    width: int
    height: int
    label_w: int
    bar_w: int
    top: int
    bottom: int  # where the 100 % line ends
    x100: str
    x100_label: str
    zero: str
    hundred: str
    bars: list[ProgressBar]


def progress_chart(results: Sequence[IndicatorResult]) -> ProgressChart:
    rows = [r for r in results if r.target is not None]
    label_w, bar_w, row_h, top = 400, 400, 30, 24
    scale_max = max(100.0, min(200.0, max((r.percent or 0.0 for r in rows), default=0.0)))
    x100 = label_w + bar_w * 100.0 / scale_max
    bars = []
    for i, r in enumerate(rows):
        pct = r.percent or 0.0
        bars.append(
            ProgressBar(
                y=top + i * row_h,
                label=_short(r.title, 58),
                title=r.title,
                value=format_value(r.key, r.value),
                target=format_target(r.key, r.target),
                percent=format_percent(pct),
                status_text=r.status_text if r.status != "no_data" else "",
                width=_f(max(bar_w * min(pct, scale_max) / scale_max, 1.5)),
                color=STATUS_COLOR.get(r.status, "#9e9e9e"),
            )
        )
    return ProgressChart(
        width=label_w + bar_w + 170,
        height=top + row_h * len(rows) + 24,
        label_w=label_w,
        bar_w=bar_w,
        top=top,
        bottom=top + row_h * len(rows),
        x100=_f(x100),
        x100_label=_f(x100 - 14),
        zero=format_percent(0.0),
        hundred=format_percent(100.0),
        bars=bars,
    )


@dataclass(frozen=True)
class GridLine:
    y: str
    label_y: str
    label: str
    color: str


@dataclass(frozen=True)
class DateLabel:
    x: str
    anchor: str
    text: str


@dataclass(frozen=True)
class Dot:
    x: str
    y: str
    percent: str


@dataclass(frozen=True)
class Series:
    title: str
    color: str
    points: str  # the polyline's points; "" for a single snapshot (a dot, no line)
    dots: list[Dot]


@dataclass(frozen=True)
class HistoryChart:
    """Percent of target of each indicator over the stored snapshots."""

    width: int
    height: int
    left: int
    right_x: int
    date_y: int
    grid: list[GridLine]
    dates: list[DateLabel]
    series: list[Series]


def history_chart(
    history: Sequence[HistoryPoint], results: Sequence[IndicatorResult], fmt: Callable[[int], str]
) -> HistoryChart | None:
    """None when no snapshot has a percentage to draw yet."""
    titles = {r.key: r.title for r in results if r.target is not None}
    points = [h for h in history if any(h.percents.get(k) is not None for k in titles)]
    if not points:
        return None
    left, right, top, bottom, width, height = 50, 20, 16, 40, 820, 300
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = points[0].taken_at, points[-1].taken_at
    ymax = min(300.0, max(100.0, max((h.percents.get(k) or 0.0) for h in points for k in titles)))

    def x(t: int) -> float:
        return left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(p: float) -> float:
        return top + plot_h * (1 - min(p, ymax) / ymax)

    grid = [
        GridLine(
            y=_f(y(tick)),
            label_y=_f(y(tick) + 4),
            label=format_percent(tick),
            color="#212121" if tick == 100 else "#e0e0e0",
        )
        for tick in (0, 50, 100, 150, 200, 250, 300)
        if tick <= ymax
    ]
    ends = [(points[0], "start"), (points[-1], "end")] if len(points) > 1 else [(points[0], "middle")]
    dates = [DateLabel(x=_f(x(h.taken_at)), anchor=anchor, text=fmt(h.taken_at)) for h, anchor in ends]
    series = []
    for i, (key, title) in enumerate(titles.items()):
        found = [(h.taken_at, h.percents[key]) for h in points if h.percents.get(key) is not None]
        if not found:
            continue
        dots = [Dot(x=_f(x(t)), y=_f(y(p or 0.0)), percent=format_percent(p)) for t, p in found]
        series.append(
            Series(
                title=title,
                color=LINE_COLORS[i % len(LINE_COLORS)],
                points=" ".join(f"{d.x},{d.y}" for d in dots) if len(dots) > 1 else "",
                dots=dots,
            )
        )
    return HistoryChart(
        width=width,
        height=height,
        left=left,
        right_x=width - right,
        date_y=height - 18,
        grid=grid,
        dates=dates,
        series=series,
    )


@dataclass(frozen=True)
class Cell:
    x: int
    assignment: str
    status: str  # the team's status of the assignment, else what the colour means
    color: str


@dataclass(frozen=True)
class TeamLine:
    y: int
    name: str
    cells: list[Cell]
    done: int
    total: int


@dataclass(frozen=True)
class Column:
    x: str
    title: str


@dataclass(frozen=True)
class LegendItem:
    color: str
    meaning: str


@dataclass(frozen=True)
class TeamsChart:
    """One row per team, one cell per team assignment, coloured by how far the team got."""

    width: int
    height: int
    label_w: int
    cell_w: int
    row_h: int
    done_x: int
    columns: list[Column]
    teams: list[TeamLine]
    legend: list[LegendItem]


def team_progress_chart(teams: Sequence[TeamRow]) -> TeamsChart | None:
    """None when there are no teams or no team assignments."""
    keys = team_assignment_keys(teams)
    if not teams or not keys:
        return None
    label_w, cell_w, row_h, top = 220, 150, 26, 34
    lines = []
    for i, team in enumerate(teams):
        cells = []
        for j, key in enumerate(keys):
            color, meaning = CELL_COLORS[team.states.get(key, "none")]
            cells.append(
                Cell(
                    x=label_w + j * cell_w + 2,
                    assignment=ASSIGNMENT_TITLES[key],
                    status=team.status.get(key) or _(meaning),
                    color=color,
                )
            )
        lines.append(
            TeamLine(y=top + i * row_h, name=team.name, cells=cells, done=team.done, total=team.total)
        )
    return TeamsChart(
        width=label_w + cell_w * len(keys) + 90,
        height=top + row_h * len(teams) + 8,
        label_w=label_w,
        cell_w=cell_w,
        row_h=row_h,
        done_x=label_w + cell_w * len(keys) + 8,
        columns=[
            Column(x=_f(label_w + j * cell_w + cell_w / 2), title=ASSIGNMENT_TITLES[k])
            for j, k in enumerate(keys)
        ],
        teams=lines,
        legend=[LegendItem(color=c, meaning=_(m)) for c, m in CELL_COLORS.values()],
    )


# --------------------------------------------------------------------------------------------------- page


def is_own_link(url: str, site_url: str) -> bool:
    """True when ``url`` is an address on the report's Moodle site (http or https): the only links made live.

    The report's links are built by accel from the site's address; anything else (an address someone typed
    on the site, a ``javascript:`` URL) is shown as text, never as a link.
    """
    base = site_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return url == base or url.startswith(base + "/")


def _number(value: float | None) -> str:
    return "—" if value is None else number_text(value)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sync.indicators.report", "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,  # a misspelt name in a template fails the render, not a blank cell
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    # i18n's _ and ngettext look the message up in the current language's catalogs (i18n.translations())
    # at each call, so one environment serves every language. Old-style gettext: the templates format
    # with .format(name=...) like the Python code, and a literal "%" needs no escaping.
    env.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=False)  # type: ignore[attr-defined]
    env.globals.update(
        format_value=format_value,
        format_target=format_target,
        format_percent=format_percent,
        number=_number,
    )
    return env


def render_html(report: Report) -> str:
    """The report as one HTML page in the current language."""
    ind = report.indicators
    keys = team_assignment_keys(ind.teams)
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            ind=ind,
            lang=current_language(),
            date=report.date,
            live=lambda url: bool(url) and is_own_link(url, ind.site_url),
            assignment_titles=[ASSIGNMENT_TITLES[k] for k in keys],
            assignment_keys=keys,
            progress=progress_chart(ind.results),
            history=history_chart(report.history, ind.results, report.date),
            teams_chart=team_progress_chart(ind.teams),
        )
    )

"""The HTML report: one self-contained page (inline CSS and SVG charts, no network), in Russian.

Charts are drawn as inline SVG here, so the page works offline and in any browser; a few lines of inline
script only check, once the page is laid out, that every chart has drawn marks and then set
``data-rendered`` on the page (what the headless-browser test looks for).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from sync.indicators.breakdowns import REVIEWED_WITHOUT_GRADE
from sync.indicators.models import IndicatorResult, TeamRow
from sync.indicators.program import ASSIGNMENT_TITLES
from sync.indicators.registry import TITLES
from sync.indicators.report.model import (
    HistoryPoint,
    Report,
    format_percent,
    format_target,
    format_value,
    ru_number,
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
CELL_COLORS = {
    "graded": ("#2e7d32", "оценено или проверено (отзыв без оценки)"),
    "submitted": ("#1565c0", "сдано, ждёт оценки"),
    "draft": ("#f9a825", "черновик / на доработке"),
    "overdue": ("#c62828", "не сдано, срок прошёл"),
    "none": ("#cfd8dc", "не сдано"),
    "absent": ("#ffffff", "команда не участвует в этом модуле"),
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:24px;color:#212121;max-width:1200px}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #dde6f0;padding-bottom:.2em}
.meta{color:#555}table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #cfd8dc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#eef3f8}
.st-met{background:#c6efce}.st-on_track{background:#fff2cc}.st-behind{background:#f8cbad}
.num{text-align:right;white-space:nowrap}.note{background:#fffde7;border-left:4px solid #f9a825;padding:4px 8px;margin:4px 0}
.warn{background:#fdecea;border-left:4px solid #c62828;padding:4px 8px;margin:4px 0}
details{margin:.3em 0}summary{cursor:pointer}svg{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;margin-right:4px}
@media print{details{display:block}summary{display:none}}
"""

SCRIPT = """
(function(){
  var charts=document.querySelectorAll('svg.chart'),ok=0;
  charts.forEach(function(svg){
    var marks=svg.querySelectorAll('.mark'),drawn=0;
    marks.forEach(function(m){var b=m.getBBox();if(b.width>0||b.height>0){drawn++;}});
    svg.setAttribute('data-marks',String(drawn));
    if(drawn>0){ok++;}
  });
  document.body.setAttribute('data-charts',String(charts.length));
  document.body.setAttribute('data-rendered',String(ok));
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(url: str, text: str) -> str:
    return f'<a href="{_e(url)}">{_e(text)}</a>' if url else _e(text)


# ------------------------------------------------------------------------------------------------- charts


def progress_chart(results: Sequence[IndicatorResult]) -> str:
    """Each indicator with a target: a bar of its percentage of the target, and the 100 % line."""
    rows = [r for r in results if r.target is not None]
    if not rows:
        return "<p>Ни для одного показателя не задан план.</p>"
    label_w, bar_w, row_h, top = 400, 400, 30, 24
    scale_max = max(100.0, min(200.0, max((r.percent or 0.0) for r in rows)))
    width = label_w + bar_w + 170
    height = top + row_h * len(rows) + 24
    x100 = label_w + bar_w * 100.0 / scale_max
    parts = [
        f'<svg class="chart" id="chart-progress" role="img" aria-label="Выполнение плана по показателям" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{label_w}" y="14" font-size="12" fill="#555">0 %</text>',
        f'<text x="{x100 - 14:.1f}" y="14" font-size="12" fill="#555">100 %</text>',
    ]
    for i, r in enumerate(rows):
        y = top + i * row_h
        pct = r.percent or 0.0
        w = bar_w * min(pct, scale_max) / scale_max
        color = STATUS_COLOR.get(r.status, "#9e9e9e")
        title = f"{TITLES[r.key]}: {format_value(r.key, r.value)} из {format_target(r.key, r.target)} ({format_percent(pct)})"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 18}" font-size="12" text-anchor="end">{_e(_short(TITLES[r.key], 58))}</text>'
        )
        parts.append(f'<rect x="{label_w}" y="{y + 5}" width="{bar_w}" height="18" fill="#eceff1"/>')
        parts.append(
            f'<rect class="mark" x="{label_w}" y="{y + 5}" width="{max(w, 1.5):.1f}" height="18" fill="{color}">'
            f"<title>{_e(title)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_w + bar_w + 6}" y="{y + 18}" font-size="12">{_e(format_percent(pct))}'
            f"{' ' + _e(r.status_text) if r.status != 'no_data' else ''}</text>"
        )
    parts.append(
        f'<line x1="{x100:.1f}" x2="{x100:.1f}" y1="{top}" y2="{top + row_h * len(rows)}" '
        'stroke="#212121" stroke-dasharray="4 3"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def history_chart(
    history: Sequence[HistoryPoint], results: Sequence[IndicatorResult], fmt: Callable[[int], str]
) -> str:
    """Percent of target of each indicator over the stored snapshots."""
    keys = [r.key for r in results if r.target is not None]
    points = [h for h in history if any(h.percents.get(k) is not None for k in keys)]
    if not points:
        return "<p>Снимков с данными пока нет: динамика появится после нескольких сборов данных.</p>"
    left, right, top, bottom, width, height = 50, 20, 16, 40, 820, 300
    plot_w, plot_h = width - left - right, height - top - bottom
    t0, t1 = points[0].taken_at, points[-1].taken_at
    ymax = max(100.0, max((h.percents.get(k) or 0.0) for h in points for k in keys))
    ymax = min(ymax, 300.0)

    def x(t: int) -> float:
        return left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)

    def y(p: float) -> float:
        return top + plot_h * (1 - min(p, ymax) / ymax)

    parts = [
        f'<svg class="chart" id="chart-history" role="img" aria-label="Показатели по датам снимков" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in (0, 50, 100, 150, 200, 250, 300):
        if tick > ymax:
            break
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{"#212121" if tick == 100 else "#e0e0e0"}"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick} %</text>'
        )
    ends = [(points[0], "start"), (points[-1], "end")] if len(points) > 1 else [(points[0], "middle")]
    for h, anchor in ends:
        parts.append(
            f'<text x="{x(h.taken_at):.1f}" y="{height - 18}" font-size="11" text-anchor="{anchor}">'
            f"{_e(fmt(h.taken_at))}</text>"
        )
    legend = []
    for i, key in enumerate(keys):
        color = LINE_COLORS[i % len(LINE_COLORS)]
        series = [(h.taken_at, h.percents[key]) for h in points if h.percents.get(key) is not None]
        if not series:
            continue
        coords = " ".join(f"{x(t):.1f},{y(p or 0.0):.1f}" for t, p in series)
        if len(series) > 1:
            parts.append(
                f'<polyline class="mark" points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for t, p in series:
            parts.append(
                f'<circle class="mark" cx="{x(t):.1f}" cy="{y(p or 0.0):.1f}" r="3.5" fill="{color}">'
                f"<title>{_e(TITLES[key])}: {format_percent(p)}</title></circle>"
            )
        legend.append(f'<span><i class="sw" style="background:{color}"></i>{_e(TITLES[key])}</span>')
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cell_state(status: str) -> str:
    # A review saved without a grade (field note 24) is the mentor's answer: not "сдано, ждёт оценки".
    if status.startswith(("оценено", REVIEWED_WITHOUT_GRADE)):
        return "graded"
    if status.endswith("срок прошёл"):
        return "overdue"
    if status == "сдано":
        return "submitted"
    if status in ("черновик", "на доработке"):
        return "draft"
    if status in ("нет группы в курсе", "нет участников в курсе"):
        return "absent"
    return "none"


def team_progress_chart(teams: Sequence[TeamRow]) -> str:
    """One row per team, one cell per team assignment, coloured by how far the team got."""
    keys = team_assignment_keys(teams)
    if not teams or not keys:
        return "<p>Нет команд или командных заданий.</p>"
    label_w, cell_w, row_h, top = 220, 150, 26, 34
    width = label_w + cell_w * len(keys) + 90
    height = top + row_h * len(teams) + 8
    parts = [
        f'<svg class="chart" id="chart-teams" role="img" aria-label="Продвижение команд по заданиям" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for j, key in enumerate(keys):
        parts.append(
            f'<text x="{label_w + j * cell_w + cell_w / 2:.1f}" y="22" font-size="11" text-anchor="middle">'
            f"{_e(ASSIGNMENT_TITLES[key])}</text>"
        )
    for i, team in enumerate(teams):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" font-size="12" text-anchor="end">{_e(team.name)}</text>'
        )
        for j, key in enumerate(keys):
            status = team.status.get(key, "")
            color, meaning = CELL_COLORS[_cell_state(status)]
            parts.append(
                f'<rect class="mark" x="{label_w + j * cell_w + 2}" y="{y + 3}" width="{cell_w - 4}" height="{row_h - 6}" '
                f'fill="{color}" stroke="#90a4ae"><title>{_e(team.name)} — {_e(ASSIGNMENT_TITLES[key])}: '
                f"{_e(status or meaning)}</title></rect>"
            )
        parts.append(
            f'<text x="{label_w + cell_w * len(keys) + 8}" y="{y + 17}" font-size="12">{team.done} из {team.total}</text>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i class="sw" style="background:{c};border:1px solid #90a4ae"></i>{_e(m)}</span>'
        for c, m in CELL_COLORS.values()
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


# --------------------------------------------------------------------------------------------------- page


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(value: float | None) -> str:
    return "—" if value is None else ru_number(value)


def render_html(report: Report) -> str:
    ind = report.indicators
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="ru"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Показатели гранта — {_e(report.cohort_name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Показатели гранта — {_e(report.cohort_name)}</h1>",
        f'<p class="meta">Период: {_e(ind.period_label)}. Данные Moodle на {_e(report.date(ind.taken_at, True))}'
        f"{f' (снимок №{report.snapshot_id})' if report.snapshot_id else ''}. Отчёт составлен "
        f"{_e(report.date(report.generated_at, True))}. Сайт: {_link(ind.site_url, ind.site_url)}.</p>",
    ]
    if ind.warnings:
        out.append("<h2>Предупреждения Moodle</h2>")
        out.extend(f'<div class="warn">{_e(w)}</div>' for w in ind.warnings)

    out.append("<h2>Показатели и план</h2>")
    rows = []
    for r in ind.results:
        notes = "".join(f'<div class="note">{_e(n)}</div>' for n in r.notes)
        rows.append(
            [
                _e(r.title),
                f'<span class="num">{_e(format_target(r.key, r.target))}</span>',
                f'<span class="num">{_e(format_value(r.key, r.value))}</span>',
                f'<span class="num">{_e(format_percent(r.percent))}</span>',
                f'<span class="st-{r.status}">{_e(r.status_text)}</span>',
                notes,
            ]
        )
    out.append(_table(["Показатель", "План", "Факт", "% плана", "Статус", "Примечания"], rows, raw=True))
    out.append("<h3>Выполнение плана</h3>")
    out.append(progress_chart(ind.results))
    out.append("<h3>Показатели по датам снимков (% плана)</h3>")
    out.append(history_chart(report.history, ind.results, lambda ts: report.date(ts)))
    out.append("<h3>Продвижение команд по заданиям</h3>")
    out.append(team_progress_chart(ind.teams))

    out.append("<h2>Команды</h2>")
    keys = team_assignment_keys(ind.teams)
    out.append(
        _table(
            ["Команда", "Район", "Село", "Участников", "Наставники"]
            + [ASSIGNMENT_TITLES[k] for k in keys]
            + ["Отзывов наставника", "Просрочено"],
            [
                [
                    _link(t.url, t.name),
                    _e(t.district),
                    _e(t.village),
                    str(t.members),
                    _e(", ".join(t.mentors)),
                ]
                + [_e(t.status.get(k, "")) for k in keys]
                + [str(t.feedback_received), _e(", ".join(t.overdue))]
                for t in ind.teams
            ],
            raw=True,
        )
    )
    out.append("<h2>Наставники</h2>")
    out.append(
        _table(
            ["Наставник", "Команды", "Проверено", "С комментарием", "Медиана часов до проверки", "Ждут проверки",
             "Дольше всех ждёт, ч"],
            [
                [m.name, ", ".join(m.teams), str(m.reviews), str(m.with_feedback), _num(m.median_hours),
                 str(m.pending), _num(m.oldest_pending_hours)]
                for m in ind.mentors
            ],
        )
    )  # fmt: skip
    out.append("<h2>Районы и сёла</h2>")
    out.append(
        _table(
            ["Район", "Село", "Участников", "Команд", "Проектов разработано", "Проектов представлено"],
            [[d.district, "все", str(d.participants), str(d.teams), str(d.projects_developed),
              str(d.projects_presented)] for d in ind.districts]
            + [[v.district, v.village, str(v.participants), str(v.teams), str(v.projects_developed),
                str(v.projects_presented)] for v in ind.villages],
        )
    )  # fmt: skip
    out.append("<h2>Работы, ждущие проверки</h2>")
    if ind.pending:
        out.append(
            _table(
                ["Команда", "Задание", "Сдано", "Ждёт, ч", "Наставники"],
                [
                    [_link(p.url, p.team), _e(p.activity + (" (сдано повторно)" if p.resubmitted else "")),
                     _e(report.date(p.submitted_at, True)), _e(ru_number(p.waited_hours)), _e(", ".join(p.mentors))]
                    for p in ind.pending
                ],
                raw=True,
            )
        )  # fmt: skip
    else:
        out.append("<p>Все сданные командные работы оценены.</p>")

    out.append("<h2>Доказательства</h2>")
    for r in ind.results:
        items = [
            [_link(e.url, e.label), _e(e.detail), _e(report.date(e.when, True) if e.when else "")]
            for e in r.evidence
        ]
        out.append(
            f"<details><summary>{_e(r.title)} — записей: {len(r.evidence)}</summary>"
            + (
                _table(["Что учтено", "Подробности", "Дата"], items, raw=True)
                if items
                else "<p>Нет записей.</p>"
            )
            + "</details>"
        )
    if ind.notes:
        out.append("<h2>Примечания к данным</h2>")
        out.extend(f'<div class="note">{_e(n)}</div>' for n in ind.notes)
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out)

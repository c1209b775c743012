"""The indicators as a terminal table (``accel indicators show``), with notes and Moodle warnings."""

from __future__ import annotations

from sync.indicators.report.model import Report, format_percent, format_target, format_value, ru_number


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

"""Grant indicators (program.md), computed from a snapshot: pure functions, no HTTP, no clock.

`compute(snapshot, targets, period)` gives, for every indicator of the registry
(:mod:`sync.indicators.registry`), in its order: value, target, percentage, status (met / on track / behind),
the evidence it counted (each item with its Moodle link) and notes; plus the breakdowns people ask for (per
team, per mentor, per district, per village, :mod:`sync.indicators.breakdowns`) and the pending list
(:mod:`sync.indicators.pending`). What Moodle's answers mean for them is said in :mod:`sync.indicators.context`.
"""

from __future__ import annotations

from i18n import _
from sync.indicators.breakdowns import mentor_rows, place_rows, team_rows
from sync.indicators.context import Context
from sync.indicators.models import (
    STATUS_TEXT,
    IndicatorReport,
    IndicatorResult,
    Measurement,
    Period,
    Status,
)
from sync.indicators.pending import pending_items
from sync.indicators.registry import REGISTRY, Indicator, title, unit
from sync.indicators.snapshot import Snapshot


def status(
    indicator: Indicator, value: float | None, target: float | None, snap: Snapshot, ref_time: int
) -> tuple[Status, float | None]:
    """Met when the value reaches the target; else on track when it reaches the target's share of the time
    elapsed in the indicator's module (all courses when it has none) at `ref_time`; else behind."""
    if value is None:
        return "no_data", None
    if target is None:
        return "no_target", None
    percent = round(100.0 * value / target, 1) if target else (100.0 if value >= 0 else 0.0)
    if value >= target:
        return "met", percent
    spans = [c for c in snap.courses if c.id is not None and c.startdate and c.enddate]
    if indicator.module is not None:
        spans = [c for c in spans if c.key == indicator.module]
    if not spans:
        return "behind", percent
    start = min(c.startdate for c in spans)
    end = max(c.enddate for c in spans)
    if end <= start:
        return "behind", percent
    elapsed = min(max((ref_time - start) / (end - start), 0.0), 1.0)
    expected = target * elapsed
    return ("on_track" if value >= expected and elapsed < 1.0 else "behind"), percent


def indicator_result(
    ctx: Context, indicator: Indicator, measured: Measurement, target: float | None
) -> IndicatorResult:
    """An indicator's measurement with its title, unit, target and status."""
    state, percent = status(indicator, measured.value, target, ctx.snap, ctx.ref_time)
    return IndicatorResult(
        key=indicator.key,
        title=title(indicator),
        unit=unit(indicator),
        value=measured.value,
        target=target,
        percent=percent,
        status=state,
        status_text=STATUS_TEXT[state],
        breakdown=measured.breakdown,
        evidence=measured.evidence,
        notes=measured.notes,
    )


def _robustness_notes(ctx: Context) -> list[str]:
    """What the report should say about the snapshot itself: empty courses, people no course knows, work of
    groups that are gone or of no group."""
    notes: list[str] = []
    for c in ctx.snap.courses:
        if c.id is None:
            continue
        if not any(e.courseid == c.id for e in ctx.snap.enrolments):
            notes.append(_("Course {course} is empty: nobody is enrolled in it.").format(course=c.shortname))
        elif not ctx.active_students.get(c.id):
            notes.append(_("Course {course} has no active participant (student).").format(course=c.shortname))
    enrolled = {e.userid for e in ctx.snap.enrolments}
    referenced: set[int] = set()
    for t in ctx.snap.teams:
        referenced.update(t.member_ids)
    referenced.update(s.userid for s in ctx.snap.submissions if s.userid)
    for s in ctx.snap.surveys:
        referenced.update(r.userid for r in s.responses if r.userid)
    ghosts = sorted(u for u in referenced if u not in enrolled)
    if ghosts:
        notes.append(
            _(
                "Users named in the data but enrolled in no course (deleted or unenrolled): {users}. Their "
                "answers and work are shown, but they are not counted as participants."
            ).format(users=", ".join(f"#{u}" for u in ghosts))
        )
    for sub in ctx.snap.submissions:
        if sub.userid == 0 and sub.groupid and sub.groupid not in ctx.team_by_id:
            notes.append(
                _(
                    "Submission {id} ({key}) was made by group #{group}, which is no longer in the course."
                ).format(id=sub.id, key=sub.key, group=sub.groupid)
            )
        if sub.userid == 0 and sub.groupid == 0 and sub.status == "submitted":
            notes.append(
                _(
                    "Submission {id} ({key}) was made by participants outside any team (the default group)."
                ).format(id=sub.id, key=sub.key)
            )
    for team in ctx.snap.teams:
        if not team.member_ids:
            course = ctx.course_by_id.get(team.courseid)
            notes.append(
                _("Team «{team}» ({course}) has no members.").format(
                    team=team.name, course=course.shortname if course else team.courseid
                )
            )
    return notes


def compute(
    snapshot: Snapshot, targets: dict[str, float | None] | None = None, period: Period | None = None
) -> IndicatorReport:
    """All indicators and breakdowns of `snapshot` for `period` (default: the whole grant period)."""
    period = period or Period()
    targets = targets or {}
    ctx = Context(snapshot, period)
    results = [indicator_result(ctx, ind, ind.measure(ctx), targets.get(ind.key)) for ind in REGISTRY]
    waiting = pending_items(ctx)
    teams = team_rows(ctx, ctx.reviews)
    by_key = {r.key: r for r in results}
    districts, villages = place_rows(ctx, teams, by_key["projects_developed"], by_key["projects_presented"])
    return IndicatorReport(
        cohort=snapshot.cohort,
        site_url=snapshot.site_url,
        taken_at=snapshot.taken_at,
        period=period,
        period_label=period.label(),
        results=results,
        teams=teams,
        mentors=mentor_rows(ctx, ctx.reviews, waiting),
        districts=districts,
        villages=villages,
        pending=waiting,
        notes=ctx.notes + _robustness_notes(ctx),
        warnings=ctx.warnings,
    )

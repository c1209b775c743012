"""Indicators of the teams' work and its review: projects developed, mentor feedback, projects presented,
leader projects (from the submissions and the gradebook)."""

from __future__ import annotations

from i18n import _
from sync.indicators.context import Context, Review, TeamGrade, median
from sync.indicators.models import Evidence, Measurement
from sync.indicators.program import ASSIGNMENT_TITLES, EXPERT_REVIEWED
from sync.indicators.snapshot import Team


def projects_developed(ctx: Context) -> Measurement:
    """Teams whose concept (``m1-concept``) is submitted and graded in the period."""
    return _submitted_and_graded(ctx, "m1-concept")


def _submitted_and_graded(ctx: Context, key: str) -> Measurement:
    """Teams whose submission of `key` is submitted and graded."""
    notes: list[str] = []
    activity = ctx.require(key, notes)
    if activity is None:
        return Measurement(None, notes=notes)
    evidence: list[Evidence] = []
    waiting = 0
    for team in sorted(ctx.teams_by_course.get(activity.courseid, []), key=lambda t: t.name):
        sub = ctx.team_submission(key, team)
        if sub is None or sub.status != "submitted":
            continue
        grade = ctx.team_grade(key, team)
        if not grade.graded:
            waiting += 1
            continue
        if not ctx.period.contains(grade.dategraded):
            continue
        members = team.member_ids[0] if team.member_ids else None
        evidence.append(
            Evidence(
                label=team.name,
                detail=(
                    _("grade {grade} of {max}").format(grade=f"{grade.grade:g}", max=f"{grade.grademax:g}")
                    if grade.grademax
                    else _("grade {grade}").format(grade=f"{grade.grade:g}")
                ),
                url=ctx.links.grading(activity.cmid, members),
                when=grade.dategraded,
                value=grade.grade,
            )
        )
    if waiting:
        notes.append(_("Submitted work waiting for a grade: {count}.").format(count=waiting))
    return Measurement(float(len(evidence)), evidence, notes)


def projects_presented(ctx: Context) -> Measurement:
    """Teams whose presentation (``m3-pitch``) is submitted in the period."""
    notes: list[str] = []
    activity = ctx.require("m3-pitch", notes)
    if activity is None:
        return Measurement(None, notes=notes)
    evidence: list[Evidence] = []
    for team in sorted(ctx.teams_by_course.get(activity.courseid, []), key=lambda t: t.name):
        sub = ctx.team_submission("m3-pitch", team)
        if sub is None or sub.status != "submitted" or not ctx.period.contains(sub.timemodified):
            continue
        evidence.append(
            Evidence(
                label=team.name,
                detail=_("presentation submitted"),
                url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
                when=sub.timemodified,
            )
        )
    drafts = sum(1 for s in ctx.subs_by_key.get("m3-pitch", []) if s.status == "draft")
    if drafts:
        notes.append(_("Presentations in draft (not submitted, not counted): {count}.").format(count=drafts))
    return Measurement(float(len(evidence)), evidence, notes)


def leader_projects(ctx: Context) -> Measurement:
    """The three best-graded presentations (competition ranking: a tie at third place shows every team)."""
    notes: list[str] = []
    activity = ctx.require("m3-pitch", notes)
    if activity is None:
        return Measurement(None, notes=notes)
    graded: list[tuple[Team, TeamGrade]] = []
    for team in ctx.teams_by_course.get(activity.courseid, []):
        g = ctx.team_grade("m3-pitch", team)
        if g.graded and g.grade is not None and ctx.period.contains(g.dategraded):
            graded.append((team, g))
    graded.sort(key=lambda tg: (-(tg[1].grade or 0.0), tg[0].name))
    leaders: list[tuple[int, Team, TeamGrade]] = []
    for team, g in graded:
        rank = 1 + sum(1 for _, other in graded if (other.grade or 0.0) > (g.grade or 0.0))
        if rank <= 3:
            leaders.append((rank, team, g))
    if len(leaders) > 3:
        cut = leaders[-1][2].grade
        tied = [t.name for _, t, g in leaders if g.grade == cut]
        notes.append(
            _(
                "A tie: teams {teams} have the same grade {grade} at the edge of the top three; all of them are "
                "shown, and choosing the leader is for the experts to decide."
            ).format(teams=", ".join(tied), grade=f"{cut:g}")
        )
    if len(graded) < 3:
        notes.append(_("Fewer than three presentations are graded: {count}.").format(count=len(graded)))
    evidence = [
        Evidence(
            label=team.name,
            detail=_("place {rank}, grade {grade}").format(rank=rank, grade=f"{g.grade:g}"),
            url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
            when=g.dategraded,
            value=g.grade,
        )
        for rank, team, g in leaders
    ]
    return Measurement(float(len(leaders)), evidence, notes)


def mentor_feedback(ctx: Context) -> Measurement:
    """Reviewed submissions with a comment, graded or not (every assignment, team or individual)."""
    notes: list[str] = []
    reviews: list[Review] = ctx.reviews
    # program.md: feedback-only assignments (grade type none, m2-consultations) count as well as graded ones.
    if not any(a.modname == "assign" for a in ctx.snap.activities):
        notes.append(_("No assignment was found in the courses: the indicator is not computed."))
        return Measurement(None, notes=notes)
    evidence: list[Evidence] = []
    without = 0
    by_experts = 0
    breakdown: dict[str, float] = {}
    commented: list[Review] = []
    for r in sorted(reviews, key=lambda r: (r.key, r.team.name if r.team else "", r.userid or 0)):
        if not r.grade.feedback:
            without += 1
            continue
        commented.append(r)
        activity = ctx.activities[r.key]
        who = r.team.name if r.userid is None and r.team else ctx.name(r.userid or 0)
        member = r.userid or (r.team.member_ids[0] if r.team and r.team.member_ids else None)
        title = ASSIGNMENT_TITLES.get(r.key, r.key)
        evidence.append(
            Evidence(
                label=f"{who}: {title}",
                detail=r.grade.feedback[:200],
                url=ctx.links.grading(activity.cmid, member),
                when=r.grade.dategraded,
                value=r.hours,
            )
        )
        breakdown[title] = breakdown.get(title, 0.0) + 1
        by_experts += r.key in EXPERT_REVIEWED
    if without:
        notes.append(_("Grades without a comment (not counted): {count}.").format(count=without))
    ungraded = sum(1 for r in commented if r.grade.grade is None)
    if ungraded:
        notes.append(
            _(
                "Reviews without a grade counted (an assignment without grades, or the grade left empty): {count}."
            ).format(count=ungraded)
        )
    breakdown[_("Reviewed in all")] = float(len(reviews))
    med = median([r.hours for r in reviews if r.hours is not None])
    if med is not None:
        breakdown[_("Median hours from submission to review")] = med
    if by_experts:
        notes.append(
            _(
                "Among them, the experts' comments on presentations (m3-pitch): {count}; they are not in the "
                "mentors' figures."
            ).format(count=by_experts)
        )
    return Measurement(float(len(evidence)), evidence, notes, breakdown)

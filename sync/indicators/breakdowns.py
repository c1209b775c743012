"""The breakdowns people ask for beside the indicators: one row per team (the teams' grid of assignments),
per mentor (reviews, time to review, waiting work), per district and per village."""

from __future__ import annotations

from collections import defaultdict

from i18n import N_, _
from sync.core.vocabulary import team_key
from sync.indicators.context import Context, Review, TeamGrade, median
from sync.indicators.models import CellState, IndicatorResult, MentorRow, PendingItem, PlaceRow, TeamRow
from sync.indicators.parsing import team_village
from sync.indicators.program import ASSIGNMENT_TITLES, EXPERT_REVIEWED, TEAM_ASSIGNMENTS
from sync.indicators.snapshot import Submission, Team

# The teams' grid: a review saved without a grade (feedback-only assignment, or the grade left empty).
REVIEWED_WITHOUT_GRADE = N_("reviewed: feedback without a grade")
#: A team's submission state, as the grid reads it when nobody has reviewed it yet: (text, text when the due
#: date has passed, the grid's state).
_NOT_REVIEWED: dict[str, tuple[str, str, CellState]] = {
    "submitted": (N_("submitted"), N_("submitted"), "submitted"),
    "draft": (N_("draft"), N_("draft, past due"), "draft"),
    "reopened": (N_("reopened for rework"), N_("reopened for rework, past due"), "draft"),
    "": (N_("not submitted"), N_("not submitted, past due"), "none"),
}
#: The places of people and teams nobody placed (the reports' rows).
NO_DISTRICT = N_("no district")
NO_TEAM = N_("no team")
NOT_GIVEN = N_("not given")


def _reviewed_text(g: TeamGrade, again: bool) -> str:
    """A reviewed assignment's text: its grade or a review without one, and whether it waits again."""
    if g.graded:
        if again:
            return _("graded: {grade} (submitted again, waiting for a review)").format(grade=f"{g.grade:g}")
        return _("graded: {grade}").format(grade=f"{g.grade:g}")
    if again:
        return _("reviewed: feedback without a grade (submitted again, waiting for a review)")
    return _(REVIEWED_WITHOUT_GRADE)


def _cell(ctx: Context, sub: Submission | None, g: TeamGrade, due: int) -> tuple[str, CellState, bool]:
    """One team assignment's text, its state for the grid, and whether it is overdue."""
    if g.reviewed:
        # A review saved without a grade (field note 24) is the mentor's answer too: the work is not
        # "submitted, waiting for a grade" any more.
        again = sub is not None and g.dategraded is not None and sub.timemodified > g.dategraded
        return _reviewed_text(g, again), "graded", False
    text, late_text, state = _NOT_REVIEWED.get(sub.status if sub else "", _NOT_REVIEWED[""])
    if (sub is None or sub.status != "submitted") and 0 < due < ctx.snap.taken_at:
        return _(late_text), "overdue", True
    return _(text), state, False


def team_rows(ctx: Context, reviews: list[Review]) -> list[TeamRow]:
    """One row per team, by name, with its members, mentors, place and each team assignment's state."""
    m1 = ctx.course_id("m1")
    # One row per team, whatever the case, spaces or quotes of its groups' names in each module: the roster
    # sync's rule (sync.core.vocabulary.team_key), so a report never splits a team the sync treats as one.
    by_key: dict[str, list[Team]] = defaultdict(list)
    for t in ctx.snap.teams:
        by_key[team_key(t.name)].append(t)
    present = [k for k in TEAM_ASSIGNMENTS if k in ctx.activities]
    rows: list[TeamRow] = []
    for same_team, teams in by_key.items():
        # The team's home group: module 1's, unless the team has no participants there (a young NGO joins in
        # module 2) and has them in another module.
        home = next(
            (t for t in sorted(teams, key=lambda t: t.courseid != m1) if ctx.students_of(t)),
            next((t for t in teams if t.courseid == m1), teams[0]),
        )
        students = ctx.students_of(home)
        cities = [ctx.people[u].city for u in home.member_ids if u in ctx.people]
        district = next((t.district for t in teams if t.district), "")
        row = TeamRow(
            name=home.name.strip(),  # as the team's home group spells it
            district=district or _(NO_DISTRICT),
            village=team_village(home, cities) or _(NOT_GIVEN),
            members=len(students),
            member_names=sorted(ctx.name(u) for u in students),
            mentors=sorted({ctx.name(u) for t in teams for u in ctx.mentors_of(t)}),
            total=0,
            url=ctx.links.group(home.courseid, home.id),
        )
        for key in present:
            activity = ctx.activities[key]
            team = next((t for t in teams if t.courseid == activity.courseid), None)
            if team is None or not ctx.students_of(team):
                # Not the team's module: nothing is due from it there, and it is not counted in its progress.
                row.status[key] = (
                    _("no group in the course") if team is None else _("no participants in the course")
                )
                row.states[key] = "absent"
                row.grades[key] = None
                continue
            row.total += 1
            sub = ctx.team_submission(key, team)
            g = ctx.team_grade(key, team)
            if sub is not None and sub.status == "submitted":
                row.submissions += 1
                row.done += 1
            if g.reviewed:
                row.graded += 1
            text, state, overdue = _cell(ctx, sub, g, activity.duedate)
            if overdue:
                row.overdue.append(ASSIGNMENT_TITLES.get(key, key))
            row.status[key] = text
            row.states[key] = state
            row.grades[key] = g.grade
        row.feedback_received = sum(
            1
            for r in reviews
            if r.team is not None and team_key(r.team.name) == same_team and r.grade.feedback
        )
        rows.append(row)
    return sorted(rows, key=lambda row: row.name)


def mentor_rows(ctx: Context, reviews: list[Review], pending: list[PendingItem]) -> list[MentorRow]:
    """One row per mentor of at least one team: their teams, reviews, median hours to review, waiting work."""
    mentors: dict[int, MentorRow] = {}
    hours: dict[int, list[float]] = defaultdict(list)
    for cid, ids in ctx.mentor_ids.items():
        for uid in ids:
            row = mentors.setdefault(uid, MentorRow(userid=uid, name=ctx.name(uid)))
            for team in ctx.teams_by_course.get(cid, []):
                known = {team_key(name) for name in row.teams}
                if uid in team.member_ids and team_key(team.name) not in known:
                    row.teams.append(team.name)
    for r in reviews:
        if r.team is None or r.key in EXPERT_REVIEWED:
            continue
        for uid in ctx.mentors_of(r.team):
            row = mentors[uid]
            row.reviews += 1
            if r.grade.feedback:
                row.with_feedback += 1
            if r.hours is not None:
                hours[uid].append(r.hours)
    for p in pending:
        pending_team = ctx.team_by_id.get(p.groupid)
        if pending_team is None:
            continue
        for uid in ctx.mentors_of(pending_team):
            row = mentors[uid]
            row.pending += 1
            row.oldest_pending_hours = max(row.oldest_pending_hours or 0.0, p.waited_hours)
    for uid, row in mentors.items():
        row.median_hours = median(hours.get(uid, []))
        row.teams.sort()
    # Experts hold the same Moodle role as mentors (non-editing teacher) but are members of no team: they
    # answer for no team's work, so they are not rows of the mentor tables.
    return sorted((row for row in mentors.values() if row.teams), key=lambda m: m.name)


def place_rows(
    ctx: Context, teams: list[TeamRow], developed: IndicatorResult, presented: IndicatorResult
) -> tuple[list[PlaceRow], list[PlaceRow]]:
    """Rows per district and per village: participants, teams, projects developed and presented."""
    dev = {team_key(e.label) for e in developed.evidence}
    pres = {team_key(e.label) for e in presented.evidence}
    team_place = {team_key(t.name): (t.district, t.village) for t in teams}
    districts: dict[str, PlaceRow] = {}
    villages: dict[tuple[str, str], PlaceRow] = {}
    for t in teams:
        d = districts.setdefault(t.district, PlaceRow(district=t.district))
        v = villages.setdefault((t.district, t.village), PlaceRow(district=t.district, village=t.village))
        for row in (d, v):
            row.teams += 1
            row.projects_developed += int(team_key(t.name) in dev)
            row.projects_presented += int(team_key(t.name) in pres)
    # Participants: every active student of any module, placed by their module-1 team (or their own city).
    m1 = ctx.course_id("m1")
    everyone: set[int] = set().union(*ctx.active_students.values()) if ctx.active_students else set()
    for uid in everyone:
        # Placed by their module-1 team, else by their team in another module (a young NGO's group).
        teams_of = ctx.teams_of_user.get((m1, uid), []) if m1 is not None else []
        teams_of = teams_of or [
            t for cid in sorted(ctx.course_by_id) for t in ctx.teams_of_user.get((cid, uid), [])
        ]
        if teams_of:
            district, village = team_place.get(team_key(teams_of[0].name), (_(NO_DISTRICT), _(NOT_GIVEN)))
        else:
            person = ctx.people.get(uid)
            district, village = _(NO_TEAM), (person.city if person and person.city else _(NOT_GIVEN))
        districts.setdefault(district, PlaceRow(district=district)).participants += 1
        villages.setdefault(
            (district, village), PlaceRow(district=district, village=village)
        ).participants += 1
    return (
        sorted(districts.values(), key=lambda r: r.district),
        sorted(villages.values(), key=lambda r: (r.district, r.village)),
    )

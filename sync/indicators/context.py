"""The indicators' view of one snapshot for one reporting period: indexes over its people, enrolments, teams,
grades and submissions, the Moodle links evidence points to, and who answers for what (a team's grade, its
mentors, the reviewed submissions). Every indicator function and breakdown reads the snapshot through it.

Facts about Moodle this relies on (field notes in the README):
- team submissions come back with ``userid 0`` and the team's ``groupid``; only the latest attempt per team;
- team grades exist only in the gradebook, once per member (``applytoall``), so a team's grade is read from its
  members' gradebook rows and counted once per team;
- no batch read says who graded a team submission, so a review is attributed to the mentors who are members of
  the team's group in that course (the roster's mentor-team link);
- a review saved without a grade (a feedback-only assignment such as ``m2-consultations``, or the grade left
  empty) is a gradebook row with no grade, a grading time and the comment (field note 24): it is a review
  like a graded one, for mentor_feedback, the pending list, the reminders and the teams' grid.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from functools import cached_property

from i18n import _
from sync.indicators.models import Period
from sync.indicators.parsing import plain_text
from sync.indicators.snapshot import Activity, GradeRecord, Snapshot, Submission, Team


class Links:
    """Links to the Moodle pages that show what an indicator counted."""

    def __init__(self, site_url: str) -> None:
        self.base = site_url.rstrip("/")

    def _u(self, path: str) -> str:
        return f"{self.base}{path}" if self.base else path

    def user(self, userid: int, courseid: int | None = None) -> str:
        return self._u(f"/user/view.php?id={userid}" + (f"&course={courseid}" if courseid else ""))

    def group(self, courseid: int, groupid: int) -> str:
        return self._u(f"/group/members.php?group={groupid}")

    def grading(self, cmid: int, userid: int | None = None) -> str:
        if userid:
            return self._u(f"/mod/assign/view.php?id={cmid}&action=grader&userid={userid}")
        return self._u(f"/mod/assign/view.php?id={cmid}&action=grading")

    def event(self, courseid: int, timestart: int, event_id: int) -> str:
        return self._u(f"/calendar/view.php?view=day&course={courseid}&time={timestart}#event_{event_id}")

    def data_entry(self, cmid: int, rid: int) -> str:
        return self._u(f"/mod/data/view.php?id={cmid}&rid={rid}")

    def choice(self, cmid: int) -> str:
        return self._u(f"/mod/choice/report.php?id={cmid}")

    def feedback(self, cmid: int) -> str:
        return self._u(f"/mod/feedback/show_entries.php?id={cmid}")

    def participants(self, courseid: int) -> str:
        return self._u(f"/user/index.php?id={courseid}")


def is_review(row: GradeRecord) -> bool:
    """A mentor's review: a grade, or a comment saved without one (field note 24: a feedback-only
    assignment, or the grade left empty, gives ``graderaw`` null, a grading time and the comment)."""
    return row.grade is not None or bool(plain_text(row.feedback))


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


class TeamGrade:
    """A team's grade (or review without a grade) for one activity, read once from its members' rows."""

    def __init__(self, rows: list[GradeRecord]) -> None:
        graded = [r for r in rows if r.grade is not None]
        reviewed = [r for r in rows if is_review(r)]
        self.graded = bool(graded)  # a grade was given
        self.reviewed = bool(reviewed)  # a grade or a comment was given: the work is no longer waiting
        self.grade: float | None = graded[0].grade if graded else None
        dates = [r.dategraded for r in reviewed if r.dategraded]
        self.dategraded: int | None = max(dates) if dates else None
        comments = [plain_text(r.feedback) for r in reviewed]
        self.feedback = next((c for c in comments if c), "")
        self.grademax = graded[0].grademax if graded else None


class Review:
    """One reviewed submission: a team's (``userid`` None) or a person's, with the hours it waited."""

    def __init__(
        self, key: str, team: Team | None, userid: int | None, grade: TeamGrade, sub: Submission | None
    ) -> None:
        self.key = key
        self.team = team
        self.userid = userid
        self.grade = grade
        self.sub = sub
        self.hours: float | None = None
        if sub is not None and sub.status == "submitted" and grade.dategraded is not None:
            if grade.dategraded >= sub.timemodified:
                self.hours = (grade.dategraded - sub.timemodified) / 3600.0


class Context:
    """Indexes over a snapshot (for one reporting period) shared by the indicator functions."""

    def __init__(self, snap: Snapshot, period: Period) -> None:
        self.snap = snap
        self.period = period
        self.links = Links(snap.site_url)
        self.ref_time = min(snap.taken_at, period.end) if period.end is not None else snap.taken_at
        self.people = {p.id: p for p in snap.people}
        self.course_ids = {c.key: c.id for c in snap.courses}
        self.course_by_id = {c.id: c for c in snap.courses if c.id is not None}
        # Gathering's notes in the current language (a snapshot stores what to say, not one language's text).
        self.notes: list[str] = [n.message() for n in snap.notes if n.kind != "moodle_warning"]
        self.warnings: list[str] = [n.message() for n in snap.notes if n.kind == "moodle_warning"]
        self.active_students: dict[int, set[int]] = defaultdict(set)
        self.mentor_ids: dict[int, set[int]] = defaultdict(set)
        for e in snap.enrolments:
            is_student = snap.student_roleid in e.roleids or "student" in e.roles
            if is_student and e.active:
                self.active_students[e.courseid].add(e.userid)
            # A person who is a student in the course is a participant, even with a second teacher role.
            if snap.mentor_roleid in e.roleids and not is_student and e.active:
                self.mentor_ids[e.courseid].add(e.userid)
        self.teams_by_course: dict[int, list[Team]] = defaultdict(list)
        self.team_by_id: dict[int, Team] = {}
        self.teams_of_user: dict[tuple[int, int], list[Team]] = defaultdict(list)
        for t in snap.teams:
            self.teams_by_course[t.courseid].append(t)
            self.team_by_id[t.id] = t
            for uid in t.member_ids:
                self.teams_of_user[(t.courseid, uid)].append(t)
        self.grades: dict[tuple[str, int], GradeRecord] = {(g.key, g.userid): g for g in snap.grades}
        self.subs_by_key: dict[str, list[Submission]] = defaultdict(list)
        for s in snap.submissions:
            self.subs_by_key[s.key].append(s)
        self.activities = {a.key: a for a in snap.activities}

    def name(self, userid: int) -> str:
        p = self.people.get(userid)
        return p.fullname if p else _("user #{id} (deleted or not enrolled)").format(id=userid)

    def course_id(self, key: str) -> int | None:
        return self.course_ids.get(key)

    def students_of(self, team: Team) -> list[int]:
        active = self.active_students.get(team.courseid, set())
        return [u for u in team.member_ids if u in active]

    def mentors_of(self, team: Team) -> list[int]:
        mentors = self.mentor_ids.get(team.courseid, set())
        return [u for u in team.member_ids if u in mentors]

    def team_grade(self, key: str, team: Team) -> TeamGrade:
        # A person in two teams carries the grade of whichever team was graded (applytoall writes every
        # member's row): when the team has members of its own, only their rows speak for it.
        own = [u for u in team.member_ids if len(self.teams_of_user.get((team.courseid, u), [])) == 1]
        members = own or team.member_ids
        return TeamGrade([self.grades[(key, u)] for u in members if (key, u) in self.grades])

    def team_submission(self, key: str, team: Team) -> Submission | None:
        for s in self.subs_by_key.get(key, []):
            if s.groupid == team.id and s.userid == 0:
                return s
        return None

    def require(self, key: str, notes: list[str]) -> Activity | None:
        """The program activity with ID number `key`, else None and a note that the indicator is not
        computed."""
        a = self.activities.get(key)
        if a is None:
            notes.append(
                _(
                    "No activity with ID number «{key}» in the cohort's courses: the indicator is not computed."
                ).format(key=key)
            )
        return a

    def require_course(self, key: str, notes: list[str]) -> int | None:
        """The Moodle id of module `key`'s course, else None and a note that the indicator is not computed."""
        cid = self.course_id(key)
        if cid is None:
            notes.append(
                _("The course of module {number} is not on the site: the indicator is not computed.").format(
                    number=key[1:]
                )
            )
        return cid

    def undated_note(self, notes: list[str]) -> None:
        """Say, for a chosen period, that enrolments and team membership are shown as of the snapshot."""
        if not self.period.is_whole:
            notes.append(
                _(
                    "Moodle's answers give no dates for enrolments and team membership: they are shown as of the "
                    "snapshot, whatever the period."
                )
            )

    @cached_property
    def reviews(self) -> list[Review]:
        """Reviewed submissions of every assignment in the period, graded or feedback-only: a review is a grade
        or a comment saved without one (field note 24). A team's submission counts once, a person's once."""
        out: list[Review] = []
        for activity in sorted(self.snap.activities, key=lambda a: a.key):
            if activity.modname != "assign":
                continue
            key = activity.key
            if activity.teamsubmission:
                for team in self.teams_by_course.get(activity.courseid, []):
                    g = self.team_grade(key, team)
                    if g.reviewed:
                        out.append(Review(key, team, None, g, self.team_submission(key, team)))
            else:
                subs = {s.userid: s for s in self.subs_by_key.get(key, []) if s.userid}
                for (gkey, uid), rec in self.grades.items():
                    if gkey != key or not is_review(rec):
                        continue
                    teams = self.teams_of_user.get((activity.courseid, uid), [])
                    out.append(Review(key, teams[0] if teams else None, uid, TeamGrade([rec]), subs.get(uid)))
        return [r for r in out if self.period.contains(r.grade.dategraded)]

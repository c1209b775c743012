"""Grant indicators (program.md), computed from a snapshot: pure functions, no HTTP, no clock.

`compute(snapshot, targets, period)` gives, for every indicator: value, target, percentage, status
(met / on track / behind), the evidence it counted (each item with its Moodle link) and notes; plus the
breakdowns people ask for (per team, per mentor, per district, per village) and the pending list.

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

import datetime as dt
import html
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sync.core.vocabulary import INDICATORS, team_key
from sync.indicators.snapshot import Activity, CalendarEvent, GradeRecord, Snapshot, Submission, Team

INDICATOR_KEYS: tuple[str, ...] = INDICATORS  # program.md, in its order

TITLES: dict[str, str] = {
    "participants": "Участники программы",
    "school_participants": "Участники школы (модуль 1) в командах",
    "initiative_groups": "Инициативные группы (команды модуля 1)",
    "projects_developed": "Разработанные проекты (концепция сдана и оценена)",
    "mentor_feedback": "Обратная связь наставников (проверенные работы с комментарием)",
    "webinars_held": "Проведённые вебинары",
    "consultations_held": "Проведённые консультации",
    "projects_presented": "Представленные проекты (презентация сдана)",
    "leader_projects": "Проекты-лидеры (три лучшие оценки презентации)",
    "funds_raised": "Привлечённые средства (обещания партнёров), руб.",
    "votes_cast": "Голоса в народном голосовании",
    "satisfaction": "Удовлетворённость: средняя полезность школы (1–10)",
    "ngo_intent": "Доля планирующих НКО или уже зарегистрировавших",
}

UNITS: dict[str, str] = {
    "participants": "чел.",
    "school_participants": "чел.",
    "initiative_groups": "команд",
    "projects_developed": "проектов",
    "mentor_feedback": "отзывов",
    "webinars_held": "вебинаров",
    "consultations_held": "консультаций",
    "projects_presented": "проектов",
    "leader_projects": "проектов",
    "funds_raised": "руб.",
    "votes_cast": "голосов",
    "satisfaction": "балл",
    "ngo_intent": "доля",
}

# The module an indicator's work happens in: its "on track" expectation follows that module's dates.
INDICATOR_MODULE: dict[str, str | None] = {
    "participants": None,
    "school_participants": "m1",
    "initiative_groups": "m1",
    "projects_developed": "m1",
    "mentor_feedback": None,
    "webinars_held": "m2",
    "consultations_held": "m2",
    "projects_presented": "m3",
    "leader_projects": "m3",
    "funds_raised": "m3",
    "votes_cast": "m3",
    "satisfaction": "m1",
    "ngo_intent": "m1",
}

# program.md: experts, not mentors, grade the presentations. Their grades count in mentor_feedback as the
# indicator is defined (every graded submission with a comment) but not in any mentor's own figures.
EXPERT_REVIEWED: tuple[str, ...] = ("m3-pitch",)
# Team assignments whose progress the team table shows, in program order.
TEAM_ASSIGNMENTS: tuple[str, ...] = (
    "m1-idea",
    "m1-concept",
    "m2-consultations",
    "m2-final-project",
    "m3-pitch",
)
ASSIGNMENT_TITLES: dict[str, str] = {
    "m1-idea": "Идея проекта",
    "m1-concept": "Концепция",
    "m1-fundraising": "План фандрайзинга",
    "m2-consultations": "Журнал консультаций",
    "m2-final-project": "Доработанный проект",
    "m3-pitch": "Презентация",
}
NGO_YES: tuple[str, ...] = ("Да", "Уже зарегистрировали")
# The teams' grid: a review saved without a grade (feedback-only assignment, or the grade left empty).
REVIEWED_WITHOUT_GRADE = "проверено: отзыв без оценки"
PLEDGE_KINDS: tuple[str, ...] = ("Деньги", "Товары", "Услуги", "Волонтёры")

Status = Literal["met", "on_track", "behind", "no_target", "no_data"]
STATUS_TEXT: dict[str, str] = {
    "met": "достигнуто",
    "on_track": "по плану",
    "behind": "отставание",
    "no_target": "без плана",
    "no_data": "нет данных",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_Model):
    """Reporting period, inclusive, as unix times; None = open on that side (whole grant period)."""

    start: int | None = None
    end: int | None = None

    def contains(self, ts: int | None) -> bool:
        if ts is None:
            return False
        if self.start is not None and ts < self.start:
            return False
        return not (self.end is not None and ts > self.end)

    @property
    def is_whole(self) -> bool:
        return self.start is None and self.end is None

    def label(self, tz: dt.tzinfo | None = None) -> str:
        if self.is_whole:
            return "весь период гранта"
        a = fmt_date(self.start, tz) if self.start is not None else "начала"
        b = fmt_date(self.end, tz) if self.end is not None else "даты снимка"
        return f"с {a} по {b}"


class Evidence(_Model):
    label: str
    detail: str = ""
    url: str = ""
    when: int | None = None
    value: float | None = None


class IndicatorResult(_Model):
    key: str
    title: str
    unit: str
    value: float | None
    target: float | None
    percent: float | None
    status: Status
    status_text: str
    breakdown: dict[str, float] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class TeamRow(_Model):
    name: str
    district: str
    village: str
    members: int  # active students of module 1 in the team
    member_names: list[str] = Field(default_factory=list)
    mentors: list[str] = Field(default_factory=list)
    # per assignment key: status text (Russian) and grade
    status: dict[str, str] = Field(default_factory=dict)
    grades: dict[str, float | None] = Field(default_factory=dict)
    submissions: int = 0  # assignments the team has submitted
    graded: int = 0  # team assignments reviewed: graded, or answered with a comment without a grade
    feedback_received: int = 0
    done: int = 0  # team assignments submitted (progress)
    total: int = 0  # team assignments present in the courses
    overdue: list[str] = Field(default_factory=list)  # titles of assignments past due and not submitted
    url: str = ""


class MentorRow(_Model):
    userid: int
    name: str
    teams: list[str] = Field(default_factory=list)
    reviews: int = 0  # reviewed submissions of their teams (a grade, or a comment without one)
    with_feedback: int = 0
    median_hours: float | None = None
    pending: int = 0
    oldest_pending_hours: float | None = None


class PlaceRow(_Model):
    district: str
    village: str = ""
    participants: int = 0
    teams: int = 0
    projects_developed: int = 0
    projects_presented: int = 0


class PendingItem(_Model):
    team: str
    groupid: int
    courseid: int
    activity: str
    activity_key: str
    submitted_at: int
    waited_hours: float
    resubmitted: bool  # submitted again after an earlier grade
    mentors: list[str] = Field(default_factory=list)
    mentor_ids: list[int] = Field(default_factory=list)  # Moodle user ids, for the service's reminders
    url: str = ""


class IndicatorReport(_Model):
    cohort: str
    site_url: str
    taken_at: int
    period: Period
    period_label: str
    results: list[IndicatorResult]
    teams: list[TeamRow]
    mentors: list[MentorRow]
    districts: list[PlaceRow]
    villages: list[PlaceRow]
    pending: list[PendingItem]
    notes: list[str]
    warnings: list[str]

    def result(self, key: str) -> IndicatorResult:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(key)


# ------------------------------------------------------------------------------------------------ helpers


def fmt_date(ts: int | None, tz: dt.tzinfo | None = None, with_time: bool = False) -> str:
    if ts is None:
        return "—"
    d = dt.datetime.fromtimestamp(ts, tz or dt.UTC)
    return d.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")


_TAG_RE = re.compile(r"<[^>]+>")


def plain_text(value: str | None) -> str:
    """Moodle feedback comments are HTML; '<p></p>' or '&nbsp;' is no comment at all."""
    if not value:
        return ""
    text = html.unescape(_TAG_RE.sub(" ", value))
    return " ".join(text.split())


def parse_amount(text: str) -> float | None:
    """A pledge amount as people type it: '50000', '50 000', '1500,50', '15000 руб.'."""
    cleaned = (
        text.replace("\u00a0", "").replace(" ", "").replace("руб.", "").replace("руб", "").replace("₽", "")
    )
    cleaned = cleaned.replace(",", ".")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _parse_score(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


_VILLAGE_RE = re.compile(r"\bс\.\s*([А-ЯЁA-Z][^,;.()]*)")
# "Команда «Шаромы»": a team named after its village (an NGO's «name», "АНО «Эвенское наследие»", is not one).
_QUOTED_RE = re.compile(r"^\s*команда\s+«([^»]+)»", re.IGNORECASE)


def team_village(team: Team, cities: Iterable[str]) -> str:
    """A team's village: 'с. Эссо' in the group description, else "Команда «name»", else its members' usual
    city."""
    m = _VILLAGE_RE.search(team.description or "")
    if m:
        return m.group(1).strip()
    m = _QUOTED_RE.search(team.name)
    if m:
        return m.group(1).strip()
    common = Counter(c for c in cities if c).most_common(1)
    return common[0][0] if common else ""


class _Links:
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


class _TeamGrade:
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


class Context:
    """Indexes over a snapshot (for one reporting period) shared by the indicator functions."""

    def __init__(self, snap: Snapshot, period: Period) -> None:
        self.snap = snap
        self.period = period
        self.links = _Links(snap.site_url)
        self.ref_time = min(snap.taken_at, period.end) if period.end is not None else snap.taken_at
        self.people = {p.id: p for p in snap.people}
        self.course_ids = {c.key: c.id for c in snap.courses}
        self.course_by_id = {c.id: c for c in snap.courses if c.id is not None}
        self.notes: list[str] = [n.text for n in snap.notes if n.kind != "moodle_warning"]
        self.warnings: list[str] = [n.text for n in snap.notes if n.kind == "moodle_warning"]
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
        return p.fullname if p else f"пользователь #{userid} (удалён или не записан)"

    def course_id(self, key: str) -> int | None:
        return self.course_ids.get(key)

    def students_of(self, team: Team) -> list[int]:
        active = self.active_students.get(team.courseid, set())
        return [u for u in team.member_ids if u in active]

    def mentors_of(self, team: Team) -> list[int]:
        mentors = self.mentor_ids.get(team.courseid, set())
        return [u for u in team.member_ids if u in mentors]

    def team_grade(self, key: str, team: Team) -> _TeamGrade:
        # A person in two teams carries the grade of whichever team was graded (applytoall writes every
        # member's row): when the team has members of its own, only their rows speak for it.
        own = [u for u in team.member_ids if len(self.teams_of_user.get((team.courseid, u), [])) == 1]
        members = own or team.member_ids
        return _TeamGrade([self.grades[(key, u)] for u in members if (key, u) in self.grades])

    def team_submission(self, key: str, team: Team) -> Submission | None:
        for s in self.subs_by_key.get(key, []):
            if s.groupid == team.id and s.userid == 0:
                return s
        return None

    def require(self, key: str, notes: list[str]) -> Activity | None:
        a = self.activities.get(key)
        if a is None:
            notes.append(f"Активность с ID «{key}» не найдена в курсах когорты: показатель не рассчитан.")
        return a


def _status(
    key: str, value: float | None, target: float | None, snap: Snapshot, ref_time: int
) -> tuple[Status, float | None]:
    if value is None:
        return "no_data", None
    if target is None:
        return "no_target", None
    percent = round(100.0 * value / target, 1) if target else (100.0 if value >= 0 else 0.0)
    if value >= target:
        return "met", percent
    module = INDICATOR_MODULE.get(key)
    spans = [c for c in snap.courses if c.id is not None and c.startdate and c.enddate]
    if module is not None:
        spans = [c for c in spans if c.key == module]
    if not spans:
        return "behind", percent
    start = min(c.startdate for c in spans)
    end = max(c.enddate for c in spans)
    if end <= start:
        return "behind", percent
    elapsed = min(max((ref_time - start) / (end - start), 0.0), 1.0)
    expected = target * elapsed
    return ("on_track" if value >= expected and elapsed < 1.0 else "behind"), percent


def _result(
    ctx: Context,
    key: str,
    value: float | None,
    target: float | None,
    evidence: list[Evidence],
    notes: list[str],
    breakdown: dict[str, float] | None = None,
) -> IndicatorResult:
    status, percent = _status(key, value, target, ctx.snap, ctx.ref_time)
    return IndicatorResult(
        key=key,
        title=TITLES[key],
        unit=UNITS[key],
        value=value,
        target=target,
        percent=percent,
        status=status,
        status_text=STATUS_TEXT[status],
        breakdown=breakdown or {},
        evidence=evidence,
        notes=notes,
    )


def _course_missing_note(ctx: Context, key: str, notes: list[str]) -> int | None:
    cid = ctx.course_id(key)
    if cid is None:
        notes.append(f"Курс модуля {key[1:]} не найден на сайте: показатель не рассчитан.")
    return cid


# ------------------------------------------------------------------------------------------- indicators


def _participants(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    people: dict[int, list[str]] = defaultdict(list)
    breakdown: dict[str, float] = {}
    for c in ctx.snap.courses:
        if c.id is None:
            notes.append(f"Курс {c.shortname} не найден: его участники не учтены.")
            continue
        students = ctx.active_students.get(c.id, set())
        breakdown[f"Модуль {c.number}"] = len(students)
        for uid in students:
            people[uid].append(c.shortname)
    _undated_note(ctx, notes)
    evidence = [
        Evidence(label=ctx.name(uid), detail=", ".join(sorted(courses)), url=ctx.links.user(uid))
        for uid, courses in sorted(people.items(), key=lambda kv: ctx.name(kv[0]))
    ]
    return _result(ctx, "participants", float(len(people)), target, evidence, notes, breakdown)


def _undated_note(ctx: Context, notes: list[str]) -> None:
    if not ctx.period.is_whole:
        notes.append(
            "Записи на курс и состав команд не имеют дат в ответах Moodle: показано на дату снимка, "
            "без учёта периода."
        )


def _school_participants(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    _undated_note(ctx, notes)
    cid = _course_missing_note(ctx, "m1", notes)
    if cid is None:
        return _result(ctx, "school_participants", None, target, [], notes)
    found: dict[int, str] = {}
    for team in ctx.teams_by_course.get(cid, []):
        for uid in ctx.students_of(team):
            found.setdefault(uid, team.name)
    outside = ctx.active_students.get(cid, set()) - set(found)
    if outside:
        notes.append(
            f"Активные участники модуля 1 вне команд ({len(outside)}): "
            + ", ".join(sorted(ctx.name(u) for u in outside))
        )
    evidence = [
        Evidence(label=ctx.name(uid), detail=team, url=ctx.links.user(uid, cid))
        for uid, team in sorted(found.items(), key=lambda kv: (kv[1], ctx.name(kv[0])))
    ]
    return _result(ctx, "school_participants", float(len(found)), target, evidence, notes)


def _initiative_groups(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    _undated_note(ctx, notes)
    cid = _course_missing_note(ctx, "m1", notes)
    if cid is None:
        return _result(ctx, "initiative_groups", None, target, [], notes)
    evidence: list[Evidence] = []
    teams = ctx.teams_by_course.get(cid, [])
    if not teams:
        notes.append("В курсе модуля 1 нет ни одной группы (команды).")
    for team in sorted(teams, key=lambda t: t.name):
        students = ctx.students_of(team)
        if not team.member_ids:
            notes.append(f"Команда «{team.name}» не имеет участников: не учтена.")
        elif not students:
            notes.append(f"В команде «{team.name}» нет активных участников (студентов): не учтена.")
        else:
            evidence.append(
                Evidence(
                    label=team.name,
                    detail=f"{len(students)} чел.: " + ", ".join(sorted(ctx.name(u) for u in students)),
                    url=ctx.links.group(cid, team.id),
                    value=float(len(students)),
                )
            )
    return _result(ctx, "initiative_groups", float(len(evidence)), target, evidence, notes)


def _submitted_and_graded(ctx: Context, indicator: str, key: str, target: float | None) -> IndicatorResult:
    """projects_developed: teams whose submission of `key` is submitted and graded."""
    notes: list[str] = []
    activity = ctx.require(key, notes)
    if activity is None:
        return _result(ctx, indicator, None, target, [], notes)
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
                detail=f"оценка {grade.grade:g}" + (f" из {grade.grademax:g}" if grade.grademax else ""),
                url=ctx.links.grading(activity.cmid, members),
                when=grade.dategraded,
                value=grade.grade,
            )
        )
    if waiting:
        notes.append(f"Сданных работ, ждущих оценки: {waiting}.")
    return _result(ctx, indicator, float(len(evidence)), target, evidence, notes)


def _projects_presented(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity = ctx.require("m3-pitch", notes)
    if activity is None:
        return _result(ctx, "projects_presented", None, target, [], notes)
    evidence: list[Evidence] = []
    for team in sorted(ctx.teams_by_course.get(activity.courseid, []), key=lambda t: t.name):
        sub = ctx.team_submission("m3-pitch", team)
        if sub is None or sub.status != "submitted" or not ctx.period.contains(sub.timemodified):
            continue
        evidence.append(
            Evidence(
                label=team.name,
                detail="презентация сдана",
                url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
                when=sub.timemodified,
            )
        )
    drafts = sum(1 for s in ctx.subs_by_key.get("m3-pitch", []) if s.status == "draft")
    if drafts:
        notes.append(f"Презентаций в черновике (не отправлены, не учтены): {drafts}.")
    return _result(ctx, "projects_presented", float(len(evidence)), target, evidence, notes)


def _leader_projects(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity = ctx.require("m3-pitch", notes)
    if activity is None:
        return _result(ctx, "leader_projects", None, target, [], notes)
    graded: list[tuple[Team, _TeamGrade]] = []
    for team in ctx.teams_by_course.get(activity.courseid, []):
        g = ctx.team_grade("m3-pitch", team)
        if g.graded and g.grade is not None and ctx.period.contains(g.dategraded):
            graded.append((team, g))
    graded.sort(key=lambda tg: (-(tg[1].grade or 0.0), tg[0].name))
    leaders: list[tuple[int, Team, _TeamGrade]] = []
    for team, g in graded:
        rank = 1 + sum(1 for _, other in graded if (other.grade or 0.0) > (g.grade or 0.0))
        if rank <= 3:
            leaders.append((rank, team, g))
    if len(leaders) > 3:
        cut = leaders[-1][2].grade
        tied = [t.name for _, t, g in leaders if g.grade == cut]
        notes.append(
            f"Ничья: команды {', '.join(tied)} набрали одинаковую оценку {cut:g} на границе тройки лидеров; "
            f"все они показаны, выбор лидера требует решения экспертов."
        )
    if len(graded) < 3:
        notes.append(f"Оценённых презентаций меньше трёх: {len(graded)}.")
    evidence = [
        Evidence(
            label=team.name,
            detail=f"место {rank}, оценка {g.grade:g}",
            url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
            when=g.dategraded,
            value=g.grade,
        )
        for rank, team, g in leaders
    ]
    return _result(ctx, "leader_projects", float(len(leaders)), target, evidence, notes)


class _Review:
    def __init__(
        self, key: str, team: Team | None, userid: int | None, grade: _TeamGrade, sub: Submission | None
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


def _reviews(ctx: Context) -> list[_Review]:
    """Reviewed submissions of every assignment, graded or feedback-only: a review is a grade or a comment
    saved without one (field note 24). A team's submission counts once, a person's once."""
    out: list[_Review] = []
    for activity in sorted(ctx.snap.activities, key=lambda a: a.key):
        if activity.modname != "assign":
            continue
        key = activity.key
        if activity.teamsubmission:
            for team in ctx.teams_by_course.get(activity.courseid, []):
                g = ctx.team_grade(key, team)
                if g.reviewed:
                    out.append(_Review(key, team, None, g, ctx.team_submission(key, team)))
        else:
            subs = {s.userid: s for s in ctx.subs_by_key.get(key, []) if s.userid}
            for (gkey, uid), rec in ctx.grades.items():
                if gkey != key or not is_review(rec):
                    continue
                teams = ctx.teams_of_user.get((activity.courseid, uid), [])
                out.append(_Review(key, teams[0] if teams else None, uid, _TeamGrade([rec]), subs.get(uid)))
    return [r for r in out if ctx.period.contains(r.grade.dategraded)]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _mentor_feedback(ctx: Context, target: float | None, reviews: list[_Review]) -> IndicatorResult:
    notes: list[str] = []
    # program.md: feedback-only assignments (grade type none, m2-consultations) count as well as graded ones.
    if not any(a.modname == "assign" for a in ctx.snap.activities):
        notes.append("В курсах не найдено ни одного задания: показатель не рассчитан.")
        return _result(ctx, "mentor_feedback", None, target, [], notes)
    evidence: list[Evidence] = []
    without = 0
    by_experts = 0
    breakdown: dict[str, float] = {}
    commented: list[_Review] = []
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
        notes.append(f"Оценок без комментария (не учтены): {without}.")
    ungraded = sum(1 for r in commented if r.grade.grade is None)
    if ungraded:
        notes.append(f"Учтены отзывы без оценки (задание без оценки или оценка не поставлена): {ungraded}.")
    breakdown["Всего проверено"] = float(len(reviews))
    med = _median([r.hours for r in reviews if r.hours is not None])
    if med is not None:
        breakdown["Медиана часов от сдачи до проверки"] = med
    if by_experts:
        notes.append(
            f"Среди них комментарии экспертов к презентациям (m3-pitch): {by_experts}; в разбивку по "
            "наставникам они не входят."
        )
    return _result(ctx, "mentor_feedback", float(len(evidence)), target, evidence, notes, breakdown)


def _event_kind_of(ev: CalendarEvent) -> str:
    if ev.kind:
        return ev.kind
    # Events made by hand in Moodle carry no marker; their title is what staff go by.
    name = ev.name.strip().lower()
    if name.startswith("вебинар"):
        return "webinar"
    if name.startswith("консультац"):
        return "consultation"
    return ""


def _events_held(ctx: Context, indicator: str, kind: str, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    cid = _course_missing_note(ctx, "m2", notes)
    if cid is None:
        return _result(ctx, indicator, None, target, [], notes)
    evidence: list[Evidence] = []
    future = 0
    by_title = 0
    breakdown: dict[str, float] = {}
    for ev in sorted(ctx.snap.events, key=lambda e: (e.timestart, e.id)):
        if ev.courseid != cid or _event_kind_of(ev) != kind:
            continue
        if kind == "webinar" and ev.groupid:
            continue  # program.md: webinars are course events; a group event is a consultation's shape
        end = ev.timestart + ev.timeduration
        if end > ctx.snap.taken_at:
            future += 1
            continue
        if not ctx.period.contains(end):
            continue
        if not ev.kind:
            by_title += 1
        scope = "группа" if ev.groupid else "курс"
        if ev.groupid:
            team = ctx.team_by_id.get(ev.groupid)
            scope = f"команда «{team.name}»" if team else f"группа #{ev.groupid}"
        kind_text = "группа" if ev.groupid else "весь курс"
        breakdown[kind_text] = breakdown.get(kind_text, 0.0) + 1
        evidence.append(
            Evidence(
                label=ev.name,
                detail=f"{scope}, {ev.timeduration // 60} мин.",
                url=ctx.links.event(cid, ev.timestart, ev.id),
                when=ev.timestart,
            )
        )
    if future:
        notes.append(
            f"Запланированных событий этого вида, ещё не прошедших на дату снимка (не учтены): {future}."
        )
    if by_title:
        notes.append(f"Событий без метки accel, распознанных по названию: {by_title}.")
    return _result(ctx, indicator, float(len(evidence)), target, evidence, notes, breakdown)


def _funds_raised(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity = ctx.require("m3-pledges", notes)
    if activity is None:
        return _result(ctx, "funds_raised", None, target, [], notes)
    total = 0.0
    breakdown: dict[str, float] = {}
    evidence: list[Evidence] = []
    for p in sorted(ctx.snap.pledges, key=lambda p: (p.timecreated, p.id)):
        if not ctx.period.contains(p.timecreated):
            continue
        amount = parse_amount(p.amount_text)
        if amount is None:
            notes.append(
                f"Запись №{p.id} ({p.partner or 'без партнёра'}): сумма «{p.amount_text}» не число, не учтена."
            )
            continue
        kind = p.kind or "не указан"
        if p.kind and p.kind not in PLEDGE_KINDS:
            notes.append(f"Запись №{p.id}: необычный вид поддержки «{p.kind}».")
        total += amount
        breakdown[kind] = breakdown.get(kind, 0.0) + amount
        evidence.append(
            Evidence(
                label=p.partner or "(партнёр не указан)",
                detail=f"{p.project or '(проект не указан)'}; {kind}"
                + ("" if p.approved else "; не одобрена"),
                url=ctx.links.data_entry(p.cmid, p.id),
                when=p.timecreated,
                value=amount,
            )
        )
    if not ctx.snap.pledges:
        notes.append("В базе обещаний партнёров нет записей.")
    return _result(ctx, "funds_raised", round(total, 2), target, evidence, notes, breakdown)


def _votes_cast(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity = ctx.require("m3-vote", notes)
    result = next((c for c in ctx.snap.choices if c.key == "m3-vote"), None)
    if activity is None or result is None:
        if activity is not None:
            notes.append("Результаты голосования не получены.")
        return _result(ctx, "votes_cast", None, target, [], notes)
    if result.voter_ids is not None:
        value = len(set(result.voter_ids))
    else:
        value = sum(o.count for o in result.options)
        if result.allowmultiple:
            notes.append(
                "Голосование допускает несколько ответов, а Moodle не назвал голосующих: показано число "
                "ответов, оно может превышать число людей."
            )
    if not ctx.period.is_whole:
        notes.append("Ответы голосования не имеют дат в ответе Moodle: показано на дату снимка.")
    if value == 0:
        notes.append("В голосовании пока нет ответов.")
    evidence = [
        Evidence(
            label=o.text,
            detail=f"голосов: {o.count}",
            url=ctx.links.choice(result.cmid),
            value=float(o.count),
        )
        for o in result.options
    ]
    breakdown = {o.text: float(o.count) for o in result.options}
    return _result(ctx, "votes_cast", float(value), target, evidence, notes, breakdown)


def _survey(
    ctx: Context, key: str, notes: list[str]
) -> tuple[Activity | None, list[tuple[int | None, int, dict[str, str]]]]:
    activity = ctx.require(key, notes)
    survey = next((s for s in ctx.snap.surveys if s.key == key), None)
    if activity is None:
        return None, []
    if survey is None:
        notes.append(f"Ответы анкеты «{key}» не получены.")
        return activity, []
    rows = [
        (r.userid, r.timemodified, r.answers) for r in survey.responses if ctx.period.contains(r.timemodified)
    ]
    if not survey.responses:
        notes.append(f"Анкету «{key}» пока никто не заполнил: показатель не рассчитан.")
    elif not rows:
        notes.append(f"В выбранном периоде нет ответов на анкету «{key}».")
    return activity, rows


def _satisfaction(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity, rows = _survey(ctx, "m1-survey", notes)
    if activity is None:
        return _result(ctx, "satisfaction", None, target, [], notes)
    scores: list[float] = []
    evidence: list[Evidence] = []
    skipped = 0
    for uid, when, answers in rows:
        raw = answers.get("usefulness", "")
        score = _parse_score(raw) if raw else None
        if score is None:
            skipped += 1
            continue
        scores.append(score)
        evidence.append(
            Evidence(
                label=ctx.name(uid) if uid else "анонимный ответ",
                detail=f"полезность {score:g}",
                url=ctx.links.feedback(activity.cmid),
                when=when,
                value=score,
            )
        )
    if skipped:
        notes.append(f"Анкет без оценки полезности (не учтены в среднем): {skipped}.")
    value = statistics.fmean(scores) if scores else None
    breakdown = {f"{k:g}": float(v) for k, v in sorted(Counter(scores).items())}
    return _result(ctx, "satisfaction", value, target, evidence, notes, breakdown)


def _ngo_intent(ctx: Context, target: float | None) -> IndicatorResult:
    notes: list[str] = []
    activity, rows = _survey(ctx, "m1-survey", notes)
    if activity is None or not rows:
        return _result(ctx, "ngo_intent", None, target, [], notes)
    counts: Counter[str] = Counter()
    evidence: list[Evidence] = []
    for uid, when, answers in rows:
        answer = answers.get("ngo_plan", "").strip()
        counts[answer or "нет ответа"] += 1
        if answer in NGO_YES:
            evidence.append(
                Evidence(
                    label=ctx.name(uid) if uid else "анонимный ответ",
                    detail=answer,
                    url=ctx.links.feedback(activity.cmid),
                    when=when,
                )
            )
    if counts.get("нет ответа"):
        notes.append(
            f"Респондентов без ответа на вопрос о НКО (учтены в знаменателе): {counts['нет ответа']}."
        )
    value = round(len(evidence) / len(rows), 4)
    breakdown = {k: float(v) for k, v in counts.most_common()}
    breakdown["Респондентов"] = float(len(rows))
    return _result(ctx, "ngo_intent", value, target, evidence, notes, breakdown)


# ------------------------------------------------------------------------------------------- breakdowns


def _team_rows(ctx: Context, reviews: list[_Review]) -> list[TeamRow]:
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
            district=district or "без района",
            village=team_village(home, cities) or "не указано",
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
                row.status[key] = "нет группы в курсе" if team is None else "нет участников в курсе"
                row.grades[key] = None
                continue
            row.total += 1
            sub = ctx.team_submission(key, team)
            g = ctx.team_grade(key, team)
            status = {"submitted": "сдано", "draft": "черновик", "reopened": "на доработке"}.get(
                sub.status if sub else "", "не сдано"
            )
            if sub is not None and sub.status == "submitted":
                row.submissions += 1
                row.done += 1
            if g.reviewed:
                # A review saved without a grade (field note 24) is the mentor's answer too: the work is
                # not "сдано, ждёт оценки" any more.
                row.graded += 1
                status = f"оценено: {g.grade:g}" if g.graded else REVIEWED_WITHOUT_GRADE
                if sub is not None and g.dategraded is not None and sub.timemodified > g.dategraded:
                    status += " (сдано повторно, ждёт проверки)"
            elif (sub is None or sub.status != "submitted") and 0 < activity.duedate < ctx.snap.taken_at:
                row.overdue.append(ASSIGNMENT_TITLES.get(key, key))
                status += ", срок прошёл"
            row.status[key] = status
            row.grades[key] = g.grade
        row.feedback_received = sum(
            1
            for r in reviews
            if r.team is not None and team_key(r.team.name) == same_team and r.grade.feedback
        )
        rows.append(row)
    return sorted(rows, key=lambda row: row.name)


def _mentor_rows(ctx: Context, reviews: list[_Review], pending: list[PendingItem]) -> list[MentorRow]:
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
        row.median_hours = _median(hours.get(uid, []))
        row.teams.sort()
    # Experts hold the same Moodle role as mentors (non-editing teacher) but are members of no team: they
    # answer for no team's work, so they are not rows of the mentor tables.
    return sorted((row for row in mentors.values() if row.teams), key=lambda m: m.name)


def _place_rows(
    ctx: Context, teams: list[TeamRow], developed: IndicatorResult, presented: IndicatorResult
) -> tuple[list[PlaceRow], list[PlaceRow]]:
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
            district, village = team_place.get(team_key(teams_of[0].name), ("без района", "не указано"))
        else:
            person = ctx.people.get(uid)
            district, village = "без команды", (person.city if person and person.city else "не указано")
        districts.setdefault(district, PlaceRow(district=district)).participants += 1
        villages.setdefault(
            (district, village), PlaceRow(district=district, village=village)
        ).participants += 1
    return (
        sorted(districts.values(), key=lambda r: r.district),
        sorted(villages.values(), key=lambda r: (r.district, r.village)),
    )


def pending_items(ctx: Context) -> list[PendingItem]:
    """Team submissions waiting for a mentor's review (or a new look after a resubmission), oldest first.

    A review is a grade or a comment saved without one (field note 24), so a feedback-only assignment
    (``m2-consultations``) waits for the mentor's comment and leaves the list once it is saved.
    """
    out: list[PendingItem] = []
    for activity in ctx.snap.activities:
        if activity.modname != "assign" or not activity.teamsubmission:
            continue
        if activity.key in EXPERT_REVIEWED:
            continue  # presentations wait for the experts, not for a mentor
        for sub in ctx.subs_by_key.get(activity.key, []):
            if sub.status != "submitted" or sub.userid != 0:
                continue
            team = ctx.team_by_id.get(sub.groupid)
            if team is None:
                continue
            g = ctx.team_grade(activity.key, team)
            resubmitted = g.reviewed and g.dategraded is not None and sub.timemodified > g.dategraded
            if g.reviewed and not resubmitted:
                continue
            out.append(
                PendingItem(
                    team=team.name,
                    groupid=team.id,
                    courseid=team.courseid,
                    activity=activity.name or activity.key,
                    activity_key=activity.key,
                    submitted_at=sub.timemodified,
                    waited_hours=round(max(ctx.snap.taken_at - sub.timemodified, 0) / 3600.0, 1),
                    resubmitted=resubmitted,
                    mentors=sorted(ctx.name(u) for u in ctx.mentors_of(team)),
                    mentor_ids=sorted(ctx.mentors_of(team)),
                    url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
                )
            )
    return sorted(out, key=lambda p: (p.submitted_at, p.team, p.activity_key))


def _robustness_notes(ctx: Context) -> list[str]:
    notes: list[str] = []
    for c in ctx.snap.courses:
        if c.id is None:
            continue
        if not any(e.courseid == c.id for e in ctx.snap.enrolments):
            notes.append(f"Курс {c.shortname} пуст: в нём нет записанных пользователей.")
        elif not ctx.active_students.get(c.id):
            notes.append(f"В курсе {c.shortname} нет ни одного активного участника (студента).")
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
            "Пользователи, упомянутые в данных, но не записанные ни на один курс (удалены или отчислены): "
            + ", ".join(f"#{u}" for u in ghosts)
            + ". Их ответы и работы показаны, но участниками они не считаются."
        )
    for sub in ctx.snap.submissions:
        if sub.userid == 0 and sub.groupid and sub.groupid not in ctx.team_by_id:
            notes.append(
                f"Работа №{sub.id} ({sub.key}) сдана группой #{sub.groupid}, которой больше нет в курсе."
            )
        if sub.userid == 0 and sub.groupid == 0 and sub.status == "submitted":
            notes.append(f"Работа №{sub.id} ({sub.key}) сдана участниками вне команд (группа по умолчанию).")
    return notes


def compute(
    snapshot: Snapshot, targets: dict[str, float | None] | None = None, period: Period | None = None
) -> IndicatorReport:
    """All indicators and breakdowns of `snapshot` for `period` (default: the whole grant period)."""
    period = period or Period()
    targets = targets or {}
    ctx = Context(snapshot, period)
    reviews = _reviews(ctx)
    t = targets.get
    results = [
        _participants(ctx, t("participants")),
        _school_participants(ctx, t("school_participants")),
        _initiative_groups(ctx, t("initiative_groups")),
        _submitted_and_graded(ctx, "projects_developed", "m1-concept", t("projects_developed")),
        _mentor_feedback(ctx, t("mentor_feedback"), reviews),
        _events_held(ctx, "webinars_held", "webinar", t("webinars_held")),
        _events_held(ctx, "consultations_held", "consultation", t("consultations_held")),
        _projects_presented(ctx, t("projects_presented")),
        _leader_projects(ctx, t("leader_projects")),
        _funds_raised(ctx, t("funds_raised")),
        _votes_cast(ctx, t("votes_cast")),
        _satisfaction(ctx, t("satisfaction")),
        _ngo_intent(ctx, t("ngo_intent")),
    ]
    waiting = pending_items(ctx)
    teams = _team_rows(ctx, reviews)
    by_key = {r.key: r for r in results}
    districts, villages = _place_rows(ctx, teams, by_key["projects_developed"], by_key["projects_presented"])
    notes = ctx.notes + _robustness_notes(ctx)
    for team in snapshot.teams:
        if not team.member_ids:
            course = ctx.course_by_id.get(team.courseid)
            notes.append(
                f"Команда «{team.name}» ({course.shortname if course else team.courseid}) не имеет участников."
            )
    return IndicatorReport(
        cohort=snapshot.cohort,
        site_url=snapshot.site_url,
        taken_at=snapshot.taken_at,
        period=period,
        period_label=period.label(),
        results=results,
        teams=teams,
        mentors=_mentor_rows(ctx, reviews, waiting),
        districts=districts,
        villages=villages,
        pending=waiting,
        notes=notes,
        warnings=ctx.warnings,
    )

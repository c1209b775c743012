"""Gathering: read the cohort's courses from Moodle into a dated :class:`~sync.indicators.snapshot.Snapshot`.

Only batch reads, so the number of requests depends on the number of courses and activities and never on the
number of people (about 40 for a cohort of three courses):

- per course: the course (by short name), its enrolments (all, then only active ones: field note 21), its
  groups and groupings, and its gradebook (``gradereport_user_get_grade_items``: every user's grades, feedback
  and grading times in one call, the only batch read with team grades: field note 10);
- once for all courses: group members, grouping contents, assignments, submissions, choices, databases,
  surveys, forums, calendar events (the courses' events, then their teams' events: two calls, field note 23);
- per activity: its ID number when the gradebook does not give it (``core_course_get_course_module``), and its
  results (vote counts, database entries, survey answers).

Activities are found by their ID numbers (program.md); a missing activity, course or answer becomes a note in
the snapshot, and every warning Moodle gives is kept, so the report can say what it could not count.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from course_templates.courses import module_courses
from integration import activities as act
from integration import assign, grades
from integration.calendar import get_events
from integration.courses import get_course_by_field, get_course_module
from integration.enrol import get_enrolled_users
from integration.errors import InvalidToken, MoodleError, RecordNotFound
from integration.groups import get_course_groupings, get_course_groups, get_group_members, get_groupings
from integration.transport import MoodleClient
from sync.core.config import AccelConfig
from sync.core.vocabulary import event_kind, idnumber_prefix
from sync.indicators.snapshot import (
    Activity,
    CalendarEvent,
    ChoiceOption,
    ChoiceResult,
    CourseSnap,
    Enrolment,
    GatherNote,
    GradeRecord,
    Person,
    Pledge,
    Snapshot,
    Submission,
    SurveyResponse,
    SurveyResult,
    Team,
    save_snapshot,
)

log = logging.getLogger(__name__)

# The program's activities (program.md): ID number -> (module key, Moodle module type).
PROGRAM_ACTIVITIES: dict[str, tuple[str, str]] = {
    "m1-intro-forum": ("m1", "forum"),
    "m1-idea": ("m1", "assign"),
    "m1-concept": ("m1", "assign"),
    "m1-fundraising": ("m1", "assign"),
    "m1-survey": ("m1", "feedback"),
    "m2-questions": ("m2", "forum"),
    "m2-consultations": ("m2", "assign"),
    "m2-final-project": ("m2", "assign"),
    "m3-pitch": ("m3", "assign"),
    "m3-vote": ("m3", "choice"),
    "m3-pledges": ("m3", "data"),
    "m3-survey": ("m3", "feedback"),
}
SURVEY_KEYS = ("m1-survey", "m3-survey")


#: Only the fields the indicators use: the full profiles (enrolled courses, groups, preferences) of a large
#: cohort would make each enrolment answer many times bigger.
PEOPLE_FIELDS = ("id", "fullname", "firstname", "lastname", "idnumber", "city", "roles")


def _districts(client: MoodleClient, courses: Sequence[CourseSnap]) -> dict[int, str]:
    """Group id -> name of its grouping: the roster sync makes one grouping per municipal district.

    A group may also be in a course designer's own grouping (every team, for an activity); the grouping the
    sync made (ID number ``{course ID number}-{district slug}``) is its district, else its first grouping.

    Calls: core_group_get_course_groupings, core_group_get_groupings.
    """
    groupingids: list[int] = []
    by_sync: set[int] = set()
    for c in courses:
        if c.id is None:
            continue
        prefix = idnumber_prefix(c.idnumber, c.shortname) + "-"
        for g in get_course_groupings(client, c.id):
            groupingids.append(g.id)
            if g.idnumber.startswith(prefix):
                by_sync.add(g.id)
    out: dict[int, str] = {}
    # The sync's groupings first (a stable sort keeps Moodle's order, by name, within each kind).
    for grouping in sorted(get_groupings(client, groupingids), key=lambda g: g.id not in by_sync):
        for group in grouping.groups:
            out.setdefault(group.id, grouping.name)
    return out


def _note(notes: list[GatherNote], kind: str, text: str) -> None:
    log.info("gather: %s", text)
    notes.append(GatherNote(kind=kind, text=text))


def gather(client: MoodleClient, config: AccelConfig, *, now: int | None = None) -> Snapshot:
    """Read the cohort from Moodle into a snapshot (nothing is written to the site)."""
    taken_at = int(time.time()) if now is None else now
    warnings_before = len(client.warnings)
    requests_before = client.request_count
    notes: list[GatherNote] = []

    # -- courses -----------------------------------------------------------------------------------------
    courses: list[CourseSnap] = []
    for mc in module_courses(config):
        found = get_course_by_field(client, "shortname", mc.shortname)
        if found is None:
            _note(notes, "missing_course", f"Курс {mc.shortname} ({mc.fullname}) не найден на сайте.")
        courses.append(
            CourseSnap(
                key=mc.key,
                number=mc.number,
                id=found.id if found else None,
                shortname=mc.shortname,
                fullname=found.fullname if found else mc.fullname,
                idnumber=found.idnumber if found else mc.idnumber,
                startdate=(found.startdate if found and found.startdate else mc.startdate),
                enddate=(found.enddate if found and found.enddate else mc.enddate),
            )
        )
    course_ids = [c.id for c in courses if c.id is not None]
    key_of_course = {c.id: c.key for c in courses if c.id is not None}

    # -- people, enrolments, teams -----------------------------------------------------------------------
    people: dict[int, Person] = {}
    enrolments: list[Enrolment] = []
    for cid in course_ids:
        everyone = get_enrolled_users(client, cid, userfields=PEOPLE_FIELDS)
        # Suspended enrolments are told apart only by this second read (field note 21).
        active = {u.id for u in get_enrolled_users(client, cid, onlyactive=True, userfields=("id",))}
        for u in everyone:
            name = u.fullname or f"{u.firstname} {u.lastname}".strip()
            people.setdefault(
                u.id, Person(id=u.id, fullname=name, idnumber=u.idnumber or "", city=u.city or "")
            )
            enrolments.append(
                Enrolment(
                    courseid=cid,
                    userid=u.id,
                    roleids=[r.roleid for r in u.roles],
                    roles=[r.shortname for r in u.roles],
                    active=u.id in active,
                )
            )
    teams = [
        Team(id=g.id, courseid=cid, name=g.name, idnumber=g.idnumber, description=g.description)
        for cid in course_ids
        for g in get_course_groups(client, cid)
    ]
    members = {m.groupid: m.userids for m in get_group_members(client, [t.id for t in teams])}
    districts = _districts(client, courses)
    for t in teams:
        t.member_ids = members.get(t.id, [])
        t.district = districts.get(t.id, "")

    # -- activities ----------------------------------------------------------------------------------------
    activities: dict[str, Activity] = {}
    grade_rows: list[GradeRecord] = []
    idnumber_by_cmid: dict[int, str] = {}
    grademax_by_cmid: dict[int, float | None] = {}
    for cid in course_ids:
        for user in grades.get_course_grades(client, cid):
            for item in user.gradeitems:
                if item.itemtype != "mod" or not item.idnumber or item.cmid is None:
                    continue
                idnumber_by_cmid[item.cmid] = item.idnumber
                grademax_by_cmid[item.cmid] = item.grademax
                grade_rows.append(
                    GradeRecord(
                        key=item.idnumber,
                        courseid=cid,
                        cmid=item.cmid,
                        userid=user.userid,
                        grade=item.graderaw,
                        grademax=item.grademax,
                        dategraded=item.gradedategraded,
                        feedback=item.feedback or "",
                    )
                )

    def idnumber_of(cmid: int) -> str:
        if cmid not in idnumber_by_cmid:
            try:
                idnumber_by_cmid[cmid] = get_course_module(client, cmid).idnumber or ""
            except RecordNotFound:
                idnumber_by_cmid[cmid] = ""
        return idnumber_by_cmid[cmid]

    def add_activity(cid: int, cmid: int, modname: str, instance: int, name: str, **extra: Any) -> str:
        key = idnumber_of(cmid)
        if key in PROGRAM_ACTIVITIES:
            module, expected = PROGRAM_ACTIVITIES[key]
            if expected != modname:
                _note(
                    notes,
                    "wrong_type",
                    f"Активность «{key}» в курсе #{cid} — {modname}, ожидался {expected}.",
                )
                return ""
            if key_of_course.get(cid) != module:
                _note(notes, "wrong_course", f"Активность «{key}» найдена не в своём модуле (курс #{cid}).")
            if key in activities:
                _note(notes, "duplicate", f"ID «{key}» встречается несколько раз; взята первая активность.")
                return ""
            activities[key] = Activity(
                key=key, courseid=cid, cmid=cmid, modname=modname, instance=instance, name=name, **extra
            )
        return key

    assignment_keys: dict[int, str] = {}
    for assign_course in assign.get_assignments(client, course_ids):
        for a in assign_course.assignments:
            # A feedback-only assignment (grade 0, "none") still has a gradebook item when feedback comments
            # are on, as Moodle 5.1 sets them: a text item with the activity's ID number, grademax 100 that
            # means nothing, and each review's comment without a grade (field note 24). Without that plugin
            # it has none, and its ID number comes from core_course_get_course_module. Either way it is
            # feedback-only (grademax None) and its reviews are counted by their comments.
            if a.grade == 0:
                grademax = None
            else:  # a scale (grade < 0) has its maximum only in the gradebook
                grademax = grademax_by_cmid.get(a.cmid, float(a.grade) if a.grade > 0 else None)
            key = add_activity(
                assign_course.id,
                a.cmid,
                "assign",
                a.id,
                a.name,
                grademax=grademax,
                teamsubmission=a.teamsubmission,
                duedate=a.duedate,
            )
            if key:
                assignment_keys[a.id] = key
    choices = [c for c in act.get_choices(client, course_ids) if c.course in key_of_course]
    for c in choices:
        add_activity(c.course, c.coursemodule, "choice", c.id, c.name)
    databases = [d for d in act.get_databases(client, course_ids) if d.course in key_of_course]
    for d in databases:
        add_activity(d.course, d.coursemodule, "data", d.id, d.name)
    feedbacks = [f for f in act.get_feedbacks(client, course_ids) if f.course in key_of_course]
    for f in feedbacks:
        add_activity(f.course, f.coursemodule, "feedback", f.id, f.name)
    for forum in act.get_forums(client, course_ids):
        if forum.course in key_of_course:
            add_activity(forum.course, forum.cmid, "forum", forum.id, forum.name)

    by_shortname = {c.key: c for c in courses}
    for key, (module, modname) in PROGRAM_ACTIVITIES.items():
        course = by_shortname[module]
        if key not in activities and course.id is not None:
            _note(
                notes,
                "missing_activity",
                f"Активность «{key}» ({modname}) не найдена в курсе {course.shortname}.",
            )

    # -- submissions -----------------------------------------------------------------------------------------
    submissions: list[Submission] = []
    for block in assign.get_submissions(client, sorted(assignment_keys)):
        sub_key = assignment_keys.get(block.assignmentid)
        if sub_key is None:
            continue
        for s in block.submissions:
            submissions.append(
                Submission(
                    id=s.id,
                    key=sub_key,
                    assignmentid=block.assignmentid,
                    userid=s.userid,
                    groupid=s.groupid,
                    status=s.status,
                    attemptnumber=s.attemptnumber,
                    timecreated=s.timecreated,
                    timemodified=s.timemodified,
                )
            )

    # -- results of the vote, pledges and surveys ---------------------------------------------------------
    # A Moodle error on one activity (no capability, a deleted instance) costs that activity's numbers only:
    # the indicator shows "нет данных" with the reason, the others are still gathered.
    def guarded(what: str, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except MoodleError as exc:
            if isinstance(exc, InvalidToken) or exc.errorcode == "accessexception":
                raise  # the token or its service is wrong, not this activity: say so (exit 4)
            _note(notes, "read_failed", f"Не удалось прочитать {what}: {exc.errorcode}: {exc.message}")
            return None

    choice_results: list[ChoiceResult] = []
    vote = activities.get("m3-vote")
    if vote is not None:
        result = guarded("результаты голосования «m3-vote»", lambda: _read_vote(client, vote, choices))
        if result is not None:
            choice_results.append(result)
    pledges: list[Pledge] = []
    pledge_db = activities.get("m3-pledges")
    if pledge_db is not None:
        pledges = guarded("базу «m3-pledges»", lambda: _read_pledges(client, pledge_db, notes)) or []
    surveys: list[SurveyResult] = []
    for survey in [activities[k] for k in SURVEY_KEYS if k in activities]:
        answers = guarded(f"ответы анкеты «{survey.key}»", partial(_read_survey, client, survey, notes))
        if answers is not None:
            surveys.append(answers)

    # Group events come back only for the groups asked, and only in a call of their own (field note 23:
    # get_events asks the courses, then the groups); consultations are module 2's.
    m2_id = next((c.id for c in courses if c.key == "m2"), None)
    consultation_groups = [t.id for t in teams if t.courseid == m2_id]
    # -- calendar ----------------------------------------------------------------------------------------------
    events = [
        CalendarEvent(
            id=e.id,
            courseid=e.courseid or 0,
            groupid=e.groupid or 0,
            name=e.name,
            description=e.description or "",
            eventtype=e.eventtype,
            timestart=e.timestart,
            timeduration=e.timeduration,
            kind=event_kind(e.description) or "",
        )
        for e in (
            get_events(client, courseids=course_ids, groupids=consultation_groups) if course_ids else []
        )
        if (e.courseid or 0) in key_of_course
    ]

    for w in client.warnings[warnings_before:]:
        where = f" ({w.item} {w.itemid})" if w.item else ""
        _note(notes, "moodle_warning", f"Moodle, {w.wsfunction}: {w.message}{where}")

    return Snapshot(
        cohort=config.cohort.code,
        site_url=client.url,
        taken_at=taken_at,
        student_roleid=config.roles.student,
        mentor_roleid=config.roles.mentor,
        courses=courses,
        people=sorted(people.values(), key=lambda p: p.id),
        enrolments=enrolments,
        teams=teams,
        activities=sorted(activities.values(), key=lambda a: a.key),
        submissions=submissions,
        grades=grade_rows,
        events=events,
        choices=choice_results,
        pledges=pledges,
        surveys=surveys,
        notes=notes,
        request_count=client.request_count - requests_before,
    )


_T = TypeVar("_T")
# Item labels the indicators read from each survey (program.md).
SURVEY_LABELS: dict[str, tuple[str, ...]] = {
    "m1-survey": ("usefulness", "ngo_plan"),
    "m3-survey": ("growth",),
}


def _read_vote(client: MoodleClient, vote: Activity, choices: Sequence[act.Choice]) -> ChoiceResult:
    options = act.get_choice_results(client, vote.instance)
    voters: set[int] = set()
    named = False
    for o in options:
        for r in o.userresponses:
            if "userid" in r:  # only when the choice publishes names
                named = True
                voters.add(int(str(r["userid"])))
    return ChoiceResult(
        key="m3-vote",
        cmid=vote.cmid,
        choiceid=vote.instance,
        allowmultiple=next((c.allowmultiple for c in choices if c.id == vote.instance), False),
        options=[ChoiceOption(id=o.id, text=o.text, count=o.numberofuser) for o in options],
        voter_ids=sorted(voters) if named else None,
    )


def _read_pledges(client: MoodleClient, db: Activity, notes: list[GatherNote]) -> list[Pledge]:
    fields = {f.id: f.name for f in act.get_data_fields(client, db.instance)}
    for wanted in ("partner", "project", "amount", "kind"):
        if wanted not in fields.values():
            _note(notes, "missing_field", f"В базе «m3-pledges» нет поля «{wanted}».")
    pledges = []
    for entry in act.get_data_entries(client, db.instance):
        values = {fields.get(c.fieldid, ""): (c.content or "").strip() for c in entry.contents}
        pledges.append(
            Pledge(
                id=entry.id,
                dataid=db.instance,
                cmid=db.cmid,
                partner=values.get("partner", ""),
                project=values.get("project", ""),
                amount_text=values.get("amount", ""),
                kind=values.get("kind", ""),
                timecreated=entry.timecreated,
                approved=entry.approved,
            )
        )
    return pledges


def _read_survey(client: MoodleClient, survey: Activity, notes: list[GatherNote]) -> SurveyResult:
    labels = {i.id: (i.label or i.name) for i in act.get_feedback_items(client, survey.instance)}
    for wanted in SURVEY_LABELS.get(survey.key, ()):
        if wanted not in labels.values():
            _note(notes, "missing_item", f"В анкете «{survey.key}» нет вопроса с меткой «{wanted}».")
    responses = [
        SurveyResponse(
            id=a.id,
            userid=a.userid,
            timemodified=a.timemodified,
            answers={labels.get(r.id, str(r.id)): (r.printval or "") for r in a.responses},
        )
        for a in act.get_feedback_responses(client, survey.instance)
    ]
    return SurveyResult(
        key=survey.key,
        cmid=survey.cmid,
        feedbackid=survey.instance,
        labels=list(labels.values()),
        responses=responses,
    )


def gather_and_store(
    client: MoodleClient, config: AccelConfig, store: sqlite3.Connection, *, now: int | None = None
) -> tuple[int, Snapshot]:
    """Gather a snapshot and keep it in the store (for `accel indicators gather` and the service's job)."""
    snapshot = gather(client, config, now=now)
    return save_snapshot(store, snapshot), snapshot

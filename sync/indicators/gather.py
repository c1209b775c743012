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

Activities are found by their ID numbers (program.md, ``sync.indicators.program``); a missing activity,
course or answer becomes a note in the snapshot, and every warning Moodle gives is kept, so the report can say
what it could not count, except Moodle's normal answers (``MoodleWarning.normal``: "No submissions found" for
an assignment nobody has submitted to yet), which are no fault: the snapshot's submissions say the same.

:func:`gather` runs one step per part of the cohort, in this order: courses, people (enrolments), groups
(teams, members, districts), gradebook, activities, submissions, answers (vote, pledges, surveys), calendar;
a :class:`~sync.core.progress.Progress` (a bar on the terminal) moves on after each.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from course_templates.courses import module_courses
from i18n import N_, _
from integration import activities as act
from integration import assign, grades
from integration.calendar import CalendarEvent, get_events
from integration.courses import get_course_by_field, get_course_module
from integration.enrol import get_enrolled_users
from integration.errors import InvalidToken, MoodleError, RecordNotFound
from integration.groups import get_course_groupings, get_course_groups, get_group_members, get_groupings
from integration.pool import Outcome
from integration.transport import MoodleClient, MoodleWarning
from sync.core.config import AccelConfig
from sync.core.progress import NO_PROGRESS, Progress
from sync.core.vocabulary import idnumber_prefix
from sync.indicators.program import PROGRAM_ACTIVITIES, SURVEY_KEYS, SURVEY_LABELS
from sync.indicators.snapshot import (
    Activity,
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

#: Only the fields the indicators use: the full profiles (enrolled courses, groups, preferences) of a large
#: cohort would make each enrolment answer many times bigger.
PEOPLE_FIELDS = ("id", "fullname", "firstname", "lastname", "idnumber", "city", "roles")

_T = TypeVar("_T")


#: The steps of :func:`gather`, for its progress bar.
GATHER_STEPS = 8


def gather(
    client: MoodleClient, config: AccelConfig, *, now: int | None = None, progress: Progress = NO_PROGRESS
) -> Snapshot:
    """Read the cohort from Moodle into a snapshot (nothing is written to the site).

    The steps below run in this order, each reading all the cohort's courses at once where Moodle allows it;
    ``progress`` moves on by one after each of the :data:`GATHER_STEPS` steps.
    """
    taken_at = int(time.time()) if now is None else now
    warnings_before = len(client.warnings)
    requests_before = client.request_count
    notes: list[GatherNote] = []

    people: tuple[list[Person], list[Enrolment]] = ([], [])
    teams: list[Team] = []
    gradebook = _Gradebook()
    submissions: list[Submission] = []
    events: list[CalendarEvent] = []

    def read_people() -> None:
        nonlocal people
        people = _read_people(client, courses)

    def read_teams() -> None:
        nonlocal teams
        teams = _read_teams(client, courses)

    def read_gradebook() -> None:
        nonlocal gradebook
        gradebook = _read_gradebook(client, courses)

    def read_submissions() -> None:
        nonlocal submissions
        submissions = _read_submissions(client, found.assignment_keys)

    def read_calendar() -> None:
        nonlocal events
        events = _read_calendar(client, courses, teams)

    with progress.task(_("Reading the cohort from Moodle"), total=GATHER_STEPS) as advance:

        def step_done(_outcome: Outcome[None]) -> None:
            advance(1)  # in this thread, as each step ends

        courses = _read_courses(client, config, notes)
        advance(1)
        # People, teams and gradebooks need only the courses: read at once (the gradebooks, the longest
        # reads, started first when several requests go at a time; with one, in the order of the steps).
        client.concurrent(
            [read_people, read_teams, read_gradebook]
            if client.concurrency == 1
            else [read_gradebook, read_people, read_teams],
            on_done=step_done,
        )
        found = _find_activities(client, courses, gradebook, notes)
        advance(1)
        # What the activities hold, and the calendar: independent reads, at once.
        answers = _Answers(client, found)
        client.concurrent([read_submissions, answers.read, read_calendar], on_done=step_done)
        choices, pledges, surveys = answers.results(notes)
    _keep_moodle_warnings(client.warnings[warnings_before:], notes)

    return Snapshot(
        cohort=config.cohort.code,
        site_url=client.url,
        taken_at=taken_at,
        student_roleid=config.roles.student,
        mentor_roleid=config.roles.mentor,
        courses=courses,
        people=people[0],
        enrolments=people[1],
        teams=teams,
        activities=sorted(found.activities.values(), key=lambda a: a.key),
        submissions=submissions,
        grades=gradebook.rows,
        events=events,
        choices=choices,
        pledges=pledges,
        surveys=surveys,
        notes=notes,
        request_count=client.request_count - requests_before,
    )


def _note(notes: list[GatherNote], kind: str, template: str, **params: str | int) -> None:
    """A note of the snapshot: ``template`` is marked ``N_()`` by the caller and said in the reader's language
    when the snapshot is shown (GatherNote.message); the log gets the English sentence."""
    note = GatherNote.make(kind, template, **params)
    log.info("gather: %s", note.text)
    notes.append(note)


def _ids(courses: Sequence[CourseSnap]) -> list[int]:
    """The Moodle ids of the courses found on the site."""
    return [c.id for c in courses if c.id is not None]


# -- courses ------------------------------------------------------------------------------------------------


def _read_courses(client: MoodleClient, config: AccelConfig, notes: list[GatherNote]) -> list[CourseSnap]:
    """The cohort's module courses, found by short name; a course not on the site is kept with the
    configuration's names and dates (id None) and a note.

    Calls: core_course_get_courses_by_field, once per course (at once).
    """
    courses: list[CourseSnap] = []
    wanted = module_courses(config)
    answers = client.map(lambda mc: get_course_by_field(client, "shortname", mc.shortname), wanted)
    for mc, found in zip(wanted, answers, strict=True):
        if found is None:
            _note(
                notes,
                "missing_course",
                N_("Course {course} ({fullname}) is not on the site."),
                course=mc.shortname,
                fullname=mc.fullname,
            )
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
    return courses


# -- people -------------------------------------------------------------------------------------------------


def _read_people(client: MoodleClient, courses: Sequence[CourseSnap]) -> tuple[list[Person], list[Enrolment]]:
    """Everyone enrolled in the courses (by user id) and their enrolments, active or suspended.

    Calls: core_enrol_get_enrolled_users, twice per course (all at once).
    """
    people: dict[int, Person] = {}
    enrolments: list[Enrolment] = []
    course_ids = _ids(courses)
    # Suspended enrolments are told apart only by the second read of each course (field note 21).
    reads = client.map(
        lambda ask: get_enrolled_users(client, ask[0], onlyactive=ask[1], userfields=ask[2]),
        [
            (cid, active, ("id",) if active else PEOPLE_FIELDS)
            for cid in course_ids
            for active in (False, True)
        ],
    )
    for number, cid in enumerate(course_ids):
        everyone = reads[2 * number]
        active = {u.id for u in reads[2 * number + 1]}
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
    return sorted(people.values(), key=lambda p: p.id), enrolments


# -- groups -------------------------------------------------------------------------------------------------


def _read_teams(client: MoodleClient, courses: Sequence[CourseSnap]) -> list[Team]:
    """The courses' groups (the teams) with their members and district.

    Calls: core_group_get_course_groups once per course, then core_group_get_group_members for all groups
    at once; meanwhile the districts' calls (:func:`_districts`).
    """
    course_ids = _ids(courses)
    teams: list[Team] = []
    members: dict[int, list[int]] = {}
    districts: dict[int, str] = {}

    def read_groups() -> None:
        answers = client.map(partial(get_course_groups, client), course_ids)
        for cid, groups in zip(course_ids, answers, strict=True):
            teams.extend(
                Team(id=g.id, courseid=cid, name=g.name, idnumber=g.idnumber, description=g.description)
                for g in groups
            )
        members.update({m.groupid: m.userids for m in get_group_members(client, [t.id for t in teams])})

    def read_districts() -> None:
        districts.update(_districts(client, courses))

    client.concurrent([read_groups, read_districts])
    for t in teams:
        t.member_ids = members.get(t.id, [])
        t.district = districts.get(t.id, "")
    return teams


def _districts(client: MoodleClient, courses: Sequence[CourseSnap]) -> dict[int, str]:
    """Group id -> name of its grouping: the roster sync makes one grouping per municipal district.

    A group may also be in a course designer's own grouping (every team, for an activity); the grouping the
    sync made (ID number ``{course ID number}-{district slug}``) is its district, else its first grouping.

    Calls: core_group_get_course_groupings (once per course, at once), core_group_get_groupings.
    """
    groupingids: list[int] = []
    by_sync: set[int] = set()
    found = [c for c in courses if c.id is not None]
    answers = client.map(partial(get_course_groupings, client), [c.id for c in found if c.id is not None])
    for c, groupings in zip(found, answers, strict=True):
        prefix = idnumber_prefix(c.idnumber, c.shortname) + "-"
        for g in groupings:
            groupingids.append(g.id)
            if g.idnumber.startswith(prefix):
                by_sync.add(g.id)
    out: dict[int, str] = {}
    # The sync's groupings first (a stable sort keeps Moodle's order, by name, within each kind).
    for grouping in sorted(get_groupings(client, groupingids), key=lambda g: g.id not in by_sync):
        for group in grouping.groups:
            out.setdefault(group.id, grouping.name)
    return out


# -- gradebook ----------------------------------------------------------------------------------------------


@dataclass
class _Gradebook:
    """The courses' gradebooks: every user's grade rows of the activities that have an ID number, and what
    the gradebook says about each activity (its ID number and maximum grade, by course module id)."""

    rows: list[GradeRecord] = field(default_factory=list)
    idnumber_by_cmid: dict[int, str] = field(default_factory=dict)
    grademax_by_cmid: dict[int, float | None] = field(default_factory=dict)


def _read_gradebook(client: MoodleClient, courses: Sequence[CourseSnap]) -> _Gradebook:
    """Every user's grades, feedback and grading times in one call per course: the only batch read with team
    grades (field note 10).

    Calls: gradereport_user_get_grade_items, once per course (at once).
    """
    book = _Gradebook()
    course_ids = _ids(courses)
    answers = client.map(partial(grades.get_course_grades, client), course_ids)
    for cid, users in zip(course_ids, answers, strict=True):
        for user in users:
            for item in user.gradeitems:
                if item.itemtype != "mod" or not item.idnumber or item.cmid is None:
                    continue
                book.idnumber_by_cmid[item.cmid] = item.idnumber
                book.grademax_by_cmid[item.cmid] = item.grademax
                book.rows.append(
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
    return book


# -- activities ---------------------------------------------------------------------------------------------


@dataclass
class _Found:
    """The program's activities found in the courses (by ID number), the assignments' keys by instance id, and
    the courses' choices (the vote's settings)."""

    activities: dict[str, Activity] = field(default_factory=dict)
    assignment_keys: dict[int, str] = field(default_factory=dict)
    choices: list[act.Choice] = field(default_factory=list)


class _ActivityFinder:
    """Keeps the activities whose ID number is one of the program's, noting a wrong type, a wrong module or
    a duplicate."""

    def __init__(
        self,
        client: MoodleClient,
        courses: Sequence[CourseSnap],
        gradebook: _Gradebook,
        found: _Found,
        notes: list[GatherNote],
    ) -> None:
        self.client = client
        self.key_of_course = {c.id: c.key for c in courses if c.id is not None}
        self.idnumber_by_cmid = gradebook.idnumber_by_cmid
        self.found = found
        self.notes = notes

    def idnumber_of(self, cmid: int) -> str:
        """The activity's ID number: the gradebook's, else core_course_get_course_module (one call each)."""
        if cmid not in self.idnumber_by_cmid:
            try:
                self.idnumber_by_cmid[cmid] = get_course_module(self.client, cmid).idnumber or ""
            except RecordNotFound:
                self.idnumber_by_cmid[cmid] = ""
        return self.idnumber_by_cmid[cmid]

    def add(self, cid: int, cmid: int, modname: str, instance: int, name: str, **extra: Any) -> str:
        """Keep the activity if it is one of the program's; its key, or "" when it is not kept."""
        key = self.idnumber_of(cmid)
        if key in PROGRAM_ACTIVITIES:
            module, expected = PROGRAM_ACTIVITIES[key]
            if expected != modname:
                _note(
                    self.notes,
                    "wrong_type",
                    N_("Activity «{key}» in course #{course} is of type {modname}, expected {expected}."),
                    key=key,
                    course=cid,
                    modname=modname,
                    expected=expected,
                )
                return ""
            if self.key_of_course.get(cid) != module:
                _note(
                    self.notes,
                    "wrong_course",
                    N_("Activity «{key}» was found outside its module's course (course #{course})."),
                    key=key,
                    course=cid,
                )
            if key in self.found.activities:
                _note(
                    self.notes,
                    "duplicate",
                    N_("ID number «{key}» is used more than once; the first activity is taken."),
                    key=key,
                )
                return ""
            self.found.activities[key] = Activity(
                key=key, courseid=cid, cmid=cmid, modname=modname, instance=instance, name=name, **extra
            )
        return key


def _look_up_idnumbers(client: MoodleClient, cmids: Sequence[int]) -> dict[int, str]:
    """The ID numbers of course modules the gradebook does not name (at once). Calls:
    core_course_get_course_module, one per module."""

    def look_up(cmid: int) -> str:
        try:
            return get_course_module(client, cmid).idnumber or ""
        except RecordNotFound:
            return ""

    unique = list(dict.fromkeys(cmids))
    return dict(zip(unique, client.map(look_up, unique), strict=True))


def _find_activities(
    client: MoodleClient, courses: Sequence[CourseSnap], gradebook: _Gradebook, notes: list[GatherNote]
) -> _Found:
    """The program's activities (program.md), found by their ID numbers in the courses; a missing one is a
    note.

    Calls, each once for all courses (all at once): mod_assign_get_assignments,
    mod_choice_get_choices_by_courses, mod_data_get_databases_by_courses, mod_feedback_get_feedbacks_by_courses,
    mod_forum_get_forums_by_courses; after each, core_course_get_course_module for its activities the gradebook
    does not name. The activities are then taken in that order, whatever order the answers came in.
    """
    course_ids = _ids(courses)
    found = _Found()
    finder = _ActivityFinder(client, courses, gradebook, found, notes)
    key_of_course = finder.key_of_course
    known = gradebook.idnumber_by_cmid

    def unnamed(cmids: Iterable[int]) -> dict[int, str]:
        return _look_up_idnumbers(client, [cmid for cmid in cmids if cmid not in known])

    def assignments() -> tuple[list[assign.AssignmentCourse], dict[int, str]]:
        blocks = assign.get_assignments(client, course_ids)
        return blocks, unnamed(a.cmid for block in blocks for a in block.assignments)

    def choices() -> tuple[list[act.Choice], dict[int, str]]:
        items = [c for c in act.get_choices(client, course_ids) if c.course in key_of_course]
        return items, unnamed(c.coursemodule for c in items)

    def databases() -> tuple[list[act.Database], dict[int, str]]:
        items = [d for d in act.get_databases(client, course_ids) if d.course in key_of_course]
        return items, unnamed(d.coursemodule for d in items)

    def feedbacks() -> tuple[list[act.Feedback], dict[int, str]]:
        items = [f for f in act.get_feedbacks(client, course_ids) if f.course in key_of_course]
        return items, unnamed(f.coursemodule for f in items)

    def forums() -> tuple[list[act.Forum], dict[int, str]]:
        items = [f for f in act.get_forums(client, course_ids) if f.course in key_of_course]
        return items, unnamed(f.cmid for f in items)

    reads: list[Callable[[], tuple[Any, dict[int, str]]]] = [
        assignments,
        choices,
        databases,
        feedbacks,
        forums,
    ]
    lists: list[Any] = []
    for items, looked_up in client.concurrent(reads):
        lists.append(items)
        finder.idnumber_by_cmid.update(looked_up)
    blocks, found.choices, database_list, feedback_list, forum_list = lists
    for assign_course in blocks:
        for a in assign_course.assignments:
            # A feedback-only assignment (grade 0, "none") still has a gradebook item when feedback comments
            # are on, as Moodle 5.1 sets them: a text item with the activity's ID number, grademax 100 that
            # means nothing, and each review's comment without a grade (field note 24). Without that plugin
            # it has none, and its ID number comes from core_course_get_course_module. Either way it is
            # feedback-only (grademax None) and its reviews are counted by their comments.
            if a.grade == 0:
                grademax = None
            else:  # a scale (grade < 0) has its maximum only in the gradebook
                grademax = gradebook.grademax_by_cmid.get(a.cmid, float(a.grade) if a.grade > 0 else None)
            key = finder.add(
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
                found.assignment_keys[a.id] = key
    for c in found.choices:
        finder.add(c.course, c.coursemodule, "choice", c.id, c.name)
    for d in database_list:
        finder.add(d.course, d.coursemodule, "data", d.id, d.name)
    for f in feedback_list:
        finder.add(f.course, f.coursemodule, "feedback", f.id, f.name)
    for forum in forum_list:
        finder.add(forum.course, forum.cmid, "forum", forum.id, forum.name)

    by_key = {c.key: c for c in courses}
    for key, (module, modname) in PROGRAM_ACTIVITIES.items():
        course = by_key[module]
        if key not in found.activities and course.id is not None:
            _note(
                notes,
                "missing_activity",
                N_("Activity «{key}» ({modname}) is not in course {course}."),
                key=key,
                modname=modname,
                course=course.shortname,
            )
    return found


# -- submissions --------------------------------------------------------------------------------------------


def _read_submissions(client: MoodleClient, assignment_keys: dict[int, str]) -> list[Submission]:
    """The latest submission of each team or person to the program's assignments.

    Calls: mod_assign_get_submissions, once for all assignments.
    """
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
    return submissions


# -- votes, pledges, surveys --------------------------------------------------------------------------------


def _guarded(notes: list[GatherNote], failed: str, key: str, read: Callable[[], _T]) -> _T | None:
    """`read()`, or None and a note when Moodle refuses it (``failed``: the note's template, marked ``N_()``,
    with the placeholders key, code and message).

    A Moodle error on one activity (no capability, a deleted instance) costs that activity's numbers only:
    the indicator shows "no data" with the reason, the others are still gathered.
    """
    try:
        return read()
    except MoodleError as exc:
        if isinstance(exc, InvalidToken) or exc.errorcode == "accessexception":
            raise  # the token or its service is wrong, not this activity: say so (exit 4)
        _note(notes, "read_failed", failed, key=key, code=exc.errorcode, message=exc.message)
        return None


class _Answers:
    """What people answered: the vote's counts, the pledge database's entries, the surveys' responses
    (:meth:`read`: one task per activity, at once), each task's notes kept apart and given in the order of the
    activities (:meth:`results`), whatever order the answers came in.

    Calls: mod_choice_get_choice_results; mod_data_get_fields, mod_data_get_entries; mod_feedback_get_items,
    mod_feedback_get_responses_analysis per survey (:func:`_read_vote`, :func:`_read_pledges`,
    :func:`_read_survey`).
    """

    def __init__(self, client: MoodleClient, found: _Found) -> None:
        self.client = client
        self.found = found
        activities = found.activities
        self.vote = activities.get("m3-vote")
        self.pledge_db = activities.get("m3-pledges")
        self.surveys = [activities[k] for k in SURVEY_KEYS if k in activities]
        self.choice: ChoiceResult | None = None
        self.pledges: list[Pledge] = []
        self.survey_results: list[SurveyResult | None] = [None] * len(self.surveys)
        #: each task's notes: the vote's, the pledges', then each survey's
        self.notes: list[list[GatherNote]] = [[] for _number in range(2 + len(self.surveys))]

    def read(self) -> None:
        tasks: list[Callable[[], None]] = []
        if self.vote is not None:
            tasks.append(partial(self._vote, self.vote))
        if self.pledge_db is not None:
            tasks.append(partial(self._pledges, self.pledge_db))
        tasks.extend(partial(self._survey, number) for number in range(len(self.surveys)))
        self.client.concurrent(tasks)

    def _vote(self, vote: Activity) -> None:
        self.choice = _guarded(
            self.notes[0],
            N_("Could not read the results of vote «{key}»: {code}: {message}"),
            vote.key,
            lambda: _read_vote(self.client, vote, self.found.choices),
        )

    def _pledges(self, db: Activity) -> None:
        notes = self.notes[1]
        self.pledges = (
            _guarded(
                notes,
                N_("Could not read database «{key}»: {code}: {message}"),
                db.key,
                lambda: _read_pledges(self.client, db, notes),
            )
            or []
        )

    def _survey(self, number: int) -> None:
        survey, notes = self.surveys[number], self.notes[2 + number]
        self.survey_results[number] = _guarded(
            notes,
            N_("Could not read the answers of survey «{key}»: {code}: {message}"),
            survey.key,
            partial(_read_survey, self.client, survey, notes),
        )

    def results(self, notes: list[GatherNote]) -> tuple[list[ChoiceResult], list[Pledge], list[SurveyResult]]:
        """The answers read, their notes added to ``notes`` in the order of the activities."""
        for kept in self.notes:
            notes.extend(kept)
        choices = [self.choice] if self.choice is not None else []
        return choices, self.pledges, [result for result in self.survey_results if result is not None]


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
            _note(
                notes,
                "missing_field",
                N_("Database «{key}» has no field «{field}»."),
                key=db.key,
                field=wanted,
            )
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
            _note(
                notes,
                "missing_item",
                N_("Survey «{key}» has no question labelled «{label}»."),
                key=survey.key,
                label=wanted,
            )
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


# -- calendar -----------------------------------------------------------------------------------------------


def _read_calendar(
    client: MoodleClient, courses: Sequence[CourseSnap], teams: Sequence[Team]
) -> list[CalendarEvent]:
    """The courses' events and module 2's team events, as the calendar gives them (their kind, webinar or
    consultation, is in the description when provisioning made them: sync.core.vocabulary.event_kind).

    Calls: core_calendar_get_calendar_events (the courses' events, then the teams': field note 23).
    """
    course_ids = _ids(courses)
    key_of_course = {c.id: c.key for c in courses if c.id is not None}
    # Group events come back only for the groups asked, and only in a call of their own (field note 23:
    # get_events asks the courses, then the groups); consultations are module 2's.
    m2_id = next((c.id for c in courses if c.key == "m2"), None)
    consultation_groups = [t.id for t in teams if t.courseid == m2_id]
    events = get_events(client, courseids=course_ids, groupids=consultation_groups) if course_ids else []
    return [e for e in events if (e.courseid or 0) in key_of_course]


def _keep_moodle_warnings(warnings: Sequence[MoodleWarning], notes: list[GatherNote]) -> None:
    """Every warning Moodle gave while gathering becomes a note of the snapshot, for the report to show,
    except Moodle's normal answers (``MoodleWarning.normal``): "No submissions found" for an assignment nobody
    has submitted to yet is no fault, and the snapshot's submissions already say it (the transport logs it at
    info level). Moodle's own message is kept in the site's language."""
    for w in warnings:
        if w.normal:
            continue
        if w.item:
            _note(
                notes,
                "moodle_warning",
                N_("Moodle, {function}: {message} ({item} {itemid})"),
                function=w.wsfunction,
                message=w.message,
                item=w.item,
                itemid=str(w.itemid),
            )
        else:
            _note(
                notes,
                "moodle_warning",
                N_("Moodle, {function}: {message}"),
                function=w.wsfunction,
                message=w.message,
            )


def gather_and_store(
    client: MoodleClient,
    config: AccelConfig,
    store: sqlite3.Connection,
    *,
    now: int | None = None,
    progress: Progress = NO_PROGRESS,
) -> tuple[int, Snapshot]:
    """Gather a snapshot and keep it in the store (for `accel indicators gather` and the service's job)."""
    snapshot = gather(client, config, now=now, progress=progress)
    return save_snapshot(store, snapshot), snapshot

"""Indicator maths on hand-made snapshots: each indicator's edge cases (pure, no HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration.calendar import CalendarEvent
from sync.core.config import TargetsSection
from sync.core.vocabulary import INDICATORS, MODULE_KEYS, event_description, team_key
from sync.indicators.compute import compute
from sync.indicators.models import Period
from sync.indicators.parsing import parse_amount, plain_text
from sync.indicators.pending import pending_submissions, team_mentor_ids
from sync.indicators.registry import INDICATOR_KEYS, REGISTRY, TITLES
from sync.indicators.snapshot import (
    Activity,
    ChoiceOption,
    ChoiceResult,
    CourseSnap,
    Enrolment,
    GradeRecord,
    Person,
    Pledge,
    Snapshot,
    Submission,
    SurveyResponse,
    SurveyResult,
    Team,
)
from sync.roster.read import read_roster

DAY = 86400
M1_START, M1_END = 1_633_000_000, 1_633_000_000 + 30 * DAY
M2_START, M2_END = M1_END + 1, M1_END + 120 * DAY
M3_START, M3_END = M2_END + 1, M2_END + 30 * DAY
NOW = M3_END + 10 * DAY
MENTOR = 100


def make_snapshot(teams: int = 4, **changes: Any) -> Snapshot:
    """Three courses (ids 1-3); `teams` teams of 2 students each, with mentor 100 in every group."""
    courses = [
        CourseSnap(key="m1", number=1, id=1, shortname="T-M1", startdate=M1_START, enddate=M1_END),
        CourseSnap(key="m2", number=2, id=2, shortname="T-M2", startdate=M2_START, enddate=M2_END),
        CourseSnap(key="m3", number=3, id=3, shortname="T-M3", startdate=M3_START, enddate=M3_END),
    ]
    people = [Person(id=MENTOR, fullname="Наставник Один")]
    enrolments: list[Enrolment] = []
    groups: list[Team] = []
    for cid in (1, 2, 3):
        enrolments.append(Enrolment(courseid=cid, userid=MENTOR, roleids=[4], roles=["teacher"]))
    for n in range(teams):
        members = [10 * (n + 1) + 1, 10 * (n + 1) + 2]
        for uid in members:
            people.append(Person(id=uid, fullname=f"Участник {uid}", city=f"Село{n}"))
            for cid in (1, 2, 3):
                enrolments.append(Enrolment(courseid=cid, userid=uid, roleids=[5], roles=["student"]))
        for cid in (1, 2, 3):
            groups.append(
                Team(
                    id=100 * cid + n,
                    courseid=cid,
                    name=f"Команда {n}",
                    description=f"Инициативная группа с. Село{n}",
                    member_ids=[*members, MENTOR],
                    district="Район А" if n % 2 == 0 else "Район Б",
                )
            )
    activities = [
        Activity(key="m1-idea", courseid=1, cmid=11, modname="assign", instance=1, grademax=10, teamsubmission=True),
        Activity(key="m1-concept", courseid=1, cmid=12, modname="assign", instance=2, grademax=100,
                 teamsubmission=True),
        Activity(key="m1-fundraising", courseid=1, cmid=13, modname="assign", instance=3, grademax=10),
        Activity(key="m1-survey", courseid=1, cmid=14, modname="feedback", instance=1),
        Activity(key="m2-consultations", courseid=2, cmid=21, modname="assign", instance=4, teamsubmission=True),
        Activity(key="m2-final-project", courseid=2, cmid=22, modname="assign", instance=5, grademax=100,
                 teamsubmission=True),
        Activity(key="m3-pitch", courseid=3, cmid=31, modname="assign", instance=6, grademax=100,
                 teamsubmission=True),
        Activity(key="m3-vote", courseid=3, cmid=32, modname="choice", instance=1),
        Activity(key="m3-pledges", courseid=3, cmid=33, modname="data", instance=1),
    ]  # fmt: skip
    data: dict[str, Any] = {
        "cohort": "test",
        "site_url": "https://moodle.example.org",
        "taken_at": NOW,
        "courses": courses,
        "people": people,
        "enrolments": enrolments,
        "teams": groups,
        "activities": activities,
    }
    data.update(changes)
    return Snapshot(**data)


def team_submission(key: str, group: int, when: int, status: str = "submitted", sid: int = 0) -> Submission:
    return Submission(
        id=sid or group * 10 + len(key), key=key, assignmentid=0, userid=0, groupid=group, status=status,
        timecreated=when, timemodified=when,
    )  # fmt: skip


def team_grade(
    snap: Snapshot, key: str, group: int, grade: float | None, when: int | None, feedback: str = ""
) -> list[GradeRecord]:
    team = next(t for t in snap.teams if t.id == group)
    activity = snap.activity(key)
    assert activity is not None
    return [
        GradeRecord(key=key, courseid=team.courseid, cmid=activity.cmid, userid=u, grade=grade, dategraded=when,
                    feedback=feedback)
        for u in team.member_ids
        if u != MENTOR
    ]  # fmt: skip


def values(snap: Snapshot, period: Period | None = None, **targets: float | None) -> dict[str, float | None]:
    return {r.key: r.value for r in compute(snap, dict(targets), period).results}


# ---------------------------------------------------------------------------------------- participants


def test_participants_count_distinct_active_students_only() -> None:
    snap = make_snapshot(teams=2)
    # A suspended student, a person with two roles (teacher + student) and a mentor in a team.
    snap.enrolments.append(Enrolment(courseid=2, userid=900, roleids=[5], roles=["student"], active=False))
    snap.enrolments.append(Enrolment(courseid=2, userid=901, roleids=[4, 5], roles=["teacher", "student"]))
    snap.people += [Person(id=900, fullname="Приостановлен"), Person(id=901, fullname="Две роли")]
    v = values(snap)
    assert v["participants"] == 4 + 1  # 2 teams x 2 students, the two-role person; not the suspended one
    assert v["school_participants"] == 4
    report = compute(snap)
    assert [m.userid for m in report.mentors] == [
        MENTOR
    ]  # the two-role person is a participant, not a mentor


def test_team_with_no_members_and_deleted_user_give_notes() -> None:
    snap = make_snapshot(teams=2)
    snap.teams.append(Team(id=199, courseid=1, name="Пустая команда", member_ids=[]))
    # A group member who is no longer enrolled anywhere (a deleted user).
    snap.teams[0].member_ids.append(555)
    report = compute(snap)
    assert report.result("initiative_groups").value == 2
    assert any(
        "Пустая команда" in n and "has no members" in n for n in report.result("initiative_groups").notes
    )
    assert any("#555" in n for n in report.notes)
    assert report.result("school_participants").value == 4  # 555 is not counted


def test_empty_course_gives_a_note() -> None:
    snap = make_snapshot(teams=0)
    report = compute(snap)
    assert report.result("initiative_groups").value == 0
    assert report.result("participants").value == 0
    assert any("has no groups" in n for n in report.result("initiative_groups").notes)
    # The mentor is enrolled: not empty, but without participants.
    assert sum("has no active participant" in n for n in report.notes) == 3
    snap.enrolments.clear()
    assert sum("is empty" in n for n in compute(snap).notes) == 3


# ---------------------------------------------------------------------------------- projects developed


def test_projects_developed_needs_submitted_and_graded() -> None:
    snap = make_snapshot(teams=4)
    snap.submissions = [
        team_submission("m1-concept", 100, M1_START + 5 * DAY),  # graded
        team_submission("m1-concept", 101, M1_START + 5 * DAY),  # not graded yet
        team_submission("m1-concept", 102, M1_START + 5 * DAY, status="draft"),  # graded but only a draft
    ]
    snap.grades = team_grade(snap, "m1-concept", 100, 80, M1_START + 6 * DAY, "Хорошо")
    snap.grades += team_grade(snap, "m1-concept", 102, 50, M1_START + 6 * DAY, "Черновик")
    report = compute(snap)
    assert report.result("projects_developed").value == 1
    assert [e.label for e in report.result("projects_developed").evidence] == ["Команда 0"]
    assert any("waiting for a grade" in n for n in report.result("projects_developed").notes)


def test_resubmission_counts_once_and_waits_again() -> None:
    snap = make_snapshot(teams=2)
    graded_at = M1_START + 6 * DAY
    # Team 0 resubmitted (a second attempt) after its grade; team 1 was graded after submitting.
    snap.submissions = [
        team_submission("m1-concept", 100, graded_at + DAY, sid=1).model_copy(update={"attemptnumber": 1}),
        team_submission("m1-concept", 101, M1_START + 5 * DAY, sid=2),
    ]
    snap.grades = team_grade(snap, "m1-concept", 100, 70, graded_at, "Доработайте бюджет")
    snap.grades += team_grade(snap, "m1-concept", 101, 90, graded_at, "Отлично")
    report = compute(snap)
    assert report.result("projects_developed").value == 2  # the graded project stays developed
    assert report.result("mentor_feedback").value == 2  # each team's submission once, not once per member
    mentor = report.mentors[0]
    assert mentor.reviews == 2
    assert mentor.median_hours == 24.0  # only team 1's time: team 0's grade predates its resubmission
    waiting = pending_submissions(snap)
    assert [(p.team, p.resubmitted) for p in waiting] == [("Команда 0", True)]
    assert waiting[0].waited_hours == (NOW - graded_at - DAY) / 3600
    team0 = next(t for t in report.teams if t.name == "Команда 0")
    assert team0.status["m1-concept"] == "graded: 70 (submitted again, waiting for a review)"
    assert team0.states["m1-concept"] == "graded"


# ------------------------------------------------------------------------------------- mentor feedback


def test_grade_without_feedback_is_not_counted() -> None:
    snap = make_snapshot(teams=3)
    t = M1_START + 2 * DAY
    snap.submissions = [team_submission("m1-idea", g, t) for g in (100, 101, 102)]
    snap.grades = team_grade(snap, "m1-idea", 100, 8, t + 10 * 3600, "Уточните проблему")
    snap.grades += team_grade(snap, "m1-idea", 101, 7, t + 20 * 3600, "")  # grade without feedback
    snap.grades += team_grade(snap, "m1-idea", 102, 9, t + 30 * 3600, "<p>&nbsp;</p>")  # an empty editor
    report = compute(snap)
    feedback = report.result("mentor_feedback")
    assert feedback.value == 1
    assert feedback.breakdown["Reviewed in all"] == 3
    assert feedback.breakdown["Median hours from submission to review"] == 20.0
    assert any("Grades without a comment (not counted): 2" in n for n in feedback.notes)
    assert report.mentors[0].with_feedback == 1 and report.mentors[0].reviews == 3


def test_feedback_without_a_grade_counts_and_ends_the_wait() -> None:
    """Field note 24: a review saved without a grade is graderaw null, a grading time and the comment, on a
    feedback-only assignment (m2-consultations) or on a graded one with the grade left empty."""
    snap = make_snapshot(teams=4)
    t = M2_START + 5 * DAY
    snap.submissions = [team_submission(k, g, t) for k in ("m2-consultations", "m2-final-project")
                        for g in (200, 201, 202, 203)]  # fmt: skip
    # Team 0: a comment on its consultation log (feedback-only); team 1: the final project commented with the
    # grade left empty; team 2: graded with a comment; team 3: a review with neither grade nor comment.
    snap.grades = team_grade(
        snap, "m2-consultations", 200, None, t + 6 * 3600, "<p>Журнал ведётся, хорошо</p>"
    )
    snap.grades += team_grade(snap, "m2-final-project", 201, None, t + 12 * 3600, "Оценку поставлю позже")
    snap.grades += team_grade(snap, "m2-final-project", 202, 70, t + 24 * 3600, "Хороший проект")
    snap.grades += team_grade(snap, "m2-consultations", 203, None, None, "")
    report = compute(snap)
    feedback = report.result("mentor_feedback")
    assert feedback.value == 3
    assert sorted(e.label for e in feedback.evidence) == [
        "Команда 0: Consultation log",
        "Команда 1: Revised project",
        "Команда 2: Revised project",
    ]
    assert feedback.breakdown["Reviewed in all"] == 3
    assert feedback.breakdown["Median hours from submission to review"] == 12.0
    assert any("Reviews without a grade" in n and ": 2." in n for n in feedback.notes)
    # Per mentor: the same three reviews, all with a comment; median of 6, 12, 24 h.
    (mentor,) = report.mentors
    assert (mentor.reviews, mentor.with_feedback, mentor.median_hours) == (3, 3, 12.0)
    # Waiting: the consultation logs of teams 1, 2, 3 (not answered) and the final projects of teams 0 and 3.
    waiting = {(p.team, p.activity_key) for p in pending_submissions(snap)}
    assert waiting == {
        ("Команда 1", "m2-consultations"),
        ("Команда 2", "m2-consultations"),
        ("Команда 3", "m2-consultations"),
        ("Команда 0", "m2-final-project"),
        ("Команда 3", "m2-final-project"),
    }
    assert mentor.pending == 5
    # The teams' grid: answered work is no longer "submitted" (waiting); the grade-less review says so.
    rows = {r.name: r for r in report.teams}
    assert rows["Команда 0"].status["m2-consultations"] == "reviewed: feedback without a grade"
    assert rows["Команда 1"].status["m2-final-project"] == "reviewed: feedback without a grade"
    assert rows["Команда 2"].status["m2-final-project"] == "graded: 70"
    assert rows["Команда 3"].status["m2-consultations"] == "submitted"
    # The grid's colours read the state, not the text: a review without a grade is an answer (graded).
    assert [
        rows[f"Команда {n}"].states[key] for n, key in ((0, "m2-consultations"), (1, "m2-final-project"))
    ] == [
        "graded",
        "graded",
    ]
    assert rows["Команда 3"].states["m2-consultations"] == "submitted"
    assert rows["Команда 1"].grades["m2-final-project"] is None
    # No grade is no project developed or leader: those indicators still need a grade.
    assert (rows["Команда 0"].graded, rows["Команда 1"].graded, rows["Команда 3"].graded) == (1, 1, 0)


def test_a_resubmission_after_a_review_without_grade_waits_again() -> None:
    snap = make_snapshot(teams=1)
    t = M2_START + 5 * DAY
    snap.submissions = [team_submission("m2-consultations", 200, t + 2 * DAY)]
    snap.grades = team_grade(snap, "m2-consultations", 200, None, t + DAY, "Добавьте даты встреч")
    (item,) = pending_submissions(snap)
    assert (item.activity_key, item.resubmitted) == ("m2-consultations", True)
    row = compute(snap).teams[0]
    assert row.status["m2-consultations"] == (
        "reviewed: feedback without a grade (submitted again, waiting for a review)"
    )


def test_individual_reviews_count_per_person_and_expert_comments_only_in_the_total() -> None:
    snap = make_snapshot(teams=1)
    t = M1_START + 3 * DAY
    snap.submissions = [
        Submission(id=1, key="m1-fundraising", assignmentid=3, userid=11, groupid=0, status="submitted",
                   timemodified=t),
        Submission(id=2, key="m1-fundraising", assignmentid=3, userid=12, groupid=0, status="submitted",
                   timemodified=t),
    ]  # fmt: skip
    snap.grades = [
        GradeRecord(key="m1-fundraising", courseid=1, cmid=13, userid=11, grade=9, dategraded=t + 3600,
                    feedback="Хороший план"),
        GradeRecord(key="m1-fundraising", courseid=1, cmid=13, userid=12, grade=6, dategraded=t + 7200,
                    feedback="Добавьте источники"),
    ]  # fmt: skip
    snap.grades += team_grade(snap, "m3-pitch", 300, 95, M3_START + DAY, "Эксперт: сильная презентация")
    report = compute(snap)
    assert report.result("mentor_feedback").value == 3  # two plans and the experts' pitch comment
    assert report.mentors[0].reviews == 2  # the pitch is not the mentor's work
    assert report.mentors[0].median_hours == 1.5


def test_mentor_breakdown_follows_group_membership() -> None:
    snap = make_snapshot(teams=2)
    # A second mentor who is a member only of team 1's module-1 group.
    snap.people.append(Person(id=200, fullname="Наставник Два"))
    snap.enrolments.append(Enrolment(courseid=1, userid=200, roleids=[4], roles=["teacher"]))
    group = {t.id: t for t in snap.teams}
    group[101].member_ids.append(200)  # group 101 = team 1 in module 1
    group[100].member_ids.remove(MENTOR)  # team 0's module-1 group has no mentor
    t = M1_START + DAY
    snap.submissions = [team_submission("m1-idea", 100, t), team_submission("m1-idea", 101, t)]
    snap.grades = team_grade(snap, "m1-idea", 100, 8, t + 5 * 3600, "ok")
    snap.grades += team_grade(snap, "m1-idea", 101, 8, t + 9 * 3600, "ok")
    report = compute(snap)
    by_name = {m.name: m for m in report.mentors}
    assert by_name["Наставник Два"].reviews == 1 and by_name["Наставник Два"].median_hours == 9.0
    assert by_name["Наставник Один"].reviews == 1 and by_name["Наставник Один"].median_hours == 9.0
    assert by_name["Наставник Два"].teams == ["Команда 1"]
    assert team_mentor_ids(snap)[100] == []
    assert team_mentor_ids(snap)[101] == [MENTOR, 200]


# ---------------------------------------------------------------------------------------------- events


#: Descriptions as `accel provision` writes them: the coordinator's text, then the kind marker.
WEBINAR = event_description("webinar", "")
CONSULTATION = event_description("consultation", "")


def test_events_in_the_future_are_not_held() -> None:
    snap = make_snapshot(teams=1, taken_at=M2_START + 10 * DAY)
    start = M2_START + 9 * DAY
    snap.events = [
        CalendarEvent(id=1, courseid=2, name="Вебинар 1", timestart=start, timeduration=3600, description=WEBINAR),
        # Started but not over at the snapshot time.
        CalendarEvent(id=2, courseid=2, name="Вебинар 2", timestart=snap.taken_at - 600, timeduration=3600,
                      description=WEBINAR),
        CalendarEvent(id=3, courseid=2, name="Вебинар 3", timestart=snap.taken_at + DAY, timeduration=3600,
                      description=WEBINAR),
        CalendarEvent(id=4, courseid=2, groupid=200, name="Консультация", timestart=start, timeduration=1800,
                      description=CONSULTATION),
        # Made by hand without the marker: recognised by its title, with a note.
        CalendarEvent(id=5, courseid=2, name="Консультация по бюджету", timestart=start, timeduration=1800),
        # A webinar in another module's course does not count.
        CalendarEvent(id=6, courseid=1, name="Вебинар", timestart=start, timeduration=3600, description=WEBINAR),
        # Webinars are course events (program.md): a group event marked as a webinar is not one.
        CalendarEvent(id=7, courseid=2, groupid=200, name="Вебинар команды", timestart=start, timeduration=3600,
                      description=WEBINAR),
    ]  # fmt: skip
    report = compute(snap, {"webinars_held": 3, "consultations_held": 4})
    webinars = report.result("webinars_held")
    assert webinars.value == 1
    assert any("not over at the snapshot's date (not counted): 2" in n for n in webinars.notes)
    consultations = report.result("consultations_held")
    assert consultations.value == 2
    assert consultations.breakdown == {"group": 1, "whole course": 1}
    assert any("recognised by their title" in n for n in consultations.notes)
    # 1 of 3 a twelfth into module 2: ahead of the expected share.
    assert webinars.status == "on_track" and webinars.percent == pytest.approx(33.3)


def test_period_filter_uses_event_end() -> None:
    snap = make_snapshot(teams=1)
    snap.events = [
        CalendarEvent(id=1, courseid=2, name="В1", timestart=M2_START + DAY, timeduration=3600, description=WEBINAR),
        CalendarEvent(id=2, courseid=2, name="В2", timestart=M2_START + 50 * DAY, timeduration=3600, description=WEBINAR),
    ]  # fmt: skip
    assert values(snap)["webinars_held"] == 2
    assert values(snap, Period(end=M2_START + 10 * DAY))["webinars_held"] == 1
    assert values(snap, Period(start=M2_START + 10 * DAY))["webinars_held"] == 1


# ------------------------------------------------------------------------------------------------ fair


def test_leaders_with_a_tie_for_third_place() -> None:
    snap = make_snapshot(teams=5)
    when = M3_START + 5 * DAY
    for n, grade in enumerate([90, 85, 70, 70, 60]):
        snap.submissions.append(team_submission("m3-pitch", 300 + n, when - DAY))
        snap.grades += team_grade(snap, "m3-pitch", 300 + n, grade, when, "")
    report = compute(snap, {"leader_projects": 3})
    leaders = report.result("leader_projects")
    assert [(e.label, e.value) for e in leaders.evidence] == [
        ("Команда 0", 90), ("Команда 1", 85), ("Команда 2", 70), ("Команда 3", 70),
    ]  # fmt: skip
    assert leaders.value == 4
    assert any("A tie" in n and "Команда 2" in n and "Команда 3" in n for n in leaders.notes)
    assert report.result("projects_presented").value == 5


def test_leaders_tie_at_the_top_still_ranks_by_competition() -> None:
    snap = make_snapshot(teams=4)
    for n, grade in enumerate([90, 90, 90, 80]):
        snap.grades += team_grade(snap, "m3-pitch", 300 + n, grade, M3_START + DAY, "")
    leaders = compute(snap).result("leader_projects")
    assert leaders.value == 3 and not any("A tie" in n for n in leaders.notes)


def test_funds_raised_total_and_by_kind_with_bad_amount() -> None:
    snap = make_snapshot(teams=1)
    t = M3_START + DAY
    snap.pledges = [
        Pledge(id=1, dataid=1, cmid=33, partner="А", amount_text="50000", kind="Деньги", timecreated=t),
        Pledge(id=2, dataid=1, cmid=33, partner="Б", amount_text="15 000,50", kind="Товары", timecreated=t),
        Pledge(id=3, dataid=1, cmid=33, partner="В", amount_text="много", kind="Услуги", timecreated=t),
        Pledge(id=4, dataid=1, cmid=33, partner="Г", amount_text="1000", kind="Деньги", timecreated=t),
    ]
    funds = compute(snap).result("funds_raised")
    assert funds.value == 66000.5
    assert funds.breakdown == {"Деньги": 51000, "Товары": 15000.5}
    assert any("«много» is not a number" in n for n in funds.notes)
    assert funds.evidence[0].url == "https://moodle.example.org/mod/data/view.php?id=33&rid=1"


def test_votes_cast_named_and_multiple_answers() -> None:
    options = [ChoiceOption(id=1, text="П1", count=3), ChoiceOption(id=2, text="П2", count=2)]
    snap = make_snapshot(teams=1, choices=[ChoiceResult(key="m3-vote", cmid=32, choiceid=1, options=options)])
    assert values(snap)["votes_cast"] == 5
    multi = ChoiceResult(key="m3-vote", cmid=32, choiceid=1, allowmultiple=True, options=options)
    result = compute(make_snapshot(teams=1, choices=[multi])).result("votes_cast")
    assert result.value == 5 and any("several answers" in n for n in result.notes)
    named = multi.model_copy(update={"voter_ids": [11, 12, 11, 13]})
    assert values(make_snapshot(teams=1, choices=[named]))["votes_cast"] == 3


# --------------------------------------------------------------------------------------------- surveys


def survey(responses: list[tuple[int | None, dict[str, str]]]) -> SurveyResult:
    return SurveyResult(
        key="m1-survey", cmid=14, feedbackid=1, labels=["usefulness", "ngo_plan", "best"],
        responses=[SurveyResponse(id=i, userid=u, timemodified=M1_END - DAY, answers=a)
                   for i, (u, a) in enumerate(responses)],
    )  # fmt: skip


def test_satisfaction_and_ngo_intent() -> None:
    snap = make_snapshot(
        teams=1,
        surveys=[
            survey(
                [
                    (11, {"usefulness": "9", "ngo_plan": "Да"}),
                    (12, {"usefulness": "6", "ngo_plan": "Нет"}),
                    (None, {"usefulness": "", "ngo_plan": "Уже зарегистрировали"}),  # anonymous, no score
                    (13, {"usefulness": "10"}),  # skipped the NGO question
                ]
            )
        ],
    )
    report = compute(snap)
    satisfaction = report.result("satisfaction")
    assert satisfaction.value == pytest.approx(25 / 3)
    assert any("Surveys without a usefulness score (not in the mean): 1" in n for n in satisfaction.notes)
    intent = report.result("ngo_intent")
    assert intent.value == 0.5  # 2 of 4 respondents
    assert intent.breakdown["no answer"] == 1


def test_survey_without_answers_is_no_data_with_a_note() -> None:
    snap = make_snapshot(teams=1, surveys=[survey([])])
    report = compute(snap, {"satisfaction": 8})
    for key in ("satisfaction", "ngo_intent"):
        result = report.result(key)
        assert result.value is None and result.status == "no_data"
        assert any("Nobody has answered" in n for n in result.notes)


def test_missing_activity_is_no_data_not_zero() -> None:
    snap = make_snapshot(teams=2)
    snap.activities = [a for a in snap.activities if a.key not in ("m3-pitch", "m3-pledges")]
    report = compute(snap, {"projects_presented": 7, "leader_projects": 3})
    for key in ("projects_presented", "leader_projects", "funds_raised"):
        assert report.result(key).value is None
        assert report.result(key).status == "no_data"
    assert report.result("satisfaction").status == "no_data"  # no m1-survey answers gathered


# ----------------------------------------------------------------------------------------- status, misc


def test_the_registry_lists_the_vocabularys_indicators_in_its_order() -> None:
    """One definition per indicator: the registry names the keys [targets] and the templates accept
    (sync.core.vocabulary.INDICATORS), in program.md's order, and compute reports them in that order."""
    assert (
        tuple(i.key for i in REGISTRY) == INDICATOR_KEYS == INDICATORS == tuple(TargetsSection.model_fields)
    )
    assert all(i.title and i.unit and i.module in (None, *MODULE_KEYS) for i in REGISTRY)
    report = compute(make_snapshot())
    assert [(r.key, r.title, r.unit) for r in report.results] == [(i.key, i.title, i.unit) for i in REGISTRY]
    assert TITLES["ngo_intent"] == "Share planning an NGO or already registered"


def test_status_met_on_track_behind() -> None:
    # Module 1 half over: 4 of 7 teams is on track, 2 of 7 behind; after module 1 only "met" is not behind.
    half = make_snapshot(teams=4, taken_at=M1_START + 15 * DAY)
    assert compute(half, {"initiative_groups": 7}).result("initiative_groups").status == "on_track"
    assert compute(half, {"initiative_groups": 4}).result("initiative_groups").status == "met"
    two = make_snapshot(teams=2, taken_at=M1_START + 15 * DAY)
    assert compute(two, {"initiative_groups": 7}).result("initiative_groups").status == "behind"
    late = make_snapshot(teams=4)
    result = compute(late, {"initiative_groups": 7}).result("initiative_groups")
    assert (result.status, result.percent) == ("behind", 57.1)
    assert compute(late).result("initiative_groups").status == "no_target"


def test_places_and_team_rows() -> None:
    snap = make_snapshot(teams=3)
    report = compute(snap)
    assert [(d.district, d.teams, d.participants) for d in report.districts] == [
        ("Район А", 2, 4),
        ("Район Б", 1, 2),
    ]
    assert [v.village for v in report.villages] == ["Село0", "Село2", "Село1"]
    assert report.teams[0].village == "Село0" and report.teams[0].members == 2


@pytest.mark.parametrize(
    ("text", "value"),
    [("50000", 50000.0), ("50 000", 50000.0), ("1500,50", 1500.5), ("15000 руб.", 15000.0), ("", None),
     ("abc", None), ("nan", None)],
)  # fmt: skip
def test_parse_amount(text: str, value: float | None) -> None:
    assert parse_amount(text) == value


def test_plain_text_strips_html() -> None:
    assert plain_text("<p>Хорошо&nbsp;сделано</p>") == "Хорошо сделано"
    assert plain_text("<p><br></p>") == ""


def test_a_member_of_two_teams_does_not_carry_a_grade_to_the_other_team() -> None:
    snap = make_snapshot(teams=2)
    group = {t.id: t for t in snap.teams}
    group[101].member_ids.append(11)  # person 11 of team 0 is also in team 1's module-1 group
    t = M1_START + DAY
    snap.submissions = [team_submission("m1-concept", 100, t), team_submission("m1-concept", 101, t)]
    snap.grades = team_grade(snap, "m1-concept", 100, 80, t + DAY, "ok")  # team 0 only (11 included)
    report = compute(snap)
    assert [e.label for e in report.result("projects_developed").evidence] == ["Команда 0"]
    assert [p.team for p in pending_submissions(snap)] == ["Команда 1"]


def test_teams_behind_their_due_dates() -> None:
    snap = make_snapshot(teams=3, taken_at=M1_START + 20 * DAY)
    snap.activities = [
        a.model_copy(update={"duedate": M1_START + 10 * DAY}) if a.key == "m1-idea" else a
        for a in snap.activities
    ]
    snap.submissions = [
        team_submission("m1-idea", 100, M1_START + 9 * DAY),  # on time
        team_submission("m1-idea", 101, M1_START + 9 * DAY, status="draft"),  # never sent
    ]
    snap.grades = team_grade(snap, "m1-idea", 102, 5, M1_START + 12 * DAY, "Оценено без работы")
    rows = {t.name: t for t in compute(snap).teams}
    assert rows["Команда 0"].overdue == []
    assert rows["Команда 1"].overdue == ["Project idea"]
    assert rows["Команда 1"].status["m1-idea"] == "draft, past due"
    assert rows["Команда 1"].states["m1-idea"] == "overdue"
    assert rows["Команда 2"].overdue == []  # graded: the mentor dealt with it
    assert rows["Команда 0"].status["m1-concept"] == "not submitted"  # no due date: never overdue
    assert rows["Команда 0"].states["m1-concept"] == "none"


def test_the_report_and_the_roster_see_one_team_whatever_the_case_and_spaces_of_its_name(
    tmp_path: Path,
) -> None:
    """One team-name rule for everyone (sync.core.vocabulary.team_key): what the roster sync treats as one team
    (and makes one group per course for) is one row of the report, not one per spelling of its groups."""
    assert team_key("Команда  Эссо") == team_key("команда эссо") == team_key("КОМАНДА «ЭССО»")
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        "ФИО;Email;Команда;Муниципальный район\n"
        "Иванова Анна;anna@example.org;Команда  Эссо;Быстринский МР\n"
        "Петров Пётр;petr@example.org;команда эссо;Быстринский МР\n",
        encoding="utf-8",
    )
    roster = read_roster(roster_file)
    assert not roster.errors
    assert len(roster.teams()) == 1

    snap = make_snapshot(teams=1)
    spelled = {1: "Команда  Эссо", 2: "команда эссо", 3: "КОМАНДА «ЭССО»"}
    teams = [t.model_copy(update={"name": spelled[t.courseid]}) for t in snap.teams]
    report = compute(snap.model_copy(update={"teams": teams}))
    assert [(row.name, row.members, row.total) for row in report.teams] == [("Команда  Эссо", 2, 5)]
    assert [(d.district, d.teams, d.participants) for d in report.districts] == [("Район А", 1, 2)]
    assert [m.teams for m in report.mentors] == [["Команда  Эссо"]]

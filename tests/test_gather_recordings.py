"""Gather replayed on the real Moodle 5.1 answers of tests/fixtures/recordings, then the indicators.

Each request gather makes is answered with the recorded answer of the same function and the same course,
assignment or activity. Where the recordings lack an answer for a course, the substitute is said next to
it (a table of ID numbers for ``core_course_get_course_module``, built from the recorded cm of cmid 16 and
the activity list of program.md; the team groups of modules 2 and 3 with the members of module 1's groups;
course 7's enrolments from course 5's answer, whose ``enrolledcourses`` list course 7 for everyone).
Module 2's gradebook is ``gradereport_user_get_grade_items__feedback_only`` (recorded on another copy of the
cohort: its course 21 is course 6 here, its cmids 86/87 are 21/22, and its one user's rows are given to the
four students of team Шаромы); module 3 has no recorded gradebook and answers an empty one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from integration.transport import MoodleClient
from sync.core.config import load_config
from sync.indicators.compute import compute
from sync.indicators.gather import gather
from sync.indicators.pending import pending_submissions
from tests.fake_moodle.core import unflatten
from tests.helpers import EXAMPLE, recording

URL = "https://moodle.example.org"
TOKEN = "0123456789abcdef0123456789abcdef"
TAKEN_AT = 1796392000  # just after the recorded activity (grades at 1795975255, module 2's at 1796391997)

# cmid -> (modname, instance, ID number): the activities of the recorded courses 5, 6 and 7.
COURSE_MODULES = {
    15: ("forum", 3, "m1-intro-forum"),
    16: ("assign", 7, "m1-idea"),
    17: ("assign", 8, "m1-concept"),
    18: ("assign", 9, "m1-fundraising"),
    19: ("feedback", 3, "m1-survey"),
    20: ("forum", 4, "m2-questions"),
    21: ("assign", 10, "m2-consultations"),
    22: ("assign", 11, "m2-final-project"),
    23: ("assign", 12, "m3-pitch"),
    24: ("choice", 2, "m3-vote"),
    25: ("data", 2, "m3-pledges"),
    26: ("feedback", 4, "m3-survey"),
}
COURSE_OF_CM = {cm: 5 if cm <= 19 else 6 if cm <= 22 else 7 for cm in COURSE_MODULES}


def _response(name: str) -> Any:
    return copy.deepcopy(recording(name)["response"])


def _module2_gradebook() -> Any:
    """The feedback-only recording as course 6's gradebook: team Шаромы (users 3-6) has a comment without a
    grade on m2-consultations and 52 with the comment on m2-final-project; team Эссо has no review."""
    recorded = _response("gradereport_user_get_grade_items__feedback_only")
    (user,) = recorded["usergrades"]
    cmids = {86: (21, 10), 87: (22, 11)}  # recorded cmid -> (cmid, assignment id) here
    for item in user["gradeitems"]:
        if item.get("cmid") in cmids:
            item["cmid"], item["iteminstance"] = cmids[item["cmid"]]
    usergrades = [{**copy.deepcopy(user), "courseid": 6, "userid": uid} for uid in (3, 4, 5, 6)]
    return {"usergrades": usergrades, "warnings": recorded["warnings"]}


def answer(wsfunction: str, p: dict[str, Any]) -> Any:
    if wsfunction == "core_course_get_courses_by_field":
        courses = _response("core_course_get_courses_by_field__by_ids")["courses"]
        return {"courses": [c for c in courses if c[p["field"]] == p["value"]], "warnings": []}
    if wsfunction == "core_enrol_get_enrolled_users":
        courseid = int(p["courseid"])
        active = any(o["name"] == "onlyactive" and o["value"] == "1" for o in p.get("options", []))
        if courseid == 6:
            name = "only_active" if active else "with_options"
            return _response(f"core_enrol_get_enrolled_users__{name}")
        users = _response("core_enrol_get_enrolled_users__ok")
        return [u for u in users if courseid in {c["id"] for c in u["enrolledcourses"]}]
    if wsfunction == "core_group_get_course_groups":
        courseid = int(p["courseid"])
        if courseid == 5:
            return _response("core_group_get_course_groups__ok")
        return _response(f"core_group_create_groups__module{courseid - 4}")
    if wsfunction == "core_group_get_group_members":
        recorded = {g["groupid"]: g["userids"] for g in _response("core_group_get_group_members__ok")}
        # Groups 3/5 are team Шаромы (as group 1) and 4/6 team Эссо (as group 2) in modules 2 and 3.
        same = {1: 1, 2: 2, 3: 1, 4: 2, 5: 1, 6: 2}
        return [{"groupid": int(g), "userids": recorded[same[int(g)]]} for g in p["groupids"]]
    if wsfunction == "core_group_get_course_groupings":
        return _response("core_group_get_course_groupings__ok") if p["courseid"] == "5" else []
    if wsfunction == "core_group_get_groupings":
        recorded = _response("core_group_get_groupings__with_groups")
        return [g for g in recorded if str(g["id"]) in p["groupingids"]]
    if wsfunction == "gradereport_user_get_grade_items":
        if p["courseid"] == "5":
            return _response("gradereport_user_get_grade_items__all_users")
        if p["courseid"] == "6":
            return _module2_gradebook()
        return {"usergrades": [], "warnings": []}
    if wsfunction == "core_course_get_course_module":
        cm = _response("core_course_get_course_module__by_cmid")
        cmid = int(p["cmid"])
        modname, instance, idnumber = COURSE_MODULES[cmid]
        cm["cm"].update(
            id=cmid, course=COURSE_OF_CM[cmid], modname=modname, instance=instance, idnumber=idnumber
        )
        return cm
    if wsfunction == "core_calendar_get_calendar_events":
        # Field note 23 (recordings __course_and_group_ids, __group_ids_only): with course ids the course
        # events only; the group events only when the group ids are asked alone.
        if p["events"].get("courseids"):
            return _response("core_calendar_get_calendar_events__by_course")
        groupids = {int(g) for g in p["events"].get("groupids", [])}
        created = _response("core_calendar_create_calendar_events__ok")["events"]
        return {"events": [e for e in created if e["groupid"] in groupids], "warnings": []}
    fixed = {
        "mod_assign_get_assignments": "mod_assign_get_assignments__all_modules",
        "mod_assign_get_submissions": "mod_assign_get_submissions__all",
        "mod_choice_get_choices_by_courses": "mod_choice_get_choices_by_courses__by_courses",
        "mod_choice_get_choice_results": "mod_choice_get_choice_results__ok",
        "mod_data_get_databases_by_courses": "mod_data_get_databases_by_courses__by_courses",
        "mod_data_get_fields": "mod_data_get_fields__ok",
        "mod_data_get_entries": "mod_data_get_entries__ok",
        "mod_feedback_get_feedbacks_by_courses": "mod_feedback_get_feedbacks_by_courses__by_courses",
        "mod_forum_get_forums_by_courses": "mod_forum_get_forums_by_courses__by_courses",
    }
    if wsfunction in fixed:
        return _response(fixed[wsfunction])
    if wsfunction == "mod_feedback_get_items":
        return _response(f"mod_feedback_get_items__ok_{p['feedbackid']}")
    if wsfunction == "mod_feedback_get_responses_analysis":
        return _response(f"mod_feedback_get_responses_analysis__ok_{p['feedbackid']}")
    raise AssertionError(f"gather called {wsfunction}, which has no recording here")


@pytest.fixture
def replay() -> Iterator[list[str]]:
    calls: list[str] = []

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        pairs = parse_qsl(body, keep_blank_values=True)
        wsfunction = dict(pairs)["wsfunction"]
        params = unflatten(
            [(k, v) for k, v in pairs if k not in ("wstoken", "wsfunction", "moodlewsrestformat")]
        )
        calls.append(wsfunction)
        return 200, {}, json.dumps(answer(wsfunction, params), ensure_ascii=False)

    with responses.RequestsMock() as mock:
        mock.add_callback(
            responses.POST,
            f"{URL}/webservice/rest/server.php",
            callback=callback,
            content_type="application/json",
        )
        yield calls


def test_indicators_from_the_recorded_answers_match_hand_counts(replay: list[str]) -> None:
    config = load_config(EXAMPLE)
    client = MoodleClient(URL, TOKEN, max_input_vars=5000, sleep=lambda _s: None)
    snap = gather(client, config, now=TAKEN_AT)
    report = compute(snap, config.targets_for())
    values = {r.key: r.value for r in report.results}
    assert values == {
        # core_enrol_get_enrolled_users: students 3..10 (user 10 suspended in course 6, active in 5 and 7)
        "participants": 8,
        # core_group_get_group_members__ok: groups 1 and 2 hold 4 students each plus mentor 11
        "school_participants": 8,
        "initiative_groups": 2,
        # mod_assign_get_submissions__all: both m1-concept team submissions "submitted"; the gradebook gives
        # both teams 8 (gradingstatus says "notgraded": it is computed for user 0)
        "projects_developed": 2,
        # gradereport: m1-idea and m1-concept, both teams, "Хорошая проблема, ..." -> 2 x 2, once per team;
        # module 2 (feedback_only): team Шаромы's consultation log (a comment without a grade) and final project
        "mentor_feedback": 6,
        # core_calendar_*: the webinar (course 6) and the group consultation of team Эссо (group 4), both past
        "webinars_held": 1,
        "consultations_held": 1,
        # m3-pitch: groups 5 and 6 submitted; the group-0 "new" default submission is no team's
        "projects_presented": 2,
        "leader_projects": 0,  # module 3's gradebook is not recorded
        "funds_raised": 95000,  # 50000 + 15000 + 30000
        "votes_cast": 8,  # 3 + 3 + 2
        "satisfaction": 7.625,  # 61 / 8
        "ngo_intent": 0.625,  # Да 3 + Уже зарегистрировали 2 of 8
    }
    assert report.result("funds_raised").breakdown == {"Деньги": 50000, "Товары": 15000, "Услуги": 30000}
    consultations = report.result("consultations_held")
    assert any(
        "recognised by their title" in n for n in consultations.notes
    )  # recorded before the kind marker existed
    feedback = report.result("mentor_feedback")
    log = next(e for e in feedback.evidence if e.label == "Команда «Шаромы»: Consultation log")
    assert log.detail == "Хорошая работа, уточните бюджет и партнёров" and log.when == 1796391996
    assert any("without a grade" in n and ": 1." in n for n in feedback.notes)
    mentor = report.mentors[0]
    assert (mentor.name, mentor.reviews, mentor.with_feedback) == ("Наталья Наставникова", 6, 6)
    # m1: graded 44 s after submitting (x4); m2: 1796391996/7 - 1795975211
    hours = sorted([44 / 3600] * 4 + [(1796391996 - 1795975211) / 3600, (1796391997 - 1795975211) / 3600])
    assert mentor.median_hours == round((hours[2] + hours[3]) / 2, 1)
    # Recorded at the same second: by team. Team Шаромы's answered consultation log waits no more; the
    # pitches wait for experts.
    assert [(p.team, p.activity_key) for p in pending_submissions(snap)] == [
        ("Команда «Эссо»", "m2-consultations"),
        ("Команда «Эссо»", "m2-final-project"),
    ]
    sharomy = next(t for t in report.teams if t.name == "Команда «Шаромы»")
    assert sharomy.status["m2-consultations"] == "reviewed: feedback without a grade"
    assert sharomy.status["m2-final-project"] == "graded: 52"
    # The feedback-only assignment is known as such although its gradebook item says grademax 100.
    assert next(a for a in snap.activities if a.key == "m2-consultations").grademax is None
    # m1-programme is a page: no activity read covers pages, and nothing counts it.
    assert {a.key for a in snap.activities} == set(COURSE_MODULES_KEYS)
    # One request per course or per activity, never per person.
    assert len(replay) == snap.request_count
    per_person = {"core_user_get_users_by_field", "core_group_get_course_user_groups"}
    assert not per_person & set(replay)
    # Activities without a gradebook item; module 2's assignments have one (the feedback-only one a text item).
    assert replay.count("core_course_get_course_module") == 7


COURSE_MODULES_KEYS = [v[2] for v in COURSE_MODULES.values()]


# ------------------------------------------------------------------- the fake answers like the recordings

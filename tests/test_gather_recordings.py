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

from integration.errors import InvalidParameter
from integration.grades import get_course_grades
from integration.transport import MoodleClient
from sync.core.config import load_config
from sync.indicators.compute import compute
from sync.indicators.gather import gather
from sync.indicators.pending import pending_submissions
from tests.conftest import recording
from tests.fake_moodle.core import unflatten
from tests.test_gather import EXAMPLE

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
    assert any("по названию" in n for n in consultations.notes)  # recorded before the kind marker existed
    feedback = report.result("mentor_feedback")
    log = next(e for e in feedback.evidence if e.label == "Команда «Шаромы»: Журнал консультаций")
    assert log.detail == "Хорошая работа, уточните бюджет и партнёров" and log.when == 1796391996
    assert any("без оценки" in n and ": 1." in n for n in feedback.notes)
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
    assert sharomy.status["m2-consultations"] == "проверено: отзыв без оценки"
    assert sharomy.status["m2-final-project"] == "оценено: 52"
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


def _keys(node: Any, path: tuple[str, ...]) -> set[str]:
    """Keys of the dicts found by following `path` ("*" = every list item)."""
    nodes = [node]
    for step in path:
        nxt: list[Any] = []
        for n in nodes:
            if step == "*":
                nxt.extend(n)
            else:
                nxt.append(n[step])
        nodes = nxt
    found: set[str] = set()
    for n in nodes:
        found |= set(n)
    return found


SHAPES = [
    ("mod_assign_get_assignments", "all_modules", ("courses", "*", "assignments", "*")),
    ("mod_assign_get_submissions", "all", ("assignments", "*", "submissions", "*")),
    ("gradereport_user_get_grade_items", "all_users", ("usergrades", "*", "gradeitems", "*")),
    ("mod_choice_get_choices_by_courses", "by_courses", ("choices", "*")),
    ("mod_choice_get_choice_results", "ok", ("options", "*")),
    ("mod_data_get_databases_by_courses", "by_courses", ("databases", "*")),
    ("mod_data_get_fields", "ok", ("fields", "*")),
    ("mod_data_get_entries", "ok", ("entries", "*", "contents", "*")),
    ("mod_feedback_get_feedbacks_by_courses", "by_courses", ("feedbacks", "*")),
    ("mod_feedback_get_items", "ok_3", ("items", "*")),
    ("mod_feedback_get_responses_analysis", "ok_3", ("attempts", "*", "responses", "*")),
    ("mod_forum_get_forums_by_courses", "by_courses", ("*",)),
    ("mod_feedback_get_analysis", "ok_3", ("itemsdata", "*", "item")),
    ("core_grades_get_gradeitems", "ok", ("gradeItems", "*")),
    ("mod_assign_list_participants", "all", ("*",)),
]


@pytest.mark.parametrize(("wsfunction", "case", "path"), SHAPES)
def test_fake_answers_use_the_recorded_shapes(
    fake_moodle: Any, wsfunction: str, case: str, path: tuple[str, ...]
) -> None:
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    ids = {
        "courseids": list(cohort.courses.values()),
        "courseid": cohort.courses["m1"],
        "assignmentids": sorted(cohort.assign.values()),
        "choiceid": cohort.vote,
        "databaseid": cohort.pledges,
        "feedbackid": cohort.surveys["m1-survey"],
        "assignid": cohort.assign["m1-concept"],
    }
    recorded = recording(f"{wsfunction}__{case}")
    params = {k: ids[k] if k in ids else v for k, v in recorded["params"].items()}
    fake = make_client(fake_moodle).call(wsfunction, params)
    fake_keys, real_keys = _keys(fake, path), _keys(recorded["response"], path)
    assert fake_keys, "the fake answered no items"
    assert fake_keys <= real_keys, f"the fake invents {sorted(fake_keys - real_keys)}"
    # Every field the product reads is in both.
    assert set(fake) <= set(recorded["response"]) if isinstance(fake, dict) else isinstance(fake, list)


def test_fake_team_grades_are_missing_from_get_grades_like_moodle(fake_moodle: Any) -> None:
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    answer = make_client(fake_moodle).call(
        "mod_assign_get_grades", {"assignmentids": [cohort.assign["m1-idea"]]}
    )
    recorded = recording("mod_assign_get_grades__all")["response"]
    assert answer["assignments"] == recorded["assignments"] == []
    assert answer["warnings"][0]["message"] == recorded["warnings"][0]["message"] == "No grades found"


def test_fake_save_grade_applies_to_the_whole_team(fake_moodle: Any) -> None:
    from integration.assign import save_team_grade
    from integration.grades import get_course_grades
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    client = make_client(fake_moodle)
    member = cohort.users["kam21.p0"]  # team Шаромы
    save_team_grade(client, cohort.assign["m3-pitch"], member, 77, "Сильная защита")
    rows = [
        (u.userid, i.graderaw, i.feedback)
        for u in get_course_grades(client, cohort.courses["m3"])
        for i in u.gradeitems
        if i.idnumber == "m3-pitch" and i.graderaw == 77
    ]
    sharomy = {cohort.users[p] for p in ("kam21.p0", "kam21.p1", "kam21.p2", "kam21.p3")}
    assert {r[0] for r in rows} == sharomy
    assert {r[2] for r in rows} == {"Сильная защита"}


def test_fake_survey_analysis_matches_the_recorded_counts(fake_moodle: Any) -> None:
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    fake = make_client(fake_moodle).call(
        "mod_feedback_get_analysis", {"feedbackid": cohort.surveys["m1-survey"]}
    )
    real = recording("mod_feedback_get_analysis__ok_3")["response"]
    assert fake["completedcount"] == real["completedcount"] == 8
    for fake_item, real_item in zip(fake["itemsdata"], real["itemsdata"], strict=True):
        assert fake_item["item"]["label"] == real_item["item"]["label"]
        if real_item["item"]["typ"] == "multichoice":
            assert [json.loads(d) for d in fake_item["data"]] == [json.loads(d) for d in real_item["data"]]
        else:
            assert sorted(fake_item["data"]) == sorted(real_item["data"])


def _save_grade(client: MoodleClient, assignmentid: int, member: int, grade: float, comment: str) -> None:
    """mod_assign_save_grade as the grading page sends it for a team (field note 11)."""
    client.call(
        "mod_assign_save_grade",
        {
            "assignmentid": assignmentid,
            "userid": member,
            "grade": grade,
            "attemptnumber": -1,
            "addattempt": 0,
            "workflowstate": "",
            "applytoall": 1,
            "plugindata": {"assignfeedbackcomments_editor": {"text": comment, "format": 1}},
        },
        write=True,
    )


def test_fake_gradebook_answers_a_review_without_a_grade_like_the_recording(fake_moodle: Any) -> None:
    """Field note 24: a comment saved on a feedback-only assignment (grade type none) and one saved with the
    grade left empty (-1) on a graded assignment: ``graderaw`` null, a grading time, the comment."""
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    client = make_client(fake_moodle)
    member = cohort.users["kam21.p4"]  # team Эссо
    comment = "Хорошая работа, уточните бюджет и партнёров"
    fake_moodle.now = 1796391996
    # Moodle 5.1 ignores the grade of a feedback-only assignment (it keeps only the comment); -1 is "no grade".
    _save_grade(client, cohort.assign["m2-consultations"], member, 0, comment)
    _save_grade(client, cohort.assign["m2-final-project"], member, -1, comment)
    answer = client.call(
        "gradereport_user_get_grade_items", {"courseid": cohort.courses["m2"], "userid": member}
    )
    (user,) = answer["usergrades"]
    items = {i["idnumber"]: i for i in user["gradeitems"] if i["itemtype"] == "mod"}
    (recorded_user,) = recording("gradereport_user_get_grade_items__feedback_only")["response"]["usergrades"]
    recorded = next(i for i in recorded_user["gradeitems"] if i["idnumber"] == "m2-consultations")
    fields = (
        "graderaw",
        "gradeformatted",
        "gradedategraded",
        "feedback",
        "grademax",
        "grademin",
        "rangeformatted",
    )
    assert {f: items["m2-consultations"][f] for f in fields} == {f: recorded[f] for f in fields}
    assert set(items["m2-consultations"]) <= set(recorded)
    # A graded assignment reviewed with the grade left empty: no grade ("-" as Moodle formats it), dated.
    final = items["m2-final-project"]
    assert (final["graderaw"], final["gradeformatted"], final["gradedategraded"], final["feedback"]) == (
        None,
        "-",
        1796391996,
        comment,
    )
    # The whole team got it (applytoall), and a feedback-only item without a review has no date (real site).
    rows = get_course_grades(client, cohort.courses["m2"])
    esso = {cohort.users[p] for p in ("kam21.p4", "kam21.p5", "kam21.p6", "kam21.p7")}
    commented = {
        u.userid
        for u in rows
        for i in u.gradeitems
        if i.idnumber == "m2-consultations" and i.feedback == comment
    }
    assert commented == esso
    quiet = [
        i for u in rows if u.userid not in esso for i in u.gradeitems if i.idnumber == "m2-consultations"
    ]
    assert quiet and all(i.graderaw is None for i in quiet)


def test_fake_review_without_grade_or_comment_is_no_review(fake_moodle: Any) -> None:
    from tests.conftest import make_client
    from tests.test_gather import build_recorded_cohort

    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    client = make_client(fake_moodle)
    member = cohort.users["kam21.p4"]
    _save_grade(client, cohort.assign["m2-consultations"], member, 0, "")
    (user,) = client.call(
        "gradereport_user_get_grade_items", {"courseid": cohort.courses["m2"], "userid": member}
    )["usergrades"]
    item = next(i for i in user["gradeitems"] if i["idnumber"] == "m2-consultations")
    # Moodle dates a gradebook row only when it holds a grade or a comment (grade_grade::get_dategraded).
    assert (item["graderaw"], item["gradedategraded"], item["feedback"]) == (None, None, "")
    # An empty grade is refused as on the real site (PARAM_FLOAT, required).
    with pytest.raises(InvalidParameter):
        _save_grade(client, cohort.assign["m2-final-project"], member, "", "x")  # type: ignore[arg-type]

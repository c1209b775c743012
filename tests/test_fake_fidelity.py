"""The fake site's fidelity: the recorded exchanges of the real Moodle 5.1 (tests/fixtures/recordings)
replayed against the fake (tests/fake_moodle), which must answer in the same shapes and with the same facts.

Every other fast test trusts the fake; these tests are why it may. Where the fake and the real site disagree,
the real site is right: fix the fake.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration.assign import save_team_grade
from integration.errors import InvalidParameter, MessageNotSent
from integration.grades import get_course_grades
from integration.transport import MoodleClient
from sync.core.config import load_config
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.courses import add_category, add_course
from tests.fake_moodle.people import add_user, enrol
from tests.helpers import (
    CALENDAR_BOTH,
    CALENDAR_GROUPS_ONLY,
    EXAMPLE,
    build_recorded_cohort,
    make_client,
    recording,
    seed_recorded_calendar,
)

# -- the calendar (field note 23) ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CALENDAR_BOTH, CALENDAR_GROUPS_ONLY])
def test_fake_answers_the_recorded_requests_as_recorded(fake_moodle: FakeMoodle, name: str) -> None:
    seed_recorded_calendar(fake_moodle)
    client = make_client(fake_moodle)
    answer = client.call("core_calendar_get_calendar_events", recording(name)["params"])
    assert answer == recording(name)["response"]


# -- the gathering reads (field notes 10, 11, 24) ------------------------------------------------------------


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
    cohort = build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    answer = make_client(fake_moodle).call(
        "mod_assign_get_grades", {"assignmentids": [cohort.assign["m1-idea"]]}
    )
    recorded = recording("mod_assign_get_grades__all")["response"]
    assert answer["assignments"] == recorded["assignments"] == []
    assert answer["warnings"][0]["message"] == recorded["warnings"][0]["message"] == "No grades found"


def test_fake_save_grade_applies_to_the_whole_team(fake_moodle: Any) -> None:
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


# -- provisioning's calls ------------------------------------------------------------------------------------


def _top_keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def test_fake_answers_have_the_recorded_shapes(fake_moodle: Any) -> None:
    client = make_client(fake_moodle)
    cat = add_category(fake_moodle, "Шаблоны", "accel-templates")
    tpl = add_course(
        fake_moodle,
        shortname="ACCEL-TPL-M1",
        fullname="Школа активистов сельских территорий",
        categoryid=cat,
        sections=["General", "Знакомство и региональные практики", "Социальное проектирование"],
        modules=[
            {
                "modname": "assign",
                "name": "Идея проекта",
                "idnumber": "m1-idea",
                "section": 2,
                "dates": [("duedate", 1633906800)],
            }
        ],
    )

    def same_top_keys(name: str, answer: Any) -> None:
        recorded = recording(name)["response"]
        if isinstance(recorded, list):
            assert isinstance(answer, list) and answer, name
            assert _top_keys(answer[0]) >= _top_keys(recorded[0]) - {"courseimage", "timemodified"}, name
        elif isinstance(recorded, dict):
            assert _top_keys(answer) == _top_keys(recorded), name
        else:
            assert type(answer) is type(recorded), name

    same_top_keys(
        "core_course_create_categories__ok",
        client.call(
            "core_course_create_categories",
            recording("core_course_create_categories__ok")["params"],
            write=True,
        ),
    )
    same_top_keys(
        "core_course_get_categories__by_idnumber_found",
        client.call(
            "core_course_get_categories", recording("core_course_get_categories__by_idnumber_found")["params"]
        ),
    )
    new_cat = next(c for c in fake_moodle.categories.values() if c["idnumber"] == "kamchatka-2021")["id"]
    dup = client.call(
        "core_course_duplicate_course",
        {
            **recording("core_course_duplicate_course__module1")["params"],
            "courseid": tpl,
            "categoryid": new_cat,
        },
        write=True,
    )
    same_top_keys("core_course_duplicate_course__module1", dup)
    answer = client.call("core_course_get_courses_by_field", {"field": "shortname", "value": "KAM21-M1"})
    recorded = recording("core_course_get_courses_by_field__by_shortname")["response"]
    assert _top_keys(answer) == _top_keys(recorded)
    assert _top_keys(answer["courses"][0]) == _top_keys(recorded["courses"][0])
    same_top_keys(
        "core_course_update_courses__warning_unknown_course",
        client.call(
            "core_course_update_courses", {"courses": [{"id": 999999, "fullname": "nope"}]}, write=True
        ),
    )
    assert client.warnings[-1].warningcode == "invalidrecordunknown"
    contents = client.call("core_course_get_contents", {"courseid": dup["id"]})
    rec_sections = recording("core_course_get_contents__duplicated")["response"]
    assert _top_keys(contents[0]) == _top_keys(rec_sections[0])
    rec_module = rec_sections[2]["modules"][0]
    assert _top_keys(contents[2]["modules"][0]) <= _top_keys(rec_module)
    assert contents[2]["modules"][0]["dates"] == rec_module["dates"]
    cm = client.call("core_course_get_course_module", {"cmid": contents[2]["modules"][0]["id"]})
    rec_cm = recording("core_course_get_course_module__by_cmid")["response"]
    assert _top_keys(cm) == _top_keys(rec_cm) and _top_keys(cm["cm"]) <= _top_keys(rec_cm["cm"])
    assert cm["cm"]["idnumber"] == "m1-idea" and cm["cm"]["sectionnum"] == 2
    same_top_keys(
        "core_update_inplace_editable__rename_section",
        client.call(
            "core_update_inplace_editable",
            {
                "component": "format_topics",
                "itemtype": "sectionname",
                "itemid": contents[1]["id"],
                "value": "Знакомство",
            },
            write=True,
        ),
    )
    added = client.call(
        "core_courseformat_update_course", {"action": "section_add", "courseid": dup["id"]}, write=True
    )
    assert isinstance(added, str) and isinstance(json.loads(added), list)  # double-encoded (field note 16)
    events = recording("core_calendar_create_calendar_events__ok")["params"]["events"]
    fake_moodle.groups[4] = {
        "id": 4,
        "courseid": dup["id"],
        "name": "Эссо",
        "description": "",
        "idnumber": "",
    }
    created = client.call(
        "core_calendar_create_calendar_events",
        {"events": [{**e, "courseid": dup["id"]} for e in events]},
        write=True,
    )
    rec_created = recording("core_calendar_create_calendar_events__ok")["response"]
    assert _top_keys(created) == _top_keys(rec_created) and _top_keys(created["events"][0]) == _top_keys(
        rec_created["events"][0]
    )
    got = client.call("core_calendar_get_calendar_events", {"events": {"courseids": [dup["id"]]}})
    rec_got = recording("core_calendar_get_calendar_events__by_course")["response"]
    # Like the real server: a course's events without the groups asked leave the group event out.
    assert [e["eventtype"] for e in got["events"]] == ["course"]
    assert _top_keys(got["events"][0]) == _top_keys(rec_got["events"][0])
    assert (
        client.call(
            "core_calendar_delete_calendar_events",
            {"events": [{"eventid": got["events"][0]["id"], "repeat": 0}]},
            write=True,
        )
        is None
    )


# -- the roster sync's enrolments ----------------------------------------------------------------------------


def test_fake_enrolment_on_a_site_without_mail_answers_as_the_recording(fake_moodle: FakeMoodle) -> None:
    """A course with a contact on a site that cannot send mail: the enrolment is saved, then the welcome
    message fails and becomes the answer (recording enrol_manual_enrol_users__welcome_message_not_sent)."""
    fake_moodle.mail_fails = True
    course = add_course(fake_moodle, shortname="C", fullname="C", idnumber="c")
    contact, person = add_user(fake_moodle, "coordinator"), add_user(fake_moodle, "anna")
    enrol(fake_moodle, course, contact, 3)
    params = {"enrolments": [{"roleid": 5, "userid": person, "courseid": course, "suspend": 0}]}
    with pytest.raises(MessageNotSent) as caught:
        make_client(fake_moodle).call("enrol_manual_enrol_users", params, write=True)
    recorded = recording("enrol_manual_enrol_users__welcome_message_not_sent")["response"]
    assert (caught.value.errorcode, caught.value.message, caught.value.exception) == (
        recorded["errorcode"],
        recorded["message"],
        recorded["exception"],
    )
    assert fake_moodle.enrolments[(course, person)]["roles"] == {5}  # saved before the message failed

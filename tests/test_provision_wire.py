"""The provisioning client functions against the recorded answers of the real Moodle 5.1 site."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

from integration.calendar import create_events, delete_events, get_events
from integration.courses import (
    add_section,
    duplicate_course,
    get_categories_by_idnumber,
    get_contents,
    get_course_by_field,
    get_course_module,
    rename_section,
    update_courses,
)
from integration.errors import RecordNotFound, ShortnameTaken
from integration.transport import MoodleClient
from sync.core.vocabulary import event_kind
from tests.conftest import recording
from tests.fake_moodle import URL

ENDPOINT = f"{URL}/webservice/rest/server.php"


def answering(mock: responses.RequestsMock, *names: str) -> list[dict[str, str]]:
    """Answer successive requests with the recorded responses; return the sent forms."""
    sent: list[dict[str, str]] = []
    bodies = [json.dumps(recording(n)["response"], ensure_ascii=False) for n in names]

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        sent.append({k: v for k, v in parse_qsl(body) if k not in ("wstoken", "moodlewsrestformat")})
        return 200, {}, bodies[len(sent) - 1]

    mock.add_callback(responses.POST, ENDPOINT, callback=callback)
    return sent


@pytest.fixture
def mock() -> Any:
    with responses.RequestsMock() as m:
        yield m


@pytest.fixture
def wire_client() -> MoodleClient:
    return MoodleClient(URL, "secret-token", sleep=lambda _s: None)


def test_category_lookup_and_course_reads(mock: responses.RequestsMock, wire_client: MoodleClient) -> None:
    answering(
        mock,
        "core_course_get_categories__by_idnumber_found",
        "core_course_get_courses_by_field__by_shortname",
        "core_course_get_contents__template_contents",
        "core_course_get_course_module__by_cmid",
    )
    (category,) = get_categories_by_idnumber(wire_client, "kamchatka-2021")
    assert (category.id, category.idnumber) == (3, "kamchatka-2021")
    course = get_course_by_field(wire_client, "shortname", "KAM21-M1")
    assert course is not None
    assert (course.id, course.idnumber, course.categoryid, course.groupmode) == (5, "kam21-m1", 3, 1)
    sections = get_contents(wire_client, 2)
    assert [s.section for s in sections] == [0, 1, 2, 3, 4, 5]
    idea = sections[2].modules[0]
    assert (idea.modname, idea.dates[0].timestamp, idea.dates[0].dataid) == ("assign", 1633906800, "duedate")
    cm = get_course_module(wire_client, 16)
    assert (cm.idnumber, cm.sectionnum, cm.modname) == ("m1-idea", 2, "assign")


def test_duplicate_sends_only_accepted_options(
    mock: responses.RequestsMock, wire_client: MoodleClient
) -> None:
    sent = answering(mock, "core_course_duplicate_course__module1")
    new_id = duplicate_course(
        wire_client,
        template_id=2,
        fullname="Модуль 1 — Камчатка 2021",
        shortname="KAM21-M1",
        categoryid=3,
        visible=True,
    )
    assert new_id == 5
    recorded = dict(recording("core_course_duplicate_course__module1")["form"])
    for key in ("courseid", "fullname", "shortname", "categoryid", "visible"):
        assert sent[0][key] == recorded[key]
    names = {v for k, v in sent[0].items() if k.endswith("[name]")}
    # Field note 15: anything outside this list is rejected with invalidextparam.
    assert names <= {
        "activities",
        "blocks",
        "filters",
        "users",
        "role_assignments",
        "comments",
        "userscompletion",
        "logs",
        "grade_histories",
    }
    assert sent[0]["options[3][name]"] == "users" and sent[0]["options[3][value]"] == "0"


def test_duplicate_shortname_taken_is_typed(mock: responses.RequestsMock, wire_client: MoodleClient) -> None:
    answering(mock, "core_course_duplicate_course__shortname_taken")
    with pytest.raises(ShortnameTaken, match="Short name is already used"):
        duplicate_course(
            wire_client, template_id=2, fullname="x", shortname="KAM21-M1", categoryid=3, visible=True
        )


def test_update_courses_turns_warnings_into_errors(
    mock: responses.RequestsMock, wire_client: MoodleClient
) -> None:
    sent = answering(
        mock,
        "core_course_update_courses__set_idnumber_dates",
        "core_course_update_courses__warning_unknown_course",
    )
    update_courses(
        wire_client, [{"id": 5, "idnumber": "kam21-m1", "startdate": 1633046400, "enddate": 1648684800}]
    )
    assert sent[0] == {
        "wsfunction": "core_course_update_courses",
        **dict(recording("core_course_update_courses__set_idnumber_dates")["form"]),
    }
    with pytest.raises(RecordNotFound, match="course id 999999"):
        update_courses(wire_client, [{"id": 999999, "fullname": "nope"}])


def test_unknown_course_contents(mock: responses.RequestsMock, wire_client: MoodleClient) -> None:
    answering(mock, "core_course_get_contents__unknown_course")
    with pytest.raises(RecordNotFound):
        get_contents(wire_client, 999999)


def test_sections(mock: responses.RequestsMock, wire_client: MoodleClient) -> None:
    sent = answering(
        mock, "core_update_inplace_editable__rename_section", "core_courseformat_update_course__section_add"
    )
    rename_section(wire_client, section_id=18, name="Знакомство, региональные практики и команды")
    assert sent[0] == {
        "wsfunction": "core_update_inplace_editable",
        **dict(recording("core_update_inplace_editable__rename_section")["form"]),
    }
    add_section(wire_client, 6)  # the answer is a JSON string holding JSON (field note 16)
    assert sent[1]["action"] == "section_add" and sent[1]["courseid"] == "6"


def test_calendar(mock: responses.RequestsMock, wire_client: MoodleClient) -> None:
    sent = answering(
        mock,
        "core_calendar_create_calendar_events__ok",
        "core_calendar_get_calendar_events__by_course",
        "core_calendar_delete_calendar_events__ok",
    )
    params = recording("core_calendar_create_calendar_events__ok")["params"]["events"]
    created = create_events(wire_client, params)
    assert [(e.id, e.eventtype, e.groupid) for e in created] == [(6, "course", 0), (7, "group", 4)]
    assert sent[0] == {
        "wsfunction": "core_calendar_create_calendar_events",
        **dict(recording("core_calendar_create_calendar_events__ok")["form"]),
    }
    (event,) = get_events(wire_client, courseids=[6])
    assert (event.id, event.groupid, event.timeend) == (6, None, 1636020000 + 5400)
    assert event_kind(event.description) is None  # made by hand when recording: no kind marker
    delete_events(wire_client, [6])
    assert sent[2] == {
        "wsfunction": "core_calendar_delete_calendar_events",
        **dict(recording("core_calendar_delete_calendar_events__ok")["form"]),
    }


# -- the fake answers in the recorded shapes ---------------------------------------------------------------
def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


def test_fake_answers_have_the_recorded_shapes(fake_moodle: Any) -> None:
    from tests.conftest import make_client
    from tests.fake_moodle.courses import add_category, add_course

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

    def same_keys(name: str, answer: Any) -> None:
        recorded = recording(name)["response"]
        if isinstance(recorded, list):
            assert isinstance(answer, list) and answer, name
            assert _keys(answer[0]) >= _keys(recorded[0]) - {"courseimage", "timemodified"}, name
        elif isinstance(recorded, dict):
            assert _keys(answer) == _keys(recorded), name
        else:
            assert type(answer) is type(recorded), name

    same_keys(
        "core_course_create_categories__ok",
        client.call(
            "core_course_create_categories",
            recording("core_course_create_categories__ok")["params"],
            write=True,
        ),
    )
    same_keys(
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
    same_keys("core_course_duplicate_course__module1", dup)
    answer = client.call("core_course_get_courses_by_field", {"field": "shortname", "value": "KAM21-M1"})
    recorded = recording("core_course_get_courses_by_field__by_shortname")["response"]
    assert _keys(answer) == _keys(recorded)
    assert _keys(answer["courses"][0]) == _keys(recorded["courses"][0])
    same_keys(
        "core_course_update_courses__warning_unknown_course",
        client.call(
            "core_course_update_courses", {"courses": [{"id": 999999, "fullname": "nope"}]}, write=True
        ),
    )
    assert client.warnings[-1].warningcode == "invalidrecordunknown"
    contents = client.call("core_course_get_contents", {"courseid": dup["id"]})
    rec_sections = recording("core_course_get_contents__duplicated")["response"]
    assert _keys(contents[0]) == _keys(rec_sections[0])
    rec_module = rec_sections[2]["modules"][0]
    assert _keys(contents[2]["modules"][0]) <= _keys(rec_module)
    assert contents[2]["modules"][0]["dates"] == rec_module["dates"]
    cm = client.call("core_course_get_course_module", {"cmid": contents[2]["modules"][0]["id"]})
    rec_cm = recording("core_course_get_course_module__by_cmid")["response"]
    assert _keys(cm) == _keys(rec_cm) and _keys(cm["cm"]) <= _keys(rec_cm["cm"])
    assert cm["cm"]["idnumber"] == "m1-idea" and cm["cm"]["sectionnum"] == 2
    same_keys(
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
    assert _keys(created) == _keys(rec_created) and _keys(created["events"][0]) == _keys(
        rec_created["events"][0]
    )
    got = client.call("core_calendar_get_calendar_events", {"events": {"courseids": [dup["id"]]}})
    rec_got = recording("core_calendar_get_calendar_events__by_course")["response"]
    # Like the real server: a course's events without the groups asked leave the group event out.
    assert [e["eventtype"] for e in got["events"]] == ["course"]
    assert _keys(got["events"][0]) == _keys(rec_got["events"][0])
    assert (
        client.call(
            "core_calendar_delete_calendar_events",
            {"events": [{"eventid": got["events"][0]["id"], "repeat": 0}]},
            write=True,
        )
        is None
    )

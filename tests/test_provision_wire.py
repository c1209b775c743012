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
from tests.fake_moodle import URL
from tests.helpers import recording

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

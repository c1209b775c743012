"""Group events and core_calendar_get_calendar_events, pinned on the recordings of the real site (field note 23).

Asked for course ids and group ids in one call, the real Moodle 5.1 returns the course events only
(``__course_and_group_ids``); the group's event comes back only when the group ids are asked alone
(``__group_ids_only``). The product's reader must ask twice, and the fake must answer both requests as the
recordings do, so that the fast suite sees what the real site does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
import responses

from integration.calendar import get_events
from integration.transport import MoodleClient
from tests.fake_moodle import URL, FakeMoodle
from tests.helpers import make_client, recording, seed_recorded_calendar

ENDPOINT = f"{URL}/webservice/rest/server.php"
BOTH = "core_calendar_get_calendar_events__course_and_group_ids"
GROUPS_ONLY = "core_calendar_get_calendar_events__group_ids_only"


def _form(body: str | bytes | None) -> dict[str, str]:
    text = body.decode() if isinstance(body, bytes) else (body or "")
    return {k: v for k, v in parse_qsl(text) if k not in ("wstoken", "moodlewsrestformat", "wsfunction")}


def _has(form: dict[str, str], selector: str) -> bool:
    return any(k.startswith(f"events[{selector}]") for k in form)


class RecordedCalendar:
    """Answers as the recorded site did: with course ids, the course events (and never the group's);
    with group ids alone, the group's event."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = _form(request.body)
        self.sent.append(form)
        # Course ids (with or without group ids): the course events of the recording; the group event is
        # dropped, as the real server drops it when both are asked.
        name = BOTH if _has(form, "courseids") else GROUPS_ONLY
        return 200, {}, json.dumps(recording(name)["response"], ensure_ascii=False)


@pytest.fixture
def site_calendar() -> Any:
    calendar = RecordedCalendar()
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, ENDPOINT, callback=calendar)
        yield calendar


def test_recordings_show_the_group_event_only_when_groups_are_asked_alone() -> None:
    both = recording(BOTH)
    alone = recording(GROUPS_ONLY)
    assert both["params"]["events"] == {"courseids": [6], "groupids": [13]}
    assert alone["params"]["events"] == {"groupids": [13]}
    assert [e["groupid"] for e in both["response"]["events"]] == [None] * 6  # course events: groupid null
    assert [(e["id"], e["groupid"], e["eventtype"]) for e in alone["response"]["events"]] == [
        (12, 13, "group")
    ]


def test_reader_asks_courses_then_groups_alone_and_sees_the_team_event(
    site_calendar: RecordedCalendar,
) -> None:
    client = MoodleClient(URL, "secret-token", sleep=lambda _s: None)
    events = get_events(client, courseids=[6], groupids=[13])
    # Two calls: the course ids alone, then exactly the recorded group-ids-only request.
    assert len(site_calendar.sent) == 2
    assert (
        not _has(site_calendar.sent[0], "groupids") and site_calendar.sent[0]["events[courseids][0]"] == "6"
    )
    assert site_calendar.sent[1] == dict(recording(GROUPS_ONLY)["form"])
    by_id = {e.id: e for e in events}
    assert sorted(by_id) == [6, 7, 8, 9, 10, 11, 12]
    team = by_id[12]
    assert (team.groupid, team.courseid, team.eventtype, team.name) == (
        13,
        6,
        "group",
        "Консультация команды Эссо",
    )
    assert all(e.groupid is None and e.eventtype == "course" for i, e in by_id.items() if i != 12)


def test_reader_without_groups_makes_one_call(site_calendar: RecordedCalendar) -> None:
    client = MoodleClient(URL, "secret-token", sleep=lambda _s: None)
    events = get_events(client, courseids=[6])
    assert len(site_calendar.sent) == 1 and len(events) == 6
    assert get_events(client, courseids=[]) == [] and len(site_calendar.sent) == 1


def test_reader_dedupes_an_event_both_calls_return() -> None:
    # Should a Moodle version return a group event in both answers, it is still one event.
    answers = [recording(BOTH)["response"], recording(GROUPS_ONLY)["response"]]
    answers[0] = {**answers[0], "events": answers[0]["events"] + answers[1]["events"]}
    with responses.RequestsMock() as mock:
        for answer in answers:
            mock.add(responses.POST, ENDPOINT, json=answer)
        client = MoodleClient(URL, "secret-token", sleep=lambda _s: None)
        events = get_events(client, courseids=[6], groupids=[13])
    assert sorted(e.id for e in events) == [6, 7, 8, 9, 10, 11, 12]


def test_fake_reader_sees_course_and_group_events(fake_moodle: FakeMoodle) -> None:
    seed_recorded_calendar(fake_moodle)
    events = get_events(make_client(fake_moodle), courseids=[6], groupids=[13])
    assert sorted((e.id, e.groupid) for e in events) == [(6, None), (7, None), (8, None), (9, None), (10, None),
                                                         (11, None), (12, 13)]  # fmt: skip


def test_many_groups_are_asked_in_requests_that_fit_max_input_vars(fake_moodle: FakeMoodle) -> None:
    seed_recorded_calendar(fake_moodle)
    for gid in range(100, 160):  # sixty more teams, each with its consultation
        fake_moodle.groups[gid] = {
            "id": gid,
            "courseid": 6,
            "name": f"Команда {gid}",
            "description": "",
            "idnumber": "",
        }
        fake_moodle.events[1000 + gid] = {**fake_moodle.events[12], "id": 1000 + gid, "groupid": gid}
    client = make_client(fake_moodle, max_input_vars=40)
    events = get_events(client, courseids=[6], groupids=[13, *range(100, 160)])
    assert sorted(e.groupid for e in events if e.groupid) == [13, *range(100, 160)]
    assert fake_moodle.count("core_calendar_get_calendar_events") > 2  # the groups split under the limit
    assert all(
        len(params["events"].get("groupids", [])) + 8 <= 40
        and not (params["events"].keys() >= {"courseids", "groupids"})
        for name, params in fake_moodle.calls
        if name == "core_calendar_get_calendar_events"
    )

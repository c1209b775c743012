"""The users / enrolment / group / message client functions against the fake site (and the fake's fidelity)."""

from __future__ import annotations

import pytest

from integration.enrol import (
    EnrolledUser,
    course_role,
    enrol_users,
    get_enrolled_users,
    get_users_courses,
    suspended_user_ids,
    unassign_roles,
    unenrol_users,
)
from integration.errors import CannotAssignRole, InvalidParameter, RecordNotFound
from integration.groups import (
    Group,
    Grouping,
    add_group_members,
    assign_grouping,
    create_groupings,
    create_groups,
    delete_group_members,
    get_course_groupings,
    get_course_groups,
    get_course_user_groups,
    get_group_members,
    get_groupings,
    unassign_grouping,
)
from integration.messages import message, send_instant_messages
from integration.transport import MoodleClient
from integration.users import MoodleUser, create_users, get_users_by_field, update_users
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.courses import add_course
from tests.helpers import make_client, recording


def _user(n: int, **extra: object) -> dict[str, object]:
    return {
        "username": f"kam21.p{n}",
        "firstname": "Анна",
        "lastname": "Иванова",
        "email": f"p{n}@example.org",
        "idnumber": f"APP-{n:03d}",
        "createpassword": 1,
        **extra,
    }


def test_recorded_answers_parse_into_the_models() -> None:
    users = [
        MoodleUser.model_validate(u) for u in recording("core_user_get_users_by_field__found")["response"]
    ]
    assert users[0].idnumber == "APP-2021-000" and users[0].city == "Шаромы"
    enrolled = [
        EnrolledUser.model_validate(u)
        for u in recording("core_enrol_get_enrolled_users__only_active")["response"]
    ]
    assert enrolled[1].groupids == {3} and enrolled[1].roleids == {5}
    two = [
        EnrolledUser.model_validate(u)
        for u in recording("core_enrol_get_enrolled_users__two_roles")["response"]
    ]
    assert next(u for u in two if u.id == 10).roleids == {4, 5}
    grouping = Grouping.model_validate(recording("core_group_get_groupings__with_groups")["response"][0])
    assert [g.name for g in grouping.groups] == ["Команда «Шаромы»"]
    assert Group.model_validate(recording("core_group_get_course_groups__ok")["response"][0]).idnumber


def test_users_create_lookup_update(fake_moodle: FakeMoodle, client: MoodleClient) -> None:
    created = create_users(client, [_user(0, city="Шаромы"), _user(1)])
    assert [c.username for c in created] == ["kam21.p0", "kam21.p1"]
    found = get_users_by_field(client, "idnumber", ["APP-000", "APP-001", "APP-404"])
    assert {u.username for u in found} == {"kam21.p0", "kam21.p1"}
    # Exact match, as PostgreSQL compares: a different case is not found.
    assert get_users_by_field(client, "email", ["P0@example.org"]) == []
    warnings = update_users(client, [{"id": created[0].id, "city": "Мильково"}, {"id": 999999, "city": "X"}])
    assert [(w.itemid, w.warningcode) for w in warnings] == [(999999, "invaliduserid")]
    assert fake_moodle.users[created[0].id]["city"] == "Мильково"


@pytest.mark.parametrize(
    "bad",
    [
        {"username": "Иван Иванов"},  # field note 18
        {"username": "kam21.p0"},  # taken
        {"email": "not-an-email"},
        {"email": "P0@EXAMPLE.org"},  # taken, whatever the case
        {"phone": "1"},  # unexpected key
    ],
)
def test_create_users_is_all_or_nothing(
    fake_moodle: FakeMoodle, client: MoodleClient, bad: dict[str, str]
) -> None:
    create_users(client, [_user(0)])
    before = dict(fake_moodle.users)
    with pytest.raises(InvalidParameter):
        create_users(client, [_user(5), {**_user(6), **bad}])
    assert fake_moodle.users == before


def test_lookup_values_are_chunked_under_max_input_vars() -> None:
    site = FakeMoodle(max_input_vars=50)
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        site.install(mock)
        client = make_client(site)
        create_users(client, [_user(n) for n in range(30)])
        found = get_users_by_field(client, "idnumber", [f"APP-{n:03d}" for n in range(30)])
        assert len(found) == 30
        assert site.count("core_user_get_users_by_field") == 1 + 30 // 47


def test_enrolment_suspend_second_role_unassign_unenrol(
    fake_moodle: FakeMoodle, client: MoodleClient
) -> None:
    course = add_course(fake_moodle, shortname="KAM21-M2", fullname="Модуль 2")
    [u] = create_users(client, [_user(7)])
    enrol_users(client, [{"roleid": 5, "userid": u.id, "courseid": course}])
    enrol_users(client, [{"roleid": 4, "userid": u.id, "courseid": course}])  # adds (note 22)
    assert fake_moodle.enrolments[(course, u.id)]["roles"] == {4, 5}
    unassign_roles(client, [course_role(4, u.id, course)])
    assert fake_moodle.enrolments[(course, u.id)]["roles"] == {5}
    enrol_users(client, [{"roleid": 5, "userid": u.id, "courseid": course, "suspend": 1}])
    everyone = get_enrolled_users(client, course)
    active = get_enrolled_users(client, course, onlyactive=True)
    assert suspended_user_ids(everyone, active) == {u.id}
    enrol_users(client, [{"roleid": 5, "userid": u.id, "courseid": course, "suspend": 0}])
    assert (
        suspended_user_ids(
            get_enrolled_users(client, course), get_enrolled_users(client, course, onlyactive=True)
        )
        == set()
    )
    assert [c.shortname for c in get_users_courses(client, u.id)] == ["KAM21-M2"]
    with pytest.raises(CannotAssignRole):
        enrol_users(client, [{"roleid": 999, "userid": u.id, "courseid": course}])
    unenrol_users(client, [{"userid": u.id, "courseid": course}])
    assert get_enrolled_users(client, course) == []


def test_groups_groupings_members(fake_moodle: FakeMoodle, client: MoodleClient) -> None:
    course = add_course(fake_moodle, shortname="KAM21-M1", fullname="Модуль 1")
    [a, b] = create_users(client, [_user(1), _user(2)])
    enrol_users(client, [{"roleid": 5, "userid": a.id, "courseid": course}])
    [g] = create_groups(
        client, [{"courseid": course, "name": "Команда «Шаромы»", "description": "", "idnumber": "x-1"}]
    )
    with pytest.raises(InvalidParameter):  # duplicate name (field note 3)
        create_groups(
            client, [{"courseid": course, "name": "Команда «Шаромы»", "description": "", "idnumber": ""}]
        )
    [gr] = create_groupings(
        client, [{"courseid": course, "name": "Мильковский МР", "description": "", "idnumber": "x-mr"}]
    )
    assign_grouping(client, [{"groupingid": gr.id, "groupid": g.id}])
    assert [x.id for x in get_groupings(client, [gr.id])[0].groups] == [g.id]
    assert [x.name for x in get_course_groupings(client, course)] == ["Мильковский МР"]
    add_group_members(client, [{"groupid": g.id, "userid": a.id}])
    with pytest.raises(InvalidParameter):  # not enrolled
        add_group_members(client, [{"groupid": g.id, "userid": b.id}])
    assert get_group_members(client, [g.id])[0].userids == [a.id]
    assert [x.id for x in get_course_user_groups(client, course, a.id)] == [g.id]
    enrolled = get_enrolled_users(client, course)
    assert enrolled[0].groupids == {g.id}
    delete_group_members(client, [{"groupid": g.id, "userid": a.id}])
    assert get_group_members(client, [g.id])[0].userids == []
    assert [x.name for x in get_course_groups(client, course)] == ["Команда «Шаромы»"]


def test_unassign_grouping_is_batched_all_or_nothing_and_quiet_about_groups_not_in_the_grouping(
    fake_moodle: FakeMoodle,
) -> None:
    course = add_course(fake_moodle, shortname="KAM21-M1", fullname="Модуль 1")
    client = make_client(fake_moodle, max_input_vars=3 + 2 * 2)  # two unassignments per request
    groups = create_groups(
        client,
        [{"courseid": course, "name": f"Команда {n}", "description": "", "idnumber": ""} for n in range(5)],
    )
    [old, new] = create_groupings(
        client,
        [
            {"courseid": course, "name": name, "description": "", "idnumber": ""}
            for name in ("Мильковский МР", "Быстринский МР")
        ],
    )
    assign_grouping(client, [{"groupingid": old.id, "groupid": g.id} for g in groups])
    assign_grouping(client, [{"groupingid": new.id, "groupid": groups[0].id}])

    def contents(grouping: int) -> list[int]:
        return [x.id for x in get_groupings(client, [grouping])[0].groups]

    # An unknown group fails the whole call: nothing is taken out (one transaction on the server).
    with pytest.raises(RecordNotFound):
        unassign_grouping(
            client, [{"groupingid": old.id, "groupid": groups[0].id}, {"groupingid": old.id, "groupid": 999}]
        )
    with pytest.raises(RecordNotFound):
        unassign_grouping(client, [{"groupingid": 999, "groupid": groups[0].id}])
    assert contents(old.id) == [g.id for g in groups]

    before = fake_moodle.count("core_group_unassign_grouping")
    # groups[0] is taken out of both; a group that is not in the new grouping is passed over silently.
    unassign_grouping(
        client,
        [{"groupingid": old.id, "groupid": g.id} for g in groups[:4]]
        + [{"groupingid": new.id, "groupid": groups[0].id}, {"groupingid": new.id, "groupid": groups[4].id}],
    )
    assert fake_moodle.count("core_group_unassign_grouping") - before == 3
    assert contents(old.id) == [groups[4].id] and contents(new.id) == []
    unassign_grouping(client, [])
    assert fake_moodle.count("core_group_unassign_grouping") - before == 3


def test_messages(fake_moodle: FakeMoodle, client: MoodleClient) -> None:
    [u] = create_users(client, [_user(1)])
    sent = send_instant_messages(
        client, [message(u.id, "Есть 3 непроверенные работы", "accel-1"), message(999, "x")]
    )
    assert sent[0].ok and sent[0].clientmsgid == "accel-1" and sent[0].text.startswith("<p>")
    assert not sent[1].ok
    assert fake_moodle.messages[0]["useridto"] == u.id

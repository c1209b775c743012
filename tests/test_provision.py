"""Provisioning end to end on the fake site: plan -> apply -> plan, interruptions, conflicts, templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from course_templates.courses import module_courses
from integration.errors import UncertainWrite
from integration.transport import MoodleClient
from sync.core.config import AccelConfig, load_config
from sync.core.plan import ApplyResult
from sync.core.vocabulary import event_kind
from sync.indicators.compute import compute
from sync.indicators.gather import gather
from sync.provision.apply import ProvisionBlocked, apply_plan
from sync.provision.changes import ProvisionChange, ProvisionPlan, UpdateCourse
from sync.provision.plan import compute_plan
from sync.provision.render import plan_view
from sync.provision.templates import check_template
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.courses import add_category, add_course, find_course
from tests.helpers import TEMPLATES, make_client, seed_site, seed_template, writes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"


@pytest.fixture
def config() -> AccelConfig:
    return load_config(EXAMPLE)


@pytest.fixture
def site(fake_moodle: FakeMoodle) -> FakeMoodle:
    seed_site(fake_moodle)
    return fake_moodle


def plan_for(client: MoodleClient, config: AccelConfig) -> ProvisionPlan:
    return compute_plan(client, config, TEMPLATES)


def actions(plan: ProvisionPlan) -> list[str]:
    return [c.kind for c in plan.ordered()]


def cohort_courses(site: FakeMoodle) -> list[dict[str, Any]]:
    return [c for c in site.courses.values() if c["shortname"].startswith("KAM21-")]


def test_plan_apply_plan_end_to_end(site: FakeMoodle, client: MoodleClient, config: AccelConfig) -> None:
    plan = plan_for(client, config)
    assert writes(site) == [], "planning must not write"
    assert not plan.blocked, plan.problems
    got = actions(plan)
    assert got.count("create_category") == 1
    assert got.count("create_course") == 3
    assert got.count("enrol_service") == 3
    assert got.count("add_sections") == 1  # m2's template lacks a section
    # Section 0 of every course ("General") and m2's added section get their titles.
    assert got.count("rename_section") == 4
    # 4 webinars + 4 consultations without a team; the 2 team consultations wait for their groups.
    assert got.count("create_event") == 8
    assert sum("waits for team" in n for n in plan.notes) == 2
    assert not any("outside the dates" in n for n in plan.notes)
    # The template's m1-fundraising date lies after module 1: a warning naming the activity and the fix.
    (warning,) = plan.date_warnings
    assert warning.key == "m1-fundraising" and warning.course == "KAM21-M1"
    assert "21.11.2021 00:00" in warning.message and "after the course ends" in warning.message
    assert "set the date within the course" in warning.message

    result = apply_plan(client, plan)
    assert len(result.done) == len(plan.changes)

    category = next(c for c in site.categories.values() if c["idnumber"] == "kam21")
    courses = {c["idnumber"]: c for c in cohort_courses(site)}
    assert sorted(courses) == ["kam21-m1", "kam21-m2", "kam21-m3"]
    for mc in module_courses(config, TEMPLATES):
        course = courses[mc.idnumber]
        assert course["shortname"] == mc.shortname
        assert course["fullname"] == mc.fullname
        assert course["categoryid"] == category["id"]
        assert (course["startdate"], course["enddate"]) == (mc.startdate, mc.enddate)
        assert course["groupmode"] == 1 and course["visible"] == 1
        titles = [s["name"] for s in site.sections[course["id"]]]
        assert titles == [s.title for s in TEMPLATES[mc.key].sections]
        # The service account is a manager in every course (field note 9) and no one else was copied.
        assert site.enrolments[(course["id"], site.token_userid)]["roles"] == {1}
        assert [k for k in site.enrolments if k[0] == course["id"]] == [(course["id"], site.token_userid)]
        # The activities came with the copy, with their ID numbers.
        keys = {m["idnumber"] for m in site.modules.values() if m["course"] == course["id"]}
        assert keys == {a.key for a in TEMPLATES[mc.key].activities}
    m2 = courses["kam21-m2"]["id"]
    events = [e for e in site.events.values() if e["courseid"] == m2]
    kinds = sorted(event_kind(e["description"]) or "" for e in events)
    assert kinds == ["consultation"] * 4 + ["webinar"] * 4
    webinar = next(e for e in events if e["name"] == "Вебинар: фандрайзинг для сельских инициатив")
    assert (webinar["timestart"], webinar["timeduration"], webinar["eventtype"]) == (
        1636020000,
        5400,
        "course",
    )
    assert "Ссылка на подключение" in webinar["description"]

    # A new plan is empty and a second apply makes no write request.
    again = plan_for(client, config)
    assert again.empty, [c.as_dict() for c in again.changes]
    before = client.write_count
    calls_before = len(site.calls)
    apply_plan(client, again)
    assert client.write_count == before
    assert writes(site, calls_before) == []
    # Reading the state of a provisioned cohort takes a fixed handful of requests.
    assert len(site.calls) - calls_before == 0
    assert len(cohort_courses(site)) == 3


def test_team_consultations_become_group_events_once_teams_exist(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    apply_plan(client, plan_for(client, config))
    m2 = find_course(site, "idnumber", "kam21-m2")
    assert m2 is not None
    # The roster sync makes the teams (here: directly in the fake's state).
    # Names compare as the roster compares teams: case, quotes, ё/е and spaces do not matter.
    for gid, name in ((41, "ЭССО: тропа  эвенов"), (42, "«Шаромы — наш дом»")):
        site.groups[gid] = {"id": gid, "courseid": m2["id"], "name": name, "description": "", "idnumber": ""}
    plan = plan_for(client, config)
    assert actions(plan) == ["create_event", "create_event"]
    assert not any("waits for team" in n for n in plan.notes)
    apply_plan(client, plan)
    group_events = sorted((e["groupid"], e["eventtype"]) for e in site.events.values() if e["groupid"])
    assert group_events == [(41, "group"), (42, "group")]
    esso = next(e for e in site.events.values() if e["groupid"] == 41)
    assert event_kind(esso["description"]) == "consultation" and esso["timestart"] == 1636106400
    # Field note 23: the plan reads the group events in a call of their own, so it sees them. Applying again
    # (twice, as the coordinator in issue 9 did) writes nothing and makes no second team consultation.
    for _ in range(2):
        again = plan_for(client, config)
        assert again.empty, [c.as_dict() for c in again.changes]
        calls_before = len(site.calls)
        apply_plan(client, again)
        assert writes(site, calls_before) == []
    assert sorted(e["groupid"] for e in site.events.values() if e["groupid"]) == [41, 42]

    # `indicators gather` counts the ended team consultations (05.11 and 18.11.2021) among those held.
    snapshot = gather(client, config, now=1637600000)  # 22.11.2021
    assert {e.groupid for e in snapshot.events if e.groupid} == {41, 42}
    held = compute(snapshot).result("consultations_held")
    # Two of teams (group events) and the 11.11 consultation of the whole course. The breakdown's labels and the
    # evidence's details are the indicators' own words, in the language of the run: compared by what they hold.
    assert sorted(held.breakdown.values()) == [1.0, 2.0]
    assert sum(1 for ev in held.evidence if "«" in ev.detail) == 2  # a team's consultation names its team


def test_schedule_and_date_changes_are_planned_as_changes(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig, tmp_path: Path
) -> None:
    apply_plan(client, plan_for(client, config))
    # People's own events (no kind marker) are never touched.
    m2 = find_course(site, "idnumber", "kam21-m2")
    assert m2 is not None
    site.events[999] = {
        "id": 999,
        "name": "Встреча кураторов",
        "description": "",
        "format": 1,
        "courseid": m2["id"],
        "groupid": 0,
        "userid": 2,
        "modulename": "",
        "instance": 0,
        "eventtype": "course",
        "timestart": 1636020000,
        "timeduration": 0,
        "visible": 1,
        "sequence": 1,
        "timemodified": 0,
        "subscriptionid": None,
    }
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("end = 2021-10-31", "end = 2021-11-30")  # module 1 one month longer
    text = text.replace("start = 2021-11-25T18:00:00", "start = 2021-11-26T18:00:00")  # a webinar moves
    text = text.replace('title = "Вебинар: как зарегистрировать НКО"', 'title = "Вебинар: как создать НКО"')
    path = tmp_path / "accelerator.toml"
    path.write_text(text, encoding="utf-8")
    changed = load_config(path)
    plan = plan_for(client, changed)
    by_action: dict[str, list[ProvisionChange]] = {}
    for c in plan.changes:
        by_action.setdefault(c.kind, []).append(c)
    assert sorted(by_action) == ["create_event", "delete_event", "update_course"]
    (update,) = plan.of(UpdateCourse)
    assert list(update.fields) == ["enddate"] and update.module == "m1"
    assert len(by_action["delete_event"]) == 2 and len(by_action["create_event"]) == 2
    # With module 1 ending later the fundraising plan's date is inside: no more warning.
    assert plan.date_warnings == []
    apply_plan(client, plan)
    assert plan_for(client, changed).empty
    assert 999 in site.events
    assert sum(1 for e in site.events.values() if event_kind(e["description"]) == "webinar") == 4


def test_interrupted_copy_is_adopted_without_duplicates(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    # The server copies the first course but its answer never arrives (dropped connection).
    site.inject("core_course_duplicate_course", "drop-after-apply")
    plan = plan_for(client, config)
    progress: ApplyResult[ProvisionChange] = ApplyResult()
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan, result=progress)
    assert [c.kind for c in progress.done] == ["create_category"]
    half = find_course(site, "shortname", "KAM21-M1")
    assert half is not None and half["idnumber"] == ""

    plan = plan_for(client, config)
    assert not plan.blocked
    assert any("adopted" in n for n in plan.notes)
    assert actions(plan).count("create_course") == 2  # m2 and m3; m1 is completed instead
    assert any(c.kind == "update_course" and c.module == "m1" for c in plan.changes)
    assert "create_category" not in actions(plan)
    apply_plan(client, plan)
    assert sorted(c["idnumber"] for c in cohort_courses(site)) == ["kam21-m1", "kam21-m2", "kam21-m3"]
    assert plan_for(client, config).empty


def test_interrupted_event_creation_and_ctrl_c(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    # Ctrl-C after the courses exist: the re-run finishes the job.
    def stop_after_courses(number: int, total: int, change: ProvisionChange) -> None:
        if change.kind == "create_course" and change.module == "m3":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply_plan(client, plan_for(client, config), on_step=stop_after_courses)
    assert len(cohort_courses(site)) == 2

    # Then the event creation is applied by the server but its answer is lost.
    site.inject("core_calendar_create_calendar_events", "drop-after-apply")
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan_for(client, config))
    assert len(site.events) == 8

    plan = plan_for(client, config)
    assert "create_event" not in actions(plan), "events already made must not be made again"
    apply_plan(client, plan)
    assert len(site.events) == 8
    assert len(cohort_courses(site)) == 3
    assert plan_for(client, config).empty


def test_connection_lost_mid_sections_then_finished(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    site.inject("core_update_inplace_editable", "connection", times=1)
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan_for(client, config))
    plan = plan_for(client, config)
    assert set(actions(plan)) <= {"rename_section", "enrol_service", "create_event"}
    apply_plan(client, plan)
    assert plan_for(client, config).empty
    assert len(cohort_courses(site)) == 3


def test_missing_template_course_blocks_and_writes_nothing(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    seed_site(fake_moodle, m2={"shortname": "SOMETHING-ELSE"})
    client = make_client(fake_moodle)
    plan = plan_for(client, config)
    assert plan.blocked
    (problem,) = plan.problems
    assert problem.subject == "m2"
    assert "template course ACCEL-TPL-M2 not found" in problem.message
    assert "[modules.m2] template" in problem.message
    with pytest.raises(ProvisionBlocked, match="ACCEL-TPL-M2"):
        apply_plan(client, plan)
    assert writes(fake_moodle) == []


def test_incomplete_template_blocks_its_course(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    seed_site(fake_moodle, m3={"skip": ("m3-pledges",)})
    client = make_client(fake_moodle)
    plan = plan_for(client, config)
    (problem,) = plan.problems
    assert plan.blocked and problem.subject == "m3"
    assert "m3-pledges: missing" in problem.message


def test_shortname_taken_by_another_course(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    other_cat = add_category(site, "Другое", "other")
    add_course(
        site, shortname="KAM21-M1", fullname="Курс другого проекта", categoryid=other_cat, idnumber="x-1"
    )
    plan = plan_for(client, config)
    assert plan.blocked
    (problem,) = plan.problems
    assert problem.subject == "m1"
    assert "short name KAM21-M1 is taken by another course" in problem.message
    assert "«Курс другого проекта»" in problem.message and "ID number x-1" in problem.message
    assert "short_name" in problem.message
    with pytest.raises(ProvisionBlocked):
        apply_plan(client, plan)
    assert writes(site) == []


def test_same_shortname_without_idnumber_outside_the_category_is_not_adopted(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    add_course(site, shortname="KAM21-M2", fullname="Чей-то черновик", categoryid=1)
    plan = plan_for(client, config)
    assert [p.subject for p in plan.problems] == ["m2"]
    assert "ID number none" in plan.problems[0].message


def test_suspended_service_enrolment_is_reactivated(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    apply_plan(client, plan_for(client, config))
    m3 = find_course(site, "idnumber", "kam21-m3")
    assert m3 is not None
    site.enrolments[(m3["id"], site.token_userid)]["suspended"] = True
    plan = plan_for(client, config)
    (change,) = plan.changes
    assert change.kind == "enrol_service" and change.module == "m3"
    assert "suspended" in change.reason
    apply_plan(client, plan)
    assert site.enrolments[(m3["id"], site.token_userid)]["suspended"] is False
    assert plan_for(client, config).empty


def test_request_counts_do_not_depend_on_people(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    apply_plan(client, plan_for(client, config))
    m1 = find_course(site, "idnumber", "kam21-m1")
    assert m1 is not None
    start = client.request_count
    plan_for(client, config)
    few = client.request_count - start
    for uid in range(100, 160):
        site.users[uid] = {
            "id": uid,
            "username": f"u{uid}",
            "firstname": "Имя",
            "lastname": "Фамилия",
            "email": f"u{uid}@example.org",
            "idnumber": "",
            "auth": "manual",
            "suspended": False,
            "deleted": False,
        }
        site.enrolments[(m1["id"], uid)] = {"roles": {5}, "suspended": False, "timecreated": 0}
    start = client.request_count
    plan_for(client, config)
    assert client.request_count - start == few
    assert few == 13, client.stats
    # category 1, the category's courses 1 (the three courses are among them: none asked by ID number),
    # contents 3, enrolments 3, groups 3, events 1, and core_course_get_course_module for the one activity
    # whose date is outside its course.


def test_scheduled_event_outside_its_module_is_noted(
    site: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "start = 2022-02-17T18:00:00", "start = 2022-03-17T18:00:00"
    )
    path = tmp_path / "accelerator.toml"
    path.write_text(text, encoding="utf-8")
    plan = plan_for(client, load_config(path))
    (note,) = [n for n in plan.notes if "outside the dates" in n]
    assert "подготовка к ярмарке" in note and "KAM21-M2" in note and "17.03.2022 18:00" in note


def test_names_with_ampersands_are_stable(site: FakeMoodle, client: MoodleClient, tmp_path: Path) -> None:
    # Moodle returns names through format_string ("&" -> "&amp;"); that is not a difference.
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'name = "Камчатка 2021"', 'name = "Камчатка 2021 & партнёры"'
    )
    path = tmp_path / "accelerator.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    apply_plan(client, plan_for(client, config))
    course = find_course(site, "idnumber", "kam21-m1")
    assert course is not None and course["fullname"].endswith("Камчатка 2021 & партнёры")
    assert plan_for(client, config).empty


def test_template_section_title_with_an_ampersand_is_not_a_difference(
    fake_moodle: FakeMoodle, client: MoodleClient
) -> None:
    # Section names come back through format_string too ("&" -> "&amp;"), as provisioning already knows.
    base = TEMPLATES["m1"]
    renamed = base.sections[1].model_copy(update={"title": "Идея & команда"})
    template = base.model_copy(update={"sections": [base.sections[0], renamed, *base.sections[2:]]})
    seed_template(fake_moodle, template, categoryid=add_category(fake_moodle, "Шаблоны", "accel-templates"))
    check = check_template(client, template, template.template_shortname)
    assert check.ok
    titles = [f.message for f in check.findings if f.code == "section_title"]
    assert [t for t in titles if t.startswith("section 1 ")] == []
    assert len(titles) == 1 and titles[0].startswith("section 0 is «General»")  # seeded as Moodle names it


@pytest.mark.parametrize(
    "wsfunction",
    [
        "core_course_create_categories",
        "core_course_duplicate_course",
        "core_course_update_courses",
        "core_courseformat_update_course",
        "core_update_inplace_editable",
        "enrol_manual_enrol_users",
        "core_calendar_create_calendar_events",
    ],
)
def test_any_write_lost_in_flight_is_finished_by_a_rerun(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig, wsfunction: str
) -> None:
    """The server does the write but the answer is lost: the re-run completes the cohort, duplicating nothing."""
    site.inject(wsfunction, "drop-after-apply")
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan_for(client, config))
    apply_plan(client, plan_for(client, config))
    assert plan_for(client, config).empty
    assert sum(1 for c in site.categories.values() if c["idnumber"] == "kam21") == 1
    assert sorted(c["shortname"] for c in cohort_courses(site)) == ["KAM21-M1", "KAM21-M2", "KAM21-M3"]
    for course in cohort_courses(site):
        titles = [s["name"] for s in site.sections[course["id"]]]
        key = course["idnumber"].rsplit("-", 1)[1]
        assert titles == [s.title for s in TEMPLATES[key].sections]
    assert len(site.events) == 8


def test_a_copy_left_half_made_by_a_server_killed_mid_restore_is_reported(
    site: FakeMoodle, client: MoodleClient, config: AccelConfig
) -> None:
    # The server dies while it restores the first copy: the copy stays under the restore's own names.
    site.inject("core_course_duplicate_course", "killed-mid-restore")
    with pytest.raises(UncertainWrite):
        apply_plan(client, plan_for(client, config))
    leftover = find_course(site, "shortname", "ACCEL-TPL-M1_1")
    assert leftover is not None and leftover["idnumber"] == ""
    assert leftover["fullname"].endswith(" copy 1")

    plan = plan_for(client, config)
    assert not plan.blocked
    (copy,) = plan.interrupted_copies
    assert (copy.shortname, copy.courseid, copy.subject) == ("ACCEL-TPL-M1_1", leftover["id"], "m1")
    assert "accel does not use it and does not delete it" in copy.message
    assert "An administrator may delete it in Moodle" in copy.message
    (block,) = [b for b in plan_view(plan).blocks if "interrupted" in b.title]
    assert [f"ACCEL-TPL-M1_1 (id {leftover['id']}" in item for item in block.items] == [True]
    # The cohort's own copy is made as on a clean site.
    assert actions(plan).count("create_course") == 3
    apply_plan(client, plan)
    assert sorted(c["idnumber"] for c in cohort_courses(site)) == ["kam21-m1", "kam21-m2", "kam21-m3"]

    # Afterwards nothing is left to do, the leftover is still reported, and it was never touched.
    after = plan_for(client, config)
    assert after.empty and [c.courseid for c in after.interrupted_copies] == [leftover["id"]]
    assert site.courses[leftover["id"]] == leftover
    assert not any(e["courseid"] == leftover["id"] for e in site.events.values()) and not site.is_enrolled(
        leftover["id"], site.token_userid
    )

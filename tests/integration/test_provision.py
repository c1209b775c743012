"""`accel provision --apply` on a real Moodle: what it made, a second apply that writes nothing and changes no
row, and the teams' consultations made once after the roster sync made the teams (field note 23)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.integration.helpers import BuiltCohort, CohortFactory
from tests.integration.moodle_site import (
    CONSULTATIONS,
    MODULES,
    TEMPLATES,
    WEBINARS,
    Cohort,
    Site,
    ids_csv,
    request_counts,
    write_functions,
)

ZONE = ZoneInfo("Asia/Kamchatka")
MODULE_DATES = {
    "m1": ("2021-10-01", "2021-10-31"),
    "m2": ("2021-11-01", "2022-02-28"),
    "m3": ("2022-03-01", "2022-03-31"),
}


def local_epoch(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp())


def table_rows(cohort: Cohort) -> dict[str, list[dict[str, str]]]:
    """Every row provisioning owns or touches, whole (timemodified included), from Moodle's tables."""
    site = cohort.site
    courses = ids_csv(cohort.course_ids().values())
    in_courses = f"({courses})"
    queries = {
        "category": "select * from mdl_course_categories where idnumber = :'code' order by id",
        "courses": "select * from mdl_course where category in "
        "(select id from mdl_course_categories where idnumber = :'code') order by id",
        "sections": f"select * from mdl_course_sections where course in {in_courses} order by id",
        "modules": f"select * from mdl_course_modules where course in {in_courses} order by id",
        "events": f"select * from mdl_event where courseid in {in_courses} order by id",
        "enrol instances": f"select * from mdl_enrol where courseid in {in_courses} order by id",
        "enrolments": "select ue.* from mdl_user_enrolments ue join mdl_enrol e on e.id = ue.enrolid "
        f"where e.courseid in {in_courses} order by ue.id",
        "role assignments": "select ra.* from mdl_role_assignments ra join mdl_context x on x.id = ra.contextid "
        f"where x.contextlevel = 50 and x.instanceid in {in_courses} order by ra.id",
        "groups": f"select * from mdl_groups where courseid in {in_courses} order by id",
    }
    return {name: site.sql(query, code=cohort.code) for name, query in queries.items()}


def test_first_apply_makes_the_cohort_and_a_second_writes_nothing_and_changes_no_row(
    site: Site, new_cohort: CohortFactory
) -> None:
    cohort = new_cohort()
    first = cohort.accel("--stats", "provision", "--apply")
    assert first.returncode == 0, first.explain()
    assert request_counts(first.output)[1] > 0
    assert "A new plan is empty" in first.output

    # What Moodle stored: the category, one course per module copied from its template, with its ID number,
    # names, dates (start at local midnight, end inclusive), visible; the token's user enrolled as manager.
    category = site.sql(
        "select id, name, parent from mdl_course_categories where idnumber = :'c'", c=cohort.code
    )
    assert len(category) == 1 and category[0]["parent"] == "0"
    courses = site.sql(
        "select id, idnumber, shortname, startdate, enddate, visible from mdl_course where category = :'cat'",
        cat=category[0]["id"],
    )
    assert sorted(c["idnumber"] for c in courses) == [f"{cohort.code}-{m}" for m in MODULES]
    for course in courses:
        module = course["idnumber"].rsplit("-", 1)[1]
        assert course["shortname"] == cohort.course_shortname(module)
        start, end = MODULE_DATES[module]
        assert int(course["startdate"]) == local_epoch(f"{start}T00:00:00")
        assert local_epoch(f"{end}T00:00:00") < int(course["enddate"]) <= local_epoch(f"{end}T23:59:59") + 1
        assert course["visible"] == "1"
        # Copied from the template: the same activities, by ID number.
        copied = site.sql(
            "select idnumber from mdl_course_modules where course = :'id' and idnumber <> '' order by 1",
            id=course["id"],
        )
        template = site.sql(
            """select cm.idnumber from mdl_course_modules cm join mdl_course c on c.id = cm.course
                where c.shortname = :'t' and cm.idnumber <> '' and cm.deletioninprogress = 0 order by 1""",
            t=TEMPLATES[module],
        )
        assert copied == template
        manager = site.sql_int(
            """select count(*) from mdl_role_assignments ra join mdl_context x on x.id = ra.contextid
                join mdl_user_enrolments ue on ue.userid = ra.userid
                join mdl_enrol e on e.id = ue.enrolid and e.courseid = x.instanceid
                where x.contextlevel = 50 and x.instanceid = :'id' and ra.roleid = 1 and ue.status = 0
                  and ra.userid = (select userid from mdl_external_tokens t join mdl_external_services s
                                     on s.id = t.externalserviceid where s.shortname = 'accel_full' limit 1)""",
            id=course["id"],
        )
        assert manager == 1
    m3_sections = site.sql(
        "select section, name from mdl_course_sections where course = :'id' order by section",
        id=cohort.course_ids()["m3"],
    )
    assert len(m3_sections) == 6 and m3_sections[5]["name"] == "Итоги"

    # The schedule: course events in module 2 with their kind, the team consultations waiting for the teams.
    events = site.sql(
        "select name, eventtype, groupid, timestart, timeduration, description from mdl_event "
        "where courseid = :'m2' order by timestart",
        m2=cohort.course_ids()["m2"],
    )
    expected = sorted(
        [(t, local_epoch(s), d * 60, "вебинар") for t, s, d in WEBINARS]
        + [(t, local_epoch(s), d * 60, "консультация") for t, s, d, team in CONSULTATIONS if not team]
    )
    got = sorted(
        (e["name"], int(e["timestart"]), int(e["timeduration"]), kind)
        for e in events
        for kind in ("вебинар", "консультация")
        if f"Вид события: {kind}" in e["description"]
    )
    assert got == expected
    assert {e["eventtype"] for e in events} == {"course"} and {e["groupid"] for e in events} == {"0"}
    assert first.output.count("waits for team") == 2

    before = table_rows(cohort)
    second = cohort.accel("--stats", "provision", "--apply")
    assert second.returncode == 0, second.explain()
    total, writes, _ = request_counts(second.output)
    assert writes == 0 and write_functions(second.output) == {}, second.output
    assert total > 0
    after = table_rows(cohort)
    for table in before:
        assert after[table] == before[table], f"the second apply changed rows of {table}"


def test_team_consultations_are_created_once_after_the_roster_sync(built_cohort: BuiltCohort) -> None:
    cohort, site = built_cohort.cohort, built_cohort.site
    run = built_cohort.runs["provision_after_roster"]
    assert run.returncode == 0, run.explain()
    assert "A new plan is empty" in run.output
    assert write_functions(run.output) == {"core_calendar_create_calendar_events": 1}

    m2 = cohort.course_ids()["m2"]
    team_events = [(t, s, d, team) for t, s, d, team in CONSULTATIONS if team]

    def stored() -> list[tuple[str, int, int, str, str]]:
        rows = site.sql(
            """select e.name, e.timestart, e.timeduration, g.name as team, e.eventtype from mdl_event e
                join mdl_groups g on g.id = e.groupid where e.courseid = :'m2' and e.groupid <> 0
                order by e.name""",
            m2=m2,
        )
        return [
            (r["name"], int(r["timestart"]), int(r["timeduration"]), r["team"], r["eventtype"]) for r in rows
        ]

    expected = sorted((t, local_epoch(s), d * 60, team, "group") for t, s, d, team in team_events)
    assert stored() == expected  # one event per team consultation, on the team's group in module 2

    again = cohort.accel("--stats", "provision", "--apply")
    assert again.returncode == 0, again.explain()
    assert request_counts(again.output)[1] == 0, again.output
    assert stored() == expected

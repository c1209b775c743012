"""`accel roster sync` of a Windows-1251 `;` roster with a title row, mentors' team lists and experts, read
back from Moodle's tables; an unchanged re-sync that writes nothing; the XLSX of the same roster plans nothing."""

from __future__ import annotations

import json

from tests.integration.helpers import BuiltCohort, enrolments, group_members, roles_by_course
from tests.integration.moodle_site import MODULES, ids_csv, request_counts, write_functions
from tests.integration.roster_data import Person, write_xlsx

ROLE_IDS = {"participant": {5}, "mentor": {4}, "expert": {4}, "coordinator": {3}}


def expected_members(people: list[Person], users: dict[str, int], course: str) -> dict[str, set[int]]:
    """Group name -> who belongs in it in that module: the team's participants taking the module, and the
    mentors who have the team in their list."""
    teams = {p.group for p in people if p.role == "participant"}
    expected: dict[str, set[int]] = {team: set() for team in teams}
    for person in people:
        if course not in person.takes():
            continue
        if person.role == "participant":
            expected[person.group].add(users[person.email])
        elif person.role == "mentor":
            for team in person.mentor_teams:
                expected[team].add(users[person.email])
    return expected


def test_roster_sync_made_the_users_roles_groups_and_districts_of_the_file(built_cohort: BuiltCohort) -> None:
    cohort, site, people = built_cohort.cohort, built_cohort.site, built_cohort.people
    run = built_cohort.runs["roster"]
    assert "Applied:" in run.output

    # One account per person, with the application number as ID number, names as in the file, and a
    # lowercase Latin username.
    accounts = site.sql(
        """select lower(email) as email, count(*) over (partition by lower(email)) as n, idnumber, username,
                  firstname, lastname, auth, suspended
             from mdl_user where deleted = 0 and email ilike :'p'""",
        p=f"%.{cohort.code}@example.org",
    )
    by_email = {a["email"]: a for a in accounts}
    assert set(by_email) == {p.email for p in people}
    for person in people:
        account = by_email[person.email]
        assert account["n"] == "1", f"{person.email} has {account['n']} accounts"
        assert (account["idnumber"], account["firstname"], account["lastname"]) == (
            person.number,
            person.name,
            person.surname,
        )
        assert account["username"].isascii() and account["username"] == account["username"].lower()
        assert account["suspended"] == "0"
    users = cohort.user_ids()

    # Enrolments and roles: participants students, mentors and experts non-editing teachers, the coordinator
    # an editing teacher; each only in the modules the file (or the role's default) gives; experts module 3.
    courses = cohort.course_ids()
    status = enrolments(site, cohort)
    roles = roles_by_course(site, cohort)
    for person in people:
        uid = users[person.email]
        for module in MODULES:
            key = (courses[module], uid)
            if module in person.takes():
                assert status.get(key) == 0, f"{person.email} not actively enrolled in {module}"
                assert roles[key] == ROLE_IDS[person.role], f"{person.email} in {module}: roles {roles[key]}"
            else:
                assert key not in status and not roles.get(key), f"{person.email} should not be in {module}"
    experts = [p for p in people if p.role == "expert"]
    assert experts and all(p.takes() == ("m3",) for p in experts)

    # Groups: one per team in every course; members are the team's participants of that module and the
    # team's mentors; experts and the coordinator are in no group.
    members = group_members(site, cohort)
    duplicates = site.sql(
        f"select courseid, name, count(*) from mdl_groups where courseid in ({ids_csv(courses.values())}) "
        "group by courseid, name having count(*) > 1"
    )
    assert duplicates == []
    staff_in_groups = {uid for ids in members.values() for uid in ids} & {
        users[p.email] for p in people if p.role in ("expert", "coordinator")
    }
    assert staff_in_groups == set()
    for module in MODULES:
        expected = expected_members(people, users, module)
        got = {name: ids for (course, name), ids in members.items() if course == courses[module]}
        assert got == expected, f"groups of {module}"

    # Districts: one grouping per municipal district in every course (ID number {course ID number}-{slug}),
    # holding exactly the groups of the teams of that district.
    team_district = {p.group: p.district for p in people if p.role == "participant"}
    rows = site.sql(
        f"""select c.idnumber as course, gg.name as grouping, gg.idnumber, g.name as team
              from mdl_groupings gg join mdl_course c on c.id = gg.courseid
              left join mdl_groupings_groups x on x.groupingid = gg.id left join mdl_groups g on g.id = x.groupid
             where gg.courseid in ({ids_csv(courses.values())})"""
    )
    for module in MODULES:
        mine = [r for r in rows if r["course"] == f"{cohort.code}-{module}"]
        assert {r["grouping"] for r in mine} == set(team_district.values())
        assert all(r["idnumber"].startswith(f"{cohort.code}-{module}-") for r in mine)
        assert {(r["team"], r["grouping"]) for r in mine} == set(team_district.items())


def test_an_unchanged_roster_syncs_again_without_a_write(built_cohort: BuiltCohort) -> None:
    cohort, site = built_cohort.cohort, built_cohort.site
    before = (enrolments(site, cohort), roles_by_course(site, cohort), group_members(site, cohort))
    run = cohort.accel("--stats", "roster", "sync", str(built_cohort.roster), "--apply")
    assert run.returncode == 0, run.explain()
    assert request_counts(run.output)[1] == 0 and write_functions(run.output) == {}, run.output
    assert (enrolments(site, cohort), roles_by_course(site, cohort), group_members(site, cohort)) == before


def test_the_xlsx_of_the_same_roster_plans_no_change(built_cohort: BuiltCohort) -> None:
    cohort = built_cohort.cohort
    xlsx = write_xlsx(built_cohort.people, cohort.directory / "roster.xlsx")
    run = cohort.accel("--stats", "roster", "sync", str(xlsx), "--json")
    assert run.returncode == 0, run.explain()
    plan = json.loads(run.stdout)
    assert plan["roster"]["people"] == len(built_cohort.people) and plan["roster"]["errors"] == []
    assert plan["operations"] == [] and plan["conflicts"] == [] and plan["applied"] is False
    assert request_counts(run.stderr)[1] == 0

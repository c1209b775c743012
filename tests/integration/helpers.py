"""Shared builders of the integration tests: the cohort built once per session and its participants' work,
and readers of Moodle's tables (the ground truth) that several scenarios compare with.

The fixtures that make them are in conftest.py; the test files import from here, from moodle_site.py and
from roster_data.py, never from one another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.moodle_site import Cohort, Run, Site, ids_csv
from tests.integration.roster_data import Person, cohort_people, write_csv

CohortFactory = Callable[[], Cohort]


@dataclass
class BuiltCohort:
    """A cohort provisioned, synced from its roster file, and provisioned again (the teams' events)."""

    cohort: Cohort
    people: list[Person]
    roster: Path
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def site(self) -> Site:
        return self.cohort.site

    def by_email(self) -> dict[str, Person]:
        return {p.email: p for p in self.people}


def build(cohort: Cohort) -> BuiltCohort:
    people = cohort_people(cohort.code)
    roster = write_csv(people, cohort.directory / "roster.csv")
    built = BuiltCohort(cohort, people, roster)
    built.runs["provision"] = cohort.accel_ok("--stats", "provision", "--apply")
    built.runs["roster"] = cohort.accel_ok("--stats", "roster", "sync", str(roster), "--apply")
    return built


@dataclass
class Activity:
    """What ../shared/moodle-site/activity.php did on the site: in the cohort's courses (key -> id), the
    participants who worked, the mentor who graded, and the script's own account (its output)."""

    courses: dict[str, int]
    participants: list[int]
    grader: int
    output: str


# -- Moodle's tables, read with SQL ----------------------------------------------------------------------


def roles_by_course(site: Site, cohort: Cohort) -> dict[tuple[int, int], set[int]]:
    """(course id, user id) -> role ids held in the course context, for users with an active enrolment."""
    courses = ids_csv(cohort.course_ids().values())
    rows = site.sql(
        f"""select x.instanceid as course, ra.userid, ra.roleid
              from mdl_role_assignments ra join mdl_context x on x.id = ra.contextid and x.contextlevel = 50
             where x.instanceid in ({courses})"""
    )
    roles: dict[tuple[int, int], set[int]] = defaultdict(set)
    for row in rows:
        roles[(int(row["course"]), int(row["userid"]))].add(int(row["roleid"]))
    return roles


def enrolments(site: Site, cohort: Cohort) -> dict[tuple[int, int], int]:
    """(course id, user id) -> status of the manual enrolment (0 active, 1 suspended)."""
    courses = ids_csv(cohort.course_ids().values())
    rows = site.sql(
        f"""select e.courseid, ue.userid, ue.status from mdl_user_enrolments ue join mdl_enrol e on e.id = ue.enrolid
             where e.courseid in ({courses}) and e.enrol = 'manual'"""
    )
    return {(int(r["courseid"]), int(r["userid"])): int(r["status"]) for r in rows}


def group_members(site: Site, cohort: Cohort) -> dict[tuple[int, str], set[int]]:
    """(course id, group name) -> member user ids."""
    courses = ids_csv(cohort.course_ids().values())
    rows = site.sql(
        f"""select g.courseid, g.name, m.userid from mdl_groups g left join mdl_groups_members m on m.groupid = g.id
             where g.courseid in ({courses})"""
    )
    members: dict[tuple[int, str], set[int]] = defaultdict(set)
    for row in rows:
        members[(int(row["courseid"]), row["name"])]
        if row["userid"]:
            members[(int(row["courseid"]), row["name"])].add(int(row["userid"]))
    return members


# A comment is feedback when something is left once HTML and blanks are gone (README: HTML stripped).
NON_EMPTY_COMMENT = "btrim(regexp_replace(regexp_replace(fc.commenttext, '<[^>]*>', '', 'g'), '(&nbsp;|\\s)+', '', 'g')) <> ''"

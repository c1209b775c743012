"""Participants' work on a real Moodle, then `accel indicators gather`: every grant indicator equals the count
made with SQL from Moodle's own tables, written from the definitions of ../shared/program.md. The three
report formats are written and opened."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.integration.helpers import NON_EMPTY_COMMENT, Activity, BuiltCohort
from tests.integration.moodle_site import Site

STUDENT = 5  # [roles] student of the test cohort's configuration

# Users with an active student enrolment in the course (program.md: "active student enrolment"): the enrolment
# and its method enabled, within its dates, the user not deleted, holding the student role in the course.
ACTIVE_STUDENTS = f"""
    select distinct e.courseid, ue.userid
      from mdl_user_enrolments ue
      join mdl_enrol e on e.id = ue.enrolid and e.status = 0
      join mdl_user u on u.id = ue.userid and u.deleted = 0
      join mdl_context x on x.contextlevel = 50 and x.instanceid = e.courseid
      join mdl_role_assignments ra on ra.contextid = x.id and ra.userid = ue.userid and ra.roleid = {STUDENT}
     where ue.status = 0 and ue.timestart <= :'now' and (ue.timeend = 0 or ue.timeend > :'now')
       and e.courseid in (:'m1', :'m2', :'m3')
"""

# The activity with an ID number in one of the cohort's courses, e.g. activity('assign', 'm1-concept').
ACTIVITY = """
    (select cm.instance from mdl_course_modules cm join mdl_modules md on md.id = cm.module
      where md.name = '{module}' and cm.idnumber = '{idnumber}' and cm.course in (:'m1', :'m2', :'m3'))
"""


def activity(module: str, idnumber: str) -> str:
    return ACTIVITY.format(module=module, idnumber=idnumber)


COUNTS: dict[str, str] = {
    "participants": f"select count(distinct userid) from ({ACTIVE_STUDENTS}) s",
    "school_participants": f"""
        select count(distinct s.userid) from ({ACTIVE_STUDENTS}) s
          join mdl_groups_members gm on gm.userid = s.userid
          join mdl_groups g on g.id = gm.groupid and g.courseid = s.courseid
         where s.courseid = :'m1'""",
    "initiative_groups": f"""
        select count(distinct g.id) from mdl_groups g
          join mdl_groups_members gm on gm.groupid = g.id
          join ({ACTIVE_STUDENTS}) s on s.userid = gm.userid and s.courseid = g.courseid
         where g.courseid = :'m1'""",
    # Teams whose m1-concept team submission is submitted and graded (a member has a gradebook grade).
    "projects_developed": f"""
        select count(distinct sub.groupid) from mdl_assign_submission sub
          join mdl_groups_members gm on gm.groupid = sub.groupid
          join mdl_grade_items gi on gi.itemtype = 'mod' and gi.itemmodule = 'assign'
                                 and gi.iteminstance = sub.assignment
          join mdl_grade_grades gg on gg.itemid = gi.id and gg.userid = gm.userid and gg.finalgrade is not null
         where sub.assignment = {activity("assign", "m1-concept")}
           and sub.latest = 1 and sub.userid = 0 and sub.groupid <> 0 and sub.status = 'submitted'""",
    # Reviews that carry a non-empty comment, with or without a grade. Moodle keeps a review (grade and
    # comment) per user and assignment in mdl_assign_grades, whether or not the user submitted (offline work
    # is graded too); a team's review is stored on every member and counts once per team.
    "mentor_feedback": f"""
        select count(distinct (a.id, case when a.teamsubmission = 1 then
                   (select min(g.id) from mdl_groups g join mdl_groups_members gm on gm.groupid = g.id
                     where g.courseid = a.course and gm.userid = ag.userid)
                   else ag.userid end))
          from mdl_assign a
          join mdl_assign_grades ag on ag.assignment = a.id
          join mdl_assignfeedback_comments fc on fc.grade = ag.id and fc.assignment = a.id
         where a.course in (:'m1', :'m2', :'m3') and {NON_EMPTY_COMMENT}""",
    "webinars_held": """
        select count(*) from mdl_event where courseid = :'m2' and eventtype = 'course'
           and description like '%Вид события: вебинар%' and timestart + timeduration <= :'now'""",
    "consultations_held": """
        select count(*) from mdl_event where courseid = :'m2' and eventtype in ('course', 'group')
           and description like '%Вид события: консультация%' and timestart + timeduration <= :'now'""",
    "projects_presented": f"""
        select count(distinct groupid) from mdl_assign_submission
         where assignment = {activity("assign", "m3-pitch")}
           and latest = 1 and userid = 0 and groupid <> 0 and status = 'submitted'""",
    # The teams with the three highest m3-pitch grades; a tie at third place brings every tied team.
    "leader_projects": f"""
        with team as (
            select gm.groupid, max(gg.finalgrade) as grade from mdl_grade_grades gg
              join mdl_grade_items gi on gi.id = gg.itemid and gi.itemtype = 'mod' and gi.itemmodule = 'assign'
                                     and gi.iteminstance = {activity("assign", "m3-pitch")}
              join mdl_groups_members gm on gm.userid = gg.userid
              join mdl_groups g on g.id = gm.groupid and g.courseid = :'m3'
             where gg.finalgrade is not null group by gm.groupid)
        select count(*) from (select rank() over (order by grade desc) as place from team) ranked where place <= 3""",
    "funds_raised": f"""
        select coalesce(sum(c.content::numeric), 0) from mdl_data_content c
          join mdl_data_fields f on f.id = c.fieldid and f.name = 'amount'
         where f.dataid = {activity("data", "m3-pledges")} and c.content ~ '^\\s*[0-9]+([.,][0-9]+)?\\s*$'""",
    "votes_cast": f"""
        select count(distinct userid) from mdl_choice_answers where choiceid = {activity("choice", "m3-vote")}""",
    "satisfaction": f"""
        select avg(v.value::numeric) from mdl_feedback_value v
          join mdl_feedback_item i on i.id = v.item and i.label = 'usefulness'
          join mdl_feedback_completed c on c.id = v.completed
         where i.feedback = {activity("feedback", "m1-survey")} and v.value ~ '^[0-9]+([.][0-9]+)?$'""",
}


def ngo_intent(site: Site, courses: dict[str, str]) -> float:
    """Share of m1-survey respondents whose `ngo_plan` answer is Да or Уже зарегистрировали (a multichoice
    answer is the 1-based position of the option in the item's presentation, after its `r>>>>>` type)."""
    item = site.sql(
        f"""select i.id, i.presentation from mdl_feedback_item i
             where i.label = 'ngo_plan' and i.feedback = {activity("feedback", "m1-survey")}""",
        **courses,
    )
    assert len(item) == 1
    options = item[0]["presentation"].split(">>>>>", 1)[-1].split("|")
    wanted = {str(n) for n, label in enumerate(options, 1) if label.strip() in ("Да", "Уже зарегистрировали")}
    respondents = site.sql(
        f"""select c.id, coalesce(v.value, '') as value from mdl_feedback_completed c
              left join mdl_feedback_value v on v.completed = c.id and v.item = :'item'
             where c.feedback = {activity("feedback", "m1-survey")}""",
        item=item[0]["id"],
        **courses,
    )
    assert respondents
    yes = sum(1 for r in respondents if set(r["value"].split("|")) & wanted)
    return yes / len(respondents)


def funds_by_kind(site: Site, courses: dict[str, str]) -> dict[str, float]:
    rows = site.sql(
        f"""select kind.content as kind, sum(amount.content::numeric) as total
              from mdl_data_records r
              join mdl_data_content amount on amount.recordid = r.id
              join mdl_data_fields fa on fa.id = amount.fieldid and fa.name = 'amount'
              join mdl_data_content kind on kind.recordid = r.id
              join mdl_data_fields fk on fk.id = kind.fieldid and fk.name = 'kind'
             where r.dataid = {activity("data", "m3-pledges")} group by kind.content""",
        **courses,
    )
    return {row["kind"]: float(row["total"]) for row in rows}


@pytest.fixture(scope="module")
def gathered(active_cohort: tuple[BuiltCohort, Activity]) -> tuple[BuiltCohort, dict[str, Any]]:
    built, _activity = active_cohort
    cohort = built.cohort
    gather = cohort.accel_ok("--stats", "indicators", "gather")
    assert "Snapshot" in gather.output
    show = cohort.accel_ok("indicators", "show", "--json")
    return built, json.loads(show.stdout)


def test_every_indicator_equals_the_count_made_from_moodles_tables(
    gathered: tuple[BuiltCohort, dict[str, Any]],
) -> None:
    built, shown = gathered
    site = built.site
    results = {r["key"]: r for r in shown["indicators"]["results"]}
    courses = {m: str(i) for m, i in built.cohort.course_ids().items()}
    now = str(shown["indicators"]["taken_at"])

    expected: dict[str, float] = {}
    for key, query in COUNTS.items():
        value = site.sql_value(query, now=now, **courses)
        expected[key] = float(value) if value else math.nan
    expected["ngo_intent"] = ngo_intent(site, courses)
    assert set(results) == set(expected), "program.md's indicators and the product's differ"

    # The scenario has something to count for each indicator (not a comparison of zeros).
    assert all(v > 0 for v in expected.values()), expected
    got = {key: float(r["value"]) for key, r in results.items()}
    mismatched = {
        key: {"accel": got[key], "moodle": expected[key]}
        for key in expected
        if not math.isclose(got[key], expected[key], rel_tol=0, abs_tol=1e-3)
    }
    assert mismatched == {}
    assert results["funds_raised"]["breakdown"] == pytest.approx(funds_by_kind(site, courses))


def test_pending_work_leaves_out_reviews_saved_without_a_grade(
    gathered: tuple[BuiltCohort, dict[str, Any]],
) -> None:
    """A mentor's comment on a feedback-only activity (m2-consultations) is a review: that team's work no
    longer waits (field note 24). Ground truth: team submissions of modules 1 and 2 (presentations in
    module 3 wait for the experts) without a review (a grade, or a non-empty comment) saved after their
    last change."""
    built, _shown = gathered
    cohort, site = built.cohort, built.site
    courses = {m: str(i) for m, i in cohort.course_ids().items()}
    waiting = site.sql(
        f"""select g.name as team, a.name as activity from mdl_assign_submission sub
              join mdl_assign a on a.id = sub.assignment and a.course in (:'m1', :'m2') and a.teamsubmission = 1
              join mdl_groups g on g.id = sub.groupid
             where sub.latest = 1 and sub.userid = 0 and sub.status = 'submitted'
               and not exists (
                   select 1 from mdl_assign_grades ag join mdl_groups_members gm on gm.userid = ag.userid
                     left join mdl_assignfeedback_comments fc on fc.grade = ag.id
                    where ag.assignment = a.id and gm.groupid = g.id and ag.timemodified >= sub.timemodified
                      and (ag.grade >= 0 or ({NON_EMPTY_COMMENT.replace("fc.commenttext", "coalesce(fc.commenttext, '')")})))
             order by 1, 2""",
        **courses,
    )
    pending = json.loads(cohort.accel_ok("indicators", "pending", "--json").stdout)
    got = sorted((item["team"], item["activity"]) for item in pending["pending"])
    assert got == sorted((row["team"], row["activity"]) for row in waiting)
    assert any(row["activity"] == "Журнал консультаций" for row in waiting)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_three_report_formats_are_written_and_open(gathered: tuple[BuiltCohort, dict[str, Any]]) -> None:
    built, shown = gathered
    cohort = built.cohort
    values = {r["key"]: r["value"] for r in shown["indicators"]["results"]}
    titles = shown["titles"]
    out: dict[str, Path] = {}
    for form in ("xlsx", "html", "json"):
        out[form] = cohort.directory / f"otchet.{form}"
        cohort.accel_ok("report", "--format", form, "--out", str(out[form]))
        assert out[form].stat().st_size > 0

    # accel speaks English here (the tests' ACCEL_LANG); the Russian workbook: tests/test_indicators_language.py.
    book = load_workbook(out["xlsx"], read_only=True)
    assert {"Indicators", "Teams", "Mentors", "Waiting for review"} <= set(book.sheetnames)
    # One row per indicator: its title, then the value as a number in the column «Value (number)».
    rows = [row for row in book["Indicators"].iter_rows(values_only=True) if any(c is not None for c in row)]
    header = next(row for row in rows if row[0] == "Indicator")
    fact = header.index("Value (number)")
    by_title = {row[0]: row for row in rows}
    for key, title in titles.items():
        assert title in by_title, f"«{title}» is not on the sheet Indicators"
        assert by_title[title][fact] == pytest.approx(values[key], abs=1e-3), title

    page = _Page()
    page.feed(out["html"].read_text(encoding="utf-8"))
    page.close()
    assert "svg" in page.tags and "table" in page.tags
    text = " ".join(page.text)
    for title in titles.values():
        assert title in text

    data = json.loads(out["json"].read_text(encoding="utf-8"))
    assert {r["key"]: r["value"] for r in data["indicators"]["results"]} == values

"""Provisioning's plan as a pure function: a ProvisionSite built by hand, planned with no site and no HTTP.

The end-to-end tests on the fake are in test_provision.py; here each case changes one thing of a provisioned
cohort's snapshot and looks at the plan.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from course_templates.courses import ModuleCourse, module_courses
from integration.calendar import CalendarEvent
from integration.courses import ActivityDate, Category, ContentModule, Course, Section
from integration.groups import Group
from sync.core.config import AccelConfig, load_config
from sync.provision.changes import (
    CreateCategory,
    CreateCourse,
    CreateEvent,
    DeleteEvent,
    EnrolService,
    InterruptedCopy,
    ProvisionPlan,
    RenameSection,
    UpdateCourse,
)
from sync.provision.plan import plan_provision, team_events
from sync.provision.render import plan_view
from sync.provision.site import ModuleOnSite, ProvisionSite
from sync.provision.templates import compare_template
from tests.helpers import EXAMPLE, TEMPLATES

SERVICE = 2
CATEGORY = Category(id=7, name="Камчатка 2021", idnumber="kam21")


@pytest.fixture
def config() -> AccelConfig:
    return load_config(EXAMPLE)


def wanted(config: AccelConfig) -> dict[str, ModuleCourse]:
    return {mc.key: mc for mc in module_courses(config, TEMPLATES)}


def course_of(mc: ModuleCourse, courseid: int, **changes: object) -> Course:
    """The module's course as the site would give it after a complete apply."""
    fields: dict[str, object] = {
        "id": courseid,
        "shortname": mc.shortname,
        "fullname": mc.fullname,
        "idnumber": mc.idnumber,
        "categoryid": CATEGORY.id,
        "categoryname": CATEGORY.name,
        "format": mc.format,
        "startdate": mc.startdate,
        "enddate": mc.enddate,
        "visible": 1 if mc.visible else 0,
        "groupmode": mc.groupmode,
        "groupmodeforce": 1 if mc.groupmodeforce else 0,
    }
    return Course.model_validate({**fields, **changes})


def sections_of(key: str, first_id: int) -> list[Section]:
    return [
        Section(id=first_id + n, section=n, name=spec.title) for n, spec in enumerate(TEMPLATES[key].sections)
    ]


def provisioned(config: AccelConfig) -> ProvisionSite:
    """A cohort as a complete apply leaves it: category, three courses, sections, the service account."""
    site = ProvisionSite(service_userid=SERVICE, category=CATEGORY)
    for number, (key, mc) in enumerate(wanted(config).items(), start=1):
        course = course_of(mc, 100 + number)
        site.category_courses.append(course)
        site.modules[key] = ModuleOnSite(
            by_idnumber=course, sections=sections_of(key, 1000 * number), service_roles={1}
        )
    # The calendar as the plan wants it: what a plan of the empty calendar would create, made.
    first = plan_provision(config, TEMPLATES, site)
    site.events = [as_made(change, 500 + n) for n, change in enumerate(first.of(CreateEvent))]
    return site


def as_made(change: CreateEvent, eventid: int) -> CalendarEvent:
    """The event the apply makes for ``change``, as core_calendar_get_calendar_events gives it back."""
    event = change.event
    return CalendarEvent(
        id=eventid,
        name=event.name,
        description=event.description,
        courseid=change.courseid,
        groupid=event.groupid,
        eventtype=event.eventtype,
        timestart=event.timestart,
        timeduration=event.timeduration,
    )


def kinds(plan: ProvisionPlan) -> list[str]:
    return [c.kind for c in plan.ordered()]


def test_a_provisioned_cohort_plans_nothing(config: AccelConfig) -> None:
    site = provisioned(config)
    plan = plan_provision(config, TEMPLATES, site)
    assert plan.empty and not plan.blocked, [c.describe() for c in plan.changes]
    assert sum("waits for team" in note for note in plan.notes) == 2  # no groups in this snapshot
    assert len(site.events) == 8


def test_an_empty_site_plans_the_whole_cohort_from_the_template_checks(config: AccelConfig) -> None:
    site = ProvisionSite(service_userid=SERVICE)
    for number, (key, mc) in enumerate(wanted(config).items(), start=1):
        template = Course(id=number, shortname=mc.template_shortname, fullname=TEMPLATES[key].title)
        check = compare_template(
            TEMPLATES[key], mc.template_shortname, template, sections_of(key, 10), {}, []
        )
        site.modules[key] = ModuleOnSite(template=replace(check, findings=[]))  # complete templates
    plan = plan_provision(config, TEMPLATES, site)
    assert not plan.blocked
    assert kinds(plan)[:4] == ["create_category", "create_course", "create_course", "create_course"]
    (category,) = plan.of(CreateCategory)
    assert category.idnumber == "kam21"
    copies = plan.of(CreateCourse)
    assert [c.template_id for c in copies] == [1, 2, 3]
    assert "categoryid" not in copies[0].fields  # the category is made by the same apply
    assert all(e.courseid is None and e.userid == SERVICE for e in plan.of(EnrolService))
    # The template's sections are already titled: nothing to rename in the copies.
    assert plan.of(RenameSection) == []
    assert len(plan.of(CreateEvent)) == 8 and all(e.courseid is None for e in plan.of(CreateEvent))


def test_each_difference_is_one_change(config: AccelConfig) -> None:
    site = provisioned(config)
    m1, m2, m3 = (site.modules[k] for k in ("m1", "m2", "m3"))
    assert m1.by_idnumber is not None and m3.by_idnumber is not None
    m1.by_idnumber = m1.by_idnumber.model_copy(update={"enddate": m1.by_idnumber.enddate + 86400})
    m2.sections[1] = m2.sections[1].model_copy(update={"name": "Старое название"})
    m3.service_roles = {5}
    site.events = [*site.events[1:], site.events[2].model_copy(update={"id": 999})]
    plan = plan_provision(config, TEMPLATES, site)
    assert kinds(plan) == ["update_course", "rename_section", "enrol_service", "delete_event", "create_event"]
    (update,) = plan.of(UpdateCourse)
    assert update.courseid == m1.by_idnumber.id and list(update.fields) == ["enddate"]
    (rename,) = plan.of(RenameSection)
    assert (rename.section_id, rename.number) == (m2.sections[1].id, 1)
    (enrol,) = plan.of(EnrolService)
    assert enrol.courseid == m3.by_idnumber.id and "roles 5 only" in enrol.reason
    assert [d.eventid for d in plan.of(DeleteEvent)] == [999]  # the duplicate goes, the original stays


def test_team_consultations_are_planned_on_the_teams_groups(config: AccelConfig) -> None:
    site = provisioned(config)
    m2 = site.modules["m2"]
    assert m2.by_idnumber is not None
    m2.groups = [
        Group(id=41, courseid=m2.by_idnumber.id, name="Эссо: тропа эвенов"),
        Group(id=42, courseid=m2.by_idnumber.id, name="Шаромы — наш дом"),
    ]
    plan = plan_provision(config, TEMPLATES, site)
    assert sorted(c.event.groupid or 0 for c in team_events(plan)) == [41, 42]
    assert plan.changes == team_events(plan)


def test_activity_dates_outside_the_course_are_warnings(config: AccelConfig) -> None:
    site = provisioned(config)
    m1 = site.modules["m1"]
    late = wanted(config)["m1"].enddate + 86400
    module = ContentModule(
        id=77, name="План фандрайзинга", modname="assign", dates=[ActivityDate(label="Due:", timestamp=late)]
    )
    m1.sections[2] = m1.sections[2].model_copy(update={"modules": [module]})
    m1.activity_keys = {77: "m1-fundraising"}
    plan = plan_provision(config, TEMPLATES, site)
    assert plan.empty
    (warning,) = plan.date_warnings
    assert (warning.subject, warning.key, warning.what) == ("m1", "m1-fundraising", "Due")
    assert "after the course ends" in warning.message


def test_a_copy_left_half_made_by_the_server_is_reported_not_used(config: AccelConfig) -> None:
    site = provisioned(config)
    leftover = Course(
        id=150,
        shortname="ACCEL-TPL-M1_1",
        fullname="Школа активистов сельских территорий copy 1",
        idnumber="",
        categoryid=CATEGORY.id,
    )
    # Not leftovers: a course with an ID number, and one whose name only looks alike.
    other = Course(id=151, shortname="ACCEL-TPL-M1_draft", fullname="Черновик", categoryid=CATEGORY.id)
    named = Course(id=152, shortname="ACCEL-TPL-M2_3", fullname="X", idnumber="x", categoryid=CATEGORY.id)
    site.category_courses += [leftover, other, named]
    plan = plan_provision(config, TEMPLATES, site)
    assert plan.empty and not plan.blocked
    (copy,) = plan.interrupted_copies
    assert (copy.courseid, copy.shortname, copy.template_shortname, copy.subject) == (
        150,
        "ACCEL-TPL-M1_1",
        "ACCEL-TPL-M1",
        "m1",
    )
    assert "does not use it and does not delete it" in copy.message
    assert "An administrator may delete it in Moodle" in copy.message
    (block,) = [b for b in plan_view(plan).blocks if "interrupted" in b.title]
    assert len(block.items) == 1 and "ACCEL-TPL-M1_1 (id 150" in block.items[0]
    assert plan.as_dict()["interrupted_copies"][0]["course_id"] == 150
    assert isinstance(copy, InterruptedCopy)


def test_the_events_scope_plans_the_calendar_of_the_courses_found(config: AccelConfig) -> None:
    site = provisioned(config)
    events_site = ProvisionSite(scope="events", events=site.events[1:])
    for key, found in site.modules.items():
        events_site.modules[key] = ModuleOnSite(by_idnumber=found.by_idnumber if key != "m3" else None)
    plan = plan_provision(config, TEMPLATES, events_site)
    (missing,) = plan.changes  # the event left out of the calendar; m3 is left to `accel provision`
    assert isinstance(missing, CreateEvent) and missing.module == "m2" and missing.courseid == 102
    assert [n.split(" ")[0] for n in plan.notes if "not on the site yet" in n] == ["KAM21-M3"]

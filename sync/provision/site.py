"""Provisioning, step 1: read what the site holds for the cohort (:func:`read_site`), all of it before planning.

The result, :class:`ProvisionSite`, is plain data: the service account, the cohort category and every course
in it, each module's course (found by ID number, else by short name), its sections, groups and the service
account's roles, the template course of a course still to be made, and the calendar events of the cohort's
courses and groups. The plan (sync/provision/plan.py) is a pure function of it and the configuration.

Reads are asked only when planning needs them, which :meth:`ProvisionSite.course` decides the same way for
reading and for planning: the module's course is the one with its ID number, else a copy that an interrupted
apply left without one (its short name, in the cohort category).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from course_templates.courses import ModuleCourse, module_courses
from course_templates.loader import ModuleTemplate, load_templates
from integration.calendar import CalendarEvent, get_events
from integration.courses import (
    ActivityDate,
    Category,
    ContentModule,
    Course,
    Section,
    get_categories_by_idnumber,
    get_contents,
    get_course_by_field,
    get_course_module,
    get_courses_by_field,
)
from integration.enrol import get_enrolled_users
from integration.groups import Group, get_course_groups
from integration.transport import MoodleClient
from sync.core.config import AccelConfig
from sync.provision.templates import TemplateCheck, check_template

#: "cohort": everything `accel provision` plans; "events": only what the calendar part needs, for the courses
#: that exist (the service's team events after a roster sync)
Scope = Literal["cohort", "events"]


@dataclass
class ModuleOnSite:
    """What the site holds for one module course, as read."""

    #: the course with the module's ID number
    by_idnumber: Course | None = None
    #: the course holding the module's short name; read only when it matters: no course has the ID number, or
    #: that course has another short name
    by_shortname: Course | None = None
    #: of the module's course (see ProvisionSite.course)
    sections: list[Section] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    #: role ids of the service account's active enrolment in the module's course; None: no active enrolment
    service_roles: set[int] | None = None
    #: course module id -> its ID number ("" without one), for the activities of the module's course whose
    #: dates lie outside the course's (core_course_get_contents does not give ID numbers, field note 12)
    activity_keys: dict[int, str] = field(default_factory=dict)
    #: the template course, checked against its file: read when the course is still to be made
    template: TemplateCheck | None = None


@dataclass
class ProvisionSite:
    """A snapshot of what provisioning needs from the site; :func:`read_site` makes it."""

    scope: Scope = "cohort"
    #: the token's own user
    service_userid: int = 0
    #: the cohort category (ID number = the cohort code); None: not on the site (or not read: events scope)
    category: Category | None = None
    #: every course in the cohort category, whatever its name
    category_courses: list[Course] = field(default_factory=list)
    modules: dict[str, ModuleOnSite] = field(default_factory=dict)
    #: calendar events of the module courses found and of their groups
    events: list[CalendarEvent] = field(default_factory=list)

    def course(self, module: str) -> Course | None:
        """The module's course: by ID number, else a copy without one in the cohort category that carries the
        module's short name (a copy an interrupted apply made but did not finish configuring: adopted)."""
        found = self.modules.get(module)
        if found is None:
            return None
        if found.by_idnumber is not None:
            return found.by_idnumber
        if found.by_shortname is not None and self.adoptable(found.by_shortname):
            return found.by_shortname
        return None

    def adoptable(self, course: Course) -> bool:
        return not course.idnumber and self.category is not None and course.categoryid == self.category.id


def outside_course(dates: Iterable[ActivityDate], mc: ModuleCourse) -> list[ActivityDate]:
    """The dates (set ones) that fall outside the module course's dates."""
    return [d for d in dates if d.timestamp and not (mc.startdate <= d.timestamp <= mc.enddate)]


def modules_outside_course(sections: Iterable[Section], mc: ModuleCourse) -> list[ContentModule]:
    return [mod for sec in sections for mod in sec.modules if outside_course(mod.dates, mc)]


def service_roles(client: MoodleClient, courseid: int, userid: int) -> set[int] | None:
    """Role ids of the service account's *active* enrolment, or None when it has none.

    ``onlyactive=1`` leaves suspended enrolments out (field note 21), so a suspended enrolment counts as
    none; enrolling again reactivates it (field note 22). One request per course, only ids and roles asked.
    """
    for user in get_enrolled_users(client, courseid, onlyactive=True, userfields=("id", "roles")):
        if user.id == userid:
            return user.roleids
    return None


def read_course(client: MoodleClient, courseid: int, service_userid: int, found: ModuleOnSite) -> None:
    """A module course's sections, the service account's roles in it and its groups (three reads, at once).

    Calls: core_course_get_contents, core_enrol_get_enrolled_users, core_group_get_course_groups.
    """

    def sections() -> None:
        found.sections = get_contents(client, courseid)

    def roles() -> None:
        found.service_roles = service_roles(client, courseid, service_userid)

    def groups() -> None:
        found.groups = get_course_groups(client, courseid)

    client.concurrent([sections, roles, groups])


def _course_by(
    client: MoodleClient, known: Iterable[Course], by: Literal["idnumber", "shortname"], value: str
) -> Course | None:
    """The course whose ID number or short name is ``value``: from the courses already read when one of them
    has it (both are unique on a site), else asked. Calls: core_course_get_courses_by_field (perhaps)."""
    for course in known:
        if getattr(course, by) == value:
            return course
    return get_course_by_field(client, by, value)


def read_site(
    client: MoodleClient,
    config: AccelConfig,
    templates: Mapping[str, ModuleTemplate] | None = None,
    *,
    scope: Scope = "cohort",
) -> ProvisionSite:
    """Read what the plan needs. Writes nothing.

    ``templates`` default to the configuration's (``[templates] dir``, else the bundled ones).
    Calls: core_webservice_get_site_info (once per client), core_course_get_categories,
    core_course_get_courses_by_field (the category's courses, then by ID number or short name only for a
    module course not among them), per module course core_course_get_contents, core_enrol_get_enrolled_users,
    core_group_get_course_groups and core_course_get_course_module (for each activity dated outside the
    course), per course to be made the template check (sync/provision/templates.py), and
    core_calendar_get_calendar_events. The events scope: the courses by ID number, their groups and events.
    """
    if templates is None:
        templates = load_templates(config.templates_dir())
    site = ProvisionSite(scope=scope)
    if scope == "cohort":
        site.service_userid = client.site_userid()
        categories = get_categories_by_idnumber(client, config.category_idnumber)
        site.category = next((c for c in categories if c.idnumber == config.category_idnumber), None)
        if site.category is not None:
            # One read for the steady state (the three courses are in it) that also shows what else is there.
            site.category_courses = get_courses_by_field(client, "category", str(site.category.id))
    wanted = list(module_courses(config, templates))
    for mc in wanted:
        site.modules[mc.key] = ModuleOnSite()

    def read_module(mc: ModuleCourse) -> None:
        found = site.modules[mc.key]
        found.by_idnumber = _course_by(client, site.category_courses, "idnumber", mc.idnumber)
        if scope == "events":
            if found.by_idnumber is not None:
                found.groups = get_course_groups(client, found.by_idnumber.id)
            return
        if found.by_idnumber is None or found.by_idnumber.shortname != mc.shortname:
            found.by_shortname = _course_by(client, site.category_courses, "shortname", mc.shortname)
        course = site.course(mc.key)
        if course is not None:
            read_course(client, course.id, site.service_userid, found)
            outside = modules_outside_course(found.sections, mc)
            keys = client.map(lambda mod: get_course_module(client, mod.id).idnumber, outside)
            found.activity_keys = {mod.id: key for mod, key in zip(outside, keys, strict=True)}
        elif found.by_shortname is None:
            # To be made (a short name taken by another course is a problem: nothing to copy then).
            found.template = check_template(client, templates[mc.key], mc.template_shortname)

    # The three modules at once (each module's own reads one after another, or at once where they can).
    client.map(read_module, wanted)
    course_ids = [c.id for key in site.modules if (c := site.course(key)) is not None]
    group_ids = [g.id for found in site.modules.values() for g in found.groups]
    # Two reads inside: asked together with the courses, the group events would be dropped (field note 23)
    # and every team consultation planned again on each run.
    site.events = get_events(client, courseids=course_ids, groupids=group_ids)
    return site

"""Provisioning a cohort's courses, step 2: the plan, a pure function of the configuration, the module templates
and what the site holds (read first by sync/provision/site.py; apply is sync/provision/apply.py).

    read_site (site.py)  ->  plan_provision (here, pure)  ->  apply_plan (apply.py, the only code that writes)

The plan compares what the cohort configuration and the module templates ask for with what the site holds,
matching things by ID number (category, courses) or short name, and lists the changes with their reasons:

- the cohort category (ID number = the cohort code);
- one course per module, copied from the module's template course without user data, then given its
  ID number, names, dates, visibility, format and group mode;
- the service account (the token's user) enrolled with the service role, without which the activity reads
  return nothing (field note 9);
- section titles as in the template (sections are added when the course has fewer);
- webinars (course events) and consultations (group events, or course events without a team), marked with
  their kind (``sync.core.vocabulary.event_kind``).

It also warns about every activity date copied from the template that falls outside the course's dates: the
copy keeps them and the standard web services cannot shift them (field note 15); and about course copies
left half-made in the cohort category by a server stopped during the restore (the template's short name
with a suffix, no ID number), which accel neither uses nor deletes.

A course copied but not yet given its ID number (an apply stopped midway) is recognised by its short name
in the cohort category and adopted. After a complete apply a new plan is empty and a second apply writes
nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from course_templates.courses import ModuleCourse, module_courses
from course_templates.loader import ModuleTemplate, load_templates
from integration.calendar import CalendarEvent
from integration.courses import Course, Section
from integration.transport import MoodleClient
from sync.core.config import AccelConfig, ScheduledEvent
from sync.core.plan import Problem
from sync.core.vocabulary import event_description, event_kind, team_key
from sync.provision.changes import (
    AddSections,
    CourseFields,
    CreateCategory,
    CreateCourse,
    CreateEvent,
    DateWarning,
    DeleteEvent,
    EnrolService,
    InterruptedCopy,
    NewEvent,
    PlannedCourse,
    ProvisionPlan,
    RenameSection,
    UpdateCourse,
    local_time,
)
from sync.provision.site import ModuleOnSite, ProvisionSite, outside_course, read_site
from sync.provision.templates import TemplateCheck

#: Course fields provisioning owns (core_course_update_courses names).
COURSE_FIELDS = (
    "idnumber",
    "fullname",
    "shortname",
    "categoryid",
    "startdate",
    "enddate",
    "visible",
    "format",
    "groupmode",
    "groupmodeforce",
)


def desired_course_fields(mc: ModuleCourse, categoryid: int | None) -> CourseFields:
    fields: CourseFields = {
        "idnumber": mc.idnumber,
        "fullname": mc.fullname,
        "shortname": mc.shortname,
        "startdate": mc.startdate,
        "enddate": mc.enddate,
        "visible": 1 if mc.visible else 0,
        "format": mc.format,
        "groupmode": mc.groupmode,
        "groupmodeforce": 1 if mc.groupmodeforce else 0,
    }
    if categoryid is not None:
        fields["categoryid"] = categoryid
    return fields


def _course_diff(course: Course, desired: CourseFields) -> dict[str, tuple[Any, Any]]:
    diff: dict[str, tuple[Any, Any]] = {}
    for name, want in desired.items():
        have = getattr(course, name)
        # Names come back through format_string, which escapes "&" (and quotes) as HTML entities.
        if isinstance(have, str) and isinstance(want, str) and html.unescape(have) == want:
            continue
        if have != want:
            diff[name] = (have, want)
    return diff


def _describe(name: str, old: Any, new: Any, tz: str) -> str:
    if name == "categoryid" and new is None:
        return f"categoryid {old!r} → the new cohort category"
    if name in ("startdate", "enddate"):
        old_text, new_text = (local_time(int(v), tz) if v else "none" for v in (old, new))
        return f"{name} {old_text} → {new_text}"
    return f"{name} {old!r} → {new!r}"


# -- the plan ------------------------------------------------------------------------------------------------


def plan_provision(
    config: AccelConfig, templates: Mapping[str, ModuleTemplate], site: ProvisionSite
) -> ProvisionPlan:
    """What must change for the cohort to be as configured, from a read of the site. Pure: no request.

    A site read in the events scope gives the events part alone (:func:`compute_events_plan`).
    """
    plan = ProvisionPlan(
        cohort=config.cohort.code, cohort_name=config.cohort.name, category=site.category, courses={}
    )
    wanted = module_courses(config, templates)
    if site.scope == "events":
        for mc in wanted:
            plan.courses[mc.key] = PlannedCourse(mc, site.course(mc.key))
            if plan.courses[mc.key].course is None:
                plan.warn(
                    f"{mc.shortname} is not on the site yet: `accel provision --apply` makes it", mc.key
                )
        _plan_events(config, site, plan, existing_courses_only=True)
        return plan
    if site.category is None:
        plan.changes.append(
            CreateCategory(
                target=f"category «{config.category.name}»",
                reason=f"no category with ID number {config.category_idnumber}",
                name=config.category.name,
                idnumber=config.category_idnumber,
                parent=config.category.parent,
                description=config.category.description,
            )
        )
    for mc in wanted:
        plan.courses[mc.key] = _plan_course(config, templates[mc.key], mc, site, plan)
    _plan_interrupted_copies(wanted, site, plan)
    _plan_events(config, site, plan)
    return plan


def _check_course(mc: ModuleCourse, found: ModuleOnSite, site: ProvisionSite, plan: ProvisionPlan) -> None:
    """Problems with the module's short name (taken by another course), and the note of an adopted copy."""
    course, other = found.by_idnumber, found.by_shortname
    if course is not None:
        if other is not None and other.id != course.id:
            plan.problems.append(
                Problem(
                    f"course {mc.idnumber} (id {course.id}) should be renamed to {mc.shortname}, but that "
                    f"short name belongs to another course (id {other.id}, «{other.fullname}», ID number "
                    f"{other.idnumber or 'none'}). Rename or delete that course, or change the cohort's "
                    "short_name.",
                    mc.key,
                )
            )
        return
    if other is None:
        return
    if site.adoptable(other):
        plan.warn(
            f"{mc.shortname}: found without an ID number in the cohort category (id {other.id}), as an "
            "interrupted apply leaves it; it is adopted and completed",
            mc.key,
        )
        return
    where = f"category «{other.categoryname}»" if other.categoryname else f"category id {other.categoryid}"
    plan.problems.append(
        Problem(
            f"short name {mc.shortname} is taken by another course: id {other.id}, «{other.fullname}», "
            f"ID number {other.idnumber or 'none'}, in {where}. Rename or delete that course, or set "
            "[cohort] short_name in the configuration to use other short names.",
            mc.key,
        )
    )


def _plan_course(
    config: AccelConfig,
    template: ModuleTemplate,
    mc: ModuleCourse,
    site: ProvisionSite,
    plan: ProvisionPlan,
) -> PlannedCourse:
    """One module course: made from its template (:func:`_plan_copy`) or brought in line (:func:`_plan_update`),
    then its sections and the warnings about its activities' dates."""
    found = site.modules[mc.key]
    course = site.course(mc.key)
    state = PlannedCourse(desired=mc, course=course)
    _check_course(mc, found, site, plan)
    if course is None:
        if found.by_shortname is not None:
            return state  # the short name is taken: nothing more to plan for this module
        state.template = found.template.course if found.template is not None else None
        check = _plan_copy(config, mc, found.template, site, plan)
        if check is None:
            return state
        sections = check.sections
        keys = {cm.id: key for key, cm in check.activities.items()}
    else:
        _plan_update(config, mc, course, found, site, plan)
        sections = found.sections
        keys = {cmid: key for cmid, key in found.activity_keys.items() if key}
    _plan_sections(template, mc, course, sections, plan)
    _plan_dates(config, mc, sections, keys, plan)
    return state


def _plan_copy(
    config: AccelConfig,
    mc: ModuleCourse,
    check: TemplateCheck | None,
    site: ProvisionSite,
    plan: ProvisionPlan,
) -> TemplateCheck | None:
    """A course to make: copied from a complete template course, then the service account enrolled. Returns
    the template's check, or None (a problem said) when the template course is missing or incomplete."""
    if check is None or check.course is None:
        plan.problems.append(
            Problem(
                f"template course {mc.template_shortname} not found on the site, so {mc.shortname} cannot "
                "be made. A course designer creates it once (see `accel templates check`), or set "
                f"[modules.{mc.key}] template to the short name of the existing template course.",
                mc.key,
            )
        )
        return None
    missing = [f.message for f in check.findings if f.severity == "error"]
    if missing:
        plan.problems.append(
            Problem(
                f"template course {mc.template_shortname} is not complete, so {mc.shortname} would lack "
                f"activities: {'; '.join(missing)}. Run `accel templates check`.",
                mc.key,
            )
        )
        return None
    role = config.roles.service
    plan.changes.append(
        CreateCourse(
            target=f"course {mc.shortname}",
            reason=f"no course with ID number {mc.idnumber}: copy template {mc.template_shortname} without "
            f"user data, then set ID number, dates ({mc.start:%d.%m.%Y} – {mc.end:%d.%m.%Y}), visibility "
            "and group mode",
            module=mc.key,
            template_id=check.course.id,
            fields=desired_course_fields(mc, site.category.id if site.category else None),
        )
    )
    plan.changes.append(
        EnrolService(
            target=f"service account in {mc.shortname}",
            reason=f"the token's user needs an active enrolment (role {role}) to read activity data "
            "(field note 9)",
            module=mc.key,
            courseid=None,
            userid=site.service_userid,
            roleid=role,
        )
    )
    return check


def _plan_update(
    config: AccelConfig,
    mc: ModuleCourse,
    course: Course,
    found: ModuleOnSite,
    site: ProvisionSite,
    plan: ProvisionPlan,
) -> None:
    """A course on the site: its fields as configured, and the service account enrolled with its role."""
    categoryid = site.category.id if site.category else None
    diff = _course_diff(course, desired_course_fields(mc, categoryid))
    if categoryid is None:
        # The cohort category is made by this apply: the course moves into it (id known only then).
        diff["categoryid"] = (course.categoryid, None)
    if diff:
        tz = config.cohort.timezone
        plan.changes.append(
            UpdateCourse(
                target=f"course {mc.shortname} (id {course.id})",
                reason="; ".join(_describe(k, old, new, tz) for k, (old, new) in diff.items()),
                module=mc.key,
                courseid=course.id,
                fields={k: new for k, (_, new) in diff.items()},
            )
        )
    role, roles = config.roles.service, found.service_roles
    if roles is None or role not in roles:
        why = (
            "not enrolled (or the enrolment is suspended)"
            if roles is None
            else f"enrolled with roles {sorted(roles)} only"
        )
        plan.changes.append(
            EnrolService(
                target=f"service account in {mc.shortname}",
                reason=f"the token's user is {why}; it needs role {role} to read activity data (field note 9)",
                module=mc.key,
                courseid=course.id,
                userid=site.service_userid,
                roleid=role,
            )
        )


def _plan_sections(
    template: ModuleTemplate,
    mc: ModuleCourse,
    course: Course | None,
    sections: Sequence[Section],
    plan: ProvisionPlan,
) -> None:
    """Sections as in the template file: added when the course (or the template to copy) has fewer, titled."""
    # Subsections (delegated sections) are listed after the course's own sections; they are not numbered ones.
    have = [s for s in sections if not s.component]
    missing = len(template.sections) - len(have)
    courseid = course.id if course else None
    if missing > 0:
        plan.changes.append(
            AddSections(
                target=f"{missing} section(s) in {mc.shortname}",
                reason=f"the template file has {len(template.sections)} sections, the course {len(have)}",
                module=mc.key,
                courseid=courseid,
                count=missing,
            )
        )
    for number, spec in enumerate(template.sections):
        current = have[number] if number < len(have) else None
        if current is not None and html.unescape(current.name) == spec.title:
            continue
        reason = (
            f"new section, titled as in {template.key}.yaml"
            if current is None
            else f"title «{current.name}» differs from {template.key}.yaml"
        )
        plan.changes.append(
            RenameSection(
                target=f"section {number} of {mc.shortname}: «{spec.title}»",
                reason=reason,
                module=mc.key,
                courseid=courseid,
                number=number,
                # Only known for an existing course; a new course's sections are read after the copy.
                section_id=current.id if current is not None and course is not None else None,
                title=spec.title,
                format=mc.format,
            )
        )


def _plan_dates(
    config: AccelConfig,
    mc: ModuleCourse,
    sections: Sequence[Section],
    keys: Mapping[int, str],
    plan: ProvisionPlan,
) -> None:
    """A warning per activity date outside the course's dates (``keys``: activity ID numbers by module id)."""
    for sec in sections:
        for mod in sec.modules:
            for d in outside_course(mod.dates, mc):
                plan.warnings.append(
                    DateWarning.of(
                        module=mc.key,
                        course=mc.shortname,
                        activity=mod.name,
                        key=keys.get(mod.id),
                        what=d.label.rstrip(": ") or d.dataid,
                        timestamp=d.timestamp,
                        course_start=mc.startdate,
                        course_end=mc.enddate,
                        tz=config.cohort.timezone,
                    )
                )


def _plan_interrupted_copies(
    wanted: Sequence[ModuleCourse], site: ProvisionSite, plan: ProvisionPlan
) -> None:
    """Course copies the server never finished: core_course_duplicate_course restores the template into a
    new course named after the template (its short name with ``_N``, «… copy N») and renames it only at the
    end, so a server stopped during the restore leaves such a course in the cohort category, without an ID
    number and perhaps with part of the content. It is not the cohort's course: it is reported, never used
    or deleted (only an administrator knows nothing else depends on it)."""
    in_use = {course.id for key in site.modules if (course := site.course(key)) is not None}
    for course in site.category_courses:
        if course.idnumber or course.id in in_use:
            continue
        shortname = html.unescape(course.shortname)
        for mc in wanted:
            if re.fullmatch(re.escape(mc.template_shortname) + r"_\d+", shortname):
                plan.warnings.append(InterruptedCopy.of(course, mc.template_shortname, mc.key))
                break


def _text(description: str | None) -> str:
    """Description as plain text, for comparing what we sent with what Moodle returns after format_text."""
    text = re.sub(r"<[^>]+>", " ", description or "")
    return " ".join(html.unescape(text).split())


def _event_signature(
    course_key: str, groupid: int, kind: str, name: str, start: int, duration: int, text: str
) -> tuple[Any, ...]:
    return (course_key, groupid, kind, html.unescape(name).strip(), start, duration, text)


def _plan_events(
    config: AccelConfig, site: ProvisionSite, plan: ProvisionPlan, *, existing_courses_only: bool = False
) -> None:
    """The schedule's events against the calendar: those missing are created, those made by provisioning
    but no longer in the schedule (or changed, or twice there) deleted; people's own events are left alone."""
    groups = {key: found.groups for key, found in site.modules.items()}
    #: signature -> the scheduled event and the event to create when the calendar lacks it
    wanted: dict[tuple[Any, ...], tuple[ScheduledEvent, NewEvent]] = {}
    for ev in config.scheduled_events():
        state = plan.courses[ev.module]
        mc = state.desired
        if existing_courses_only and state.course is None:
            continue  # the course is made by `accel provision`, and its events with it
        if not (mc.startdate <= ev.timestart <= mc.enddate):
            plan.warn(
                f"{ev.kind} «{ev.title}» ({ev.start:%d.%m.%Y %H:%M}) is outside the dates of {mc.shortname} "
                f"({mc.start:%d.%m.%Y} – {mc.end:%d.%m.%Y}); it is put in the calendar anyway. Check the date in "
                "the configuration.",
                ev.module,
            )
        groupid = 0
        if ev.team:
            group = next((g for g in groups[ev.module] if team_key(g.name) == team_key(ev.team)), None)
            if group is None:
                plan.warn(
                    f"consultation «{ev.title}» ({ev.start:%d.%m.%Y %H:%M}) waits for team «{ev.team}»: no such "
                    f"group in {mc.shortname} yet. It is created once the roster sync makes the team: by the "
                    "service's roster job itself, or run `accel provision --apply` after `accel roster sync "
                    "--apply`.",
                    ev.module,
                )
                continue
            groupid = group.id
        desc = event_description(ev.kind, ev.description)
        sig = _event_signature(
            ev.module, groupid, ev.kind, ev.title, ev.timestart, ev.timeduration, _text(desc)
        )
        wanted[sig] = (
            ev,
            NewEvent(
                name=ev.title,
                groupid=groupid or None,
                timestart=ev.timestart,
                timeduration=ev.timeduration,
                description=desc,
            ),
        )

    existing: dict[tuple[Any, ...], list[CalendarEvent]] = {}
    key_by_courseid = {st.course.id: key for key, st in plan.courses.items() if st.course is not None}
    group_course = {g.id: key for key, module_groups in groups.items() for g in module_groups}
    for event in site.events:
        kind = event_kind(event.description)
        if kind is None or event.modulename:
            continue  # not made by provisioning: left alone
        groupid = event.groupid or 0
        course_key = group_course.get(groupid) if groupid else key_by_courseid.get(event.courseid or 0)
        if course_key is None:
            continue
        sig = _event_signature(
            course_key,
            groupid,
            kind,
            event.name,
            event.timestart,
            event.timeduration,
            _text(event.description),
        )
        existing.setdefault(sig, []).append(event)

    for sig, (ev, new_event) in wanted.items():
        found = existing.get(sig)
        if found:
            found.pop(0)  # matched; any further copies are duplicates and are deleted below
            continue
        state = plan.courses[ev.module]
        scope = f"team «{ev.team}»" if ev.team else "whole course"
        plan.changes.append(
            CreateEvent(
                target=f"{ev.kind} «{ev.title}» {ev.start:%d.%m.%Y %H:%M}, {ev.duration_minutes} min",
                reason=f"in the schedule, not in the calendar of {state.desired.shortname} ({scope})",
                module=ev.module,
                courseid=state.course.id if state.course else None,
                event=new_event,
                team=ev.team,
            )
        )
    for events in existing.values():
        for event in events:
            plan.changes.append(
                DeleteEvent(
                    target=f"event «{event.name}» (id {event.id})",
                    reason="made by provisioning but no longer in the schedule (or changed, or a duplicate)",
                    eventid=event.id,
                )
            )


# -- read and plan together ----------------------------------------------------------------------------------


def compute_plan(
    client: MoodleClient, config: AccelConfig, templates: Mapping[str, ModuleTemplate]
) -> ProvisionPlan:
    """Read the site and list what must change for the cohort to be as configured. Writes nothing."""
    return plan_provision(config, templates, read_site(client, config, templates))


def compute_events_plan(client: MoodleClient, config: AccelConfig) -> ProvisionPlan:
    """The events part of the provisioning plan alone: what `accel provision` would do to the calendar.

    For the roster sync, which makes the teams a team consultation waits for: after an apply that made groups
    the service's roster job carries out this plan's team events (:func:`team_events`, with
    ``sync.provision.apply.apply_plan``), and `accel roster sync --apply` says which team events now wait.
    The cohort's courses are found by ID number; one not on the site yet is left to `accel provision` with its
    events. The same three steps as :func:`compute_plan` (read_site in the events scope, plan_provision);
    writes nothing. Calls: core_course_get_courses_by_field, core_group_get_course_groups,
    core_calendar_get_calendar_events.
    """
    templates = load_templates(config.templates_dir())
    return plan_provision(config, templates, read_site(client, config, templates, scope="events"))


def team_events(plan: ProvisionPlan) -> list[CreateEvent]:
    """The plan's team consultations to create: group events whose team has a group now."""
    return [c for c in plan.of(CreateEvent) if c.event.groupid]


def has_team_events(config: AccelConfig) -> bool:
    """Whether the schedule has consultations of a team (group events, which wait for the roster's groups)."""
    return any(ev.team for ev in config.scheduled_events())


def waiting_team_events(client: MoodleClient, config: AccelConfig) -> list[str]:
    """After a roster apply: the schedule's team consultations whose group exists now and which are not in the
    calendar yet (what `accel provision --apply` creates), one line each; none without team events (no read).
    """
    if not has_team_events(config):
        return []
    return [f"{c.target} (team «{c.team}»)" for c in team_events(compute_events_plan(client, config))]

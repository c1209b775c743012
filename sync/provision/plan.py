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
from i18n import N_, _, ngettext
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


#: The course fields as people read them (Moodle's names for them on the course settings page).
FIELD_LABELS: dict[str, str] = {
    "idnumber": N_("ID number"),
    "fullname": N_("full name"),
    "shortname": N_("short name"),
    "categoryid": N_("category"),
    "startdate": N_("start date"),
    "enddate": N_("end date"),
    "visible": N_("visibility"),
    "format": N_("format"),
    "groupmode": N_("group mode"),
    "groupmodeforce": N_("force group mode"),
}

#: The schedule's kinds of event as people read them in the plan
EVENT_KIND_WORDS: dict[str, str] = {"webinar": N_("webinar"), "consultation": N_("consultation")}


def _describe(name: str, old: Any, new: Any, tz: str) -> str:
    """One field's change, for people: ``end date 30.11.2021 23:59 → 05.12.2021 23:59``."""
    label = _(FIELD_LABELS.get(name, name))
    if name == "categoryid" and new is None:
        return _("{field} {old} → the new cohort category").format(field=label, old=repr(old))
    if name in ("startdate", "enddate"):
        old_text, new_text = (local_time(int(v), tz) if v else _("none") for v in (old, new))
        return _("{field} {old} → {new}").format(field=label, old=old_text, new=new_text)
    return _("{field} {old} → {new}").format(field=label, old=repr(old), new=repr(new))


def _kind_word(kind: str) -> str:
    return _(EVENT_KIND_WORDS.get(kind, kind))


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
                    _("{course} is not on the site yet: `accel provision --apply` makes it").format(
                        course=mc.shortname
                    ),
                    mc.key,
                )
        _plan_events(config, site, plan, existing_courses_only=True)
        return plan
    if site.category is None:
        plan.changes.append(
            CreateCategory(
                target=_("category «{name}»").format(name=config.category.name),
                reason=_("no category with ID number {idnumber}").format(idnumber=config.category_idnumber),
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
                    _(
                        "course {idnumber} (id {id}) should be renamed to {shortname}, but that short name "
                        "belongs to another course (id {other_id}, «{other_name}», ID number {other_idnumber}). "
                        "Rename or delete that course, or change the cohort's short_name."
                    ).format(
                        idnumber=mc.idnumber,
                        id=course.id,
                        shortname=mc.shortname,
                        other_id=other.id,
                        other_name=other.fullname,
                        other_idnumber=other.idnumber or _("none"),
                    ),
                    mc.key,
                )
            )
        return
    if other is None:
        return
    if site.adoptable(other):
        plan.warn(
            _(
                "{course}: found without an ID number in the cohort category (id {id}), as an interrupted "
                "apply leaves it; it is adopted and completed"
            ).format(course=mc.shortname, id=other.id),
            mc.key,
        )
        return
    where = (
        _("in category «{name}»").format(name=other.categoryname)
        if other.categoryname
        else _("in category id {id}").format(id=other.categoryid)
    )
    plan.problems.append(
        Problem(
            _(
                "short name {shortname} is taken by another course: id {id}, «{name}», ID number {idnumber}, "
                "{where}. Rename or delete that course, or set [cohort] short_name in the configuration to "
                "use other short names."
            ).format(
                shortname=mc.shortname,
                id=other.id,
                name=other.fullname,
                idnumber=other.idnumber or _("none"),
                where=where,
            ),
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
                _(
                    "template course {template} not found on the site, so {course} cannot be made. A course "
                    "designer creates it once (see `accel templates check`), or set [modules.{module}] "
                    "template to the short name of the existing template course."
                ).format(template=mc.template_shortname, course=mc.shortname, module=mc.key),
                mc.key,
            )
        )
        return None
    missing = [f.message for f in check.findings if f.severity == "error"]
    if missing:
        plan.problems.append(
            Problem(
                _(
                    "template course {template} is not complete, so {course} would lack activities: "
                    "{missing}. Run `accel templates check`."
                ).format(template=mc.template_shortname, course=mc.shortname, missing="; ".join(missing)),
                mc.key,
            )
        )
        return None
    role = config.roles.service
    plan.changes.append(
        CreateCourse(
            target=_("course {course}").format(course=mc.shortname),
            reason=_(
                "no course with ID number {idnumber}: copy template {template} without user data, then set "
                "ID number, dates ({start} – {end}), visibility and group mode"
            ).format(
                idnumber=mc.idnumber,
                template=mc.template_shortname,
                start=f"{mc.start:%d.%m.%Y}",
                end=f"{mc.end:%d.%m.%Y}",
            ),
            module=mc.key,
            template_id=check.course.id,
            fields=desired_course_fields(mc, site.category.id if site.category else None),
        )
    )
    plan.changes.append(
        EnrolService(
            target=_("service account in {course}").format(course=mc.shortname),
            reason=_(
                "the token's user needs an active enrolment (role {role}) to read activity data (field note 9)"
            ).format(role=role),
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
                target=_("course {course} (id {id})").format(course=mc.shortname, id=course.id),
                reason="; ".join(_describe(k, old, new, tz) for k, (old, new) in diff.items()),
                module=mc.key,
                courseid=course.id,
                fields={k: new for k, (_, new) in diff.items()},
            )
        )
    role, roles = config.roles.service, found.service_roles
    if roles is None or role not in roles:
        if roles is None:
            why = _(
                "the token's user is not enrolled (or the enrolment is suspended); it needs role {role} to "
                "read activity data (field note 9)"
            ).format(role=role)
        else:
            why = _(
                "the token's user is enrolled with roles {roles} only; it needs role {role} to read activity "
                "data (field note 9)"
            ).format(roles=", ".join(str(r) for r in sorted(roles)), role=role)
        plan.changes.append(
            EnrolService(
                target=_("service account in {course}").format(course=mc.shortname),
                reason=why,
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
                target=ngettext("{n} section in {course}", "{n} sections in {course}", missing).format(
                    n=missing, course=mc.shortname
                ),
                reason=ngettext(
                    "the template file has {wanted} section, the course {have}",
                    "the template file has {wanted} sections, the course {have}",
                    len(template.sections),
                ).format(wanted=len(template.sections), have=len(have)),
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
            _("new section, titled as in {file}").format(file=f"{template.key}.yaml")
            if current is None
            else _("title «{title}» differs from {file}").format(
                title=current.name, file=f"{template.key}.yaml"
            )
        )
        plan.changes.append(
            RenameSection(
                target=_("section {number} of {course}: «{title}»").format(
                    number=number, course=mc.shortname, title=spec.title
                ),
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
                _(
                    "{kind} «{title}» ({when}) is outside the dates of {course} ({start} – {end}); it is put in "
                    "the calendar anyway. Check the date in the configuration."
                ).format(
                    kind=_kind_word(ev.kind),
                    title=ev.title,
                    when=f"{ev.start:%d.%m.%Y %H:%M}",
                    course=mc.shortname,
                    start=f"{mc.start:%d.%m.%Y}",
                    end=f"{mc.end:%d.%m.%Y}",
                ),
                ev.module,
            )
        groupid = 0
        if ev.team:
            group = next((g for g in groups[ev.module] if team_key(g.name) == team_key(ev.team)), None)
            if group is None:
                plan.warn(
                    _(
                        "consultation «{title}» ({when}) waits for team «{team}»: no such group in {course} yet. "
                        "It is created once the roster sync makes the team: by the service's roster job itself, "
                        "or run `accel provision --apply` after `accel roster sync --apply`."
                    ).format(
                        title=ev.title, when=f"{ev.start:%d.%m.%Y %H:%M}", team=ev.team, course=mc.shortname
                    ),
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
        course = state.desired.shortname
        reason = (
            _("in the schedule, not in the calendar of {course} (team «{team}»)").format(
                course=course, team=ev.team
            )
            if ev.team
            else _("in the schedule, not in the calendar of {course} (whole course)").format(course=course)
        )
        plan.changes.append(
            CreateEvent(
                target=_("{kind} «{title}» {when}, {minutes} min").format(
                    kind=_kind_word(ev.kind),
                    title=ev.title,
                    when=f"{ev.start:%d.%m.%Y %H:%M}",
                    minutes=ev.duration_minutes,
                ),
                reason=reason,
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
                    target=_("event «{name}» (id {id})").format(name=event.name, id=event.id),
                    reason=_(
                        "made by provisioning but no longer in the schedule (or changed, or a duplicate)"
                    ),
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
    return [
        _("{event} (team «{team}»)").format(event=c.target, team=c.team)
        for c in team_events(compute_events_plan(client, config))
    ]

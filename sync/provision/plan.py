"""Provisioning a cohort's courses: the plan, computed from the live site (apply is sync/provision/apply.py).

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
copy keeps them and the standard web services cannot shift them (field note 15).

A course copied but not yet given its ID number (an apply stopped midway) is recognised by its short name
in the cohort category and adopted. After a complete apply a new plan is empty and a second apply writes
nothing.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from course_templates.courses import ModuleCourse, module_courses
from course_templates.loader import ModuleTemplate
from integration.calendar import CalendarEvent, get_events
from integration.courses import (
    Category,
    Course,
    Section,
    get_categories_by_idnumber,
    get_contents,
    get_course_by_field,
    get_course_module,
)
from integration.enrol import get_enrolled_users
from integration.groups import Group, get_course_groups
from integration.transport import MoodleClient
from sync.core.config import AccelConfig, ScheduledEvent
from sync.core.vocabulary import event_description, event_kind, team_key
from sync.provision.templates import TemplateCheck, check_template

#: The kinds of change, in the order apply carries them out.
Action = Literal[
    "create_category",
    "create_course",
    "update_course",
    "add_sections",
    "rename_section",
    "enrol_service",
    "delete_event",
    "create_event",
]
ACTION_ORDER: tuple[Action, ...] = get_args(Action)
# Course fields provisioning owns (core_course_update_courses names).
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


@dataclass
class Change:
    action: Action
    target: str  # what it is about, for people: "course KAM21-M1", "section 2 of KAM21-M1"
    reason: str
    module: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "module": self.module,
            "target": self.target,
            "reason": self.reason,
            "data": self.data,
        }


@dataclass
class Problem:
    """Something that stops apply (``blocking``) or that a person must look at."""

    message: str
    module: str | None = None
    blocking: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"module": self.module, "blocking": self.blocking, "message": self.message}


def _local_time(timestamp: int, tz: str) -> str:
    """A Unix time as people in the cohort read it (dd.mm.yyyy hh:mm in the cohort's time zone)."""
    return dt.datetime.fromtimestamp(timestamp, ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M")


@dataclass
class DateWarning:
    """An activity date copied from the template that lies outside the course's dates (field note 15)."""

    module: str
    course: str  # short name
    activity: str  # name
    key: str | None  # ID number
    what: str  # the date's label as the site shows it ("Due", "Opens"...), else its dataid
    timestamp: int
    course_start: int
    course_end: int
    tz: str

    @property
    def message(self) -> str:
        who = f"{self.key} «{self.activity}»" if self.key else f"«{self.activity}»"
        side = "before the course starts" if self.timestamp < self.course_start else "after the course ends"
        start, end = _local_time(self.course_start, self.tz), _local_time(self.course_end, self.tz)
        return (
            f"{self.course}: {who}: {self.what or 'date'} {_local_time(self.timestamp, self.tz)} is {side} "
            f"({start} – {end}). The copy keeps the template's "
            "dates and the web services cannot shift them: open the activity's settings in the course and set "
            "the date within the course, or fix it in the template course before the next cohort."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "course": self.course,
            "activity": self.activity,
            "key": self.key,
            "what": self.what,
            "timestamp": self.timestamp,
            "message": self.message,
        }


@dataclass
class CourseState:
    """What the site holds for one module course (after planning)."""

    desired: ModuleCourse
    course: Course | None = None
    template: Course | None = None
    template_check: TemplateCheck | None = None
    sections: list[Section] = field(default_factory=list)  # of the course, or of the template if to be made
    groups: list[Group] = field(default_factory=list)


@dataclass
class Plan:
    cohort: str
    cohort_name: str
    category: Category | None
    courses: dict[str, CourseState]
    changes: list[Change] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    date_warnings: list[DateWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    service_userid: int = 0
    #: calendar events of the cohort's existing courses and their groups, as read
    events: list[CalendarEvent] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def blocked(self) -> bool:
        return any(p.blocking for p in self.problems)

    def ordered_changes(self) -> list[Change]:
        return sorted(self.changes, key=lambda c: ACTION_ORDER.index(c.action))

    def as_dict(self) -> dict[str, Any]:
        return {
            "cohort": self.cohort,
            "cohort_name": self.cohort_name,
            "category_id": self.category.id if self.category else None,
            "courses": {
                key: {
                    "shortname": st.desired.shortname,
                    "idnumber": st.desired.idnumber,
                    "course_id": st.course.id if st.course else None,
                    "template_shortname": st.desired.template_shortname,
                    "template_id": st.template.id if st.template else None,
                }
                for key, st in self.courses.items()
            },
            "changes": [c.as_dict() for c in self.ordered_changes()],
            "problems": [p.as_dict() for p in self.problems],
            "date_warnings": [w.as_dict() for w in self.date_warnings],
            "notes": self.notes,
            "empty": self.empty,
            "blocked": self.blocked,
        }


# -- planning ----------------------------------------------------------------------------------------------
def desired_course_fields(mc: ModuleCourse, categoryid: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
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


def _course_diff(course: Course, desired: Mapping[str, Any]) -> dict[str, list[Any]]:
    diff: dict[str, list[Any]] = {}
    for name, want in desired.items():
        have = getattr(course, name)
        # Names come back through format_string, which escapes "&" (and quotes) as HTML entities.
        if isinstance(have, str) and isinstance(want, str) and html.unescape(have) == want:
            continue
        if have != want:
            diff[name] = [have, want]
    return diff


def _describe(name: str, old: Any, new: Any, tz: str) -> str:
    if name == "categoryid" and new is None:
        return f"categoryid {old!r} → the new cohort category"
    if name in ("startdate", "enddate"):
        old_text, new_text = (_local_time(int(v), tz) if v else "none" for v in (old, new))
        return f"{name} {old_text} → {new_text}"
    return f"{name} {old!r} → {new!r}"


def _find_course(
    client: MoodleClient, mc: ModuleCourse, category: Category | None, plan: Plan
) -> Course | None:
    """The module's course on the site: by ID number, else its half-made copy (short name, no ID number)."""
    course = get_course_by_field(client, "idnumber", mc.idnumber)
    if course is not None:
        if course.shortname != mc.shortname:
            other = get_course_by_field(client, "shortname", mc.shortname)
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
        return course
    other = get_course_by_field(client, "shortname", mc.shortname)
    if other is None:
        return None
    if not other.idnumber and category is not None and other.categoryid == category.id:
        plan.notes.append(
            f"{mc.shortname}: found without an ID number in the cohort category (id {other.id}), as an "
            "interrupted apply leaves it; it is adopted and completed"
        )
        return other
    where = f"category «{other.categoryname}»" if other.categoryname else f"category id {other.categoryid}"
    plan.problems.append(
        Problem(
            f"short name {mc.shortname} is taken by another course: id {other.id}, «{other.fullname}», "
            f"ID number {other.idnumber or 'none'}, in {where}. Rename or delete that course, or set "
            "[cohort] short_name in the configuration to use other short names.",
            mc.key,
        )
    )
    return None


def _plan_course(
    client: MoodleClient,
    config: AccelConfig,
    template: ModuleTemplate,
    mc: ModuleCourse,
    category: Category | None,
    plan: Plan,
) -> CourseState:
    state = CourseState(desired=mc)
    conflicts_before = len(plan.problems)
    course = _find_course(client, mc, category, plan)
    state.course = course
    categoryid = category.id if category else None
    if course is None:
        if len(plan.problems) > conflicts_before:
            return state  # the short name is taken: nothing more to plan for this module
        check = check_template(client, template, mc.template_shortname)
        state.template_check = check
        state.template = check.course
        if check.course is None:
            plan.problems.append(
                Problem(
                    f"template course {mc.template_shortname} not found on the site, so {mc.shortname} cannot "
                    "be made. A course designer creates it once (see `accel templates check`), or set "
                    f"[modules.{mc.key}] template to the short name of the existing template course.",
                    mc.key,
                )
            )
            return state
        missing = [f.message for f in check.findings if f.severity == "error"]
        if missing:
            plan.problems.append(
                Problem(
                    f"template course {mc.template_shortname} is not complete, so {mc.shortname} would lack "
                    f"activities: {'; '.join(missing)}. Run `accel templates check`.",
                    mc.key,
                )
            )
            return state
        state.sections = check.sections
        fields = desired_course_fields(mc, categoryid)
        plan.changes.append(
            Change(
                "create_course",
                f"course {mc.shortname}",
                f"no course with ID number {mc.idnumber}: copy template {mc.template_shortname} without user "
                f"data, then set ID number, dates ({mc.start:%d.%m.%Y} – {mc.end:%d.%m.%Y}), visibility and "
                "group mode",
                mc.key,
                {"template_id": check.course.id, "fields": fields},
            )
        )
        plan.changes.append(
            Change(
                "enrol_service",
                f"service account in {mc.shortname}",
                f"the token's user needs an active enrolment (role {config.roles.service}) to read activity "
                "data (field note 9)",
                mc.key,
                {"userid": plan.service_userid, "roleid": config.roles.service},
            )
        )
    else:
        diff = _course_diff(course, desired_course_fields(mc, categoryid))
        if categoryid is None:
            # The cohort category is made by this apply: the course moves into it (id known only then).
            diff["categoryid"] = [course.categoryid, None]
        if diff:
            plan.changes.append(
                Change(
                    "update_course",
                    f"course {mc.shortname} (id {course.id})",
                    "; ".join(
                        _describe(k, old, new, config.cohort.timezone) for k, (old, new) in diff.items()
                    ),
                    mc.key,
                    {"courseid": course.id, "fields": {k: new for k, (_, new) in diff.items()}},
                )
            )
        state.sections = get_contents(client, course.id)
        roles = service_roles(client, course.id, plan.service_userid)
        if roles is None or config.roles.service not in roles:
            why = (
                "not enrolled (or the enrolment is suspended)"
                if roles is None
                else f"enrolled with roles {sorted(roles)} only"
            )
            plan.changes.append(
                Change(
                    "enrol_service",
                    f"service account in {mc.shortname}",
                    f"the token's user is {why}; it needs role {config.roles.service} to read activity data "
                    "(field note 9)",
                    mc.key,
                    {"userid": plan.service_userid, "roleid": config.roles.service, "courseid": course.id},
                )
            )
        state.groups = get_course_groups(client, course.id)
    _plan_sections(template, state, plan)
    _plan_dates(client, config, state, plan)
    return state


def service_roles(client: MoodleClient, courseid: int, userid: int) -> set[int] | None:
    """Role ids of the service account's *active* enrolment, or None when it has none.

    ``onlyactive=1`` leaves suspended enrolments out (field note 21), so a suspended enrolment counts as
    none; enrolling again reactivates it (field note 22). One request per course, only ids and roles asked.
    """
    for user in get_enrolled_users(client, courseid, onlyactive=True, userfields=("id", "roles")):
        if user.id == userid:
            return user.roleids
    return None


def _plan_sections(template: ModuleTemplate, state: CourseState, plan: Plan) -> None:
    mc = state.desired
    # Subsections (delegated sections) are listed after the course's own sections; they are not numbered ones.
    have = [s for s in state.sections if not s.component]
    missing = len(template.sections) - len(have)
    courseid = state.course.id if state.course else None
    if missing > 0:
        plan.changes.append(
            Change(
                "add_sections",
                f"{missing} section(s) in {mc.shortname}",
                f"the template file has {len(template.sections)} sections, the course {len(have)}",
                mc.key,
                {"courseid": courseid, "count": missing},
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
            Change(
                "rename_section",
                f"section {number} of {mc.shortname}: «{spec.title}»",
                reason,
                mc.key,
                {
                    "courseid": courseid,
                    "number": number,
                    # Only known for an existing course; a new course's sections are read after the copy.
                    "section_id": current.id if current is not None and state.course is not None else None,
                    "title": spec.title,
                    "format": mc.format,
                },
            )
        )


def _plan_dates(client: MoodleClient, config: AccelConfig, state: CourseState, plan: Plan) -> None:
    mc = state.desired
    keys_by_cmid: dict[int, str] = {}
    if state.template_check is not None:
        keys_by_cmid = {cm.id: key for key, cm in state.template_check.activities.items()}
    for sec in state.sections:
        for mod in sec.modules:
            outside = [
                d for d in mod.dates if d.timestamp and not (mc.startdate <= d.timestamp <= mc.enddate)
            ]
            if not outside:
                continue
            key = keys_by_cmid.get(mod.id)
            if key is None and state.course is not None:
                key = get_course_module(client, mod.id).idnumber or None
            for d in outside:
                plan.date_warnings.append(
                    DateWarning(
                        mc.key,
                        mc.shortname,
                        mod.name,
                        key,
                        d.label.rstrip(": ") or d.dataid,
                        d.timestamp,
                        mc.startdate,
                        mc.enddate,
                        config.cohort.timezone,
                    )
                )


def _text(description: str | None) -> str:
    """Description as plain text, for comparing what we sent with what Moodle returns after format_text."""
    text = re.sub(r"<[^>]+>", " ", description or "")
    return " ".join(html.unescape(text).split())


def _event_signature(
    course_key: str, groupid: int, kind: str, name: str, start: int, duration: int, text: str
) -> tuple[Any, ...]:
    return (course_key, groupid, kind, html.unescape(name).strip(), start, duration, text)


def _plan_events(config: AccelConfig, plan: Plan, *, existing_courses_only: bool = False) -> None:
    #: signature -> the scheduled event and the event to create when the calendar lacks it
    wanted: dict[tuple[Any, ...], tuple[ScheduledEvent, dict[str, Any]]] = {}
    for ev in config.scheduled_events():
        state = plan.courses[ev.module]
        mc = state.desired
        if existing_courses_only and state.course is None:
            continue  # the course is made by `accel provision`, and its events with it
        if not (mc.startdate <= ev.timestart <= mc.enddate):
            plan.notes.append(
                f"{ev.kind} «{ev.title}» ({ev.start:%d.%m.%Y %H:%M}) is outside the dates of {mc.shortname} "
                f"({mc.start:%d.%m.%Y} – {mc.end:%d.%m.%Y}); it is put in the calendar anyway. Check the date in "
                "the configuration."
            )
        groupid = 0
        if ev.team:
            group = next((g for g in state.groups if team_key(g.name) == team_key(ev.team)), None)
            if group is None:
                where = state.desired.shortname
                plan.notes.append(
                    f"consultation «{ev.title}» ({ev.start:%d.%m.%Y %H:%M}) waits for team «{ev.team}»: no such "
                    f"group in {where} yet. It is created once the roster sync makes the team: by the service's "
                    "roster job itself, or run `accel provision --apply` after `accel roster sync --apply`."
                )
                continue
            groupid = group.id
        desc = event_description(ev.kind, ev.description)
        sig = _event_signature(
            ev.module, groupid, ev.kind, ev.title, ev.timestart, ev.timeduration, _text(desc)
        )
        wanted[sig] = (
            ev,
            {
                "name": ev.title,
                "groupid": groupid or None,
                "eventtype": "group" if groupid else "course",
                "timestart": ev.timestart,
                "timeduration": ev.timeduration,
                "description": desc,
                "format": 1,
                "visible": 1,
            },
        )

    existing: dict[tuple[Any, ...], list[CalendarEvent]] = {}
    key_by_courseid = {st.course.id: key for key, st in plan.courses.items() if st.course is not None}
    group_course = {g.id: key for key, st in plan.courses.items() for g in st.groups}
    for event in plan.events:
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

    for sig, (ev, event_fields) in wanted.items():
        found = existing.get(sig)
        if found:
            found.pop(0)  # matched; any further copies are duplicates and are deleted below
            continue
        state = plan.courses[ev.module]
        scope = f"team «{ev.team}»" if ev.team else "whole course"
        plan.changes.append(
            Change(
                "create_event",
                f"{ev.kind} «{ev.title}» {ev.start:%d.%m.%Y %H:%M}, {ev.duration_minutes} min",
                f"in the schedule, not in the calendar of {state.desired.shortname} ({scope})",
                ev.module,
                {
                    "courseid": state.course.id if state.course else None,
                    "event": event_fields,
                    "team": ev.team,
                },
            )
        )
    for events in existing.values():
        for event in events:
            plan.changes.append(
                Change(
                    "delete_event",
                    f"event «{event.name}» (id {event.id})",
                    "made by provisioning but no longer in the schedule (or changed, or a duplicate)",
                    None,
                    {"eventid": event.id},
                )
            )


def compute_plan(client: MoodleClient, config: AccelConfig, templates: Mapping[str, ModuleTemplate]) -> Plan:
    """Read the site and list what must change for the cohort to be as configured. Writes nothing."""
    service_userid = client.site_userid()
    categories = get_categories_by_idnumber(client, config.category_idnumber)
    category = next((c for c in categories if c.idnumber == config.category_idnumber), None)
    plan = Plan(
        cohort=config.cohort.code,
        cohort_name=config.cohort.name,
        category=category,
        courses={},
        service_userid=service_userid,
    )
    if category is None:
        plan.changes.append(
            Change(
                "create_category",
                f"category «{config.category.name}»",
                f"no category with ID number {config.category_idnumber}",
                None,
                {
                    "name": config.category.name,
                    "idnumber": config.category_idnumber,
                    "parent": config.category.parent,
                    "description": config.category.description,
                },
            )
        )
    for mc in module_courses(config, templates):
        plan.courses[mc.key] = _plan_course(client, config, templates[mc.key], mc, category, plan)
    _read_and_plan_events(client, config, plan)
    return plan


def _read_and_plan_events(client: MoodleClient, config: AccelConfig, plan: Plan, **options: bool) -> None:
    existing_ids = [st.course.id for st in plan.courses.values() if st.course is not None]
    group_ids = [g.id for st in plan.courses.values() for g in st.groups]
    # Two reads inside: asked together with the courses, the group events would be dropped (field note 23)
    # and every team consultation planned again on each run.
    plan.events = get_events(client, courseids=existing_ids, groupids=group_ids)
    _plan_events(config, plan, **options)


def compute_events_plan(client: MoodleClient, config: AccelConfig) -> Plan:
    """The events part of the provisioning plan alone: what `accel provision` would do to the calendar.

    For the roster sync, which makes the teams a team consultation waits for: after an apply that made groups
    the service's roster job carries out this plan's team events (:func:`team_events`, with ``sync.provision.apply.apply_plan``),
    and `accel roster sync --apply` says which team events now wait. The cohort's courses are found by ID number; one not on the site yet is left
    to `accel provision` with its events. Same planning code as :func:`compute_plan`; writes nothing.
    Calls: core_course_get_courses_by_field, core_group_get_course_groups, core_calendar_get_calendar_events.
    """
    plan = Plan(cohort=config.cohort.code, cohort_name=config.cohort.name, category=None, courses={})
    for mc in module_courses(config):
        state = CourseState(desired=mc)
        state.course = get_course_by_field(client, "idnumber", mc.idnumber)
        if state.course is None:
            plan.notes.append(f"{mc.shortname} is not on the site yet: `accel provision --apply` makes it")
        else:
            state.groups = get_course_groups(client, state.course.id)
        plan.courses[mc.key] = state
    _read_and_plan_events(client, config, plan, existing_courses_only=True)
    return plan


def team_events(plan: Plan) -> list[Change]:
    """The plan's team consultations to create: group events whose team has a group now."""
    return [c for c in plan.changes if c.action == "create_event" and c.data["event"].get("groupid")]


def has_team_events(config: AccelConfig) -> bool:
    """Whether the schedule has consultations of a team (group events, which wait for the roster's groups)."""
    return any(ev.team for ev in config.scheduled_events())


def waiting_team_events(client: MoodleClient, config: AccelConfig) -> list[str]:
    """After a roster apply: the schedule's team consultations whose group exists now and which are not in the
    calendar yet (what `accel provision --apply` creates), one line each; none without team events (no read).
    """
    if not has_team_events(config):
        return []
    return [f"{c.target} (team «{c.data['team']}»)" for c in team_events(compute_events_plan(client, config))]

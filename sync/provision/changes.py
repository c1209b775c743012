"""Provisioning's changes, warnings and plan, in the shared vocabulary of sync/core/plan.py.

One dataclass per kind of change (``kind`` names it in JSON and in the text plan), in the order apply carries
them out: the category, the course copies, the course fields, sections, the service account's enrolment, then
the calendar. A change to a course that the same apply makes (a new course's sections and events) names the
course by its module: the apply learns its id when it makes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from course_templates.courses import ModuleCourse
from i18n import N_, _
from integration.courses import Category, Course
from sync.core.plan import Change, Notice, Plan

#: core_course_update_courses fields and their values; in an update, a categoryid of None stands for the
#: cohort category this apply makes
CourseFields = dict[str, str | int | None]


def local_time(timestamp: int, tz: str) -> str:
    """A Unix time as people in the cohort read it (dd.mm.yyyy hh:mm in the cohort's time zone)."""
    return dt.datetime.fromtimestamp(timestamp, ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M")


@dataclass(kw_only=True)
class ProvisionChange(Change):
    """A provisioning change: what it is about and why, for people; each kind adds what apply needs.

    ``target`` and ``reason`` are made in the language of the run when the plan is computed (they are read by
    people in the plan, its JSON and the service's job details); ``kind`` stays the English identifier.
    """

    #: the kind as people read it in the plan's "action" column (marked here, translated where shown)
    label: ClassVar[str] = ""

    target: str  # what it is about, for people: "course KAM21-M1", "section 2 of KAM21-M1"
    reason: str
    module: str | None = None

    @property
    def action(self) -> str:
        """The kind of change for people, in the language of the run («создать курс»)."""
        return _(self.label)

    def describe(self) -> str:
        return _("{target}: {reason}").format(target=self.target, reason=self.reason)

    def details(self) -> dict[str, Any]:
        """The kind's own fields, for JSON (``data``)."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.kind,
            "module": self.module,
            "target": self.target,
            "reason": self.reason,
            "data": self.details(),
        }


@dataclass(kw_only=True)
class CreateCategory(ProvisionChange):
    kind: ClassVar[str] = "create_category"
    label: ClassVar[str] = N_("create category")
    name: str
    idnumber: str
    parent: int
    description: str

    def details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "idnumber": self.idnumber,
            "parent": self.parent,
            "description": self.description,
        }


@dataclass(kw_only=True)
class CreateCourse(ProvisionChange):
    """Copy the template course without user data, then give the copy the fields the copy cannot set."""

    kind: ClassVar[str] = "create_course"
    label: ClassVar[str] = N_("create course")
    module: str
    template_id: int
    fields: CourseFields

    def details(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "fields": self.fields}


@dataclass(kw_only=True)
class UpdateCourse(ProvisionChange):
    kind: ClassVar[str] = "update_course"
    label: ClassVar[str] = N_("update course")
    courseid: int
    #: only the fields that differ, with their new values
    fields: CourseFields

    def details(self) -> dict[str, Any]:
        return {"courseid": self.courseid, "fields": self.fields}


@dataclass(kw_only=True)
class AddSections(ProvisionChange):
    kind: ClassVar[str] = "add_sections"
    label: ClassVar[str] = N_("add sections")
    module: str
    courseid: int | None  # None: the course is made by this apply
    count: int

    def details(self) -> dict[str, Any]:
        return {"courseid": self.courseid, "count": self.count}


@dataclass(kw_only=True)
class RenameSection(ProvisionChange):
    kind: ClassVar[str] = "rename_section"
    label: ClassVar[str] = N_("rename section")
    module: str
    courseid: int | None  # None: the course is made by this apply
    number: int
    #: only known for an existing course; a new course's sections are read after the copy
    section_id: int | None
    title: str
    format: str

    def details(self) -> dict[str, Any]:
        return {
            "courseid": self.courseid,
            "number": self.number,
            "section_id": self.section_id,
            "title": self.title,
            "format": self.format,
        }


@dataclass(kw_only=True)
class EnrolService(ProvisionChange):
    kind: ClassVar[str] = "enrol_service"
    label: ClassVar[str] = N_("enrol service account")
    module: str
    courseid: int | None  # None: the course is made by this apply
    userid: int
    roleid: int

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"userid": self.userid, "roleid": self.roleid}
        if self.courseid is not None:
            out["courseid"] = self.courseid
        return out


@dataclass(kw_only=True)
class DeleteEvent(ProvisionChange):
    kind: ClassVar[str] = "delete_event"
    label: ClassVar[str] = N_("delete event")
    eventid: int

    def details(self) -> dict[str, Any]:
        return {"eventid": self.eventid}


@dataclass(frozen=True)
class NewEvent:
    """A calendar event to create (core_calendar_create_calendar_events), without its course."""

    name: str
    groupid: int | None  # None: a course event
    timestart: int
    timeduration: int
    description: str
    format: int = 1  # HTML
    visible: int = 1

    @property
    def eventtype(self) -> str:
        return "group" if self.groupid else "course"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "groupid": self.groupid,
            "eventtype": self.eventtype,
            "timestart": self.timestart,
            "timeduration": self.timeduration,
            "description": self.description,
            "format": self.format,
            "visible": self.visible,
        }


@dataclass(kw_only=True)
class CreateEvent(ProvisionChange):
    kind: ClassVar[str] = "create_event"
    label: ClassVar[str] = N_("create event")
    module: str
    courseid: int | None  # None: the course is made by this apply
    event: NewEvent
    team: str | None = None  # a team's consultation: the team (its group is event.groupid)

    def details(self) -> dict[str, Any]:
        return {"courseid": self.courseid, "event": self.event.as_dict(), "team": self.team}


# -- warnings ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DateWarning(Notice):
    """An activity date copied from the template that lies outside the course's dates (field note 15)."""

    course: str  # short name
    activity: str  # name
    key: str | None  # ID number
    what: str  # the date's label as the site shows it ("Due", "Opens"...), else its dataid
    timestamp: int
    course_start: int
    course_end: int

    @classmethod
    def of(
        cls,
        *,
        module: str,
        course: str,
        activity: str,
        key: str | None,
        what: str,
        timestamp: int,
        course_start: int,
        course_end: int,
        tz: str,
    ) -> DateWarning:
        who = f"{key} «{activity}»" if key else f"«{activity}»"
        if timestamp < course_start:
            text = _(
                "{course}: {activity}: {what} {date} is before the course starts ({start} – {end}). The copy "
                "keeps the template's dates and the web services cannot shift them: open the activity's "
                "settings in the course and set the date within the course, or fix it in the template course "
                "before the next cohort."
            )
        else:
            text = _(
                "{course}: {activity}: {what} {date} is after the course ends ({start} – {end}). The copy "
                "keeps the template's dates and the web services cannot shift them: open the activity's "
                "settings in the course and set the date within the course, or fix it in the template course "
                "before the next cohort."
            )
        message = text.format(
            course=course,
            activity=who,
            # The site's own label of the date ("Due", "Срок сдачи"...), in the site's language.
            what=what or _("date"),
            date=local_time(timestamp, tz),
            start=local_time(course_start, tz),
            end=local_time(course_end, tz),
        )
        return cls(
            message=message,
            subject=module,
            course=course,
            activity=activity,
            key=key,
            what=what,
            timestamp=timestamp,
            course_start=course_start,
            course_end=course_end,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "module": self.subject,
            "course": self.course,
            "activity": self.activity,
            "key": self.key,
            "what": self.what,
            "timestamp": self.timestamp,
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True)
class InterruptedCopy(Notice):
    """A course copy that Moodle never finished (its server stopped during the restore), left in the cohort
    category under the template's short name with a suffix: accel neither uses nor deletes it."""

    courseid: int
    shortname: str
    fullname: str
    template_shortname: str

    @classmethod
    def of(cls, course: Course, template_shortname: str, module: str) -> InterruptedCopy:
        message = _(
            "course {shortname} (id {id}, «{fullname}») in the cohort category is a copy of template "
            "{template} that was interrupted before it was finished (no ID number, perhaps only part of its "
            "content): accel does not use it and does not delete it; the cohort's course is made (or was "
            "made) as a copy of its own. An administrator may delete it in Moodle (Site administration > "
            "Courses > Manage courses and categories)."
        ).format(
            shortname=course.shortname, id=course.id, fullname=course.fullname, template=template_shortname
        )
        return cls(
            message=message,
            subject=module,
            courseid=course.id,
            shortname=course.shortname,
            fullname=course.fullname,
            template_shortname=template_shortname,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "module": self.subject,
            "course_id": self.courseid,
            "shortname": self.shortname,
            "fullname": self.fullname,
            "template_shortname": self.template_shortname,
            "message": self.message,
        }


# -- the plan ----------------------------------------------------------------------------------------------


@dataclass
class PlannedCourse:
    """One module course: as it must be, the course found on the site, and the template it is copied from."""

    desired: ModuleCourse
    course: Course | None = None
    template: Course | None = None


@dataclass
class ProvisionPlan(Plan[ProvisionChange]):
    """The cohort's provisioning plan: the shared plan (changes, problems, warnings) and the cohort."""

    cohort: str = ""
    cohort_name: str = ""
    category: Category | None = None
    courses: dict[str, PlannedCourse] = field(default_factory=dict)

    ORDER: ClassVar[tuple[type[Change], ...]] = (
        CreateCategory,
        CreateCourse,
        UpdateCourse,
        AddSections,
        RenameSection,
        EnrolService,
        DeleteEvent,
        CreateEvent,
    )

    @property
    def date_warnings(self) -> list[DateWarning]:
        return [w for w in self.warnings if isinstance(w, DateWarning)]

    @property
    def interrupted_copies(self) -> list[InterruptedCopy]:
        return [w for w in self.warnings if isinstance(w, InterruptedCopy)]

    @property
    def notes(self) -> list[str]:
        """The other warnings (adopted courses, events waiting for a team...), as text."""
        return [w.message for w in self.warnings if not isinstance(w, DateWarning | InterruptedCopy)]

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
            "changes": [c.as_dict() for c in self.ordered()],
            "problems": [
                {"module": p.subject, "blocking": True, "message": p.message} for p in self.problems
            ],
            "date_warnings": [w.as_dict() for w in self.date_warnings],
            "interrupted_copies": [w.as_dict() for w in self.interrupted_copies],
            "notes": self.notes,
            "empty": self.empty,
            "blocked": self.blocked,
        }

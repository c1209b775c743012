"""Categories, courses, sections and course modules (the wire format of course provisioning)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from i18n import _
from integration.errors import BadResponse, MoodleError, error_from_answer
from integration.transport import MoodleClient

# Options core_course_duplicate_course accepts (field note 15; anything else is `invalidextparam`).
# A cohort course is made "without user data": no enrolments, role assignments, comments, completion,
# logs or grade history of the template; activities, blocks and filters are copied.
DUPLICATE_OPTIONS: dict[str, int] = {
    "activities": 1,
    "blocks": 1,
    "filters": 1,
    "users": 0,
    "role_assignments": 0,
    "comments": 0,
    "userscompletion": 0,
    "logs": 0,
    "grade_histories": 0,
}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Category(_Answer):
    id: int
    name: str
    idnumber: str | None = None
    description: str = ""
    parent: int = 0
    visible: int = 1


class Course(_Answer):
    id: int
    shortname: str
    fullname: str
    idnumber: str = ""
    categoryid: int = 0
    categoryname: str = ""
    summary: str = ""
    format: str = "topics"
    startdate: int = 0
    enddate: int = 0
    visible: int = 1
    groupmode: int = 0
    groupmodeforce: int = 0


class ActivityDate(_Answer):
    label: str = ""
    timestamp: int
    dataid: str = ""


class ContentModule(_Answer):
    """A course module as core_course_get_contents lists it (without its ID number: field note 12)."""

    id: int
    name: str
    modname: str
    instance: int = 0
    visible: int = 1
    dates: list[ActivityDate] = Field(default_factory=list)


class Section(_Answer):
    id: int
    section: int
    name: str = ""
    summary: str = ""
    visible: int = 1
    # Set for a delegated section (a subsection module, Moodle 4.5+); None for the course's own sections.
    component: str | None = None
    modules: list[ContentModule] = Field(default_factory=list)


class CourseModule(_Answer):
    """core_course_get_course_module's ``cm``: it carries the activity's ID number."""

    id: int
    course: int
    modname: str
    name: str
    instance: int = 0
    section: int = 0  # section id
    sectionnum: int = 0
    idnumber: str = ""
    visible: int = 1


def get_categories_by_idnumber(client: MoodleClient, idnumber: str) -> list[Category]:
    """Categories with this ID number (0 or 1). Calls: core_course_get_categories."""
    answer = client.call(
        "core_course_get_categories",
        {"criteria": [{"key": "idnumber", "value": idnumber}], "addsubcategories": 0},
    )
    return [Category.model_validate(c) for c in _as_list(answer, "core_course_get_categories")]


def create_category(client: MoodleClient, *, name: str, idnumber: str, parent: int, description: str) -> int:
    """Create one category and return its id. Calls: core_course_create_categories."""
    answer = client.call(
        "core_course_create_categories",
        {"categories": [{"name": name, "idnumber": idnumber, "parent": parent, "description": description}]},
        write=True,
    )
    created = _as_list(answer, "core_course_create_categories")
    if len(created) != 1 or "id" not in created[0]:
        raise BadResponse(
            _("unexpected answer to a category creation"), status=200, excerpt=str(answer)[:200]
        )
    return int(created[0]["id"])


def get_courses_by_field(client: MoodleClient, field: str, value: str) -> list[Course]:
    """Courses whose ``field`` (id, ids, shortname, idnumber, category) equals ``value``.

    Calls: core_course_get_courses_by_field.
    """
    answer = client.call("core_course_get_courses_by_field", {"field": field, "value": value})
    if not isinstance(answer, dict):
        raise BadResponse(_("courses answer is not an object"), status=200, excerpt=str(answer)[:200])
    return [Course.model_validate(c) for c in answer.get("courses") or []]


def get_course_by_field(client: MoodleClient, field: str, value: str) -> Course | None:
    """The one course with this short name or ID number, or None. Calls: core_course_get_courses_by_field."""
    courses = [c for c in get_courses_by_field(client, field, value) if getattr(c, field) == value]
    return courses[0] if courses else None


#: Seconds to wait for core_course_duplicate_course's answer.
DUPLICATE_READ_TIMEOUT = 900.0


def duplicate_course(
    client: MoodleClient, *, template_id: int, fullname: str, shortname: str, categoryid: int, visible: bool
) -> int:
    """Copy the template course without user data; return the new course id.

    Runs synchronously on the server and keeps the template's activity dates (field note 15).
    Calls: core_course_duplicate_course.
    """
    answer = client.call(
        "core_course_duplicate_course",
        {
            "courseid": template_id,
            "fullname": fullname,
            "shortname": shortname,
            "categoryid": categoryid,
            "visible": 1 if visible else 0,
            "options": [{"name": k, "value": v} for k, v in DUPLICATE_OPTIONS.items()],
        },
        write=True,
        # The copy is a backup and a restore done while the request waits (field note 15): minutes for a
        # course with files. Giving up early would leave an uncertain write for the next run to reconcile.
        read_timeout=DUPLICATE_READ_TIMEOUT,
    )
    if not isinstance(answer, dict) or "id" not in answer:
        raise BadResponse(_("unexpected answer to a course copy"), status=200, excerpt=str(answer)[:200])
    return int(answer["id"])


def update_courses(client: MoodleClient, updates: Sequence[dict[str, Any]]) -> None:
    """Set fields of existing courses (each dict has ``id`` and the fields to set).

    Moodle catches a failure per course and reports it only as a warning in a 200 answer (field note 8),
    e.g. ``shortnametaken`` or ``invalidrecordunknown``; the first such warning is raised as its error.
    Calls: core_course_update_courses.
    """
    for answer in client.call_batched("core_course_update_courses", "courses", updates, write=True):
        warnings = answer.get("warnings") if isinstance(answer, dict) else None
        for w in warnings or []:
            if isinstance(w, dict) and w.get("item", "course") == "course":
                raise _warning_error(w, "core_course_update_courses")


def get_contents(client: MoodleClient, courseid: int) -> list[Section]:
    """Sections with their modules (names, types, dates). Calls: core_course_get_contents."""
    answer = client.call("core_course_get_contents", {"courseid": courseid})
    return [Section.model_validate(s) for s in _as_list(answer, "core_course_get_contents")]


def get_course_module(client: MoodleClient, cmid: int) -> CourseModule:
    """One course module with its ID number (field note 12). Calls: core_course_get_course_module."""
    answer = client.call("core_course_get_course_module", {"cmid": cmid})
    if not isinstance(answer, dict) or "cm" not in answer:
        raise BadResponse(_("unexpected course module answer"), status=200, excerpt=str(answer)[:200])
    return CourseModule.model_validate(answer["cm"])


def rename_section(
    client: MoodleClient, *, section_id: int, name: str, course_format: str = "topics"
) -> None:
    """Set a section's title (field note 16). Calls: core_update_inplace_editable."""
    client.call(
        "core_update_inplace_editable",
        {
            "component": f"format_{course_format}",
            "itemtype": "sectionname",
            "itemid": section_id,
            "value": name,
        },
        write=True,
    )


def add_section(client: MoodleClient, courseid: int) -> None:
    """Append one section at the end of the course.

    The answer is a JSON *string* holding the state updates (field note 16); it is only checked.
    Calls: core_courseformat_update_course.
    """
    answer = client.call(
        "core_courseformat_update_course",
        {"action": "section_add", "courseid": courseid, "ids": []},
        write=True,
    )
    if isinstance(answer, str):
        try:
            json.loads(answer)
        except ValueError:
            raise BadResponse(_("section_add answer is not JSON"), status=200, excerpt=answer[:200]) from None


def _as_list(answer: Any, wsfunction: str) -> list[dict[str, Any]]:
    if not isinstance(answer, list):
        raise BadResponse(
            _("{function}: expected a list").format(function=wsfunction),
            status=200,
            excerpt=str(answer)[:200],
        )
    return [a for a in answer if isinstance(a, dict)]


def _warning_error(warning: dict[str, Any], wsfunction: str) -> MoodleError:
    return error_from_answer(
        {
            "errorcode": warning.get("warningcode") or "unknown",
            "message": f"{warning.get('message', '')} (course id {warning.get('itemid')})",
        },
        wsfunction,
    )

"""Course enrolments and course roles.

Field notes that shape this module: core_enrol_get_enrolled_users does not say whether an enrolment is
suspended, so :func:`suspended_user_ids` compares ``onlyactive=1`` with ``onlyactive=0`` (note 21);
enrol_manual_enrol_users on an existing enrolment updates it and a different role is ADDED, so a role
change also needs :func:`unassign_roles` (note 22); several writes answer ``null`` on success (note 7).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from i18n import _
from integration.errors import BadResponse, MessageNotSent
from integration.transport import MoodleClient

log = logging.getLogger(__name__)

#: What roster sync and the indicators need to know about a course participant.
DEFAULT_USERFIELDS = ("id", "username", "firstname", "lastname", "idnumber", "email", "roles", "groups")


class RoleRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    roleid: int
    shortname: str = ""
    name: str = ""


class GroupRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str = ""


class EnrolledUser(BaseModel):
    """One entry of core_enrol_get_enrolled_users (fields depend on ``userfields``)."""

    model_config = ConfigDict(extra="ignore")

    id: int
    username: str = ""
    firstname: str = ""
    lastname: str = ""
    fullname: str = ""
    email: str = ""
    idnumber: str | None = ""
    city: str | None = ""
    roles: list[RoleRef] = Field(default_factory=list)
    groups: list[GroupRef] = Field(default_factory=list)

    @property
    def roleids(self) -> set[int]:
        return {role.roleid for role in self.roles}

    @property
    def groupids(self) -> set[int]:
        return {group.id for group in self.groups}


class UserCourse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    shortname: str = ""
    fullname: str = ""
    idnumber: str = ""
    visible: int = 1


class Enrolment(TypedDict, total=False):
    """One item of enrol_manual_enrol_users (``suspend`` 1 suspends, 0 reactivates)."""

    roleid: int
    userid: int
    courseid: int
    suspend: int


class Unenrolment(TypedDict, total=False):
    userid: int
    courseid: int
    roleid: int


class RoleAssignment(TypedDict):
    """A course role: contextlevel ``course`` and instanceid = the course id (note 22)."""

    roleid: int
    userid: int
    contextlevel: str
    instanceid: int


def course_role(roleid: int, userid: int, courseid: int) -> RoleAssignment:
    return {"roleid": roleid, "userid": userid, "contextlevel": "course", "instanceid": courseid}


def get_enrolled_users(
    client: MoodleClient,
    courseid: int,
    *,
    onlyactive: bool = False,
    userfields: Sequence[str] | None = DEFAULT_USERFIELDS,
) -> list[EnrolledUser]:
    """Everyone enrolled in the course (suspended enrolments too unless ``onlyactive``).

    Calls: core_enrol_get_enrolled_users.
    """
    options: list[dict[str, Any]] = [{"name": "onlyactive", "value": 1 if onlyactive else 0}]
    if userfields:
        options.append({"name": "userfields", "value": ",".join(userfields)})
    answer = client.call("core_enrol_get_enrolled_users", {"courseid": courseid, "options": options})
    if not isinstance(answer, list):
        raise BadResponse(_("enrolled users answer is not a list"), status=200, excerpt=str(answer)[:200])
    return [EnrolledUser.model_validate(entry) for entry in answer]


def suspended_user_ids(all_users: Sequence[EnrolledUser], active_users: Sequence[EnrolledUser]) -> set[int]:
    """Users listed with ``onlyactive=0`` but not with ``onlyactive=1`` (field note 21)."""
    active = {user.id for user in active_users}
    return {user.id for user in all_users if user.id not in active}


def get_users_courses(client: MoodleClient, userid: int) -> list[UserCourse]:
    """The courses a user is enrolled in. Calls: core_enrol_get_users_courses."""
    answer = client.call("core_enrol_get_users_courses", {"userid": userid})
    return [UserCourse.model_validate(entry) for entry in answer or []]


def enrol_users(client: MoodleClient, enrolments: Sequence[Enrolment]) -> int:
    """Enrol with the manual method, or update existing enrolments (suspend / reactivate / add a role).

    A site that cannot send e-mail answers "Message was not sent." once the course has a contact, because
    Moodle sends the course welcome message after saving the enrolments (see
    :class:`~integration.errors.MessageNotSent`): the enrolments of that request are saved, so it is logged as
    a warning for the administrator and the next request is sent. The number of such requests is returned.
    Calls: enrol_manual_enrol_users.
    """
    unsent = 0
    for chunk in client.chunks(list(enrolments)):
        try:
            client.call("enrol_manual_enrol_users", {"enrolments": chunk}, write=True)
        except MessageNotSent:
            unsent += 1
            log.warning(
                "enrol_manual_enrol_users: %d enrolment change(s) saved, but Moodle could not send the course "
                'welcome message ("Message was not sent."): check the site\'s outgoing mail, or turn off '
                '"Send course welcome message" in the courses\' manual enrolment method',
                len(chunk),
            )
    return unsent


def unenrol_users(client: MoodleClient, unenrolments: Sequence[Unenrolment]) -> None:
    """Remove manual enrolments. Moodle then hides the person's submissions and grades from the course.

    Calls: enrol_manual_unenrol_users.
    """
    client.call_batched("enrol_manual_unenrol_users", "enrolments", unenrolments, write=True)


def unassign_roles(client: MoodleClient, unassignments: Sequence[RoleAssignment]) -> None:
    """Take course roles away (the enrolment stays). Calls: core_role_unassign_roles."""
    client.call_batched("core_role_unassign_roles", "unassignments", unassignments, write=True)

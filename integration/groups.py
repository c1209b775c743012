"""Course groups (one per team) and groupings (one per municipal district).

A duplicate group name and adding a user who is not enrolled both answer the generic ``invalidparameter``
(field note 3); the writes that answer ``null`` on success are add/delete members and assign grouping
(field note 7), and unassign grouping (its definition in group/externallib.php returns null).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, Field

from integration.transport import MoodleClient


class Group(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    courseid: int
    name: str
    description: str = ""
    idnumber: str = ""


class Grouping(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    courseid: int
    name: str
    description: str = ""
    idnumber: str = ""
    groups: list[Group] = Field(default_factory=list)


class GroupMembers(BaseModel):
    model_config = ConfigDict(extra="ignore")

    groupid: int
    userids: list[int] = Field(default_factory=list)


class NewGroup(TypedDict):
    courseid: int
    name: str
    description: str
    idnumber: str


class NewGrouping(TypedDict):
    courseid: int
    name: str
    description: str
    idnumber: str


class Member(TypedDict):
    groupid: int
    userid: int


class GroupingAssignment(TypedDict):
    groupingid: int
    groupid: int


def get_course_groups(client: MoodleClient, courseid: int) -> list[Group]:
    """Calls: core_group_get_course_groups."""
    answer = client.call("core_group_get_course_groups", {"courseid": courseid})
    return [Group.model_validate(entry) for entry in answer or []]


def create_groups(client: MoodleClient, groups: Sequence[NewGroup]) -> list[Group]:
    """Calls: core_group_create_groups."""
    answers = client.call_batched("core_group_create_groups", "groups", groups, write=True)
    return [Group.model_validate(entry) for answer in answers for entry in answer or []]


def get_course_groupings(client: MoodleClient, courseid: int) -> list[Grouping]:
    """Groupings of a course, without their groups. Calls: core_group_get_course_groupings."""
    answer = client.call("core_group_get_course_groupings", {"courseid": courseid})
    return [Grouping.model_validate(entry) for entry in answer or []]


def get_groupings(
    client: MoodleClient, groupingids: Iterable[int], *, with_groups: bool = True
) -> list[Grouping]:
    """Groupings by id, with their groups. Calls: core_group_get_groupings."""
    ids = list(dict.fromkeys(groupingids))
    extra = {"returngroups": 1 if with_groups else 0}
    answers = client.call_batched("core_group_get_groupings", "groupingids", ids, extra=extra)
    return [Grouping.model_validate(entry) for answer in answers for entry in answer or []]


def create_groupings(client: MoodleClient, groupings: Sequence[NewGrouping]) -> list[Grouping]:
    """Calls: core_group_create_groupings."""
    answers = client.call_batched("core_group_create_groupings", "groupings", groupings, write=True)
    return [Grouping.model_validate(entry) for answer in answers for entry in answer or []]


def assign_grouping(client: MoodleClient, assignments: Sequence[GroupingAssignment]) -> None:
    """Put groups into groupings. Calls: core_group_assign_grouping."""
    client.call_batched("core_group_assign_grouping", "assignments", assignments, write=True)


def unassign_grouping(client: MoodleClient, unassignments: Sequence[GroupingAssignment]) -> None:
    """Take groups out of groupings. An unknown grouping or group fails the whole call
    (``invalidrecordunknown``: one transaction); a group that is not in the grouping is passed over silently.

    Calls: core_group_unassign_grouping.
    """
    client.call_batched("core_group_unassign_grouping", "unassignments", unassignments, write=True)


def add_group_members(client: MoodleClient, members: Sequence[Member]) -> None:
    """Only users enrolled in the group's course can join (else ``invalidparameter``).

    Calls: core_group_add_group_members.
    """
    client.call_batched("core_group_add_group_members", "members", members, write=True)


def delete_group_members(client: MoodleClient, members: Sequence[Member]) -> None:
    """Calls: core_group_delete_group_members."""
    client.call_batched("core_group_delete_group_members", "members", members, write=True)


def get_group_members(client: MoodleClient, groupids: Iterable[int]) -> list[GroupMembers]:
    """Member ids of each group. Calls: core_group_get_group_members."""
    ids = list(dict.fromkeys(groupids))
    answers = client.call_batched("core_group_get_group_members", "groupids", ids)
    return [GroupMembers.model_validate(entry) for answer in answers for entry in answer or []]


def get_course_user_groups(client: MoodleClient, courseid: int, userid: int) -> list[Group]:
    """The groups of one user in one course. Calls: core_group_get_course_user_groups."""
    answer = client.call("core_group_get_course_user_groups", {"courseid": courseid, "userid": userid})
    entries = answer.get("groups", []) if isinstance(answer, dict) else []
    return [Group.model_validate(entry) for entry in entries]

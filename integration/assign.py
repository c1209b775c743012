"""Assignments: the activities, their submissions, and grading (mod_assign_*).

Facts from the real server (field notes 8-11):
- ``mod_assign_get_assignments`` returns only courses the token's user is enrolled in; for others it answers
  a warning ("User is not enrolled or does not have requested capability") and no data.
- ``mod_assign_get_submissions`` returns the latest attempt per person and per team; a team submission has
  ``userid 0`` and the team's ``groupid``. Its ``gradingstatus`` is computed for user 0 and so always says
  "notgraded" for teams: grades must come from the gradebook (integration/grades.py).
- ``mod_assign_get_grades`` joins grades on the submission's user, so team grades are never returned
  ("No grades found"); the product does not use it for teams.
- ``mod_assign_save_grade`` grades a team when given a member's ``userid`` and ``applytoall=1``; it answers null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from integration.transport import MoodleClient


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Assignment(_Model):
    id: int
    cmid: int
    course: int
    name: str = ""
    duedate: int = 0
    grade: float = 0  # 0: no grading; negative: a scale
    teamsubmission: bool = False
    submissiondrafts: bool = False


class AssignmentCourse(_Model):
    id: int
    shortname: str = ""
    fullname: str = ""
    assignments: list[Assignment] = Field(default_factory=list)


class AssignmentSubmission(_Model):
    id: int
    userid: int
    groupid: int = 0
    status: str = ""
    attemptnumber: int = 0
    timecreated: int = 0
    timemodified: int = 0


class AssignmentSubmissions(_Model):
    assignmentid: int
    submissions: list[AssignmentSubmission] = Field(default_factory=list)


def get_assignments(client: MoodleClient, courseids: Sequence[int]) -> list[AssignmentCourse]:
    """The assignments of `courseids` (courses the token's user is not enrolled in are left out, with a
    warning collected by the client).

    Calls: mod_assign_get_assignments.
    """
    if not courseids:
        return []
    answer = client.call("mod_assign_get_assignments", {"courseids": list(courseids)})
    return [AssignmentCourse.model_validate(c) for c in (answer or {}).get("courses", [])]


def get_submissions(client: MoodleClient, assignmentids: Sequence[int]) -> list[AssignmentSubmissions]:
    """Latest submissions (one per person / per team) of every assignment, in as few requests as fit.

    Calls: mod_assign_get_submissions.
    """
    out: list[AssignmentSubmissions] = []
    for answer in client.call_batched("mod_assign_get_submissions", "assignmentids", assignmentids):
        out.extend(AssignmentSubmissions.model_validate(a) for a in (answer or {}).get("assignments", []))
    return out


def save_team_grade(
    client: MoodleClient, assignmentid: int, member_userid: int, grade: float, feedback: str = ""
) -> None:
    """Grade a team's submission (all members) with an optional feedback comment (field note 11).

    Calls: mod_assign_save_grade.
    """
    params: dict[str, Any] = {
        "assignmentid": assignmentid,
        "userid": member_userid,
        "grade": grade,
        "attemptnumber": -1,
        "addattempt": 0,
        "workflowstate": "",
        "applytoall": 1,
    }
    if feedback:
        params["plugindata"] = {"assignfeedbackcomments_editor": {"text": feedback, "format": 1}}
    client.call("mod_assign_save_grade", params, write=True)

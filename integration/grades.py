"""Gradebook reads (field note 10).

``gradereport_user_get_grade_items(courseid)`` without a user id returns every graded user's items in one
call: the raw grade, the grading time, the feedback comment, and for each activity item its ``idnumber`` (the
activity's ID number) and ``cmid``. It is the only batch read that returns team grades.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from integration.transport import MoodleClient


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GradeItem(_Model):
    id: int
    itemname: str | None = None
    itemtype: str = ""
    itemmodule: str | None = None
    iteminstance: int | None = None
    idnumber: str | None = None
    cmid: int | None = None
    graderaw: float | None = None
    gradedategraded: int | None = None
    gradedatesubmitted: int | None = None
    grademax: float | None = None
    feedback: str | None = ""


class UserGrades(_Model):
    courseid: int
    userid: int
    userfullname: str = ""
    useridnumber: str | None = ""
    gradeitems: list[GradeItem] = Field(default_factory=list)


def get_course_grades(client: MoodleClient, courseid: int) -> list[UserGrades]:
    """Every user's grade items in one course (one request, whatever the number of people).

    Calls: gradereport_user_get_grade_items.
    """
    answer = client.call("gradereport_user_get_grade_items", {"courseid": courseid})
    return [UserGrades.model_validate(u) for u in (answer or {}).get("usergrades", [])]

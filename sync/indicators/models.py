"""What computing the indicators gives: the reporting period, each indicator's result and evidence, the rows of
the breakdowns (teams, mentors, districts, villages), the pending list, and the report that holds them all.

Plain pydantic models, no logic beyond reading a period. The texts people read (titles, statuses, notes,
evidence) are made in the language chosen when the indicators are computed (:mod:`i18n`): English in the code,
Russian by default.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from i18n import N_, _
from sync.indicators.wording import Translated

Status = Literal["met", "on_track", "behind", "no_target", "no_data"]
#: How each status reads (in the current language when looked up).
STATUS_TEXT: Translated = Translated(
    {
        "met": N_("met"),
        "on_track": N_("on track"),
        "behind": N_("behind"),
        "no_target": N_("no target"),
        "no_data": N_("no data"),
    }
)
#: How far a team got with one assignment, for the teams' grid and its colours (TeamRow.states):
#: graded (a grade, or a review without one), submitted (waiting for a grade), draft (a draft, or reopened
#: for rework), overdue (not submitted, the due date has passed), none (not submitted), absent (the team has
#: no group, or no participants, in that module's course).
CellState = Literal["graded", "submitted", "draft", "overdue", "none", "absent"]


def fmt_date(ts: int | None, tz: dt.tzinfo | None = None, with_time: bool = False) -> str:
    if ts is None:
        return "—"
    d = dt.datetime.fromtimestamp(ts, tz or dt.UTC)
    return d.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Period(_Model):
    """Reporting period, inclusive, as unix times; None = open on that side (whole grant period)."""

    start: int | None = None
    end: int | None = None

    def contains(self, ts: int | None) -> bool:
        if ts is None:
            return False
        if self.start is not None and ts < self.start:
            return False
        return not (self.end is not None and ts > self.end)

    @property
    def is_whole(self) -> bool:
        return self.start is None and self.end is None

    def label(self, tz: dt.tzinfo | None = None) -> str:
        if self.is_whole:
            return _("the whole grant period")
        if self.start is None:
            return _("from the start to {end}").format(end=fmt_date(self.end, tz))
        if self.end is None:
            return _("from {start} to the snapshot's date").format(start=fmt_date(self.start, tz))
        return _("from {start} to {end}").format(start=fmt_date(self.start, tz), end=fmt_date(self.end, tz))


class Evidence(_Model):
    label: str
    detail: str = ""
    url: str = ""
    when: int | None = None
    value: float | None = None


@dataclass
class Measurement:
    """What an indicator's function finds in a snapshot: the value (None = cannot be computed, said in a
    note), the items it counted, notes, and a breakdown. Title, unit, target and status are added from the
    indicator's definition (``sync.indicators.registry``) by ``compute``."""

    value: float | None
    evidence: list[Evidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    breakdown: dict[str, float] = field(default_factory=dict)


class IndicatorResult(_Model):
    key: str
    title: str
    unit: str
    value: float | None
    target: float | None
    percent: float | None
    status: Status
    status_text: str
    breakdown: dict[str, float] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class TeamRow(_Model):
    name: str
    district: str
    village: str
    members: int  # active students of module 1 in the team
    member_names: list[str] = Field(default_factory=list)
    mentors: list[str] = Field(default_factory=list)
    # per assignment key: status text (for people) and grade
    status: dict[str, str] = Field(default_factory=dict)
    # per assignment key: the same status for the charts and their colours (the text is for reading only)
    states: dict[str, CellState] = Field(default_factory=dict)
    grades: dict[str, float | None] = Field(default_factory=dict)
    submissions: int = 0  # assignments the team has submitted
    graded: int = 0  # team assignments reviewed: graded, or answered with a comment without a grade
    feedback_received: int = 0
    done: int = 0  # team assignments submitted (progress)
    total: int = 0  # team assignments present in the courses
    overdue: list[str] = Field(default_factory=list)  # titles of assignments past due and not submitted
    url: str = ""


class MentorRow(_Model):
    userid: int
    name: str
    teams: list[str] = Field(default_factory=list)
    reviews: int = 0  # reviewed submissions of their teams (a grade, or a comment without one)
    with_feedback: int = 0
    median_hours: float | None = None
    pending: int = 0
    oldest_pending_hours: float | None = None


class PlaceRow(_Model):
    district: str
    village: str = ""
    participants: int = 0
    teams: int = 0
    projects_developed: int = 0
    projects_presented: int = 0


class PendingItem(_Model):
    team: str
    groupid: int
    courseid: int
    activity: str
    activity_key: str
    submitted_at: int
    waited_hours: float
    resubmitted: bool  # submitted again after an earlier grade
    mentors: list[str] = Field(default_factory=list)
    mentor_ids: list[int] = Field(default_factory=list)  # Moodle user ids, for the service's reminders
    url: str = ""


class IndicatorReport(_Model):
    cohort: str
    site_url: str
    taken_at: int
    period: Period
    period_label: str
    results: list[IndicatorResult]
    teams: list[TeamRow]
    mentors: list[MentorRow]
    districts: list[PlaceRow]
    villages: list[PlaceRow]
    pending: list[PendingItem]
    notes: list[str]
    warnings: list[str]

    def result(self, key: str) -> IndicatorResult:
        for r in self.results:
            if r.key == key:
                return r
        raise KeyError(key)

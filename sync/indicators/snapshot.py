"""The snapshot: everything the indicators need, read from Moodle at one moment, and its SQLite persistence.

A snapshot is plain data (pydantic models, JSON-serialisable) so that indicators can be recomputed later for
any reporting period with no site at hand. `sync/indicators/gather.py` builds one from the web services;
`sync/indicators/compute.py` computes from one. The store keeps every snapshot (dated) so that reports can
also show the indicators over time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import zlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from i18n import _, ngettext

# The calendar's events are kept as the wire reads them (one class for an event everywhere); their kind
# (webinar, consultation) is read from the description's marker (sync.core.vocabulary.event_kind). Snapshots
# stored with a "kind" of their own still load: the field is ignored and the same marker read again.
from integration.calendar import CalendarEvent
from sync.core.errors import UsageError

log = logging.getLogger("accel.snapshot")

SNAPSHOT_SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CourseSnap(_Model):
    """One module course of the cohort."""

    key: str  # "m1" / "m2" / "m3"
    number: int
    id: int | None = None  # None: the course was not found on the site
    shortname: str
    fullname: str = ""
    idnumber: str = ""
    startdate: int = 0
    enddate: int = 0


class Person(_Model):
    id: int
    fullname: str
    idnumber: str = ""
    city: str = ""


class Enrolment(_Model):
    courseid: int
    userid: int
    roleids: list[int] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)  # role short names, as Moodle gives them
    active: bool = True  # False: the enrolment is suspended (field note 21)


class Team(_Model):
    """A group of a module course: an initiative group (team). The same team has one group per course."""

    id: int  # Moodle group id
    courseid: int
    name: str
    idnumber: str = ""
    description: str = ""
    member_ids: list[int] = Field(default_factory=list)
    district: str = ""  # name of the grouping (municipal district) the group belongs to


class Activity(_Model):
    """A template activity found in a cohort course by its ID number."""

    key: str  # the activity ID number, e.g. "m1-concept"
    courseid: int
    cmid: int
    modname: str  # assign / feedback / choice / data / forum / page
    instance: int  # id of the activity record (assignment id, feedback id...)
    name: str = ""
    grademax: float | None = None
    teamsubmission: bool = False
    duedate: int = 0  # assignments: due date (0 = none); copies keep the template's dates (field note 15)


class Submission(_Model):
    """The latest attempt of a team (userid 0, groupid set) or a person (groupid 0) for one assignment."""

    id: int
    key: str
    assignmentid: int
    userid: int
    groupid: int
    status: str  # new / draft / submitted / reopened
    attemptnumber: int = 0
    timecreated: int = 0
    timemodified: int = 0


class GradeRecord(_Model):
    """One person's grade for one activity, as the gradebook report gives it (field note 10)."""

    key: str
    courseid: int
    cmid: int
    userid: int
    grade: float | None
    grademax: float | None = None
    dategraded: int | None = None
    feedback: str = ""


class ChoiceOption(_Model):
    id: int
    text: str
    count: int


class ChoiceResult(_Model):
    key: str
    cmid: int
    choiceid: int
    allowmultiple: bool = False
    options: list[ChoiceOption] = Field(default_factory=list)
    # Distinct voters when Moodle names them (non-anonymous results); None: only per-option counts known.
    voter_ids: list[int] | None = None


class Pledge(_Model):
    """One entry of the m3-pledges database."""

    id: int
    dataid: int
    cmid: int
    partner: str = ""
    project: str = ""
    amount_text: str = ""
    kind: str = ""
    timecreated: int = 0
    approved: bool = True


class SurveyResponse(_Model):
    id: int
    userid: int | None = None  # None for anonymous answers
    timemodified: int = 0
    answers: dict[str, str] = Field(default_factory=dict)  # item label -> printed value


class SurveyResult(_Model):
    key: str
    cmid: int
    feedbackid: int
    labels: list[str] = Field(default_factory=list)  # item labels the survey has
    responses: list[SurveyResponse] = Field(default_factory=list)


class GatherNote(_Model):
    """Something gathering noticed that the report must say (a missing activity, a Moodle warning...).

    A snapshot is read later, perhaps in another language, so a note keeps what to say rather than one
    language's sentence: ``template`` (the English message, marked ``N_()`` where the note is made) and its
    ``params``; :meth:`message` says it in the current language. ``text`` is the English sentence (for logs and
    tools); snapshots stored before notes had a template keep their text and show it as it is.
    """

    kind: str  # machine-readable: missing_course, missing_activity, moodle_warning, ...
    text: str  # the English sentence (the Russian one in snapshots stored before templates)
    template: str = ""
    params: dict[str, str | int] = Field(default_factory=dict)

    @classmethod
    def make(cls, kind: str, template: str, **params: str | int) -> GatherNote:
        """A note of ``kind`` saying ``template`` (marked ``N_()`` by the caller) with ``params``."""
        return cls(kind=kind, text=template.format(**params), template=template, params=params)

    def message(self) -> str:
        """The note in the current language."""
        if not self.template:
            return self.text
        return _(self.template).format(**self.params)


class Snapshot(_Model):
    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    cohort: str
    site_url: str = ""
    taken_at: int
    student_roleid: int = 5
    mentor_roleid: int = 4
    courses: list[CourseSnap] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    enrolments: list[Enrolment] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    activities: list[Activity] = Field(default_factory=list)
    submissions: list[Submission] = Field(default_factory=list)
    grades: list[GradeRecord] = Field(default_factory=list)
    events: list[CalendarEvent] = Field(default_factory=list)
    choices: list[ChoiceResult] = Field(default_factory=list)
    pledges: list[Pledge] = Field(default_factory=list)
    surveys: list[SurveyResult] = Field(default_factory=list)
    notes: list[GatherNote] = Field(default_factory=list)
    request_count: int = 0

    def course(self, key: str) -> CourseSnap | None:
        for course in self.courses:
            if course.key == key:
                return course
        return None

    def activity(self, key: str) -> Activity | None:
        for activity in self.activities:
            if activity.key == key:
                return activity
        return None


# --------------------------------------------------------------------------------------------- persistence

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indicator_snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cohort TEXT NOT NULL,
    taken_at INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS indicator_snapshots_cohort ON indicator_snapshots (cohort, taken_at);
"""


class SnapshotNotFound(UsageError):
    """No stored snapshot matches the request."""


class SnapshotFormatError(SnapshotNotFound):
    """A stored snapshot was written in another snapshot format: refused, never read with defaults (a field
    this accel does not know would be dropped, one it expects would read as empty)."""


class SnapshotInfo(_Model):
    id: int
    cohort: str
    taken_at: int


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


def save_snapshot(conn: sqlite3.Connection, snapshot: Snapshot) -> int:
    """Store a snapshot (compressed JSON) in one transaction; returns its id."""
    ensure_schema(conn)
    body = zlib.compress(snapshot.model_dump_json().encode("utf-8"))
    with conn:
        cur = conn.execute(
            "INSERT INTO indicator_snapshots (cohort, taken_at, stored_at, schema_version, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (snapshot.cohort, snapshot.taken_at, int(time.time()), snapshot.schema_version, body),
        )
    row_id = cur.lastrowid
    assert row_id is not None
    return row_id


def _format_error(row_id: int, version: object) -> SnapshotFormatError:
    return SnapshotFormatError(
        _(
            "stored snapshot {id} was written in snapshot format {version}; this accel reads format {current}: "
            "run `accel indicators gather` for a new snapshot (or use the accel that wrote it)"
        ).format(id=row_id, version=version, current=SNAPSHOT_SCHEMA_VERSION)
    )


def _decode(row_id: int, body: bytes, version: int = SNAPSHOT_SCHEMA_VERSION) -> Snapshot:
    """A stored snapshot; ``version`` is the format recorded beside it (checked before the body is read)."""
    if version != SNAPSHOT_SCHEMA_VERSION:
        raise _format_error(row_id, version)
    try:
        data = json.loads(zlib.decompress(body).decode("utf-8"))
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotNotFound(
            _("stored snapshot {id} is unreadable: {reason}").format(id=row_id, reason=exc)
        ) from exc
    if not isinstance(data, dict) or data.get("schema_version") != SNAPSHOT_SCHEMA_VERSION:
        raise _format_error(row_id, data.get("schema_version") if isinstance(data, dict) else "unknown")
    try:
        return Snapshot.model_validate(data)
    except ValidationError as exc:
        bad = exc.error_count()
        raise SnapshotNotFound(
            ngettext(
                "stored snapshot {id} is unreadable: {count} bad field",
                "stored snapshot {id} is unreadable: {count} bad fields",
                bad,
            ).format(id=row_id, count=bad)
        ) from None


def _select(conn: sqlite3.Connection, columns: str, cohort: str | None, *, newest: bool = False) -> list[Any]:
    """Rows of the stored snapshots (of ``cohort`` when given), oldest first; only the newest with ``newest``."""
    ensure_schema(conn)
    where, args = (" WHERE cohort = ?", (cohort,)) if cohort is not None else ("", ())
    order = "taken_at DESC, id DESC LIMIT 1" if newest else "taken_at, id"
    return conn.execute(f"SELECT {columns} FROM indicator_snapshots{where} ORDER BY {order}", args).fetchall()


def find_snapshot(
    conn: sqlite3.Connection, snapshot_id: int | None = None, cohort: str | None = None
) -> tuple[int, Snapshot]:
    """One stored snapshot and its id: by id, or the newest one (of `cohort` when given)."""
    ensure_schema(conn)
    if snapshot_id is not None:
        row = conn.execute(
            "SELECT id, body, schema_version FROM indicator_snapshots WHERE id = ?", (snapshot_id,)
        ).fetchone()
        if row is None:
            raise SnapshotNotFound(_("no stored snapshot with id {id}").format(id=snapshot_id))
    else:
        rows = _select(conn, "id, body, schema_version", cohort, newest=True)
        if not rows:
            raise SnapshotNotFound(
                _("no stored snapshot for cohort {cohort}: run `accel indicators gather` first").format(
                    cohort=cohort
                )
                if cohort
                else _("no stored snapshot: run `accel indicators gather` first")
            )
        row = rows[0]
    return int(row[0]), _decode(int(row[0]), bytes(row[1]), int(row[2]))


def load_snapshot(
    conn: sqlite3.Connection, snapshot_id: int | None = None, cohort: str | None = None
) -> Snapshot:
    """Load one snapshot by id, or the newest one (of `cohort` when given)."""
    return find_snapshot(conn, snapshot_id, cohort)[1]


def list_snapshots(conn: sqlite3.Connection, cohort: str | None = None) -> list[SnapshotInfo]:
    rows = _select(conn, "id, cohort, taken_at", cohort)
    return [SnapshotInfo(id=r[0], cohort=r[1], taken_at=r[2]) for r in rows]


def load_all_snapshots(conn: sqlite3.Connection, cohort: str | None = None) -> list[tuple[int, Snapshot]]:
    """Every stored snapshot of this snapshot format (oldest first): for the indicators-over-time chart.
    Snapshots of another format are left out (and logged), not read with defaults."""
    out = []
    for row in _select(conn, "id, body, schema_version", cohort):
        try:
            out.append((int(row[0]), _decode(int(row[0]), bytes(row[1]), int(row[2]))))
        except SnapshotFormatError:
            # Logs stay English (the exception's message is in the reader's language).
            log.warning(
                "stored snapshot %s left out of the history: not in snapshot format %s",
                row[0],
                SNAPSHOT_SCHEMA_VERSION,
            )
    return out

"""The cohort configuration (`accelerator.toml`): one file describes one cohort of the accelerator.

Everyone reads it through :func:`load_config`. Layout (see examples/kamchatka-2021.toml)::

    [cohort]        code, name, timezone, optional short_name
    [category]      name, description, parent (id) -- the Moodle category of the cohort (ID number = cohort code)
    [modules.m1]    start, end (dates or datetimes), visible, optional template (short name of the template course)
    [modules.m2]    ...
    [modules.m3]    ...
    [roles]         student, mentor, expert, service (Moodle role ids)
    [targets]       one optional number per grant indicator (program.md)
    [[schedule.webinars]]       title, start, duration (minutes), optional description, module (default m2)
    [[schedule.consultations]]  title, start, duration, optional team (group name), description, module
    [store]         optional: path of the local SQLite store
    [roster]        optional: the roster sync's safety limits and the roster file size cap
    [templates]     optional: dir with the module templates (default: the bundled course_templates/)

Every section model forbids unknown keys so that a typo ("strat = ...") is an error naming the file and the key
path, not a silently ignored line. Other features add their own optional sections ([roster], [service], ...)
as separate models plus one optional field on :class:`AccelConfig`.

The program's words the configuration uses (module keys, indicator keys, event kinds) are defined in
:mod:`sync.core.vocabulary`; the cohort's courses (names from the module templates, dates from here) are
worked out by ``course_templates.courses.module_courses``.

Errors are in the reader's language (the ``core`` catalog): pydantic's own messages are replaced, by the
kind of error, with ours (:func:`_problem`); the key paths stay as they are written in the file.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from i18n import _, ngettext
from sync.core.errors import UsageError
from sync.core.vocabulary import MODULE_KEYS, EventKind, key_path


class ConfigError(UsageError):
    """A cohort configuration problem; the message names the file and the key path."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = str(path)
        # Several problems come one per line under the file's name.
        super().__init__(f"{path}:{message}" if message.startswith("\n") else f"{path}: {message}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,30}$")


class CohortSection(_Section):
    code: str = Field(
        description="lowercase Latin code, e.g. kam21; the category ID number and course prefix"
    )
    name: str = Field(min_length=1, description="human name, e.g. 'Камчатка 2021'")
    timezone: str = "Asia/Kamchatka"
    short_name: str | None = Field(
        default=None, description="prefix of course short names; default CODE upper"
    )

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not _CODE_RE.match(v):
            raise ValueError(_("must be 2-31 lowercase Latin letters, digits, '-' or '_' (e.g. 'kam21')"))
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                _("unknown time zone {zone} (use an IANA name like 'Asia/Kamchatka')").format(zone=repr(v))
            ) from exc
        return v


class CategorySection(_Section):
    name: str = Field(min_length=1)
    description: str = ""
    parent: int = Field(default=0, ge=0, description="id of the parent category; 0 = top level")
    idnumber: str | None = Field(default=None, description="defaults to the cohort code")


DateOrDateTime = dt.datetime | dt.date


class ModuleSection(_Section):
    start: DateOrDateTime
    end: DateOrDateTime
    visible: bool = True
    template: str | None = Field(default=None, description="short name of the template course on the site")


class RolesSection(_Section):
    """Program roles -> Moodle role ids (field note 14: manager 1, teacher 4, student 5)."""

    student: int = Field(default=5, gt=0)
    mentor: int = Field(default=4, gt=0)
    expert: int = Field(default=4, gt=0)
    service: int = Field(default=1, gt=0, description="role of the token's own user in each cohort course")


class TargetsSection(_Section):
    """Grant indicator targets (program.md), one field per key of ``INDICATORS`` in its order. None = no target
    (the indicator is only reported).

    webinars_held / consultations_held default to the number of scheduled events (see AccelConfig.targets_for).
    """

    participants: int | None = Field(default=50, ge=0)
    school_participants: int | None = Field(default=28, ge=0)
    initiative_groups: int | None = Field(default=7, ge=0)
    projects_developed: int | None = Field(default=7, ge=0)
    mentor_feedback: int | None = Field(default=None, ge=0)
    webinars_held: int | None = Field(default=None, ge=0)
    consultations_held: int | None = Field(default=None, ge=0)
    projects_presented: int | None = Field(default=7, ge=0)
    leader_projects: int | None = Field(default=3, ge=0)
    funds_raised: float | None = Field(default=None, ge=0)
    votes_cast: int | None = Field(default=None, ge=0)
    satisfaction: float | None = Field(default=None, ge=0)
    ngo_intent: float | None = Field(default=None, ge=0, le=1, description="share 0..1")


class EventSpec(_Section):
    title: str = Field(min_length=1, max_length=255)
    start: DateOrDateTime
    duration: int = Field(gt=0, le=24 * 60, description="minutes")
    description: str = ""
    module: str = "m2"

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        if v not in MODULE_KEYS:
            raise ValueError(_("must be one of {choices}").format(choices=", ".join(MODULE_KEYS)))
        return v


class WebinarSpec(EventSpec):
    pass


class ConsultationSpec(EventSpec):
    team: str | None = Field(default=None, description="group name in the module course; none = course event")


class ScheduleSection(_Section):
    webinars: list[WebinarSpec] = Field(default_factory=list)
    consultations: list[ConsultationSpec] = Field(default_factory=list)


class StoreSection(_Section):
    path: str | None = None


class TemplatesSection(_Section):
    dir: str | None = None


class RosterSection(_Section):
    """Limits of `accel roster sync` and the service's roster job (an apply past a limit waits for --force)."""

    max_suspend_share: float = Field(
        default=0.1, ge=0, le=1, description="stop when more of a course's active participants would go"
    )
    max_shrink_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="stop when the file has more than this share fewer people than the last one applied",
    )
    shrink_min_people: int = Field(default=5, ge=1, description="... and at least this many fewer")
    max_file_mb: float = Field(default=50, gt=0, description="a larger roster file is refused unread")


_CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ServiceSection(_Section):
    """The timetable of `accel serve` (times are HH:MM in the cohort's time zone)."""

    roster_file: str | None = Field(default=None, description="the roster the service keeps in step")
    roster_check_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="how often to look for changes"
    )
    roster_sync_at: list[str] = Field(default_factory=list, description="also sync at these times daily")
    roster_removal: Literal["suspend", "keep"] = "suspend"
    snapshot_at: list[str] = Field(default_factory=lambda: ["02:00"])
    reminders_at: list[str] = Field(default_factory=lambda: ["09:00"])
    reminder_after_hours: float = Field(default=72, gt=0, description="remind about work waiting this long")
    report_weekday: str = "monday"
    report_at: str = "07:00"
    report_dir: str = "reports"
    report_formats: list[Literal["xlsx", "html", "json"]] = ["xlsx", "html", "json"]
    coordinator: str | None = Field(
        default=None,
        description="Moodle username or email of the coordinator told about held roster changes",
    )
    retry_minutes: int = Field(default=5, ge=1, description="first retry of a failed job; doubles each time")
    retry_max_minutes: int = Field(default=120, ge=1)

    @field_validator("roster_sync_at", "snapshot_at", "reminders_at")
    @classmethod
    def _clock_times(cls, v: list[str]) -> list[str]:
        for value in v:
            if not _CLOCK_RE.match(value):
                raise ValueError(
                    _("{value} is not a time of day HH:MM (e.g. '02:00')").format(value=repr(value))
                )
        return sorted(set(v))

    @field_validator("report_at")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        if not _CLOCK_RE.match(v):
            raise ValueError(_("{value} is not a time of day HH:MM (e.g. '07:00')").format(value=repr(v)))
        return v

    @field_validator("report_weekday")
    @classmethod
    def _weekday(cls, v: str) -> str:
        if v.lower() not in WEEKDAYS:
            raise ValueError(_("must be one of {choices}").format(choices=", ".join(WEEKDAYS)))
        return v.lower()


@dataclass(frozen=True)
class ScheduledEvent:
    """A webinar or consultation resolved to the cohort time zone."""

    kind: EventKind
    module: str
    title: str
    start: dt.datetime
    duration_minutes: int
    description: str
    team: str | None

    @property
    def timestart(self) -> int:
        return int(self.start.timestamp())

    @property
    def timeduration(self) -> int:
        return self.duration_minutes * 60


class AccelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cohort: CohortSection
    category: CategorySection
    modules: dict[str, ModuleSection]
    roles: RolesSection = Field(default_factory=RolesSection)
    targets: TargetsSection = Field(default_factory=TargetsSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    store: StoreSection | None = None
    templates: TemplatesSection | None = None
    roster: RosterSection | None = None
    service: ServiceSection = Field(default_factory=ServiceSection)
    # Where the file was read from (set by load_config; relative paths in the file are relative to it).
    source: str | None = None

    @field_validator("modules")
    @classmethod
    def _modules(cls, v: dict[str, ModuleSection]) -> dict[str, ModuleSection]:
        unknown = sorted(set(v) - set(MODULE_KEYS))
        if unknown:
            raise ValueError(
                _("unknown module {modules} (expected {choices})").format(
                    modules=", ".join(unknown), choices=", ".join(MODULE_KEYS)
                )
            )
        missing = [k for k in MODULE_KEYS if k not in v]
        if missing:
            raise ValueError(_("missing module {modules}").format(modules=", ".join(missing)))
        return v

    @model_validator(mode="after")
    def _dates(self) -> AccelConfig:
        for key in MODULE_KEYS:
            m = self.modules[key]
            if self.to_datetime(m.end, end_of_day=True) <= self.to_datetime(m.start):
                raise ValueError(_("modules.{key}: end must be after start").format(key=key))
        return self

    # --- helpers ---------------------------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.cohort.timezone)

    @property
    def category_idnumber(self) -> str:
        return self.category.idnumber or self.cohort.code

    @property
    def short_name(self) -> str:
        return self.cohort.short_name or self.cohort.code.upper()

    def to_datetime(self, value: DateOrDateTime, *, end_of_day: bool = False) -> dt.datetime:
        """A TOML date/datetime as an aware datetime in the cohort's time zone.

        A plain date means the start of that day, or its last second when ``end_of_day`` (course end dates
        and "until" dates are inclusive for people). A datetime without offset is local cohort time.
        """
        if isinstance(value, dt.datetime):
            return value if value.tzinfo is not None else value.replace(tzinfo=self.tz)
        base = dt.datetime(value.year, value.month, value.day, tzinfo=self.tz)
        return base + dt.timedelta(days=1, seconds=-1) if end_of_day else base

    def placeholders(self) -> dict[str, str]:
        """Values for the name patterns of the course templates."""
        return {
            "cohort_code": self.cohort.code,
            "cohort_code_upper": self.cohort.code.upper(),
            "cohort_short": self.short_name,
            "cohort_name": self.cohort.name,
        }

    def templates_dir(self) -> Path | None:
        if self.templates is None or self.templates.dir is None:
            return None
        return self.relative_path(self.templates.dir)

    def store_path(self) -> Path | None:
        if self.store is None or self.store.path is None:
            return None
        return self.relative_path(self.store.path)

    def relative_path(self, value: str) -> Path:
        """A path from the file, relative to the file's own folder."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        return p

    def scheduled_events(self) -> list[ScheduledEvent]:
        """Webinars then consultations, in file order, with times in the cohort time zone."""
        events: list[ScheduledEvent] = []
        for w in self.schedule.webinars:
            events.append(
                ScheduledEvent(
                    "webinar", w.module, w.title, self.to_datetime(w.start), w.duration, w.description, None
                )
            )
        for c in self.schedule.consultations:
            events.append(
                ScheduledEvent(
                    "consultation",
                    c.module,
                    c.title,
                    self.to_datetime(c.start),
                    c.duration,
                    c.description,
                    c.team,
                )
            )
        return events

    def targets_for(self) -> dict[str, float | None]:
        """Effective targets per indicator: webinars/consultations default to the scheduled counts."""
        t: dict[str, float | None] = dict(self.targets.model_dump())
        if t["webinars_held"] is None:
            t["webinars_held"] = len(self.schedule.webinars)
        if t["consultations_held"] is None:
            t["consultations_held"] = len(self.schedule.consultations)
        return t


#: pydantic names the member of a union (``start: datetime | date``) as the last part of an error's place
_UNION_MEMBERS = frozenset({"datetime", "date"})


def _problem(err: ErrorDetails) -> str:
    """What is wrong with a value, in the reader's language: ours for the kinds of error a cohort file meets,
    pydantic's own (English) words for the rest."""
    kind, limits = err["type"], err.get("ctx") or {}
    if kind == "value_error":
        # Our validators' messages, already translated where they were raised.
        return str(limits.get("error") or err["msg"].removeprefix("Value error, "))
    if kind == "greater_than":
        return _("must be greater than {limit}").format(limit=limits.get("gt"))
    if kind == "greater_than_equal":
        return _("must be at least {limit}").format(limit=limits.get("ge"))
    if kind == "less_than":
        return _("must be less than {limit}").format(limit=limits.get("lt"))
    if kind == "less_than_equal":
        return _("must be at most {limit}").format(limit=limits.get("le"))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("must be a whole number")
    if kind in ("float_parsing", "float_type"):
        return _("must be a number")
    if kind in ("bool_parsing", "bool_type"):
        return _("must be true or false")
    if kind == "string_type":
        return _("must be text in quotes")
    if kind == "string_too_short":
        shortest = int(limits.get("min_length", 1))
        return ngettext(
            "must be at least {count} character long", "must be at least {count} characters long", shortest
        ).format(count=shortest)
    if kind == "string_too_long":
        longest = int(limits.get("max_length", 0))
        return ngettext(
            "must be at most {count} character long", "must be at most {count} characters long", longest
        ).format(count=longest)
    if kind == "literal_error":
        return _("must be one of {choices}").format(choices=limits.get("expected", ""))
    if kind == "list_type":
        return _('must be a list in square brackets, e.g. ["02:00"]')
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return _("must be a table (a [section] of its own)")
    return err["msg"]


def _format_errors(exc: ValidationError) -> str:
    """One line per key: a union's members (date or date-time) give one line, not one each."""
    lines: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p and p.endswith("]")))
        if len(loc) > 1 and loc[-1] in _UNION_MEMBERS:
            loc = loc[:-1]
        key = key_path(loc)
        if key in lines:
            continue
        if err["type"] == "extra_forbidden":
            lines[key] = _("{key}: unknown key").format(key=key)
        elif err["type"] == "missing":
            lines[key] = _("{key}: required key is missing").format(key=key)
        elif err["type"].startswith(("date", "datetime")):
            lines[key] = _(
                "{key}: expected a date such as 2021-10-01 or a date-time such as 2021-11-04T18:00:00 "
                "(got {value})"
            ).format(key=key, value=repr(err.get("input")))
        else:
            lines[key] = _("{key}: {problem} (got {value})").format(
                key=key, problem=_problem(err), value=repr(err.get("input"))
            )
    if len(lines) == 1:
        return next(iter(lines.values()))
    return "\n  " + "\n  ".join(lines.values())


def parse_config(data: Mapping[str, Any], path: Path | str = "<config>") -> AccelConfig:
    """Validate already-parsed TOML data; raise ConfigError naming the file and each key path."""
    try:
        return AccelConfig.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        raise ConfigError(path, _format_errors(exc)) from None


def load_config(path: Path | str) -> AccelConfig:
    """Read and validate a cohort TOML file. Raises ConfigError (file + key path) on any problem."""
    p = Path(path)
    if p.exists() and not p.is_file():
        # A FIFO or a device would block the read (or never end): only a regular file is opened.
        raise ConfigError(p, _("not a regular file"))
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(p, _("cannot read: {reason}").format(reason=exc.strerror or exc)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(p, _("not UTF-8 text")) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's own words (English) name the line and column.
        raise ConfigError(p, _("TOML syntax: {error}").format(error=exc)) from None
    if "source" in data:
        raise ConfigError(p, _("{key}: unknown key").format(key="source"))
    return parse_config(data, p)

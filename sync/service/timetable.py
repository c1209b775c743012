"""When each job of `accel serve` is due: the [service] timetable as jobs of the ``schedule`` library.

Each service job's slots are ``schedule`` jobs built from the configuration in the library's own words:
``every().day.at("02:00")`` for a time of day, ``every().monday.at("07:00")`` for the weekly report, and for
"every N minutes" ``every().hour.at(":15")``, ``every().hour.at(":30")``... The library answers "when is the
next run after now"; everything else follows from that one answer:

- the next run of a job is the earliest next run of its ``schedule`` jobs (`accel status`, the loop's sleep);
- the slot a job is due for is the latest run at or before now: the next run after "now less one period"
  (a day, a week, an hour). After downtime a job whose slot passed runs once (catch-up), never once per
  missed slot, and the store remembers the slot done, so a restarted service, a cron ``serve --once`` and
  `accel status` agree on what is due (sync/service/runner.py).

Why not ``every(15).minutes``: the library counts such an interval from when the job was made (or last ran),
so its slots would move with every start of the service and every ``serve --once`` would have its own. The
timetable's intervals count from midnight, like a clock: every 15 minutes is the hour's :00, :15, :30 and
:45, and an interval that does not divide the hour is a list of times of day (every 25 minutes: 00:00,
00:25, ..., 23:45, then 00:00 again).

The clock: ``schedule`` reads the wall clock (``datetime.datetime.now()``) and takes no clock of its own, but
a rehearsal (``serve --once --now``), `accel status --now` and the tests ask for other moments. So the
library's module sees a ``datetime`` whose ``now()`` answers the moment this module sets (a context
variable, so threads do not mix) and the real time otherwise; the rest of that module is the standard one.
The library works in naive local time: the timetable hands it the cohort's wall-clock time, so "02:00" is
02:00 in the cohort's time zone whatever the machine's zone is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import types
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

import schedule

from sync.core.config import WEEKDAYS, AccelConfig

JOB_NAMES: tuple[str, ...] = ("roster_sync", "snapshot", "reminders", "report")

#: the cohort's wall-clock time ``schedule`` is to take for "now" (naive), or None: the real time
_MOMENT: ContextVar[dt.datetime | None] = ContextVar("accel_timetable_moment", default=None)


class _AnyDatetime(type):
    """``isinstance(x, <the library's datetime>)`` stays true of every datetime (its ``until()`` asks)."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, dt.datetime)


class _ClockedDatetime(dt.datetime, metaclass=_AnyDatetime):
    """``datetime.datetime`` whose ``now()`` is the moment the timetable asks about, when it asks."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
        moment = _MOMENT.get()
        if moment is None:
            return dt.datetime.now(tz)
        # The timetable's jobs have no time zone of their own (tz is None): the moment is cohort wall time.
        return moment if tz is None else moment.replace(tzinfo=tz)


def _install_clock() -> None:
    """Give ``schedule`` a ``datetime`` module whose ``datetime.now()`` is :class:`_ClockedDatetime`'s."""
    if getattr(vars(schedule)["datetime"], "accel_clock", False):
        return
    module = types.ModuleType("datetime")
    module.__dict__.update(vars(dt))
    module.datetime = _ClockedDatetime  # type: ignore[attr-defined]
    module.accel_clock = True  # type: ignore[attr-defined]
    schedule.datetime = module  # type: ignore[attr-defined]


_install_clock()


@contextlib.contextmanager
def _clock_at(wall: dt.datetime) -> Iterator[None]:
    token = _MOMENT.set(wall)
    try:
        yield
    finally:
        _MOMENT.reset(token)


def _nothing() -> None:
    """The function of a ``schedule`` job that is only asked when it runs, never run."""


@dataclass(frozen=True)
class Slot:
    """One repeating slot of a job: how to make it as a ``schedule`` job, and how often it comes."""

    make: Callable[[schedule.Scheduler], schedule.Job]
    period: dt.timedelta
    #: what it is, for people reading a repr (``every day at 02:00``)
    label: str

    def next_after(self, wall: dt.datetime) -> dt.datetime:
        """The first run strictly after ``wall`` (naive cohort time), as ``schedule`` computes it."""
        with _clock_at(wall):
            job = self.make(schedule.Scheduler())
            job.do(_nothing)  # this is where the library computes the next run
        next_run: dt.datetime | None = job.next_run
        assert next_run is not None
        return next_run

    def latest(self, wall: dt.datetime) -> dt.datetime:
        """The last run at or before ``wall``: exactly one run falls in any period up to and including now."""
        return self.next_after(wall - self.period)


def _daily(at: dt.time) -> Slot:
    clock = at.strftime("%H:%M")
    return Slot(lambda s: s.every().day.at(clock), dt.timedelta(days=1), f"every day at {clock}")


def _weekly(weekday: int, at: dt.time) -> Slot:
    day, clock = WEEKDAYS[weekday], at.strftime("%H:%M")

    def make(s: schedule.Scheduler) -> schedule.Job:
        job: schedule.Job = getattr(s.every(), day)  # every().monday, ...
        job.at(clock)
        return job

    return Slot(make, dt.timedelta(weeks=1), f"every {day} at {clock}")


def _interval(minutes: int) -> tuple[Slot, ...]:
    """Every ``minutes`` minutes counted from midnight (see the module's docstring)."""
    if minutes == 1:
        return (Slot(lambda s: s.every().minute.at(":00"), dt.timedelta(minutes=1), "every minute"),)
    if 60 % minutes == 0:

        def hourly(minute: int) -> Slot:
            at = f":{minute:02d}"
            return Slot(lambda s: s.every().hour.at(at), dt.timedelta(hours=1), f"every hour at {at}")

        return tuple(hourly(minute) for minute in range(0, 60, minutes))
    return tuple(_daily(dt.time(start // 60, start % 60)) for start in range(0, 24 * 60, minutes))


@dataclass(frozen=True)
class Schedule:
    """Slots of one job: times of day, optionally on one weekday, and/or every N minutes from midnight."""

    times: tuple[dt.time, ...] = ()
    weekday: int | None = None  # 0 = Monday; None = every day
    every_minutes: int | None = None

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        """The ``schedule`` jobs of this schedule."""
        fixed = tuple(_daily(at) if self.weekday is None else _weekly(self.weekday, at) for at in self.times)
        return fixed + (_interval(self.every_minutes) if self.every_minutes else ())

    def latest(self, now: dt.datetime) -> dt.datetime | None:
        """The most recent slot at or before ``now`` (an aware time in the schedule's zone), or None."""
        wall = now.replace(tzinfo=None)
        found = [slot.latest(wall) for slot in self.slots]
        return max(found).replace(tzinfo=now.tzinfo) if found else None

    def next(self, now: dt.datetime) -> dt.datetime | None:
        """The first slot strictly after ``now``, or None when the schedule is empty."""
        wall = now.replace(tzinfo=None)
        found = [slot.next_after(wall) for slot in self.slots]
        return min(found).replace(tzinfo=now.tzinfo) if found else None


def _clocks(values: list[str]) -> tuple[dt.time, ...]:
    """``HH:MM`` strings (validated by the config) as times of day."""
    return tuple(dt.time(int(value[:2]), int(value[3:])) for value in values)


@dataclass(frozen=True)
class Timetable:
    """The schedules of the service's jobs, in the cohort's time zone."""

    schedules: dict[str, Schedule]
    tz: ZoneInfo

    @classmethod
    def from_config(cls, config: AccelConfig) -> Timetable:
        service = config.service
        roster = (
            Schedule(times=_clocks(service.roster_sync_at), every_minutes=service.roster_check_minutes)
            if service.roster_file
            else Schedule()  # no roster file: nothing to keep in step
        )
        schedules = {
            "roster_sync": roster,
            "snapshot": Schedule(times=_clocks(service.snapshot_at)),
            "reminders": Schedule(times=_clocks(service.reminders_at)),
            "report": Schedule(
                times=_clocks([service.report_at]), weekday=WEEKDAYS.index(service.report_weekday)
            ),
        }
        return cls(schedules=schedules, tz=config.tz)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def latest(self, job: str, now: dt.datetime) -> dt.datetime | None:
        return self.schedules[job].latest(self.local(now))

    def next(self, job: str, now: dt.datetime) -> dt.datetime | None:
        return self.schedules[job].next(self.local(now))

    def is_forced_roster_slot(self, slot: dt.datetime) -> bool:
        """A roster slot at one of the fixed daily times syncs even if the file did not change."""
        return self.local(slot).time() in self.schedules["roster_sync"].times

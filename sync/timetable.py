"""When each job of `accel serve` is due: pure functions of the configuration and a clock.

The service's own loop is driven by ``schedule`` (it wakes the runner up every minute), but *what* is due
is decided here, from the timetable and the store, so that:

- a rehearsal (`serve --once --now ...`) and the tests can use any clock;
- after downtime a job whose slot passed runs once (catch-up), never once per missed slot;
- `accel status` can say when each job runs next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sync.config import WEEKDAYS, AccelConfig

JOB_NAMES: tuple[str, ...] = ("roster_sync", "snapshot", "reminders", "report")


def _clock(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True)
class Schedule:
    """Slots of one job: times of day, optionally on one weekday, and/or every N minutes."""

    times: tuple[dt.time, ...] = ()
    weekday: int | None = None  # 0 = Monday; None = every day
    every_minutes: int | None = None

    def latest(self, now: dt.datetime) -> dt.datetime | None:
        """The most recent slot at or before ``now`` (within 8 days), or None."""
        candidates: list[dt.datetime] = []
        if self.every_minutes:
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            minutes = int((now - midnight).total_seconds() // 60)
            candidates.append(midnight + dt.timedelta(minutes=minutes - minutes % self.every_minutes))
        for back in range(8):
            day = (now - dt.timedelta(days=back)).date()
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            for at in self.times:
                slot = dt.datetime.combine(day, at, tzinfo=now.tzinfo)
                if slot <= now:
                    candidates.append(slot)
        return max(candidates, default=None)

    def next(self, now: dt.datetime) -> dt.datetime | None:
        """The first slot strictly after ``now``, or None when the schedule is empty."""
        candidates: list[dt.datetime] = []
        if self.every_minutes:
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            minutes = int((now - midnight).total_seconds() // 60)
            candidates.append(
                midnight + dt.timedelta(minutes=minutes - minutes % self.every_minutes + self.every_minutes)
            )
        for ahead in range(8):
            day = (now + dt.timedelta(days=ahead)).date()
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            for at in self.times:
                slot = dt.datetime.combine(day, at, tzinfo=now.tzinfo)
                if slot > now:
                    candidates.append(slot)
        return min(candidates, default=None)


@dataclass(frozen=True)
class Timetable:
    """The schedules of the service's jobs, in the cohort's time zone."""

    schedules: dict[str, Schedule]
    tz: ZoneInfo

    @classmethod
    def from_config(cls, config: AccelConfig) -> Timetable:
        service = config.service
        roster_times = tuple(_clock(t) for t in service.roster_sync_at)
        schedules = {
            "roster_sync": Schedule(
                times=roster_times,
                every_minutes=service.roster_check_minutes if service.roster_file else None,
            ),
            "snapshot": Schedule(times=tuple(_clock(t) for t in service.snapshot_at)),
            "reminders": Schedule(times=tuple(_clock(t) for t in service.reminders_at)),
            "report": Schedule(
                times=(_clock(service.report_at),), weekday=WEEKDAYS.index(service.report_weekday)
            ),
        }
        if not service.roster_file:
            schedules["roster_sync"] = Schedule()  # nothing to keep in step
        return cls(schedules=schedules, tz=config.tz)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def latest(self, job: str, now: dt.datetime) -> dt.datetime | None:
        return self.schedules[job].latest(self.local(now))

    def next(self, job: str, now: dt.datetime) -> dt.datetime | None:
        return self.schedules[job].next(self.local(now))

    def is_forced_roster_slot(self, slot: dt.datetime) -> bool:
        """A roster slot at one of the fixed daily times syncs even if the file did not change."""
        return slot.time() in self.schedules["roster_sync"].times

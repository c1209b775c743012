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

from sync.core.config import WEEKDAYS, AccelConfig

JOB_NAMES: tuple[str, ...] = ("roster_sync", "snapshot", "reminders", "report")


def _clocks(values: list[str]) -> tuple[dt.time, ...]:
    """``HH:MM`` strings (validated by the config) as times of day."""
    return tuple(dt.time(int(value[:2]), int(value[3:])) for value in values)


@dataclass(frozen=True)
class Schedule:
    """Slots of one job: times of day, optionally on one weekday, and/or every N minutes."""

    times: tuple[dt.time, ...] = ()
    weekday: int | None = None  # 0 = Monday; None = every day
    every_minutes: int | None = None

    def latest(self, now: dt.datetime) -> dt.datetime | None:
        """The most recent slot at or before ``now`` (within 8 days), or None."""
        candidates = [slot for slot in self._daily_slots(now, range(-7, 1)) if slot <= now]
        if self.every_minutes:
            candidates.append(self._interval_start(now))
        return max(candidates, default=None)

    def next(self, now: dt.datetime) -> dt.datetime | None:
        """The first slot strictly after ``now``, or None when the schedule is empty."""
        candidates = [slot for slot in self._daily_slots(now, range(8)) if slot > now]
        if self.every_minutes:
            following = self._interval_start(now) + dt.timedelta(minutes=self.every_minutes)
            # Intervals count from midnight: one that does not divide the day is cut short there.
            midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=now.tzinfo)
            candidates.append(min(following, midnight))
        return min(candidates, default=None)

    def _daily_slots(self, now: dt.datetime, days: range) -> list[dt.datetime]:
        """The times of day on the days ``days`` away from ``now``'s date (only the weekday, if one is set)."""
        slots: list[dt.datetime] = []
        for offset in days:
            day = (now + dt.timedelta(days=offset)).date()
            if self.weekday is None or day.weekday() == self.weekday:
                slots.extend(dt.datetime.combine(day, at, tzinfo=now.tzinfo) for at in self.times)
        return slots

    def _interval_start(self, now: dt.datetime) -> dt.datetime:
        """The start of the ``every_minutes`` interval holding ``now`` (intervals count from midnight)."""
        assert self.every_minutes
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        minutes = int((now - midnight).total_seconds() // 60)
        return midnight + dt.timedelta(minutes=minutes - minutes % self.every_minutes)


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
        return slot.time() in self.schedules["roster_sync"].times

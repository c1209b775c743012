"""The scheduled service: runs the jobs that are due, remembers how each went, and keeps going.

Rules that make it safe to leave alone for months:

- A job that fails is logged and retried with a doubling delay (``[service] retry_minutes`` up to
  ``retry_max_minutes``); it never stops the other jobs or the loop.
- When the site is unreachable (or answers with something that is not Moodle's JSON) *every* job that needs
  the site waits for the same doubling delay, so an hour of downtime costs a handful of requests, not a
  storm; the first job after it is the probe, and the rest follow in the same round (a clean catch-up).
- A slot missed during downtime runs once, not once per missed slot (see :mod:`sync.service.timetable`).
- Shutdown (SIGTERM) lets the request in flight finish and sends no new one (the client's cancel hook);
  the interrupted job is simply due again next time, and plan/apply re-reads the site, so nothing is
  duplicated.

What a run says (its detail) is a :class:`sync.service.text.Text`: stored and shown in the reader's language,
logged in English.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from i18n import N_
from integration.errors import AccelMoodleError, Cancelled, TransportError, UncertainAnswer
from integration.transport import MoodleClient
from sync.core.config import AccelConfig
from sync.core.errors import AccelError
from sync.core.lock import LockBusy
from sync.service.text import Text, english, text
from sync.service.timetable import JOB_NAMES, Timetable

log = logging.getLogger("accel.service")

SCHEMA = """
CREATE TABLE IF NOT EXISTS job_state (
    job TEXT PRIMARY KEY,
    done_slot TEXT,             -- the latest slot the job has completed (ISO time)
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at TEXT,              -- not before this time (after a failure)
    last_outcome TEXT,
    last_detail TEXT
);
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    slot TEXT,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    duration REAL NOT NULL,
    outcome TEXT NOT NULL,      -- ok, unchanged, held, nothing, failed, site-down, busy, waiting, interrupted
    detail TEXT NOT NULL DEFAULT '',
    requests INTEGER NOT NULL DEFAULT 0,
    writes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs (job, id);
CREATE TABLE IF NOT EXISTS service_state (key TEXT PRIMARY KEY, value TEXT);
"""

#: outcomes after which the slot counts as done
DONE_OUTCOMES = frozenset({"ok", "unchanged", "held", "nothing"})
#: last outcomes `accel status` answers with exit 1, for monitoring: the job failed (the site down
#: included), or a roster change is held for a person to decide
PROBLEM_OUTCOMES = frozenset({"failed", "site-down", "held"})


class JobNotReady(AccelError):
    """What the job works from is not there yet (the report before the first snapshot).

    Not a failure: no back-off, the job is simply due again next round (it makes no request).
    """

    def __init__(self, detail: str | Text) -> None:
        super().__init__(str(detail))
        self.detail = detail


class JobFailed(AccelError):
    """A job could not do all of its work, for a reason it can say (items Moodle refused, a message refused).

    A failure like any other (retried after the back-off), said as the job put it: in the reader's language
    on screen and in the store, in English in the log.
    """

    def __init__(self, detail: Text) -> None:
        super().__init__(str(detail))
        self.detail = detail


@dataclass(frozen=True)
class JobResult:
    outcome: str = "ok"  # ok | unchanged | held | nothing
    detail: str | Text = ""


@dataclass
class JobContext:
    """What a job gets: the clock's "now", the slot it runs for, and lazily built resources."""

    now: dt.datetime
    slot: dt.datetime
    config: AccelConfig
    store: sqlite3.Connection
    client_factory: Callable[[], MoodleClient]
    #: the cohort's one-writer lock file, or how to find it (it is named after the site: only when asked)
    lock: Path | Callable[[], Path]
    forced: bool = False
    #: False in a rehearsal (`serve --once --now` without --send): jobs say what they would send instead
    send_messages: bool = True
    _client: MoodleClient | None = None
    #: the client's counts when this job got it: one client may serve every job of a process
    _requests_before: int = 0
    _writes_before: int = 0

    @property
    def lock_path(self) -> Path:
        return self.lock if isinstance(self.lock, Path) else self.lock()

    def client(self) -> MoodleClient:
        if self._client is None:
            self._client = self.client_factory()
            self._requests_before = self._client.request_count
            self._writes_before = self._client.write_count
        return self._client

    def requests_made(self) -> tuple[int, int]:
        """Requests and writes this job made (not those of earlier jobs on the same client)."""
        if self._client is None:
            return 0, 0
        return (
            self._client.request_count - self._requests_before,
            self._client.write_count - self._writes_before,
        )

    def get_state(self, key: str) -> str | None:
        return get_state(self.store, key)

    def set_state(self, key: str, value: str | None) -> None:
        set_state(self.store, key, value)


JobFunction = Callable[[JobContext], JobResult]


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    needs_site: bool = True


@dataclass(frozen=True)
class RunRecord:
    job: str
    slot: str | None
    started: str
    finished: str
    duration: float
    outcome: str
    detail: str
    requests: int = 0
    writes: int = 0


@dataclass(frozen=True)
class JobStatus:
    job: str
    last_run: str | None
    last_outcome: str | None
    last_duration: float | None
    last_detail: str | None
    next_run: str | None
    failures: int
    recent: list[dict[str, Any]] = field(default_factory=list)


def ensure_schema(store: sqlite3.Connection) -> None:
    store.executescript(SCHEMA)


def get_state(store: sqlite3.Connection, key: str) -> str | None:
    ensure_schema(store)
    row = store.execute("SELECT value FROM service_state WHERE key = ?", (key,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def set_state(store: sqlite3.Connection, key: str, value: str | None) -> None:
    ensure_schema(store)
    with store:
        store.execute(
            "INSERT INTO service_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _parse(value: str | None) -> dt.datetime | None:
    return None if not value else dt.datetime.fromisoformat(value)


class ServiceRunner:
    """Runs the due jobs for a given "now"; all state lives in the store."""

    def __init__(
        self,
        config: AccelConfig,
        store: sqlite3.Connection,
        client_factory: Callable[[], MoodleClient],
        jobs: list[Job],
        *,
        lock_path: Path | Callable[[], Path],
        stop_requested: Callable[[], bool] = lambda: False,
        timetable: Timetable | None = None,
        send_messages: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.client_factory = client_factory
        self.jobs = {job.name: job for job in jobs}
        self.lock_path = lock_path
        self.stop_requested = stop_requested
        self.timetable = timetable or Timetable.from_config(config)
        self.send_messages = send_messages
        ensure_schema(store)

    # -- state ------------------------------------------------------------------------------------------
    def _state(self, job: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.store.execute(
            "SELECT * FROM job_state WHERE job = ?", (job,)
        ).fetchone()
        return row

    def _backoff(self, failures: int) -> dt.timedelta:
        service = self.config.service
        minutes = min(service.retry_max_minutes, service.retry_minutes * 2 ** max(failures - 1, 0))
        return dt.timedelta(minutes=minutes)

    def site_retry_at(self) -> dt.datetime | None:
        return _parse(get_state(self.store, "site_retry_at"))

    # -- what is due ------------------------------------------------------------------------------------
    def due(self, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Jobs whose latest slot is not done yet and whose retry delay (if any) has passed."""
        due: list[tuple[str, dt.datetime]] = []
        for name in JOB_NAMES:
            slot = self._due_slot(name, now) if name in self.jobs else None
            if slot is not None:
                due.append((name, slot))
        return due

    def _due_slot(self, name: str, now: dt.datetime) -> dt.datetime | None:
        """The slot ``name`` is due for at ``now``, or None when it is not due."""
        slot = self.timetable.latest(name, now)
        if slot is None:
            return None
        state = self._state(name)
        done = _parse(state["done_slot"]) if state else None
        retry_at = _parse(state["retry_at"]) if state else None
        if done is not None and done >= slot:
            return None
        if retry_at is not None and retry_at > now:
            return None
        return slot

    def next_run(self, name: str, now: dt.datetime) -> dt.datetime | None:
        """When :meth:`tick` will run the job: now if due, else after its retry delay, else its next slot;
        a job that needs the site also waits for the site's retry time."""
        state = self._state(name)
        retry_at = _parse(state["retry_at"]) if state else None
        if self._due_slot(name, now) is not None:
            when: dt.datetime | None = now
        elif retry_at is not None and retry_at > now:
            when = retry_at
        else:
            # A past retry time is not a run: a failed `--job` run on a done slot waits for the next slot.
            when = self.timetable.next(name, now)
        site_retry = self.site_retry_at()
        if when is not None and self.jobs[name].needs_site and site_retry is not None and site_retry > when:
            return site_retry
        return when

    # -- running ----------------------------------------------------------------------------------------
    def next_wake(self, now: dt.datetime) -> dt.datetime | None:
        """The earliest run after ``now`` of any job (its next slot, its retry, the site's back-off)."""
        later = [when for name in self.jobs if (when := self.next_run(name, now)) is not None and when > now]
        return min(later, default=None)

    def tick(
        self,
        now: dt.datetime,
        *,
        probe_site: bool = False,
        on_run: Callable[[RunRecord], None] | None = None,
    ) -> list[RunRecord]:
        """Run every due job once, in timetable order; return what happened.

        ``probe_site`` (``serve --once``): while the site is in its back-off, ask it once whether it is back
        (one request, no retries) instead of waiting, so that a run made after Moodle was restarted catches
        up at once. The long-running loop waits for the back-off instead (it wakes up when it ends).
        ``on_run`` hears of each run as soon as it is recorded (the long-running service prints it).
        """
        site_retry = self.site_retry_at()
        if probe_site and site_retry is not None and site_retry > now:
            self._probe_site()
        records: list[RunRecord] = []
        for name, slot in self.due(now):
            if self.stop_requested():
                break
            job = self.jobs[name]
            site_retry = self.site_retry_at()
            if job.needs_site and site_retry is not None and site_retry > now:
                log.info("%s: waiting for the site until %s", name, _iso(site_retry), extra={"job": name})
                continue
            record = self._run(job, slot, now)
            records.append(record)
            if on_run is not None:
                on_run(record)
            if record.outcome == "interrupted":
                break
        return records

    def _probe_site(self) -> None:
        client = self.client_factory()
        retries = client.max_retries
        client.max_retries = 0
        try:
            client.call("core_webservice_get_site_info")
        except TransportError as exc:
            log.info(
                "the site is still unreachable (%s); site jobs wait until %s", exc, _iso(self.site_retry_at())
            )
            return
        finally:
            client.max_retries = retries
        log.info("the site answers again: the jobs that waited for it run now")
        set_state(self.store, "site_failures", "0")
        set_state(self.store, "site_retry_at", None)
        with self.store:
            self.store.execute("UPDATE job_state SET retry_at = NULL WHERE last_outcome = 'site-down'")

    def run_now(self, name: str, now: dt.datetime) -> RunRecord:
        """Run one job at once, whatever the timetable says (a coordinator's explicit request)."""
        slot = self.timetable.latest(name, now) or now
        return self._run(self.jobs[name], slot, now, forced=True)

    def _run(self, job: Job, slot: dt.datetime, now: dt.datetime, *, forced: bool = False) -> RunRecord:
        context = JobContext(
            now=now,
            slot=slot,
            config=self.config,
            store=self.store,
            client_factory=self.client_factory,
            lock=self.lock_path,
            forced=forced or (job.name == "roster_sync" and self.timetable.is_forced_roster_slot(slot)),
            send_messages=self.send_messages,
        )
        started_wall = time.monotonic()
        state = self._state(job.name)
        failures = int(state["failures"]) if state else 0
        done_slot = state["done_slot"] if state else None
        retry_at: dt.datetime | None = None
        detail: str | Text
        try:
            result = job.run(context)
            outcome, detail = result.outcome, result.detail
            failures = 0
            done_slot = _iso(slot)
            if job.needs_site and context._client is not None:
                set_state(self.store, "site_failures", "0")
                set_state(self.store, "site_retry_at", None)
        except Cancelled:
            outcome, detail = "interrupted", text(N_("stopped by shutdown; it runs again next time"))
        except LockBusy as exc:
            outcome, detail = "busy", str(exc)
            retry_at = now + dt.timedelta(minutes=1)
        except JobNotReady as exc:
            outcome, detail = "waiting", exc.detail
        except UncertainAnswer as exc:
            # The site is up: it ran the write and answered badly. Not a reason to hold every site job.
            failures += 1
            retry_at = now + self._backoff(failures)
            outcome, detail = "failed", _retry(str(exc), retry_at)
            log.error(
                "%s failed: %s", job.name, english(detail), extra={"job": job.name, "outcome": "failed"}
            )
        except TransportError as exc:
            failures += 1
            site_failures = int(get_state(self.store, "site_failures") or 0) + 1
            retry_at = now + self._backoff(site_failures)
            asked = getattr(exc, "retry_after", None)
            if asked is not None:
                # The site said when to come back (Retry-After on a 429 or 503): not before that.
                retry_at = max(retry_at, now + dt.timedelta(seconds=asked))
            set_state(self.store, "site_failures", str(site_failures))
            set_state(self.store, "site_retry_at", _iso(retry_at))
            outcome, detail = (
                "site-down",
                text(
                    N_("{error}; every job that needs the site waits until {when:%Y-%m-%d %H:%M}"),
                    error=str(exc),
                    when=retry_at,
                ),
            )
        except Exception as exc:  # a job's failure must never stop the service
            failures += 1
            retry_at = now + self._backoff(failures)
            # accel's own errors are written for people; anything else keeps its type's name.
            said: str | Text = (
                exc.detail
                if isinstance(exc, JobFailed)
                else str(exc)
                if isinstance(exc, AccelError | AccelMoodleError)
                else f"{type(exc).__name__}: {exc}"
            )
            outcome, detail = "failed", _retry(said, retry_at)
            # An expected failure (Moodle's refusal, a missing file, no snapshot yet) is one line; anything
            # else is a bug and keeps its traceback for whoever reads the journal.
            expected = isinstance(exc, AccelError | AccelMoodleError | OSError | LookupError | RuntimeError)
            log.error(
                "%s failed: %s",
                job.name,
                english(detail),
                exc_info=not expected,
                extra={"job": job.name, "outcome": "failed"},
            )
        duration = time.monotonic() - started_wall
        requests, writes = context.requests_made()
        if context._client is not None:
            # Each warning was logged when it came and the job has read its own; a service that runs for
            # months on one client must not keep them all.
            context._client.warnings.clear()
        record = RunRecord(
            job=job.name,
            slot=_iso(slot),
            started=_iso(now) or "",
            finished=_iso(now + dt.timedelta(seconds=duration)) or "",
            duration=round(duration, 3),
            outcome=outcome,
            detail=str(detail),  # in the reader's language: `accel status` and `serve --once` show it
            requests=requests,
            writes=writes,
        )
        with self.store:
            self.store.execute(
                "INSERT INTO job_runs (job, slot, started, finished, duration, outcome, detail, requests, writes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.job,
                    record.slot,
                    record.started,
                    record.finished,
                    record.duration,
                    record.outcome,
                    record.detail,
                    record.requests,
                    record.writes,
                ),
            )
            self.store.execute(
                "INSERT INTO job_state (job, done_slot, failures, retry_at, last_outcome, last_detail)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(job) DO UPDATE SET done_slot = excluded.done_slot,"
                " failures = excluded.failures, retry_at = excluded.retry_at,"
                " last_outcome = excluded.last_outcome, last_detail = excluded.last_detail",
                (job.name, done_slot, failures, _iso(retry_at), outcome, record.detail),
            )
        level = (
            logging.INFO
            if outcome in DONE_OUTCOMES or outcome in ("interrupted", "waiting")
            else logging.WARNING
        )
        log.log(
            level,
            "%s: %s%s (%.1fs, %d requests)",
            job.name,
            outcome,
            f" — {english(detail)}" if detail else "",
            duration,
            record.requests,
            extra={"job": job.name, "outcome": outcome, "duration": record.duration},
        )
        return record

    # -- status -----------------------------------------------------------------------------------------
    def status(self, now: dt.datetime) -> list[JobStatus]:
        out: list[JobStatus] = []
        for name in JOB_NAMES:
            if name not in self.jobs:
                continue
            rows = self.store.execute(
                "SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 5", (name,)
            ).fetchall()
            last = rows[0] if rows else None
            state = self._state(name)
            next_run = self.next_run(name, now)
            out.append(
                JobStatus(
                    job=name,
                    last_run=last["started"] if last else None,
                    last_outcome=last["outcome"] if last else None,
                    last_duration=last["duration"] if last else None,
                    last_detail=last["detail"] if last else None,
                    next_run=_iso(next_run),
                    failures=int(state["failures"]) if state else 0,
                    recent=[
                        {"started": r["started"], "outcome": r["outcome"], "duration": r["duration"]}
                        for r in rows
                    ],
                )
            )
        return out


def _retry(error: str | Text, retry_at: dt.datetime) -> Text:
    return text(N_("{error}; retry at {when:%Y-%m-%d %H:%M}"), error=error, when=retry_at)


def serve_forever(
    runner: ServiceRunner,
    *,
    stop: threading.Event,
    clock: Callable[[], dt.datetime],
    tick_seconds: float = 60,
    on_run: Callable[[RunRecord], None] | None = None,
) -> None:
    """Run what is due, then sleep until the next run of any job, again and again until ``stop`` is set.

    The timetable (its ``schedule`` jobs), the retries and the site's back-off say when that next run is
    (:meth:`ServiceRunner.next_wake`), so a job runs at its time, not at the next round of a fixed tick. The
    loop still looks at least every ``tick_seconds``: a job that stays due (the report waiting for a first
    snapshot) is asked again then, and a clock that jumped (a machine resumed, NTP) is noticed.
    """
    while not stop.is_set():
        try:
            runner.tick(clock(), on_run=on_run)
        except Exception:  # the loop itself must survive anything a round throws
            log.exception("service round failed; the next round runs as planned")
        if stop.is_set():
            break
        now = clock()
        try:
            wake = runner.next_wake(now)
        except Exception:  # the store busy for a moment, say: look again after the longest sleep
            log.exception("could not work out the next run; looking again in %ss", tick_seconds)
            wake = None
        pause = tick_seconds if wake is None else min(tick_seconds, (wake - now).total_seconds())
        # A little past the slot, so that the round that wakes for it finds it due.
        stop.wait(timeout=max(pause, 0.0) + 0.05)
    log.info("service stopped")

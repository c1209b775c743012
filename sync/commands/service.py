"""`accel serve` and `accel status`: run the [service] timetable's jobs, and show how they went.

The logic is in sync/service/ (the timetable, the runner and its jobs); these commands parse options, call
it and render, in the reader's language (the ``service`` catalog). Job and outcome names are English keys
in the store, the logs and ``--json``; people read them in their language (:func:`job_title`,
:func:`outcome_title`; in English they are the keys themselves).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click

from i18n import N_, _, ngettext, translations
from integration.transport import MoodleClient
from sync.commands.context import EXIT_PROBLEMS, AppContext, UsageProblem
from sync.commands.terminal import say, table
from sync.core.config import AccelConfig
from sync.indicators.report.model import format_target, format_value
from sync.service.jobs import default_jobs, latest_indicators
from sync.service.runner import PROBLEM_OUTCOMES, RunRecord, ServiceRunner, serve_forever
from sync.service.timetable import JOB_NAMES

log = logging.getLogger("accel.service")


def job_title(job: str) -> str:
    """A job as people read it; in English its key, as the logs and ``--json`` name it.

    Short words ("report", "ok") may mean something else in another part of accel: a message context keeps
    the service's own.
    """
    t = translations()
    titles = {
        "roster_sync": t.pgettext("service job", "roster_sync"),
        "snapshot": t.pgettext("service job", "snapshot"),
        "reminders": t.pgettext("service job", "reminders"),
        "report": t.pgettext("service job", "report"),
    }
    return titles.get(job, job)


def outcome_title(outcome: str) -> str:
    """How a run went, as people read it; in English the outcome's key."""
    t = translations()
    titles = {
        "ok": t.pgettext("service outcome", "ok"),
        "unchanged": t.pgettext("service outcome", "unchanged"),
        "held": t.pgettext("service outcome", "held"),
        "nothing": t.pgettext("service outcome", "nothing"),
        "failed": t.pgettext("service outcome", "failed"),
        "site-down": t.pgettext("service outcome", "site-down"),
        "busy": t.pgettext("service outcome", "busy"),
        "waiting": t.pgettext("service outcome", "waiting"),
        "interrupted": t.pgettext("service outcome", "interrupted"),
    }
    return titles.get(outcome, outcome)


def moment_text(moment: dt.datetime) -> str:
    """A date and time as people read them (the cohort's time zone)."""
    return _("{moment:%Y-%m-%d %H:%M}").format(moment=moment)


def stored_moment_text(value: str | None, tz: dt.tzinfo) -> str:
    """A time the store keeps (ISO), as people read it; "never" when there is none."""
    if not value:
        return _("never")
    return moment_text(dt.datetime.fromisoformat(value).astimezone(tz))


def run_line(record: RunRecord) -> str:
    """One line per job run: job, outcome, how long, how many requests, and what it said."""
    line = ngettext(
        "{job}: {outcome} ({seconds}s, {count} request)",
        "{job}: {outcome} ({seconds}s, {count} requests)",
        record.requests,
    ).format(
        job=job_title(record.job),
        outcome=outcome_title(record.outcome),
        seconds=f"{record.duration:.1f}",
        count=record.requests,
    )
    if record.detail:
        line = _("{run}: {detail}").format(run=line, detail=record.detail)
    return line


def start_line(config: AccelConfig, site: str, runner: ServiceRunner, now: dt.datetime) -> str:
    """What the long-running service says when it starts: the cohort, the site, each job's next run."""
    runs = []
    for name in JOB_NAMES:
        if name not in runner.jobs:
            continue
        when = runner.next_run(name, now)
        if when is None:
            runs.append(_("{job}: not in the timetable").format(job=job_title(name)))
        elif when <= now:
            runs.append(_("{job}: now").format(job=job_title(name)))
        else:
            runs.append(
                _("{job}: {moment}").format(
                    job=job_title(name), moment=moment_text(when.astimezone(config.tz))
                )
            )
    return _("accel serve: cohort {code} ({name}), site {site}; next runs: {runs}").format(
        code=config.cohort.code, name=config.cohort.name, site=site, runs=", ".join(runs)
    )


def _parse_now(value: str | None, tz: dt.tzinfo) -> dt.datetime:
    if value is None:
        return dt.datetime.now(tz)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageProblem(
            _("--now {value} is not an ISO date-time such as 2021-11-03T09:00").format(value=repr(value))
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def rehearsal_store_path(store: Path) -> Path:
    """Where the rehearsals of the service whose store is ``store`` keep their state: beside it."""
    return store.with_name(f"{store.stem}.rehearsal{store.suffix or '.sqlite3'}")


def _start_rehearsal(app: AppContext) -> tuple[Path, Path]:
    """Point ``app`` at the rehearsal store (a first rehearsal starts from a copy of the service's state);
    returns the rehearsal store and the service's own."""
    real = app.store_path()
    rehearsal = rehearsal_store_path(real)
    if not rehearsal.exists() and real.exists():
        # From the service's state, so the guards see its journal and the timetable its done slots; read
        # through a read-only handle, so nothing of the service's store changes.
        previous = os.umask(0o077)
        try:
            source = sqlite3.connect(f"{real.resolve().as_uri()}?mode=ro", uri=True)
            try:
                source.execute("VACUUM INTO ?", (str(rehearsal),))
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise UsageProblem(
                _("store {path}: cannot copy it for the rehearsal ({reason})").format(path=real, reason=exc)
            ) from None
        finally:
            os.umask(previous)
    app.store_override = rehearsal
    return rehearsal, real


def _rehearsal_config(config: AccelConfig) -> AccelConfig:
    """The configuration with the report folder moved to its "rehearsal" subfolder."""
    service = config.service
    # Absolute: the jobs resolve report_dir against the configuration's folder again.
    reports = config.relative_path(service.report_dir).absolute() / "rehearsal"
    return config.model_copy(update={"service": service.model_copy(update={"report_dir": str(reports)})})


def _build_runner(
    app: AppContext,
    stop_requested: Callable[[], bool],
    *,
    config: AccelConfig | None = None,
    send_messages: bool = True,
) -> ServiceRunner:
    config = config or app.config()

    def client_factory() -> MoodleClient:
        client = app.client()
        client.cancel_check = stop_requested
        return client

    return ServiceRunner(
        config,
        app.store(),
        client_factory,
        default_jobs(),
        lock_path=app.lock_path,  # named after the site: resolved only by a job that takes the lock
        stop_requested=stop_requested,
        send_messages=send_messages,
    )


@click.command(
    help=N_(
        "Run the jobs of the [service] timetable: roster sync, snapshots, mentor reminders, reports.\n\n"
        "Without --once it runs until stopped, prints one line when it starts (the cohort, the site, each "
        "job's next run) and one line per job run; SIGTERM (or Ctrl-C) lets the request in flight finish and "
        "exits cleanly. What ran, and how, is kept in the store: see `accel status`."
    )
)
@click.option(
    "--once", is_flag=True, help=N_("Run whatever is due now, then exit (for cron or a systemd timer).")
)
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help=N_(
        "With --once: rehearse the timetable as if it were this time (ISO, cohort time zone unless an offset "
        "is given). A rehearsal keeps its own store and report folder and sends no message without --send."
    ),
)
@click.option(
    "--send",
    is_flag=True,
    help=N_("With --now: send the messages a rehearsal would send (reminders, notices)."),
)
@click.option(
    "--job",
    "only_job",
    type=click.Choice(list(JOB_NAMES)),
    help=N_("With --once: run this job now, whatever the timetable says."),
)
@click.option("--json", "as_json", is_flag=True, help=N_("With --once: what ran, as JSON."))
@click.option(
    "--tick",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help=N_(
        "The longest the service sleeps between two looks at the timetable (it wakes up for each job's "
        "next run anyway)."
    ),
)
@click.pass_obj
def serve(
    app: AppContext,
    once: bool,
    now_text: str | None,
    send: bool,
    only_job: str | None,
    as_json: bool,
    tick: int,
) -> None:
    config = app.config()
    if (now_text or only_job or as_json) and not once:
        raise UsageProblem(_("--now, --job and --json go with --once"))
    if send and not now_text:
        raise UsageProblem(_("--send goes with --now (a rehearsal); the service always sends its messages"))
    now = _parse_now(now_text, config.tz)  # with --once: the moment the due jobs are computed for
    rehearsal = now_text is not None
    if rehearsal:
        # Pretending another time must not touch the service's state: its store would then hold runs and a
        # snapshot from that day, and on the real day the "not twice a day" rule would skip the reminders.
        rehearsal_store, real_store = _start_rehearsal(app)
        config = _rehearsal_config(config)
        sending = _("its messages ARE sent (--send)") if send else _("no message is sent (--send sends them)")
        click.echo(
            _(
                "Rehearsal at {moment}: state in {store} (`accel status --rehearsal`), not in the service's "
                "store {service_store}; reports into {reports}; {sending}. The roster job still applies roster "
                "changes to the site, as the service would."
            ).format(
                moment=now.isoformat(timespec="minutes"),
                store=rehearsal_store,
                service_store=real_store,
                reports=config.relative_path(config.service.report_dir),
                sending=sending,
            ),
            err=True,
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the request in flight, then stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner = _build_runner(app, stop.is_set, config=config, send_messages=send or not rehearsal)
        if only_job is None or runner.jobs[only_job].needs_site:
            # No MOODLE_URL or token is a configuration error (exit 2), not a job that fails at every retry.
            app.client()
        if once:
            records = [runner.run_now(only_job, now)] if only_job else runner.tick(now, probe_site=True)
            # A job asked for by name that could not do its work is a problem for whoever asked; on the
            # timetable, waiting for a first snapshot is normal.
            problems = {"failed", "site-down", "busy"} | ({"waiting"} if only_job else set())
            failed = any(record.outcome in problems for record in records)
            if as_json:
                payload = {
                    "now": now.isoformat(timespec="seconds"),
                    "rehearsal": {"store": str(app.store_path()), "send": send} if rehearsal else None,
                    "ok": not failed,
                    "runs": [dataclasses.asdict(record) for record in records],
                }
                click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
            else:
                if not records:
                    click.echo(
                        _("Nothing is due at {moment}.").format(moment=now.isoformat(timespec="minutes"))
                    )
                for record in records:
                    click.echo(run_line(record))
            if failed:
                sys.exit(EXIT_PROBLEMS)
            return

        def clock() -> dt.datetime:
            return dt.datetime.now(config.tz)

        log.info("service started (it looks at the timetable at least every %ds)", tick)
        click.echo(start_line(config, app.client().url, runner, clock()))

        def tell(record: RunRecord) -> None:
            click.echo(run_line(record))

        serve_forever(runner, stop=stop, clock=clock, tick_seconds=tick, on_run=tell)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command(
    help=N_(
        "Show each job's last run, outcome, duration and next run, and the last indicator values.\n\n"
        "Read from the store only: it needs no site. Exit 1 when a job's last run failed (the site down "
        "included) or a roster change is held, for monitoring; 0 otherwise."
    )
)
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.option("--now", "now_text", metavar="DATETIME", help=N_("Compute next runs as if it were this time."))
@click.option(
    "--rehearsal",
    is_flag=True,
    help=N_("Show the rehearsals' store (`serve --once --now`), not the service's."),
)
@click.pass_obj
def status(app: AppContext, as_json: bool, now_text: str | None, rehearsal: bool) -> None:
    config = app.config()
    now = _parse_now(now_text, config.tz)
    if rehearsal:
        path = rehearsal_store_path(app.store_path())
        if not path.exists():
            raise UsageProblem(
                _("no rehearsal has run yet ({path}): `accel serve --once --now DATETIME` makes one").format(
                    path=path
                )
            )
        app.store_override = path
    runner = _build_runner(app, lambda: False)
    jobs = runner.status(now)
    indicators = latest_indicators(app.store(), config)
    problems = [job for job in jobs if job.last_outcome in PROBLEM_OUTCOMES]
    if as_json:
        payload = {
            "now": now.isoformat(timespec="seconds"),
            "ok": not problems,
            "problems": [job.job for job in problems],
            "jobs": [job.__dict__ for job in jobs],
            "indicators": indicators,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        if problems:
            sys.exit(EXIT_PROBLEMS)
        return
    table(
        [_("job"), _("last run"), _("outcome"), _("took"), _("next run")],
        [
            [
                job_title(job.job),
                stored_moment_text(job.last_run, config.tz),
                outcome_title(job.last_outcome) if job.last_outcome else "—",
                _("{seconds}s").format(seconds=f"{job.last_duration:.1f}")
                if job.last_duration is not None
                else "—",
                stored_moment_text(job.next_run, config.tz) if job.next_run else "—",
            ]
            for job in jobs
        ],
    )
    for job in jobs:
        if job.last_detail and job.last_outcome != "ok":
            say(_("{job}: {detail}").format(job=job_title(job.job), detail=job.last_detail))
    if all(job.last_run is None for job in jobs):
        click.echo()
        say(_("No job has run yet with this store ({path}).").format(path=app.store_path()))
    click.echo()
    if indicators is None:
        say(_("No indicator snapshot yet (run `accel indicators gather` or wait for the nightly snapshot)."))
    else:
        rows = []
        for row in indicators["values"]:
            value = format_value(row["key"], row["value"])
            target = format_target(row["key"], row["target"]) if row["target"] is not None else ""
            rows.append([row["title"], value, target, row["status"] or ""])
        say(_("Indicators (snapshot of {moment}):").format(moment=indicators["taken_at"]))
        table([_("indicator"), _("value"), _("target"), _("status")], rows)
    if problems:
        held = [job_title(job.job) for job in problems if job.last_outcome == "held"]
        failed = [job_title(job.job) for job in problems if job.last_outcome != "held"]
        what = []
        if failed:
            what.append(_("last run failed: {jobs}").format(jobs=", ".join(failed)))
        if held:
            what.append(_("held for a decision: {jobs}").format(jobs=", ".join(held)))
        click.echo()
        say(_("Needs attention ({problems}).").format(problems="; ".join(what)))
        sys.exit(EXIT_PROBLEMS)

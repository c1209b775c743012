"""`accel serve` and `accel status`: run the [service] timetable's jobs, and show how they went.

The logic is in sync/service/ (the timetable, the runner and its jobs); these commands parse options, call
it and render.
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

from integration.transport import MoodleClient
from sync.commands.context import EXIT_PROBLEMS, AppContext, UsageProblem
from sync.core.config import AccelConfig
from sync.indicators.report.model import format_target, format_value
from sync.service.jobs import default_jobs, latest_indicators
from sync.service.runner import PROBLEM_OUTCOMES, ServiceRunner, serve_forever


def _parse_now(value: str | None, tz: dt.tzinfo) -> dt.datetime:
    if value is None:
        return dt.datetime.now(tz)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"--now {value!r} is not an ISO date-time such as 2021-11-03T09:00") from None
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
            raise UsageProblem(f"store {real}: cannot copy it for the rehearsal ({exc})") from None
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


@click.command()
@click.option(
    "--once", is_flag=True, help="Run whatever is due now, then exit (for cron or a systemd timer)."
)
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help=(
        "With --once: rehearse the timetable as if it were this time (ISO, cohort time zone unless an offset "
        "is given). A rehearsal keeps its own store and report folder and sends no message without --send."
    ),
)
@click.option(
    "--send", is_flag=True, help="With --now: send the messages a rehearsal would send (reminders, notices)."
)
@click.option(
    "--job",
    "only_job",
    type=click.Choice(["roster_sync", "snapshot", "reminders", "report"]),
    help="With --once: run this job now, whatever the timetable says.",
)
@click.option("--json", "as_json", is_flag=True, help="With --once: what ran, as JSON.")
@click.option(
    "--tick",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="Seconds between rounds.",
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
    """Run the jobs of the [service] timetable: roster sync, snapshots, mentor reminders, reports.

    Without --once it runs until stopped; SIGTERM (or Ctrl-C) lets the request in flight finish and exits
    cleanly. What ran, and how, is kept in the store: see `accel status`.
    """
    config = app.config()
    if (now_text or only_job or as_json) and not once:
        raise UsageProblem("--now, --job and --json go with --once")
    if send and not now_text:
        raise UsageProblem("--send goes with --now (a rehearsal); the service always sends its messages")
    now = _parse_now(now_text, config.tz)  # with --once: the moment the due jobs are computed for
    rehearsal = now_text is not None
    if rehearsal:
        # Pretending another time must not touch the service's state: its store would then hold runs and a
        # snapshot from that day, and on the real day the "not twice a day" rule would skip the reminders.
        rehearsal_store, real_store = _start_rehearsal(app)
        config = _rehearsal_config(config)
        sending = "its messages ARE sent (--send)" if send else "no message is sent (--send sends them)"
        click.echo(
            f"Rehearsal at {now.isoformat(timespec='minutes')}: state in {rehearsal_store} "
            f"(`accel status --rehearsal`), not in the service's store {real_store}; reports into "
            f"{config.relative_path(config.service.report_dir)}; {sending}. The roster job still applies "
            "roster changes to the site, as the service would.",
            err=True,
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("accel.service").info(
            "signal %d: finishing the request in flight, then stopping", signum
        )
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
                    click.echo(f"Nothing is due at {now.isoformat(timespec='minutes')}.")
                for record in records:
                    detail = f": {record.detail}" if record.detail else ""
                    click.echo(
                        f"{record.job}: {record.outcome} ({record.duration:.1f}s, {record.requests} requests)"
                        f"{detail}"
                    )
            if failed:
                sys.exit(EXIT_PROBLEMS)
            return

        logging.getLogger("accel.service").info("service started (a round every %ds)", tick)
        serve_forever(runner, stop=stop, clock=lambda: dt.datetime.now(config.tz), tick_seconds=tick)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--now", "now_text", metavar="DATETIME", help="Compute next runs as if it were this time.")
@click.option(
    "--rehearsal", is_flag=True, help="Show the rehearsals' store (`serve --once --now`), not the service's."
)
@click.pass_obj
def status(app: AppContext, as_json: bool, now_text: str | None, rehearsal: bool) -> None:
    """Show each job's last run, outcome, duration and next run, and the last indicator values.

    Read from the store only: it needs no site. Exit 1 when a job's last run failed (the site down
    included) or a roster change is held, for monitoring; 0 otherwise.
    """
    config = app.config()
    now = _parse_now(now_text, config.tz)
    if rehearsal:
        path = rehearsal_store_path(app.store_path())
        if not path.exists():
            raise UsageProblem(
                f"no rehearsal has run yet ({path}): `accel serve --once --now DATETIME` makes one"
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
    click.echo(f"{'job':<12} {'last run':<26} {'outcome':<12} {'took':>7}  next run")
    for job in jobs:
        took = f"{job.last_duration:.1f}s" if job.last_duration is not None else "—"
        click.echo(
            f"{job.job:<12} {job.last_run or 'never':<26} {job.last_outcome or '—':<12} {took:>7}  {job.next_run or '—'}"
        )
        if job.last_detail and job.last_outcome not in ("ok",):
            click.echo(f"{'':<12} {job.last_detail}")
    if all(job.last_run is None for job in jobs):
        click.echo(f"\nNo job has run yet with this store ({app.store_path()}).")
    if indicators is None:
        click.echo(
            "\nNo indicator snapshot yet (run `accel indicators gather` or wait for the nightly snapshot)."
        )
    else:
        click.echo(f"\nIndicators (snapshot of {indicators['taken_at']}):")
        for row in indicators["values"]:
            target = f" / {format_target(row['key'], row['target'])}" if row["target"] is not None else ""
            value = format_value(row["key"], row["value"])
            click.echo(f"  {row['title']:<52} {value}{target}  {row['status'] or ''}")
    if problems:
        held = [job.job for job in problems if job.last_outcome == "held"]
        failed = [job.job for job in problems if job.last_outcome != "held"]
        what = []
        if failed:
            what.append(f"last run failed: {', '.join(failed)}")
        if held:
            what.append(f"held for a decision: {', '.join(held)}")
        click.echo(f"\nNeeds attention ({'; '.join(what)}).")
        sys.exit(EXIT_PROBLEMS)

"""`accel indicators gather | show | pending` and `accel report`: the grant indicators and their reports.

The logic is in sync/indicators/ (gather, compute, pending, report/); these commands parse options, call it
and render: aligned tables and a progress bar on the terminal (sync.commands.terminal), in the chosen language;
``--json`` prints the machine-readable answer only (English keys, no bar).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.text import Text

from i18n import N_, _
from sync.commands.context import AppContext, UsageProblem
from sync.commands.terminal import progress, say, table
from sync.indicators.gather import gather
from sync.indicators.models import Period, Status
from sync.indicators.pending import pending_heading, pending_submissions, pending_table
from sync.indicators.program import ASSIGNMENT_TITLES, PROGRAM_ACTIVITIES
from sync.indicators.report.json import report_json
from sync.indicators.report.model import Report, build_report, parse_period
from sync.indicators.report.text import heading, indicator_notes, indicator_rows, mentor_rows
from sync.indicators.report.write import write_report
from sync.indicators.snapshot import (
    Snapshot,
    find_snapshot,
    load_all_snapshots,
    save_snapshot,
)


def _period_option(app: AppContext, date_from: str | None, date_to: str | None) -> Period:
    try:
        return parse_period(date_from, date_to, app.config().tz)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def _stored_snapshot(app: AppContext, snapshot_id: int | None) -> tuple[int, Snapshot]:
    """The stored snapshot asked for (the cohort's newest by default); none is a SnapshotNotFound: exit 2."""
    cohort = None if snapshot_id is not None else app.config().cohort.code
    return find_snapshot(app.store(), snapshot_id, cohort)


def _report_for(
    app: AppContext, snapshot_id: int | None, date_from: str | None, date_to: str | None
) -> Report:
    config = app.config()
    period = _period_option(app, date_from, date_to)
    sid, snapshot = _stored_snapshot(app, snapshot_id)
    return build_report(
        snapshot,
        targets=config.targets_for(),
        period=period,
        cohort_name=config.cohort.name,
        timezone=config.cohort.timezone,
        snapshot_id=sid,
        history=load_all_snapshots(app.store(), snapshot.cohort),
        now=int(time.time()),
    )


_FROM = click.option(
    "--from", "date_from", metavar="DATE", help=N_("Start of the period (YYYY-MM-DD, inclusive).")
)
_TO = click.option("--to", "date_to", metavar="DATE", help=N_("End of the period (YYYY-MM-DD, inclusive)."))
_SNAPSHOT = click.option(
    "--snapshot", "snapshot_id", type=int, metavar="ID", help=N_("A stored snapshot (default: the newest).")
)

#: The colour of each status on a terminal (none when piped or with NO_COLOR: sync.commands.terminal).
_STATUS_STYLE: dict[Status, str] = {"met": "green", "on_track": "yellow", "behind": "red"}


@click.group(
    help=N_(
        "Grant indicators: gather a snapshot from Moodle, show the indicators, list work waiting for a grade."
    )
)
def indicators() -> None:
    pass


@indicators.command(
    "gather",
    help=N_(
        "Read the cohort's courses from Moodle and store a dated snapshot in the local store.\n\n"
        "Reads enrolments, teams, assignments, submissions, gradebook grades and feedback, events, votes, "
        "pledges and survey answers with batch reads only (the request count does not grow with people). "
        "Nothing is written to the site. Exit 0 when stored (notes and Moodle warnings are printed)."
    ),
)
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.pass_obj
def indicators_gather(app: AppContext, as_json: bool) -> None:
    config = app.config()
    snapshot = gather(app.client(), config, progress=progress(enabled=not as_json))
    sid = save_snapshot(app.store(), snapshot)
    warnings = [n.message() for n in snapshot.notes if n.kind == "moodle_warning"]
    notes = [n.message() for n in snapshot.notes if n.kind != "moodle_warning"]
    if as_json:
        payload = {
            "snapshot_id": sid,
            "cohort": snapshot.cohort,
            "taken_at": snapshot.taken_at,
            "requests": snapshot.request_count,
            "courses": [c.model_dump() for c in snapshot.courses],
            "activities": sorted(a.key for a in snapshot.activities),
            "no_work_yet": _no_work_yet(snapshot),
            "notes": notes,
            "warnings": warnings,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    found = sum(1 for c in snapshot.courses if c.id is not None)
    say(_("Snapshot {id} stored for cohort {cohort}.").format(id=sid, cohort=snapshot.cohort))
    table(
        [_("Read from Moodle"), _("Count")],
        [
            [_("courses found"), _("{found} of {total}").format(found=found, total=len(snapshot.courses))],
            [
                _("the program's activities found"),
                _("{found} of {total}").format(found=len(snapshot.activities), total=len(PROGRAM_ACTIVITIES)),
            ],
            [_("people in the courses"), str(len(snapshot.people))],
            [_("submissions read"), str(len(snapshot.submissions))],
            [_("requests to Moodle"), str(snapshot.request_count)],
        ],
    )
    waiting = [_no_work_title(snapshot, key) for key in _no_work_yet(snapshot)]
    if waiting:
        # Moodle answers such an assignment with a warning ("No submissions found"): it is no fault, so it is
        # said once here, plainly, and not as a warning.
        say(_("Nobody has submitted work yet to: {assignments}.").format(assignments=", ".join(waiting)))
    _listed(_("Notes:"), notes)
    _listed(_("Moodle warnings:"), warnings, style="yellow")


def _no_work_yet(snapshot: Snapshot) -> list[str]:
    """The program's assignments found in the courses to which nobody has submitted work yet, by key."""
    submitted = {s.key for s in snapshot.submissions if s.status == "submitted"}
    return sorted(a.key for a in snapshot.activities if a.modname == "assign" and a.key not in submitted)


def _no_work_title(snapshot: Snapshot, key: str) -> str:
    """An assignment as people know it: its name in Moodle, else the program's title; with its ID number."""
    activity = snapshot.activity(key)
    name = activity.name if activity and activity.name else ASSIGNMENT_TITLES.get(key, key)
    return f"«{name}» ({key})"


def _listed(title: str, lines: list[str], *, style: str | None = None) -> None:
    if not lines:
        return
    say("")
    say(title, style="bold")
    for line in lines:
        say(f"  - {line}", style=style)


@indicators.command(
    "show",
    help=N_(
        "Show every grant indicator against its target, from a stored snapshot (no site needed).\n\n"
        "--from/--to limit the counts to what happened in the period (for a quarterly report); without them the "
        "whole grant period is counted."
    ),
)
@_FROM
@_TO
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output (the JSON report)."))
@click.pass_obj
def indicators_show(
    app: AppContext, date_from: str | None, date_to: str | None, snapshot_id: int | None, as_json: bool
) -> None:
    report = _report_for(app, snapshot_id, date_from, date_to)
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False, indent=2))
        return
    title, covers = heading(report)
    say(title, style="bold")
    say(covers)
    say("")
    rows, statuses = indicator_rows(report)
    table(
        rows.headers,
        [
            [
                name,
                Text(value, justify="right"),
                Text(target, justify="right"),
                Text(percent, justify="right"),
                Text(status_text, style=_STATUS_STYLE.get(status, "")),
            ]
            for (name, value, target, percent, status_text), status in zip(rows.rows, statuses, strict=True)
        ],
    )
    _listed(_("Notes on the indicators:"), indicator_notes(report))
    mentors = mentor_rows(report)
    if mentors.rows:
        say("")
        table(mentors.headers, mentors.rows, title=_("Mentors"))
    _listed(_("Notes on the data:"), report.indicators.notes)
    _listed(_("Moodle warnings:"), report.indicators.warnings, style="yellow")


@indicators.command(
    "pending",
    help=N_(
        "List team submissions waiting for a mentor's grade, oldest first, with how long each has waited."
    ),
)
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.pass_obj
def indicators_pending(app: AppContext, snapshot_id: int | None, as_json: bool) -> None:
    _sid, snapshot = _stored_snapshot(app, snapshot_id)
    items = pending_submissions(snapshot)
    if as_json:
        payload = {"taken_at": snapshot.taken_at, "pending": [i.model_dump() for i in items]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    say(pending_heading(len(items)))
    if items:
        headers, rows = pending_table(items, app.config().tz)
        table(headers, rows)


@click.command(
    "report",
    help=N_(
        "Write the indicators report from a stored snapshot: XLSX workbook, HTML page with charts, or JSON, in "
        "the chosen language. The file is written whole or not at all."
    ),
)
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "html", "json"]), required=True, help=N_("Report format.")
)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help=N_("File to write."))
@_FROM
@_TO
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help=N_("Say what was written as JSON (for scripts)."))
@click.pass_obj
def report_command(
    app: AppContext,
    fmt: str,
    out: str,
    date_from: str | None,
    date_to: str | None,
    snapshot_id: int | None,
    as_json: bool,
) -> None:
    report = _report_for(app, snapshot_id, date_from, date_to)
    try:
        write_report(report, fmt, Path(out))
    except OSError as exc:
        raise UsageProblem(
            _("{path}: cannot write the report ({reason})").format(path=out, reason=exc.strerror or exc)
        ) from None
    if as_json:
        indicators = report.indicators
        payload = {
            "written": str(Path(out).resolve()),
            "format": fmt,
            "bytes": Path(out).stat().st_size,
            "cohort": report.cohort,
            "snapshot_id": report.snapshot_id,
            "taken_at": indicators.taken_at,
            "period": indicators.period_label,
            "notes": len(indicators.notes),
            "warnings": len(indicators.warnings),
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    say(_("Report written: {path}").format(path=out))

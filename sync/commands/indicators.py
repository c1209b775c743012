"""`accel indicators gather | show | pending` and `accel report`: the grant indicators and their reports.

The logic is in sync/indicators/ (gather, compute, pending, report/); these commands parse options, call it
and render.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from sync.commands.context import AppContext, UsageProblem
from sync.indicators.gather import gather
from sync.indicators.models import Period
from sync.indicators.pending import pending_submissions, render_pending
from sync.indicators.report.json import report_json
from sync.indicators.report.model import Report, build_report, parse_period
from sync.indicators.report.text import render_indicators_text
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
    "--from", "date_from", metavar="DATE", help="Start of the period (YYYY-MM-DD, inclusive)."
)
_TO = click.option("--to", "date_to", metavar="DATE", help="End of the period (YYYY-MM-DD, inclusive).")
_SNAPSHOT = click.option(
    "--snapshot", "snapshot_id", type=int, metavar="ID", help="A stored snapshot (default: the newest)."
)


@click.group()
def indicators() -> None:
    """Grant indicators: gather a snapshot from Moodle, show the indicators, list work waiting for a grade."""


@indicators.command("gather")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def indicators_gather(app: AppContext, as_json: bool) -> None:
    """Read the cohort's courses from Moodle and store a dated snapshot in the local store.

    Reads enrolments, teams, assignments, submissions, gradebook grades and feedback, events, votes,
    pledges and survey answers with batch reads only (the request count does not grow with people).
    Nothing is written to the site. Exit 0 when stored (notes and Moodle warnings are printed).
    """
    config = app.config()
    snapshot = gather(app.client(), config)
    sid = save_snapshot(app.store(), snapshot)
    warnings = [n.text for n in snapshot.notes if n.kind == "moodle_warning"]
    notes = [n.text for n in snapshot.notes if n.kind != "moodle_warning"]
    if as_json:
        payload = {
            "snapshot_id": sid,
            "cohort": snapshot.cohort,
            "taken_at": snapshot.taken_at,
            "requests": snapshot.request_count,
            "courses": [c.model_dump() for c in snapshot.courses],
            "activities": sorted(a.key for a in snapshot.activities),
            "notes": notes,
            "warnings": warnings,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    found = sum(1 for c in snapshot.courses if c.id is not None)
    click.echo(
        f"Snapshot {sid} stored: cohort {snapshot.cohort}, {found} of {len(snapshot.courses)} courses, "
        f"{len(snapshot.activities)} activities, {len(snapshot.people)} people, {snapshot.request_count} requests."
    )
    for text in notes:
        click.echo(f"  note: {text}")
    for text in warnings:
        click.echo(f"  Moodle warning: {text}")


@indicators.command("show")
@_FROM
@_TO
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the JSON report).")
@click.pass_obj
def indicators_show(
    app: AppContext, date_from: str | None, date_to: str | None, snapshot_id: int | None, as_json: bool
) -> None:
    """Show every grant indicator against its target, from a stored snapshot (no site needed).

    --from/--to limit the counts to what happened in the period (for a quarterly report); without them the
    whole grant period is counted.
    """
    report = _report_for(app, snapshot_id, date_from, date_to)
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        click.echo(render_indicators_text(report))


@indicators.command("pending")
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def indicators_pending(app: AppContext, snapshot_id: int | None, as_json: bool) -> None:
    """List team submissions waiting for a mentor's grade, oldest first, with how long each has waited."""
    _sid, snapshot = _stored_snapshot(app, snapshot_id)
    items = pending_submissions(snapshot)
    if as_json:
        payload = {"taken_at": snapshot.taken_at, "pending": [i.model_dump() for i in items]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(render_pending(items, app.config().tz))


@click.command("report")
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "html", "json"]), required=True, help="Report format."
)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="File to write.")
@_FROM
@_TO
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help="Say what was written as JSON (for scripts).")
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
    """Write the indicators report (Russian) from a stored snapshot: XLSX workbook, HTML page with charts,
    or JSON. The file is written whole or not at all."""
    report = _report_for(app, snapshot_id, date_from, date_to)
    try:
        write_report(report, fmt, Path(out))
    except OSError as exc:
        raise UsageProblem(f"{out}: cannot write the report ({exc.strerror or exc})") from None
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
    click.echo(f"Report written: {out}")

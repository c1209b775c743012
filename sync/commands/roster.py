"""`accel roster ...`: check a roster file, plan and apply a sync, show the journal.

The logic is in sync/roster/; these commands parse options, call it and render.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from course_templates.courses import course_modules
from sync.commands.context import AppContext, Problems, UsageProblem, wait_for_lock
from sync.core.config import AccelConfig
from sync.provision.plan import waiting_team_events
from sync.roster.apply import write_failure_report
from sync.roster.journal import entries, runs
from sync.roster.plan import OP_ORDER, Removal
from sync.roster.read import Roster, max_roster_bytes, read_roster
from sync.roster.sync import (
    Guards,
    SyncOutcome,
    apply_sync,
    cohort_courses,
    default_report_path,
    guard_reasons,
    plan_sync,
    roles_from,
    write_report,
)

#: Lines of each kind of operation shown in the text plan (the JSON output has them all).
SHOWN_PER_KIND = 25

KIND_TITLES = {
    "create_user": "users to create",
    "update_user": "users to update",
    "enrol": "enrolments to add",
    "add_role": "roles to give",
    "reactivate": "enrolments to reactivate",
    "unassign_role": "roles to take away",
    "create_group": "groups (teams) to create",
    "create_grouping": "groupings (districts) to create",
    "assign_grouping": "groups to put into groupings",
    "unassign_grouping": "groups to take out of groupings (teams moved to another district)",
    "remove_member": "group members to remove",
    "add_member": "group members to add",
    "suspend": "enrolments to suspend",
    "unenrol": "enrolments to remove (unenrol)",
}


def _course_modules(app: AppContext) -> dict[str, int] | None:
    """Course short name -> module number from the configuration, when there is one (for Moodle upload files)."""
    if not app.resolved_config_path().exists():
        return None
    return course_modules(app.config())


def _read(path: str, course_modules: dict[str, int] | None, config: AccelConfig | None) -> Roster:
    """The roster file; a file that is not a table at all is a RosterFileError: exit 2 (cli_error)."""
    return read_roster(path, course_modules=course_modules, max_bytes=max_roster_bytes(config))


def _check_report_folder(report: Path) -> None:
    """Exit 2 before anything is written when the failure report could not be written where it should go."""
    folder = report.parent  # or the nearest folder above it that exists: the report creates the rest
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        why = "not a folder" if not folder.is_dir() else "not writable"
        raise UsageProblem(f"{report}: cannot write the failure report ({folder} is {why})")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _problems_text(roster: Roster) -> list[str]:
    lines = []
    for problem in roster.errors:
        lines.append(f"  error: {problem}")
    for problem in roster.warnings:
        lines.append(f"  warning: {problem}")
    return lines


def _roster_summary(roster: Roster) -> dict[str, Any]:
    people = roster.valid_people()
    by_role: dict[str, int] = {}
    for p in people:
        by_role[p.role] = by_role.get(p.role, 0) + 1
    teams = roster.teams()
    return {
        "file": roster.path,
        "format": roster.format,
        "encoding": roster.encoding,
        "delimiter": roster.delimiter,
        "people": len(roster.people),
        "valid": len(people),
        "roles": by_role,
        "teams": len(teams),
        "districts": sorted({d for d in teams.values() if d}),
        "errors": [p.as_dict() for p in roster.errors],
        "warnings": [p.as_dict() for p in roster.warnings],
    }


@click.group()
def roster() -> None:
    """Keep Moodle's users, enrolments, teams and districts in step with the roster file."""


@roster.command("check")
@click.argument("file", type=click.Path())  # the reader names what is wrong with it
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def roster_check(app: AppContext, file: str, as_json: bool) -> None:
    """Validate a roster file (CSV or XLSX) without contacting the site.

    Every problem names the file, the row and the column. Exit 0 when the file is valid, 1 when it has
    errors (warnings alone do not fail).
    """
    config = app.config() if app.resolved_config_path().exists() else None
    data = _read(file, _course_modules(app), config)
    summary = _roster_summary(data)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        enc = f", {data.encoding}" + (f", delimiter '{data.delimiter}'" if data.delimiter else "")
        click.echo(f"{file}: {len(data.people)} people ({data.format}{enc})")
        roles = ", ".join(_count(n, role) for role, n in sorted(summary["roles"].items())) or "no valid rows"
        teams, districts = _count(summary["teams"], "team"), _count(len(summary["districts"]), "district")
        click.echo(f"  {roles}; {teams} in {districts}")
        for line in _problems_text(data):
            click.echo(line)
        if not data.errors:
            click.echo("The roster is valid.")
    if data.errors:
        raise Problems(f"{len(data.errors)} error(s) in {file}")


def _outcome_json(outcome: SyncOutcome, applied: bool) -> dict[str, Any]:
    plan = outcome.plan
    out: dict[str, Any] = {
        "roster": _roster_summary(outcome.roster),
        "applied": applied,
        "skipped_rows": outcome.skipped_rows,
        "counts": plan.counts(),
        "operations": [op.as_dict() for op in plan.changes],
        "conflicts": [c.as_dict() for c in plan.conflicts],
        "notes": [note.message for note in plan.warnings],
        "guards": [
            {"course": g.course, "active": g.active, "removing": g.removing, "share": round(g.share, 4)}
            for g in plan.removals
        ],
        "blocked": outcome.blocked,
    }
    if outcome.result is not None:
        out["done"] = outcome.result.counts()
        out["failures"] = [
            {**f.change.as_dict(), "status": f.status, "error": f.error} for f in outcome.result.failures
        ]
        out["report"] = str(outcome.report) if outcome.report else None
        out["run"] = outcome.run_id
    return out


def _print_plan(outcome: SyncOutcome, details: bool) -> None:
    plan = outcome.plan
    click.echo(f"Roster {outcome.roster.path}: {len(outcome.people)} people")
    for line in _problems_text(outcome.roster):
        click.echo(line)
    if outcome.skipped_rows:
        click.echo(f"  skipped invalid rows: {', '.join(map(str, outcome.skipped_rows))}")
    for conflict in plan.conflicts:
        click.echo(f"  conflict, row {conflict.row} ({conflict.name}): {conflict.message} -- skipped")
    for note in plan.warnings:
        click.echo(f"  note: {note.message}")
    if plan.empty and plan.conflicts:
        click.echo(
            f"Nothing to change for the others, but Moodle does not match the roster: "
            f"{_count(len(plan.conflicts), 'person')} skipped because of a conflict (above)."
        )
        return
    if plan.empty:
        click.echo("Moodle already matches the roster: nothing to do.")
        return
    click.echo("Plan:")
    for kind in OP_ORDER:
        ops = plan.of(kind)
        if not ops:
            continue
        click.echo(f"  {KIND_TITLES[kind.kind]}: {len(ops)}")
        shown = ops if details else ops[:SHOWN_PER_KIND]
        for op in shown:
            row = f"[row {op.row}] " if op.row else ""
            click.echo(f"    - {row}{op.describe()}")
        if len(shown) < len(ops):
            click.echo(f"    ... and {len(ops) - len(shown)} more (--details or --json shows all)")


@roster.command("sync")
@click.argument("file", type=click.Path())  # the reader names what is wrong with it
@click.option("--apply", "do_apply", is_flag=True, help="Carry the plan out (default: only print it).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (progress goes to stderr).")
@click.option(
    "--removal",
    type=click.Choice(["suspend", "keep", "unenrol"]),
    default="suspend",
    show_default=True,
    help="What happens to people no longer in the roster. suspend keeps them in the courses, inactive, with "
    "their work and grades; unenrol removes them from the courses; keep leaves them active.",
)
@click.option(
    "--force", is_flag=True, help="Apply even when a safety guard would stop (empty roster, many removals)."
)
@click.option(
    "--skip-invalid", is_flag=True, help="Sync the valid rows of a file that has invalid ones (listed)."
)
@click.option(
    "--max-suspend-share",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    metavar="SHARE",
    help="Stop when more than this share of a course's active participants would be removed "
    "(default: [roster] max_suspend_share, else 0.1).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Where to write the failure report CSV (default: beside the roster file).",
)
@click.option(
    "--details", is_flag=True, help="List every planned operation (default: the first 25 of each kind)."
)
@wait_for_lock
@click.pass_obj
def roster_sync(
    app: AppContext,
    file: str,
    do_apply: bool,
    as_json: bool,
    removal: Removal,
    force: bool,
    skip_invalid: bool,
    max_suspend_share: float | None,
    report_file: str | None,
    details: bool,
    wait: float,
) -> None:
    """Plan (and with --apply, carry out) the sync of FILE into the cohort's three courses.

    Without --apply nothing is written. People dropped from the roster are suspended, never unenrolled,
    unless --removal says otherwise. An apply stops before writing (unless --force) when it would remove
    more than --max-suspend-share of a course's participants, or when the file has far fewer people than
    the last one applied to the cohort ([roster] max_shrink_share, shrink_min_people). Exit 0 when all went
    well, 1 when the file has errors, a guard stopped the apply, some items failed (see the failure report)
    or people were skipped because of a conflict, 2 on a usage error.
    """
    config = app.config()
    data = _read(file, course_modules(config), config)
    guards = Guards.from_config(config)
    if max_suspend_share is not None:
        guards = Guards(max_suspend_share, guards.max_shrink_share, guards.shrink_min_people)
    courses = cohort_courses(config)
    roles = roles_from(config)
    report_path = Path(report_file) if report_file else default_report_path(file)
    if do_apply:
        _check_report_folder(report_path)
    if data.errors and not skip_invalid:
        report = None
        if do_apply:
            # The coordinator fixes the file from the same report a partly failed apply gives.
            names = {p.row: p.fullname for p in data.people}
            rows = [
                (
                    e.row,
                    names.get(e.row or 0, ""),
                    f"invalid row, nothing written: {e.column or ''}: {e.message}",
                )
                for e in data.errors
            ]
            report = write_failure_report(report_path, [], data.people, rows)
        if as_json:
            payload = {
                "roster": _roster_summary(data),
                "applied": False,
                "report": str(report) if report else None,
            }
            click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            for line in _problems_text(data):
                click.echo(line)
            if report:
                click.echo(f"Failure report: {report}")
        raise Problems(
            f"{file}: {len(data.errors)} error(s); nothing was written. Fix them, or give --skip-invalid "
            "to sync the valid rows only"
        )

    def run() -> SyncOutcome:
        client = app.client()
        # A missing course stops it (RosterStop: exit 2).
        outcome = plan_sync(
            client,
            data,
            courses,
            roles=roles,
            removal=removal,
            skip_invalid=skip_invalid,
            cohort=config.cohort.code,
        )
        # The shrink guard compares with the journal: without --apply the store is read only if it exists.
        store = app.store() if do_apply or app.store_path().exists() else None
        outcome.blocked = guard_reasons(outcome, store=store, site=client.url, removal=removal, guards=guards)
        if not do_apply or (outcome.blocked and not force):
            return outcome
        if outcome.plan.empty:
            write_report(outcome, report_path)  # conflicts and skipped rows are still reported
            return outcome
        # The bar goes to stderr so that --json output on stdout stays parseable.
        with click.progressbar(length=len(outcome.plan.changes), label="Applying", file=sys.stderr) as bar:
            return apply_sync(
                client,
                outcome,
                store=app.store(),
                report_path=report_path,
                removal=removal,
                progress=lambda n: bar.update(n),
            )

    if do_apply:
        with app.exclusive("roster sync", wait=wait):
            try:
                outcome = run()
            except KeyboardInterrupt:
                click.echo(
                    "\nInterrupted. What was applied is in the journal (`accel roster history`); run the same "
                    "command again: it plans from the site and completes only what is missing.",
                    err=True,
                )
                sys.exit(130)
    else:
        outcome = run()

    applied = outcome.result is not None
    # The schedule's team consultations wait for their groups, which a roster apply makes.
    waiting = waiting_team_events(app.client(), config) if applied else []
    if as_json:
        payload = _outcome_json(outcome, applied)
        if applied:
            payload["team_events_waiting"] = waiting
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_plan(outcome, details)
        for reason in outcome.blocked:
            click.echo(("Stopped: " if do_apply and not force else "Guard: ") + reason)
        if outcome.result is not None:
            done = outcome.result.counts()
            click.echo(
                "Applied: "
                + (", ".join(f"{n} {KIND_TITLES[k]}" for k, n in done.items()) or "nothing")
                + f" (journal run {outcome.run_id})"
            )
            for failure in outcome.result.failures:
                row = f"[row {failure.change.row}] " if failure.change.row else ""
                click.echo(f"  {failure.status}: {row}{failure.change.describe()}: {failure.error}")
        elif not do_apply and not outcome.plan.empty:
            click.echo("Nothing was written. Run again with --apply to carry the plan out.")
        if outcome.report:
            click.echo(f"Failure report: {outcome.report}")
        if waiting:
            click.echo("Team events of the schedule now waiting (their teams exist now):")
            for line in waiting:
                click.echo(f"  - {line}")
            click.echo(
                "Run `accel provision --apply` to put them in the calendar (the service's roster job does it)."
            )
    if do_apply and outcome.blocked and not force:
        raise Problems("the apply was stopped by a safety guard; nothing was written")
    if outcome.problems:
        raise Problems("; ".join(outcome.problems))


@roster.command("history")
@click.option("--run", "run_id", type=int, metavar="N", help="Show the changes of this run.")
@click.option("--person", help="Show the changes for a person (part of a name or application number).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    metavar="N",
    help="How many runs to list.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def roster_history(
    app: AppContext, run_id: int | None, person: str | None, limit: int, as_json: bool
) -> None:
    """Show the journal of applied syncs (kept in the local SQLite store)."""
    store = app.store()
    if run_id is None and not person:
        rows = runs(store, limit)
        if as_json:
            click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo(f"No roster sync has been applied yet (store: {app.store_path()}).")
            return
        for r in rows:
            done = r.summary.get("done", {})
            total = sum(done.values()) if isinstance(done, dict) else 0
            click.echo(
                f"run {r.id}  {r.started_at}  {r.status:<11}  {total} changes, {r.summary.get('failed', 0)} failed"
                f"  removal={r.removal}  {r.file}"
            )
        return
    items = entries(store, run_id, person)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo("No journal entries match.")
    for e in items:
        error = f"  -- {e['error']}" if e["error"] else ""
        click.echo(f"run {e['run']}  {e['at']}  {e['status']:<7}  {e['description']}{error}")

"""`accel roster ...`: check a roster file, plan and apply a sync, show the journal.

The logic is in sync/roster/; these commands parse options, call it and render: the plan as aligned tables
(sync/commands/terminal.py), progress bars on stderr for reading a file, reading the site and the apply (on a
terminal, never with --json), and a file's problems grouped (the same problem on many rows said once, its
rows as ranges: sync/roster/read/problems.py), the first few unless --details. ``--json`` keeps everything,
every row.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from course_templates.courses import course_modules
from i18n import N_, _, ngettext
from sync.commands.context import AppContext, Problems, UsageProblem, wait_for_lock
from sync.commands.terminal import progress, table
from sync.core.config import AccelConfig
from sync.core.progress import Progress
from sync.provision.plan import waiting_team_events
from sync.roster.apply import write_failure_report
from sync.roster.journal import entries, runs
from sync.roster.plan import OP_ORDER, Op, Removal
from sync.roster.read import Roster, RosterProblem, max_roster_bytes, read_roster
from sync.roster.read.problems import group_problems, number, rows_text
from sync.roster.sync import (
    Guards,
    SyncOutcome,
    apply_sync,
    cohort_courses,
    default_report_path,
    guard_reasons,
    invalid_file_message,
    invalid_row_text,
    plan_sync,
    roles_from,
    write_report,
)

#: Lines shown of each long list: changes of one kind, groups of a file's problems, conflicts, notes and
#: failures (--details shows them all; the JSON output has them all).
SHOWN = 25

#: Each kind of change as the plan's tables title it.
KIND_TITLES = {
    "create_user": N_("users to create"),
    "update_user": N_("users to update"),
    "enrol": N_("enrolments to add"),
    "add_role": N_("roles to give"),
    "reactivate": N_("enrolments to reactivate"),
    "unassign_role": N_("roles to take away"),
    "create_group": N_("groups (teams) to create"),
    "create_grouping": N_("groupings (districts) to create"),
    "assign_grouping": N_("groups to put into groupings"),
    "unassign_grouping": N_("groups to take out of groupings (teams moved to another district)"),
    "remove_member": N_("group members to remove"),
    "add_member": N_("group members to add"),
    "suspend": N_("enrolments to suspend"),
    "unenrol": N_("enrolments to remove (unenrol)"),
}

#: A roster's format, as `roster check` names it.
FORMAT_NAMES = {"table": N_("table"), "moodle-upload": N_("Moodle upload-users file")}

#: What became of a change (journal entries, failures) and how a run ended, as people read it (the store
#: keeps the English word). Worded apart from other commands' statuses: the catalogs share one lookup.
CHANGE_STATUS = {"ok": N_("applied"), "failed": N_("not applied"), "skipped": N_("skipped")}
RUN_STATUS = {
    "ok": N_("completed"),
    "failed": N_("completed, some changes not applied"),
    "interrupted": N_("interrupted"),
    "running": N_("running or stopped abruptly"),
}


def _status(status: str, names: dict[str, str]) -> str:
    return _(names[status]) if status in names else status


def _course_modules(app: AppContext) -> dict[str, int] | None:
    """Course short name -> module number from the configuration, when there is one (for Moodle upload files)."""
    if not app.resolved_config_path().exists():
        return None
    return course_modules(app.config())


def _read(
    path: str, course_modules: dict[str, int] | None, config: AccelConfig | None, bars: Progress
) -> Roster:
    """The roster file; a file that is not a table at all is a RosterFileError: exit 2 (cli_error)."""
    return read_roster(path, course_modules=course_modules, max_bytes=max_roster_bytes(config), progress=bars)


def _check_report_folder(report: Path) -> None:
    """Exit 2 before anything is written when the failure report could not be written where it should go."""
    folder = report.parent  # or the nearest folder above it that exists: the report creates the rest
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        why = _("{report}: cannot write the failure report ({folder} is not a folder)")
    elif not os.access(folder, os.W_OK):
        why = _("{report}: cannot write the failure report ({folder} is not writable)")
    else:
        return
    raise UsageProblem(why.format(report=report, folder=folder))


# --- what people read ---------------------------------------------------------------------------------------


def _problem_lines(problems: Sequence[RosterProblem], details: bool) -> list[str]:
    """A file's problems, the same problem on many rows in one line (errors first); the first SHOWN lines
    unless ``details``, and how many more there are."""
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    groups = group_problems(errors) + group_problems(warnings)
    shown = groups if details else groups[:SHOWN]
    lines = [
        (_("  error: {problem}") if group.severity == "error" else _("  warning: {problem}")).format(
            problem=group.text(all_rows=details)
        )
        for group in shown
    ]
    rest = groups[len(shown) :]
    if rest:
        hidden_errors = sum(g.count for g in rest if g.severity == "error")
        hidden_warnings = sum(g.count for g in rest if g.severity == "warning")
        counts = []
        if hidden_errors:
            counts.append(_errors(hidden_errors))
        if hidden_warnings:
            counts.append(
                ngettext("{count} warning", "{count} warnings", hidden_warnings).format(
                    count=number(hidden_warnings)
                )
            )
        lines.append(
            ngettext(
                "  ... and {count} more line ({problems}): --details shows them all",
                "  ... and {count} more lines ({problems}): --details shows them all",
                len(rest),
            ).format(count=number(len(rest)), problems=", ".join(counts))
        )
    return lines


def _errors(n: int) -> str:
    return ngettext("{count} error", "{count} errors", n).format(count=number(n))


def _more(hidden: int) -> str:
    return ngettext(
        "  ... and {count} more (--details or --json shows all)",
        "  ... and {count} more (--details or --json shows all)",
        hidden,
    ).format(count=number(hidden))


def _role_count(role: str, n: int) -> str:
    count = number(n)
    if role == "participant":
        return ngettext("{count} participant", "{count} participants", n).format(count=count)
    if role == "mentor":
        return ngettext("{count} mentor", "{count} mentors", n).format(count=count)
    if role == "expert":
        return ngettext("{count} expert", "{count} experts", n).format(count=count)
    if role == "coordinator":
        return ngettext("{count} coordinator", "{count} coordinators", n).format(count=count)
    return f"{count} {role}"


def _people(n: int) -> str:
    return ngettext("{count} person", "{count} people", n).format(count=number(n))


def _delimiter(delimiter: str) -> str:
    return _("tab") if delimiter == "\t" else f"«{delimiter}»"


def _check_summary(roster: Roster, summary: dict[str, Any]) -> list[str]:
    """The two lines `roster check` starts with: the file and how it was read; who is in it."""
    how = [_(FORMAT_NAMES.get(roster.format, roster.format)), roster.encoding]
    if roster.delimiter:
        how.append(_("delimiter {delimiter}").format(delimiter=_delimiter(roster.delimiter)))
    first = _("{file}: {people} ({how})").format(
        file=roster.path, people=_people(len(roster.people)), how=", ".join(p for p in how if p)
    )
    roles = ", ".join(_role_count(role, n) for role, n in sorted(summary["roles"].items()))
    teams, districts = summary["teams"], len(summary["districts"])
    second = _("  {roles}; {teams} {in_districts}").format(
        roles=roles or _("no valid rows"),
        teams=ngettext("{count} team", "{count} teams", teams).format(count=number(teams)),
        in_districts=ngettext("in {count} district", "in {count} districts", districts).format(
            count=number(districts)
        ),
    )
    return [first, second]


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


def _kind_table(ops: Sequence[Op]) -> None:
    """The changes of one kind, a row each: roster row, who or what, course, the rest (columns nobody
    fills are left out: a removal has no roster row, an account no course)."""
    columns: list[tuple[str, Any]] = [
        (_("Row"), lambda op: op.row or ""),
        (_("Who or what"), lambda op: op.subject()),
        (_("Course"), lambda op: op.course),
        (_("Details"), lambda op: op.detail()),
    ]
    cells = [[cell(op) for _title, cell in columns] for op in ops]
    used = [i for i in range(len(columns)) if any(row[i] not in ("", None) for row in cells)]
    table([columns[i][0] for i in used], [[row[i] for i in used] for row in cells])


def _print_plan(outcome: SyncOutcome, details: bool) -> None:
    plan = outcome.plan
    click.echo(
        _("Roster {file}: {people}").format(file=outcome.roster.path, people=_people(len(outcome.people)))
    )
    for line in _problem_lines(outcome.roster.problems, details):
        click.echo(line)
    if outcome.skipped_rows:
        skipped = len(outcome.skipped_rows)
        click.echo(
            ngettext(
                "  skipped {count} invalid row: {rows}", "  skipped {count} invalid rows: {rows}", skipped
            ).format(
                count=number(skipped), rows=rows_text(outcome.skipped_rows, limit=None if details else 10)
            )
        )
    conflicts = plan.conflicts if details else plan.conflicts[:SHOWN]
    for conflict in conflicts:
        click.echo(
            _("  conflict, row {row} ({name}): {message}; skipped").format(
                row=conflict.row, name=conflict.name, message=conflict.message
            )
        )
    if len(conflicts) < len(plan.conflicts):
        click.echo(_more(len(plan.conflicts) - len(conflicts)))
    notes = plan.warnings if details else plan.warnings[:SHOWN]
    for note in notes:
        click.echo(_("  note: {message}").format(message=note.message))
    if len(notes) < len(plan.warnings):
        click.echo(_more(len(plan.warnings) - len(notes)))
    if plan.empty and plan.conflicts:
        n = len(plan.conflicts)
        click.echo(
            ngettext(
                "Nothing to change for the others, but Moodle does not match the roster: {count} person "
                "skipped because of a conflict (above).",
                "Nothing to change for the others, but Moodle does not match the roster: {count} people "
                "skipped because of a conflict (above).",
                n,
            ).format(count=number(n))
        )
        return
    if plan.empty:
        click.echo(_("Moodle already matches the roster: nothing to do."))
        return
    _print_changes(outcome, details)


def _print_changes(outcome: SyncOutcome, details: bool) -> None:
    """The plan: how many changes of each kind (and how many were done, after an apply), then a table per
    kind."""
    plan = outcome.plan
    counts = plan.counts()
    done = outcome.result.counts() if outcome.result is not None else None
    total = len(plan.changes)
    click.echo(ngettext("Plan: {count} change", "Plan: {count} changes", total).format(count=number(total)))
    headers = [_("Change"), _("Planned")] + ([_("Done")] if done is not None else [])
    rows: list[list[object]] = []
    for kind, n in counts.items():
        row: list[object] = [_(KIND_TITLES[kind]), number(n)]
        if done is not None:
            row.append(number(done.get(kind, 0)))
        rows.append(row)
    table(headers, rows)
    for op_kind in OP_ORDER:
        ops: list[Op] = plan.of(op_kind)
        if not ops:
            continue
        click.echo("")
        click.echo(_("{title}: {count}").format(title=_(KIND_TITLES[op_kind.kind]), count=number(len(ops))))
        shown = ops if details else ops[:SHOWN]
        _kind_table(shown)
        if len(shown) < len(ops):
            click.echo(_more(len(ops) - len(shown)))


def _print_result(outcome: SyncOutcome, details: bool) -> None:
    """After an apply: what was done (journal run), and each failure with Moodle's answer."""
    result = outcome.result
    if result is None:
        return
    done = len(result.done)
    click.echo("")
    click.echo(
        ngettext(
            "Applied: {done} of {planned} change (journal run {run})",
            "Applied: {done} of {planned} changes (journal run {run})",
            len(outcome.plan.changes),
        ).format(done=number(done), planned=number(len(outcome.plan.changes)), run=outcome.run_id)
    )
    if not result.failures:
        return
    failures = result.failures if details else result.failures[:SHOWN]
    table(
        [_("Status"), _("Row"), _("Change"), _("Why")],
        [
            [_status(f.status, CHANGE_STATUS), f.change.row or "", f.change.describe(), f.error]
            for f in failures
        ],
    )
    if len(failures) < len(result.failures):
        click.echo(_more(len(result.failures) - len(failures)))


# --- the commands -------------------------------------------------------------------------------------------


@click.group(help=N_("Keep Moodle's users, enrolments, teams and districts in step with the roster file."))
def roster() -> None:
    pass


@roster.command(
    "check",
    help=N_(
        "Validate a roster file (CSV or XLSX) without contacting the site.\n\n"
        "Every problem names the file, the row and the column; the same problem on many rows is said once, "
        "with its rows. Exit 0 when the file is valid, 1 when it has errors (warnings alone do not fail)."
    ),
)
@click.argument("file", type=click.Path())  # the reader names what is wrong with it
@click.option(
    "--json", "as_json", is_flag=True, help=N_("Machine-readable output (every problem of every row).")
)
@click.option(
    "--details",
    is_flag=True,
    help=N_("List every problem and all its rows (default: the first 25 lines of problems)."),
)
@click.pass_obj
def roster_check(app: AppContext, file: str, as_json: bool, details: bool) -> None:
    config = app.config() if app.resolved_config_path().exists() else None
    data = _read(file, _course_modules(app), config, progress(enabled=not as_json))
    summary = _roster_summary(data)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        for line in _check_summary(data, summary):
            click.echo(line)
        for line in _problem_lines(data.problems, details):
            click.echo(line)
        if not data.errors:
            click.echo(_("The roster is valid."))
    if data.errors:
        raise Problems(
            ngettext("{count} error in {file}", "{count} errors in {file}", len(data.errors)).format(
                count=number(len(data.errors)), file=file
            )
        )


@roster.command(
    "sync",
    help=N_(
        "Plan (and with --apply, carry out) the sync of FILE into the cohort's three courses.\n\n"
        "Without --apply nothing is written. People dropped from the roster are suspended, never unenrolled, "
        "unless --removal says otherwise. An apply stops before writing (unless --force) when it would remove "
        "more than --max-suspend-share of a course's participants, or when the file has far fewer people than "
        "the last one applied to the cohort ([roster] max_shrink_share, shrink_min_people). Exit 0 when all "
        "went well, 1 when the file has errors, a guard stopped the apply, some items failed (see the failure "
        "report) or people were skipped because of a conflict, 2 on a usage error."
    ),
)
@click.argument("file", type=click.Path())  # the reader names what is wrong with it
@click.option("--apply", "do_apply", is_flag=True, help=N_("Carry the plan out (default: only print it)."))
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=N_("Machine-readable output (nothing else on stdout, no progress bars)."),
)
@click.option(
    "--removal",
    type=click.Choice(["suspend", "keep", "unenrol"]),
    default="suspend",
    show_default=True,
    help=N_(
        "What happens to people no longer in the roster. suspend keeps them in the courses, inactive, with "
        "their work and grades; unenrol removes them from the courses; keep leaves them active."
    ),
)
@click.option(
    "--force",
    is_flag=True,
    help=N_("Apply even when a safety guard would stop (empty roster, many removals)."),
)
@click.option(
    "--skip-invalid", is_flag=True, help=N_("Sync the valid rows of a file that has invalid ones (listed).")
)
@click.option(
    "--max-suspend-share",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    metavar="SHARE",
    help=N_(
        "Stop when more than this share of a course's active participants would be removed "
        "(default: [roster] max_suspend_share, else 0.1)."
    ),
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help=N_("Where to write the failure report CSV (default: beside the roster file)."),
)
@click.option(
    "--details",
    is_flag=True,
    help=N_(
        "List every planned change, every problem of the file with all its rows, every conflict, note and "
        "failure (default: the first 25 of each)."
    ),
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
    config = app.config()
    bars = progress(enabled=not as_json)
    data = _read(file, course_modules(config), config, bars)
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
                (e.row, names.get(e.row or 0, ""), invalid_row_text(e, skipped=False)) for e in data.errors
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
            for line in _problem_lines(data.problems, details):
                click.echo(line)
            if report:
                click.echo(_("Failure report: {path}").format(path=report))
        raise Problems(invalid_file_message(file, len(data.errors)))

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
            progress=bars,
        )
        # The shrink guard compares with the journal: without --apply the store is read only if it exists.
        store = app.store() if do_apply or app.store_path().exists() else None
        outcome.blocked = guard_reasons(outcome, store=store, site=client.url, removal=removal, guards=guards)
        if not do_apply or (outcome.blocked and not force):
            return outcome
        if outcome.plan.empty:
            write_report(outcome, report_path)  # conflicts and skipped rows are still reported
            return outcome
        # The bars go to stderr, so that --json output on stdout stays parseable (and --json shows none).
        return apply_sync(
            client, outcome, store=app.store(), report_path=report_path, removal=removal, progress=bars
        )

    if do_apply:
        with app.exclusive("roster sync", wait=wait):
            try:
                outcome = run()
            except KeyboardInterrupt:
                click.echo(
                    "\n"
                    + _(
                        "Interrupted. What was applied is in the journal (`accel roster history`); run the same "
                        "command again: it plans from the site and completes only what is missing."
                    ),
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
            stopped = do_apply and not force
            click.echo((_("Stopped: {reason}") if stopped else _("Guard: {reason}")).format(reason=reason))
        _print_result(outcome, details)
        if not applied and not do_apply and not outcome.plan.empty:
            click.echo(_("Nothing was written. Run again with --apply to carry the plan out."))
        if outcome.report:
            click.echo(_("Failure report: {path}").format(path=outcome.report))
        if waiting:
            click.echo(_("Team events of the schedule now waiting (their teams exist now):"))
            for line in waiting:
                click.echo(f"  - {line}")
            click.echo(
                _(
                    "Run `accel provision --apply` to put them in the calendar (the service's roster job does it)."
                )
            )
    if do_apply and outcome.blocked and not force:
        raise Problems(_("the apply was stopped by a safety guard; nothing was written"))
    if outcome.problems:
        raise Problems("; ".join(outcome.problems))


@roster.command("history", help=N_("Show the journal of applied syncs (kept in the local SQLite store)."))
@click.option("--run", "run_id", type=int, metavar="N", help=N_("Show the changes of this run."))
@click.option("--person", help=N_("Show the changes for a person (part of a name or application number)."))
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    metavar="N",
    help=N_("How many runs to list."),
)
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.pass_obj
def roster_history(
    app: AppContext, run_id: int | None, person: str | None, limit: int, as_json: bool
) -> None:
    store = app.store()
    if run_id is None and not person:
        rows = runs(store, limit)
        if as_json:
            click.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
            return
        if not rows:
            click.echo(
                _("No roster sync has been applied yet (store: {store}).").format(store=app.store_path())
            )
            return
        lines: list[list[object]] = []
        for r in rows:
            done = r.summary.get("done", {})
            total = sum(done.values()) if isinstance(done, dict) else 0
            lines.append(
                [
                    r.id,
                    r.started_at,
                    _status(r.status, RUN_STATUS),
                    number(total),
                    number(r.summary.get("failed", 0)),
                    r.removal,
                    r.file,
                ]
            )
        table(
            [_("Run no."), _("Started"), _("Status"), _("Changes"), _("Failed"), _("Removal"), _("File")],
            lines,
        )
        return
    items = entries(store, run_id, person)
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    if not items:
        click.echo(_("No journal entries match."))
        return
    # The descriptions are kept as the run wrote them, in the language it spoke.
    table(
        [_("Run no."), _("When"), _("Status"), _("Change"), _("Why")],
        [
            [e["run"], e["at"], _status(e["status"], CHANGE_STATUS), e["description"], e["error"]]
            for e in items
        ],
    )

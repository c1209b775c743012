"""`accel templates check` and `accel provision`: the module templates and the cohort's courses.

The logic is in sync/provision/ and course_templates/; these commands parse options, call it and print what
sync/provision/render.py makes of the result through the terminal helpers (an aligned table for the plan, a
progress bar on stderr for the apply on a terminal; plain lines otherwise; nothing but JSON with --json).
"""

from __future__ import annotations

import contextlib
import json
import sys

import click

from course_templates.loader import ModuleTemplate, load_templates
from i18n import N_, _, ngettext
from integration.errors import AccelMoodleError
from integration.transport import MoodleClient
from sync.commands.context import EXIT_OK, EXIT_PROBLEMS, AppContext, Problems, UsageProblem, wait_for_lock
from sync.commands.terminal import progress, say, table
from sync.core.config import AccelConfig
from sync.core.plan import ApplyResult
from sync.core.progress import NO_PROGRESS
from sync.provision.apply import apply_plan
from sync.provision.changes import CreateEvent, DeleteEvent, ProvisionChange, ProvisionPlan
from sync.provision.plan import compute_events_plan, compute_plan
from sync.provision.render import plan_view, step_line, template_check_lines
from sync.provision.templates import CANNOT_CREATE_ACTIVITIES, check_templates, template_shortnames


def _module_templates(app: AppContext) -> dict[str, ModuleTemplate]:
    """The module templates (the configuration's [templates] dir, else the bundled ones); exit 2 if bad."""
    directory = app.config().templates_dir() if app.resolved_config_path().exists() else None
    if directory is not None and not directory.is_dir():
        raise UsageProblem(
            _(
                "{config}: templates.dir: {folder} is not a folder (it holds m1.yaml, m2.yaml, m3.yaml; "
                "without [templates] the bundled ones are used)"
            ).format(config=app.resolved_config_path(), folder=directory)
        )
    return load_templates(directory)  # a TemplateError: exit 2 (cli_error)


def show_plan(plan: ProvisionPlan, *, apply_hint: bool = True) -> None:
    """The plan on stdout: its headline, the changes as an aligned table, then problems, warnings, notes."""
    view = plan_view(plan, apply_hint=apply_hint)
    say(view.headline, style="bold")
    if view.rows:
        say("")
        table(view.headers, view.rows)
    for block in view.blocks:
        say("")
        say(block.title, style=block.style)
        for item in block.items:
            say(f"  - {item}")
    if view.hint:
        say("")
        say(view.hint)


@click.group(
    help=N_(
        "Module templates (course_templates/m1.yaml, m2.yaml, m3.yaml) and the template courses on the site."
    )
)
def templates() -> None:
    pass


@templates.command(
    "check",
    help=N_(
        "Compare each module's template course on the site with its template file.\n\n"
        "Reports missing or extra activities (by ID number), wrong activity types, sections, and the survey "
        "item labels and database fields the indicators read. Exit 1 when a template course or a required "
        "activity is missing (or has the wrong type), 2 when a template file is bad. The template courses are "
        "found by short name: [modules.mN] template in the configuration if there is one, else the file's "
        "template_shortname (ACCEL-TPL-M1...)."
    ),
)
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.pass_obj
def templates_check(app: AppContext, as_json: bool) -> None:
    module_templates = _module_templates(app)
    config = app.config() if app.resolved_config_path().exists() else None
    checks = check_templates(app.client(), module_templates, template_shortnames(module_templates, config))
    ok = all(check.ok for check in checks)
    if as_json:
        payload = {"ok": ok, "modules": [c.as_dict() for c in checks], "note": _(CANNOT_CREATE_ACTIVITIES)}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        for line in template_check_lines(checks):
            say(line.text, style=line.style)
    sys.exit(EXIT_OK if ok else EXIT_PROBLEMS)


@click.command(
    help=N_(
        "Create or update the cohort's category, three module courses and calendar.\n\n"
        "Without --apply it prints the plan, computed from the site, and writes nothing. With --apply it "
        "carries the plan out; running it again changes nothing, and an interrupted apply is finished by "
        "running it again. Exit 0 when done (or nothing to do), 1 when the plan has problems or a step failed."
    )
)
@click.option("--apply", "do_apply", is_flag=True, help=N_("Carry the plan out (default: only print it)."))
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output (no progress display)."))
@wait_for_lock
@click.pass_obj
def provision(app: AppContext, do_apply: bool, as_json: bool, wait: float) -> None:
    config = app.config()
    module_templates = _module_templates(app)
    client = app.client()
    # With --apply the lock is taken before planning, so no other apply can change the site in between.
    lock = app.exclusive("provision --apply", wait=wait) if do_apply else contextlib.nullcontext()
    with lock:
        plan = compute_plan(client, config, module_templates)
        if not do_apply:
            if as_json:
                click.echo(
                    json.dumps({"applied": False, "plan": plan.as_dict()}, ensure_ascii=False, indent=2)
                )
            else:
                show_plan(plan)
            sys.exit(EXIT_PROBLEMS if plan.blocked else EXIT_OK)
        if not as_json:
            show_plan(plan, apply_hint=False)
        if plan.blocked:
            if as_json:
                click.echo(
                    json.dumps({"applied": False, "plan": plan.as_dict()}, ensure_ascii=False, indent=2)
                )
            raise Problems(_("the plan has problems (listed above); nothing was written"))
        result: ApplyResult[ProvisionChange] = ApplyResult()
        total = len(plan.changes)
        # A bar on a terminal (stderr); where there is none (a log, a pipe) one line per step instead, printed
        # before the step is written, so the last line names a step that stopped. Nothing with --json.
        bars = progress(enabled=not as_json)
        lines = bars is NO_PROGRESS and not as_json
        current: list[ProvisionChange] = []

        def started(number: int, count: int, change: ProvisionChange) -> None:
            current[:] = [change]
            if lines:
                say(step_line(number, count, change))

        if total and lines:
            say("")
            say(_("Applying:"))
        try:
            apply_plan(client, plan, progress=bars, on_step=started, result=result)
        except (AccelMoodleError, KeyboardInterrupt) as exc:
            _tell_stopped(exc, result, total, current)
            if isinstance(exc, KeyboardInterrupt):
                sys.exit(130)
            raise
        after = _check_after(client, config, module_templates, plan)
    if as_json:
        payload = {
            "applied": True,
            "plan": plan.as_dict(),
            "done": len(result.done),
            "created_courses": result.created,
            "remaining": after.as_dict(),
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif after.empty:
        say("")
        done = len(result.done)
        say(
            ngettext(
                "Done: {n} change applied. A new plan is empty: the site matches.",
                "Done: {n} changes applied. A new plan is empty: the site matches.",
                done,
            ).format(n=done),
            style="green",
        )
    else:
        say("")
        done = len(result.done)
        say(
            ngettext(
                "Done: {n} change applied, but a new plan still has changes:",
                "Done: {n} changes applied, but a new plan still has changes:",
                done,
            ).format(n=done),
            style="yellow",
        )
        show_plan(after)
    sys.exit(EXIT_OK if after.empty else EXIT_PROBLEMS)


def _check_after(
    client: MoodleClient, config: AccelConfig, templates: dict[str, ModuleTemplate], plan: ProvisionPlan
) -> ProvisionPlan:
    """The plan again, from the site itself, to check the apply: nothing to read when there was nothing to
    do; only the calendar (the courses by ID number, their groups and events: 8 reads instead of some 25)
    when only events changed, since nothing else was touched; else everything."""
    if not plan.changes:
        return plan
    if all(isinstance(change, CreateEvent | DeleteEvent) for change in plan.changes):
        return compute_events_plan(client, config)
    return compute_plan(client, config, templates)


def _tell_stopped(
    exc: BaseException, result: ApplyResult[ProvisionChange], total: int, current: list[ProvisionChange]
) -> None:
    """On stderr: how far the apply got, the step that did not finish, and that running it again finishes it."""
    done = len(result.done)
    if isinstance(exc, KeyboardInterrupt):
        head = ngettext(
            "Apply interrupted after {done} of {total} step.",
            "Apply interrupted after {done} of {total} steps.",
            total,
        ).format(done=done, total=total)
    else:
        head = ngettext(
            "Apply stopped after {done} of {total} step: {error}",
            "Apply stopped after {done} of {total} steps: {error}",
            total,
        ).format(done=done, total=total, error=exc)
    lines = ["", head]
    unfinished = [change for change in current if not any(change is made for made in result.done)]
    if unfinished:
        change = unfinished[0]
        lines.append(
            _("The step that did not finish: {action}: {target}").format(
                action=change.action, target=change.target
            )
        )
    lines.append(
        _(
            "Nothing is lost: run `accel provision --apply` again. The plan is computed from the site, so "
            "finished steps are not repeated and a half-made course is completed, not duplicated."
        )
    )
    click.echo("\n".join(lines), err=True)

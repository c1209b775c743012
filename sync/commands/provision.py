"""`accel templates check` and `accel provision`: the module templates and the cohort's courses.

The logic is in sync/provision/ and course_templates/; these commands parse options, call it and render.
"""

from __future__ import annotations

import contextlib
import json
import sys

import click

from course_templates.loader import ModuleTemplate, load_templates
from integration.errors import AccelMoodleError
from sync.commands.context import EXIT_OK, EXIT_PROBLEMS, AppContext, Problems, UsageProblem, wait_for_lock
from sync.core.plan import ApplyResult
from sync.provision.apply import apply_plan
from sync.provision.changes import ProvisionChange
from sync.provision.plan import compute_plan
from sync.provision.render import render_plan, render_progress, render_template_checks
from sync.provision.templates import CANNOT_CREATE_ACTIVITIES, check_templates, template_shortnames


def _module_templates(app: AppContext) -> dict[str, ModuleTemplate]:
    """The module templates (the configuration's [templates] dir, else the bundled ones); exit 2 if bad."""
    directory = app.config().templates_dir() if app.resolved_config_path().exists() else None
    if directory is not None and not directory.is_dir():
        raise UsageProblem(
            f"{app.resolved_config_path()}: templates.dir: {directory} is not a folder (it holds m1.yaml, "
            "m2.yaml, m3.yaml; without [templates] the bundled ones are used)"
        )
    return load_templates(directory)  # a TemplateError: exit 2 (cli_error)


@click.group()
def templates() -> None:
    """Module templates (course_templates/m1.yaml, m2.yaml, m3.yaml) and the template courses on the site."""


@templates.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def templates_check(app: AppContext, as_json: bool) -> None:
    """Compare each module's template course on the site with its template file.

    Reports missing or extra activities (by ID number), wrong activity types, sections, and the survey
    item labels and database fields the indicators read. Exit 1 when a
    template course or a required activity is missing (or has the wrong type), 2 when a template file is bad.
    The template courses are found by short name: [modules.mN] template in the configuration if there is
    one, else the file's template_shortname (ACCEL-TPL-M1...).
    """
    module_templates = _module_templates(app)
    config = app.config() if app.resolved_config_path().exists() else None
    checks = check_templates(app.client(), module_templates, template_shortnames(module_templates, config))
    ok = all(check.ok for check in checks)
    if as_json:
        payload = {"ok": ok, "modules": [c.as_dict() for c in checks], "note": CANNOT_CREATE_ACTIVITIES}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(render_template_checks(checks))
    sys.exit(EXIT_OK if ok else EXIT_PROBLEMS)


@click.command()
@click.option("--apply", "do_apply", is_flag=True, help="Carry the plan out (default: only print it).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (progress goes to stderr).")
@wait_for_lock
@click.pass_obj
def provision(app: AppContext, do_apply: bool, as_json: bool, wait: float) -> None:
    """Create or update the cohort's category, three module courses and calendar.

    Without --apply it prints the plan, computed from the site, and writes nothing. With --apply it carries
    the plan out; running it again changes nothing, and an interrupted apply is finished by running it again.
    Exit 0 when done (or nothing to do), 1 when the plan has problems or a step failed.
    """
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
                click.echo(render_plan(plan))
            sys.exit(EXIT_PROBLEMS if plan.blocked else EXIT_OK)
        if not as_json:
            click.echo(render_plan(plan, apply_hint=False))
        if plan.blocked:
            if as_json:
                click.echo(
                    json.dumps({"applied": False, "plan": plan.as_dict()}, ensure_ascii=False, indent=2)
                )
            raise Problems("the plan has problems (listed above); nothing was written")
        result: ApplyResult[ProvisionChange] = ApplyResult()
        total = len(plan.changes)

        def show(done: int, count: int, change: ProvisionChange) -> None:
            click.echo(render_progress(done, count, change), err=as_json)

        if total and not as_json:
            click.echo("\nApplying:")
        try:
            apply_plan(client, plan, progress=show, result=result)
        except (AccelMoodleError, KeyboardInterrupt) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {exc}"
            click.echo(
                f"\nApply {why} after {len(result.done)} of {total} step(s). Nothing is lost: run "
                "`accel provision --apply` again. The plan is computed from the site, so finished steps are not "
                "repeated and a half-made course is completed, not duplicated.",
                err=True,
            )
            if isinstance(exc, KeyboardInterrupt):
                sys.exit(130)
            raise
        # Check the result from the site itself (skipped when there was nothing to do).
        after = compute_plan(client, config, module_templates) if plan.changes else plan
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
        click.echo(f"\nDone: {len(result.done)} change(s) applied. A new plan is empty: the site matches.")
    else:
        click.echo(f"\nDone: {len(result.done)} change(s) applied, but a new plan still has changes:")
        click.echo(render_plan(after))
    sys.exit(EXIT_OK if after.empty else EXIT_PROBLEMS)

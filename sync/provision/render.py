"""What `accel provision` and `accel templates check` show people, in the language of the run.

Pure: it turns a plan or the template checks into text pieces (a headline, the plan's table as headers and
rows, titled lists of problems and warnings, styled lines); the command (sync/commands/provision.py) prints
them through the terminal helpers (sync/commands/terminal.py: aligned tables, colour only on a terminal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from i18n import N_, _, ngettext
from sync.provision.changes import ProvisionChange, ProvisionPlan
from sync.provision.templates import CANNOT_CREATE_ACTIVITIES, Severity, TemplateCheck

#: rich styles, used only on a terminal (and never with NO_COLOR)
PROBLEM_STYLE = "bold red"
WARNING_STYLE = "yellow"
OK_STYLE = "green"


@dataclass(frozen=True)
class Line:
    """One line to print, with its style on a terminal (None: plain)."""

    text: str
    style: str | None = None


@dataclass(frozen=True)
class Block:
    """A titled list under the plan's table: its problems, its warnings, its notes."""

    title: str
    items: list[str]
    style: str | None = None


@dataclass
class PlanView:
    """The plan as people read it: headline, table (empty when there is nothing to change), blocks, hint."""

    headline: str
    headers: list[str]
    rows: list[list[str]]
    blocks: list[Block] = field(default_factory=list)
    hint: str | None = None


def plan_view(plan: ProvisionPlan, *, apply_hint: bool = True) -> PlanView:
    changes = plan.ordered()
    if changes:
        headline = ngettext(
            "Plan for cohort {cohort} ({name}): {n} change.",
            "Plan for cohort {cohort} ({name}): {n} changes.",
            len(changes),
        ).format(cohort=plan.cohort, name=plan.cohort_name, n=len(changes))
    else:
        headline = _(
            "Plan for cohort {cohort} ({name}): no changes, the site matches the configuration."
        ).format(cohort=plan.cohort, name=plan.cohort_name)
    view = PlanView(
        headline=headline,
        headers=[_("#"), _("Action"), _("Module"), _("What"), _("Why")],
        rows=[
            [str(number), change.action, change.module or "-", change.target, change.reason]
            for number, change in enumerate(changes, start=1)
        ],
    )
    if plan.problems:
        view.blocks.append(
            Block(
                _("Problems (apply refuses to start until they are fixed):"),
                [
                    _("[{subject}] {message}").format(subject=p.subject or _("cohort"), message=p.message)
                    for p in plan.problems
                ],
                PROBLEM_STYLE,
            )
        )
    if plan.date_warnings:
        view.blocks.append(
            Block(
                _("Warnings: activity dates outside their course's dates (field note 15):"),
                [w.message for w in plan.date_warnings],
                WARNING_STYLE,
            )
        )
    if plan.interrupted_copies:
        view.blocks.append(
            Block(
                _(
                    "Warnings: course copies interrupted before they were finished (accel neither uses nor "
                    "deletes them):"
                ),
                [copy.message for copy in plan.interrupted_copies],
                WARNING_STYLE,
            )
        )
    if plan.notes:
        view.blocks.append(Block(_("Notes:"), list(plan.notes)))
    if apply_hint:
        if plan.blocked:
            view.hint = _("Nothing was written.")
        elif changes:
            view.hint = _("Nothing was written. Run `accel provision --apply` to carry the plan out.")
    return view


def step_line(number: int, total: int, change: ProvisionChange) -> str:
    """A step of the apply, printed just before it is written where there is no progress bar."""
    return _("[{number}/{total}] {action}: {target}").format(
        number=number, total=total, action=change.action, target=change.target
    )


#: severities as people read them in `accel templates check` (JSON keeps the English word)
SEVERITY_LABELS: dict[Severity, str] = {"error": N_("ERROR"), "warning": N_("WARNING"), "info": N_("INFO")}
SEVERITY_STYLES: dict[Severity, str | None] = {"error": PROBLEM_STYLE, "warning": WARNING_STYLE, "info": None}


def template_check_lines(checks: Sequence[TemplateCheck]) -> list[Line]:
    lines: list[Line] = []
    labels = {severity: _(label) for severity, label in SEVERITY_LABELS.items()}
    width = max(len(label) for label in labels.values())
    for check in checks:
        if check.course is None:
            head = Line(
                _("{module}: template course {shortname} (not found) — PROBLEMS").format(
                    module=check.module, shortname=check.template_shortname
                ),
                PROBLEM_STYLE,
            )
        elif check.ok:
            head = Line(
                _("{module}: template course {shortname} (course id {id}) — OK").format(
                    module=check.module, shortname=check.template_shortname, id=check.course.id
                ),
                OK_STYLE,
            )
        else:
            head = Line(
                _("{module}: template course {shortname} (course id {id}) — PROBLEMS").format(
                    module=check.module, shortname=check.template_shortname, id=check.course.id
                ),
                PROBLEM_STYLE,
            )
        lines.append(head)
        if check.course is not None:
            lines.append(
                Line(
                    "    "
                    + _("activities with an ID number: {activities}, sections: {sections}").format(
                        activities=len(check.activities), sections=len(check.sections)
                    )
                )
            )
        for f in check.findings:
            lines.append(Line(f"    {labels[f.severity]:<{width}} {f.message}", SEVERITY_STYLES[f.severity]))
    lines.append(Line(""))
    lines.append(Line(_(CANNOT_CREATE_ACTIVITIES)))
    return lines

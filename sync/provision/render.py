"""Text output of `accel provision` and `accel templates check` (the CLI stays thin)."""

from __future__ import annotations

from collections.abc import Sequence

from sync.provision.changes import ProvisionChange, ProvisionPlan
from sync.provision.templates import CANNOT_CREATE_ACTIVITIES, TemplateCheck


def _label(change: ProvisionChange) -> str:
    """The change's kind for people: ``create_course`` -> ``create course``."""
    return change.kind.replace("_", " ")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_plan(plan: ProvisionPlan, *, apply_hint: bool = True) -> str:
    lines: list[str] = []
    changes = plan.ordered()
    head = f"Plan for cohort {plan.cohort} ({plan.cohort_name}): "
    head += "no changes, the site matches the configuration." if not changes else f"{len(changes)} change(s)."
    lines.append(head)
    if changes:
        what_width = min(60, max(len(c.target) for c in changes))
        lines.append("")
        lines.append(f"  {'#':>3}  {'ACTION':<15}  {'MODULE':<6}  {'WHAT':<{what_width}}  WHY")
        for number, change in enumerate(changes, start=1):
            lines.append(
                f"  {number:>3}  {_label(change):<15}  {change.module or '-':<6}  "
                f"{_clip(change.target, what_width):<{what_width}}  {change.reason}"
            )
    if plan.problems:
        lines.append("")
        lines.append("Problems (apply refuses to start until they are fixed):")
        for p in plan.problems:
            lines.append(f"  - [{p.subject or 'cohort'}] {p.message}")
    if plan.date_warnings:
        lines.append("")
        lines.append("Warnings: activity dates outside their course's dates (field note 15):")
        for w in plan.date_warnings:
            lines.append(f"  - {w.message}")
    if plan.interrupted_copies:
        lines.append("")
        lines.append(
            "Warnings: course copies interrupted before they were finished (accel neither uses nor deletes them):"
        )
        for copy in plan.interrupted_copies:
            lines.append(f"  - {copy.message}")
    if plan.notes:
        lines.append("")
        lines.append("Notes:")
        for note in plan.notes:
            lines.append(f"  - {note}")
    if apply_hint:
        lines.append("")
        if plan.blocked:
            lines.append("Nothing was written.")
        elif changes:
            lines.append("Nothing was written. Run `accel provision --apply` to carry the plan out.")
    return "\n".join(lines)


def render_progress(done: int, total: int, change: ProvisionChange) -> str:
    return f"[{done}/{total}] {_label(change)}: {change.target}"


def render_template_checks(checks: Sequence[TemplateCheck]) -> str:
    lines: list[str] = []
    for check in checks:
        where = f"course id {check.course.id}" if check.course else "not found"
        status = "OK" if check.ok else "PROBLEMS"
        lines.append(f"{check.module}: template course {check.template_shortname} ({where}) — {status}")
        if check.course is not None:
            lines.append(
                f"    activities with an ID number: {len(check.activities)}, sections: {len(check.sections)}"
            )
        for f in check.findings:
            lines.append(f"    {f.severity.upper():<7} {f.message}")
    lines.append("")
    lines.append(CANNOT_CREATE_ACTIVITIES)
    return "\n".join(lines)

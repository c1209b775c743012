"""`accel templates check`: compare each module's template course on the site with its template file.

Moodle's standard web services cannot create activities, so the template courses are built once by a
course designer; this check tells them what is missing or wrong, by activity ID number.
core_course_get_contents does not return ID numbers (field note 12), so each module of the template course is
read once with core_course_get_course_module (a handful per course: the count does not grow with people).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from course_templates.courses import module_courses
from course_templates.loader import ModuleTemplate
from i18n import N_, _, ngettext
from integration.activities import get_data_fields, get_feedback_items
from integration.courses import (
    Course,
    CourseModule,
    Section,
    get_contents,
    get_course_by_field,
    get_course_module,
)
from integration.errors import MoodleError
from integration.transport import MoodleClient
from sync.core.config import AccelConfig

#: Marked here, translated where it is shown (`accel templates check`, its JSON's "note").
CANNOT_CREATE_ACTIVITIES = N_(
    "Moodle's standard web services cannot create activities (assignments, forums, surveys, databases...). "
    "A course designer adds each missing activity once in the template course and sets its ID number "
    "(activity settings > Common module settings > ID number); every cohort course copied from the template "
    "then has it."
)

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str  # missing_activity, wrong_type, wrong_section, extra_activity, no_idnumber, section_title, ...
    message: str
    key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "key": self.key, "message": self.message}


@dataclass
class TemplateCheck:
    """The comparison of one module's template file with its template course on the site."""

    module: str
    template_shortname: str
    course: Course | None
    sections: list[Section] = field(default_factory=list)
    #: activity key (ID number) -> course module on the site
    activities: dict[str, CourseModule] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors: the course exists and every required activity is there with the right type."""
        return not any(f.severity == "error" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "template_shortname": self.template_shortname,
            "course_id": self.course.id if self.course else None,
            "ok": self.ok,
            "activities_found": sorted(self.activities),
            "findings": [f.as_dict() for f in self.findings],
        }


def read_template_course(
    client: MoodleClient, course: Course
) -> tuple[list[Section], dict[str, CourseModule], list[CourseModule]]:
    """Sections, modules with an ID number (by ID number) and modules without one.

    Calls: core_course_get_contents, core_course_get_course_module (once per module).
    """
    sections = get_contents(client, course.id)
    by_key: dict[str, CourseModule] = {}
    unnamed: list[CourseModule] = []
    for sec in sections:
        for mod in sec.modules:
            cm = get_course_module(client, mod.id)
            if cm.idnumber:
                by_key.setdefault(cm.idnumber, cm)
            else:
                unnamed.append(cm)
    return sections, by_key, unnamed


def read_items(
    client: MoodleClient, template: ModuleTemplate, by_key: Mapping[str, CourseModule]
) -> dict[str, list[str] | str]:
    """Item labels of the template's surveys and field names of its databases, by activity key.

    The indicators read survey answers by item label and pledges by field name, so they must be as the
    template file says. A value that is a string is the reason the list could not be read.
    Calls: mod_feedback_get_items, mod_data_get_fields.
    """
    out: dict[str, list[str] | str] = {}
    for act in template.activities:
        cm = by_key.get(act.key)
        if not act.items or cm is None or cm.modname != act.type:
            continue
        try:
            if act.type == "feedback":
                out[act.key] = [i.label for i in get_feedback_items(client, cm.instance) if i.label]
            elif act.type == "data":
                out[act.key] = [f.name for f in get_data_fields(client, cm.instance)]
        except MoodleError as exc:
            out[act.key] = str(exc)
    return out


def compare_template(
    template: ModuleTemplate,
    template_shortname: str,
    course: Course | None,
    sections: Sequence[Section],
    by_key: Mapping[str, CourseModule],
    unnamed: Sequence[CourseModule],
    items: Mapping[str, list[str] | str] | None = None,
) -> TemplateCheck:
    """Pure comparison of a template file with what the site holds."""
    check = TemplateCheck(template.key, template_shortname, course, list(sections), dict(by_key))
    add = check.findings.append
    for key, found in sorted((items or {}).items()):
        act = template.activity(key)
        survey = act.type == "feedback"
        if isinstance(found, str):
            text = (
                _("{key}: could not read its item labels: {error}")
                if survey
                else _("{key}: could not read its fields: {error}")
            )
            add(Finding("warning", "items_unreadable", text.format(key=key, error=found), key))
            continue
        missing_items = [name for name in act.items if name not in found]
        if missing_items:
            text = (
                _(
                    "{key}: item labels {missing} not found (the site has: {found}); the indicators read them "
                    "by these names"
                )
                if survey
                else _(
                    "{key}: fields {missing} not found (the site has: {found}); the indicators read them by "
                    "these names"
                )
            )
            add(
                Finding(
                    "warning",
                    "missing_items",
                    text.format(
                        key=key, missing=", ".join(missing_items), found=", ".join(found) or _("none")
                    ),
                    key,
                )
            )
    if course is None:
        add(
            Finding(
                "error",
                "template_course_missing",
                _(
                    "template course {quoted} not found on the site: a course designer creates it (short name "
                    "{shortname}) with the activities of {file}"
                ).format(
                    quoted=repr(template_shortname), shortname=template_shortname, file=f"{template.key}.yaml"
                ),
            )
        )
        return check
    number_of = {s.key: i for i, s in enumerate(template.sections)}
    for act in template.activities:
        cm = by_key.get(act.key)
        if cm is None:
            add(
                Finding(
                    "error" if act.required else "warning",
                    "missing_activity",
                    _("{key}: missing ({type} «{name}» in section {number} «{section}»)").format(
                        key=act.key,
                        type=act.type,
                        name=act.name,
                        number=number_of[act.section],
                        section=template.section_title(act.section),
                    ),
                    act.key,
                )
            )
            continue
        if cm.modname != act.type:
            add(
                Finding(
                    "error" if act.required else "warning",
                    "wrong_type",
                    _("{key}: is a {found} («{name}»), the template needs a {wanted}").format(
                        key=act.key, found=cm.modname, name=cm.name, wanted=act.type
                    ),
                    act.key,
                )
            )
        if cm.sectionnum != number_of[act.section]:
            add(
                Finding(
                    "warning",
                    "wrong_section",
                    _(
                        "{key}: in section {found}, the template puts it in section {number} «{section}»"
                    ).format(
                        key=act.key,
                        found=cm.sectionnum,
                        number=number_of[act.section],
                        section=template.section_title(act.section),
                    ),
                    act.key,
                )
            )
    known = {a.key for a in template.activities}
    for key, cm in sorted(by_key.items()):
        if key not in known:
            add(
                Finding(
                    "warning",
                    "extra_activity",
                    _("{key}: {type} «{name}» is not in {file} (it will be copied too)").format(
                        key=key, type=cm.modname, name=cm.name, file=f"{template.key}.yaml"
                    ),
                    key,
                )
            )
    for cm in unnamed:
        add(
            Finding(
                "info",
                "no_idnumber",
                _("{type} «{name}» (section {number}) has no ID number; indicators ignore it").format(
                    type=cm.modname, name=cm.name, number=cm.sectionnum
                ),
            )
        )
    sections = [s for s in sections if not s.component]  # subsections are not numbered course sections
    if len(sections) < len(template.sections):
        add(
            Finding(
                "info",
                "sections_missing",
                ngettext(
                    "the course has {have} section, the template {wanted}; `accel provision` adds the missing "
                    "ones to each cohort course",
                    "the course has {have} sections, the template {wanted}; `accel provision` adds the missing "
                    "ones to each cohort course",
                    len(sections),
                ).format(have=len(sections), wanted=len(template.sections)),
            )
        )
    for i, (spec, section) in enumerate(zip(template.sections, sections, strict=False)):
        # Section names come back through format_string, which escapes "&" as an HTML entity.
        title = html.unescape(section.name)
        if title != spec.title:
            add(
                Finding(
                    "info",
                    "section_title",
                    _(
                        "section {number} is «{title}», the template says «{wanted}» (`accel provision` sets it "
                        "in each cohort course)"
                    ).format(number=i, title=title, wanted=spec.title),
                )
            )
    return check


def check_template(client: MoodleClient, template: ModuleTemplate, shortname: str) -> TemplateCheck:
    """Find the template course by short name and compare it with the template file.

    Calls: core_course_get_courses_by_field, core_course_get_contents, core_course_get_course_module,
    mod_feedback_get_items, mod_data_get_fields.
    """
    course = get_course_by_field(client, "shortname", shortname)
    if course is None:
        return compare_template(template, shortname, None, [], {}, [])
    sections, by_key, unnamed = read_template_course(client, course)
    items = read_items(client, template, by_key)
    return compare_template(template, shortname, course, sections, by_key, unnamed, items)


def template_shortnames(
    templates: Mapping[str, ModuleTemplate], config: AccelConfig | None = None
) -> dict[str, str]:
    """Short name of each module's template course: the config's [modules.mN] template, else the file's."""
    if config is None:
        return {key: t.template_shortname for key, t in templates.items()}
    return {mc.key: mc.template_shortname for mc in module_courses(config, templates)}


def check_templates(
    client: MoodleClient, templates: Mapping[str, ModuleTemplate], shortnames: Mapping[str, str]
) -> list[TemplateCheck]:
    """`accel templates check` for the three modules."""
    return [check_template(client, templates[key], shortnames[key]) for key in templates]

"""The cohort's three courses as they must be on the site: names from the module templates, dates and
visibility from the cohort configuration.

Provisioning creates and updates them, the roster sync enrols into them, gathering reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from course_templates.loader import ModuleTemplate, load_templates
from sync.core.config import AccelConfig
from sync.core.vocabulary import MODULE_KEYS


@dataclass(frozen=True)
class ModuleCourse:
    """One course of the cohort, as it must be on the site."""

    key: str  # m1 / m2 / m3
    number: int  # 1 / 2 / 3
    title: str  # Russian module title from the template
    shortname: str
    idnumber: str
    fullname: str
    template_shortname: str
    start: dt.datetime  # aware, cohort time zone
    end: dt.datetime
    visible: bool
    format: str
    groupmode: int  # 0 none, 1 separate, 2 visible
    groupmodeforce: bool
    summary: str

    @property
    def startdate(self) -> int:
        """Unix time as Moodle stores it (course startdate)."""
        return int(self.start.timestamp())

    @property
    def enddate(self) -> int:
        return int(self.end.timestamp())


def module_courses(
    config: AccelConfig, templates: Mapping[str, ModuleTemplate] | None = None
) -> list[ModuleCourse]:
    """The three courses of the cohort (names from the module templates, dates from [modules]).

    ``templates`` defaults to the configuration's ``[templates] dir``, else the bundled templates.
    """
    if templates is None:
        templates = load_templates(config.templates_dir())
    out: list[ModuleCourse] = []
    for number, key in enumerate(MODULE_KEYS, start=1):
        tpl = templates[key]
        m = config.modules[key]
        values = {**config.placeholders(), "module_title": tpl.title, "module_number": str(number)}
        out.append(
            ModuleCourse(
                key=key,
                number=number,
                title=tpl.title,
                shortname=tpl.course.shortname.format(**values),
                idnumber=tpl.course.idnumber.format(**values),
                fullname=tpl.course.fullname.format(**values),
                template_shortname=m.template or tpl.template_shortname,
                start=config.to_datetime(m.start),
                end=config.to_datetime(m.end, end_of_day=True),
                visible=m.visible,
                format=tpl.course.format,
                groupmode=tpl.course.groupmode_id,
                groupmodeforce=tpl.course.groupmodeforce,
                summary=tpl.course.summary.format(**values),
            )
        )
    return out


def course_modules(config: AccelConfig) -> dict[str, int]:
    """Course short name -> module number (for Moodle upload rosters, whose rows name courses)."""
    return {c.shortname: c.number for c in module_courses(config)}

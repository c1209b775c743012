"""Module templates: load and validate course_templates/m1.yaml, m2.yaml, m3.yaml.

A template describes one module of the program: the course names (patterns filled from the cohort config),
format and group mode, the template course on the site (by short name), the sections (Russian titles and
summaries) and every activity by its key (= the Moodle activity ID number, program.md) with its type, section
and role in the grant indicators.

Errors name the file, the line and what was expected: the YAML is composed into nodes (which carry line
marks), turned into plain data while remembering the line of every key path, and then validated with pydantic;
each pydantic error location is mapped back to a line.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from i18n import N_, _, ngettext
from sync.core.errors import UsageError
from sync.core.vocabulary import INDICATORS, MODULE_KEYS, key_path

BUNDLED_DIR = Path(__file__).resolve().parent

# Activity types the program uses (Moodle module names, as in core_course_get_contents "modname").
ActivityType = Literal["page", "forum", "assign", "feedback", "choice", "data", "url", "resource", "label"]
GROUPMODES: dict[str, int] = {"none": 0, "separate": 1, "visible": 2}
# Indicators of program.md an activity can feed (one list for the whole product: sync.core.vocabulary).
KNOWN_INDICATORS: frozenset[str] = frozenset(INDICATORS)
PLACEHOLDERS: frozenset[str] = frozenset(
    {"cohort_code", "cohort_code_upper", "cohort_short", "cohort_name", "module_title", "module_number"}
)


class TemplateError(UsageError):
    """A bad template file. ``problems`` holds one "file:line: key: what was expected" line per problem; the
    message is "bad module template:" and then the problems, one a line (in the language of the run)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(_("bad module template:") + "\n" + "\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_pattern(v: str) -> str:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
    except ValueError as exc:
        raise ValueError(_("bad pattern: {error}").format(error=exc)) from exc
    unknown = sorted(f for f in fields if f not in PLACEHOLDERS)
    if unknown:
        raise ValueError(
            _("unknown placeholder {placeholder}; expected one of {known}").format(
                placeholder="{" + unknown[0] + "}", known=", ".join(sorted(PLACEHOLDERS))
            )
        )
    return v


class CourseSpec(_Strict):
    fullname: str = Field(min_length=1, max_length=254)
    shortname: str = Field(min_length=1, max_length=100)
    idnumber: str = Field(min_length=1, max_length=100)
    format: Literal["topics", "weeks", "singleactivity", "social"] = "topics"
    groupmode: Literal["none", "separate", "visible"] = "separate"
    groupmodeforce: bool = False
    summary: str = ""

    _patterns = field_validator("fullname", "shortname", "idnumber", "summary")(_check_pattern)

    @property
    def groupmode_id(self) -> int:
        return GROUPMODES[self.groupmode]


_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class SectionSpec(_Strict):
    key: str
    title: str = Field(min_length=1, max_length=255)
    summary: str = ""

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY_RE.match(v):
            raise ValueError(_("must be lowercase Latin letters, digits and '-'"))
        return v


class ActivitySpec(_Strict):
    key: str = Field(description="the activity's ID number in Moodle, e.g. m1-concept")
    type: ActivityType
    section: str
    name: str = Field(min_length=1)
    required: bool = True
    team_submission: bool | None = None
    graded: bool | None = None
    grade_max: int | None = Field(default=None, gt=0)
    indicators: list[str] = Field(default_factory=list)
    purpose: str = ""
    items: list[str] = Field(default_factory=list, description="feedback item labels / data field names")

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not _KEY_RE.match(v):
            raise ValueError(_("must be lowercase Latin letters, digits and '-' (the Moodle ID number)"))
        return v

    @field_validator("indicators")
    @classmethod
    def _indicators(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in KNOWN_INDICATORS:
                raise ValueError(
                    _("unknown indicator {name}; expected one of {known}").format(
                        name=repr(name), known=", ".join(sorted(KNOWN_INDICATORS))
                    )
                )
        return v

    @model_validator(mode="after")
    def _assign_only(self) -> ActivitySpec:
        if self.type != "assign" and (self.team_submission is not None or self.graded is not None):
            raise ValueError(_("team_submission and graded apply only to type assign"))
        return self


class ModuleTemplate(_Strict):
    key: Literal["m1", "m2", "m3"]
    number: int = Field(ge=1, le=3)
    title: str = Field(min_length=1)
    template_shortname: str = Field(min_length=1)
    course: CourseSpec
    sections: list[SectionSpec] = Field(min_length=1)
    activities: list[ActivitySpec]

    @model_validator(mode="after")
    def _consistent(self) -> ModuleTemplate:
        if self.number != MODULE_KEYS.index(self.key) + 1:
            raise ValueError(
                _("number {number} does not match key {key}").format(number=self.number, key=self.key)
            )
        seen: set[str] = set()
        for s in self.sections:
            if s.key in seen:
                raise ValueError(_("section key {key} is used twice").format(key=repr(s.key)))
            seen.add(s.key)
        keys: set[str] = set()
        for a in self.activities:
            if a.key in keys:
                raise ValueError(_("activity key {key} is used twice").format(key=repr(a.key)))
            keys.add(a.key)
            if a.section not in seen:
                raise ValueError(
                    _("activity {key}: section {section} is not one of the sections").format(
                        key=a.key, section=repr(a.section)
                    )
                )
            if not a.key.startswith(f"{self.key}-"):
                raise ValueError(
                    _("activity {key}: key must start with {prefix}").format(
                        key=a.key, prefix=f"'{self.key}-'"
                    )
                )
        return self

    def section_number(self, section_key: str) -> int:
        """Position of a section in the course (0 = the general section)."""
        for i, s in enumerate(self.sections):
            if s.key == section_key:
                return i
        raise KeyError(section_key)

    def section_title(self, section_key: str) -> str:
        return self.sections[self.section_number(section_key)].title

    def activity(self, key: str) -> ActivitySpec:
        for a in self.activities:
            if a.key == key:
                return a
        raise KeyError(key)


# --- YAML with line marks ------------------------------------------------------------------------------------
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same nodes, faster
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass
class _Lines:
    by_path: dict[tuple[int | str, ...], int]

    def line_for(self, loc: tuple[int | str, ...]) -> int:
        # The deepest known prefix: an unknown or wrong key has its own line; a missing key uses its parent's.
        for n in range(len(loc), -1, -1):
            line = self.by_path.get(tuple(loc[:n]))
            if line is not None:
                return line
        return 1


def _to_data(
    node: yaml.Node,
    path: tuple[int | str, ...],
    lines: dict[tuple[int | str, ...], int],
    file: str,
    problems: list[str],
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    _("{file}:{line}: keys must be plain words").format(
                        file=file, line=key_node.start_mark.line + 1
                    )
                )
                continue
            key = str(key_node.value)
            if key in out:
                problems.append(
                    _("{file}:{line}: {key}: duplicate key").format(
                        file=file, line=key_node.start_mark.line + 1, key=key
                    )
                )
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_data(value_node, (*path, key), lines, file, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*path, i), lines, file, problems) for i, item in enumerate(node.value)]
    # Scalars: the safe constructor decides the type (int, bool, str, null) exactly as yaml.safe_load does.
    return _CONSTRUCTOR.construct_object(node, deep=True)


#: pydantic's error types, as a template's author reads them (marked here, translated in _expected)
_EXPECTED = {
    "string_type": N_("expected text"),
    "int_type": N_("expected a whole number"),
    "bool_type": N_("expected true or false"),
    "list_type": N_("expected a list"),
    "model_type": N_("expected a mapping of keys"),
    "dict_type": N_("expected a mapping of keys"),
    "missing": N_("required key is missing"),
    "extra_forbidden": N_("unknown key"),
}


def _expected(err: ErrorDetails) -> str:
    """What was expected, in the language of the run. pydantic's own messages are English, so the error types
    a template can meet are worded here; our validators' messages are already translated ("Value error, ...")."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _EXPECTED:
        return _(_EXPECTED[kind])
    if kind == "literal_error":
        # pydantic joins the choices in English ("'a', 'b' or 'c'"): take the values, join them ourselves.
        choices = re.findall(r"'[^']*'|-?\d+", str(ctx["expected"]))
        return _("expected one of: {choices}").format(choices=", ".join(choices))
    if kind == "string_too_short":
        n = int(ctx["min_length"])
        return ngettext("expected at least {n} character", "expected at least {n} characters", n).format(n=n)
    if kind == "string_too_long":
        n = int(ctx["max_length"])
        return ngettext("expected at most {n} character", "expected at most {n} characters", n).format(n=n)
    if kind == "too_short":
        n = int(ctx["min_length"])
        return ngettext("expected at least {n} item", "expected at least {n} items", n).format(n=n)
    if kind == "greater_than":
        return _("expected a number greater than {limit}").format(limit=ctx["gt"])
    if kind == "greater_than_equal":
        return _("expected a number of at least {limit}").format(limit=ctx["ge"])
    if kind == "less_than_equal":
        return _("expected a number of at most {limit}").format(limit=ctx["le"])
    return err["msg"].removeprefix("Value error, ")


def parse_template(text: str, file: str) -> ModuleTemplate:
    """Validate one template's YAML text; raise TemplateError with file:line messages."""
    problems: list[str] = []
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise TemplateError(
            [
                _("{file}:{line}: YAML syntax: {problem}").format(
                    file=file, line=line, problem=exc.problem or exc
                )
            ]
        ) from None
    if node is None:
        raise TemplateError([_("{file}:{line}: the file is empty").format(file=file, line=1)])
    lines: dict[tuple[int | str, ...], int] = {}
    data = _to_data(node, (), lines, file, problems)
    if problems:
        raise TemplateError(problems)
    if not isinstance(data, dict):
        raise TemplateError(
            [_("{file}:{line}: expected a mapping of keys at the top level").format(file=file, line=1)]
        )
    marks = _Lines(lines)
    try:
        return ModuleTemplate.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[")))
            )
            where = {"file": file, "line": marks.line_for(loc), "path": key_path(loc), "what": _expected(err)}
            # The value given, except where there is none (a missing or unknown key) or it is a whole mapping.
            if err["type"] in ("missing", "extra_forbidden") or isinstance(err.get("input"), dict | list):
                problems.append(_("{file}:{line}: {path}: {what}").format(**where))
            else:
                problems.append(
                    _("{file}:{line}: {path}: {what} (got {value})").format(
                        **where, value=repr(err.get("input"))
                    )
                )
        raise TemplateError(problems) from None


def load_template(path: Path) -> ModuleTemplate:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError([_("{file}: cannot read: no such file").format(file=path)]) from None
    except PermissionError:
        raise TemplateError([_("{file}: cannot read: permission denied").format(file=path)]) from None
    except OSError as exc:
        raise TemplateError(
            [_("{file}: cannot read: {reason}").format(file=path, reason=exc.strerror or exc)]
        ) from None
    except UnicodeDecodeError:
        raise TemplateError([_("{file}:{line}: not UTF-8 text").format(file=path, line=1)]) from None
    return parse_template(text, str(path))


def load_templates(directory: Path | None = None) -> dict[str, ModuleTemplate]:
    """The three module templates m1/m2/m3 from ``directory`` (default: the bundled ones).

    Every file is checked; all problems of all files are raised together in one TemplateError.
    """
    d = directory or BUNDLED_DIR
    out: dict[str, ModuleTemplate] = {}
    problems: list[str] = []
    for key in MODULE_KEYS:
        path = d / f"{key}.yaml"
        try:
            tpl = load_template(path)
        except TemplateError as exc:
            problems.extend(exc.problems)
            continue
        if tpl.key != key:
            problems.append(
                _("{file}:{line}: key: the file {name} must describe module {key} (got {got})").format(
                    file=path, line=1, name=f"{key}.yaml", key=key, got=repr(tpl.key)
                )
            )
            continue
        out[key] = tpl
    if problems:
        raise TemplateError(problems)
    return out


def templates_by_key(templates: Mapping[str, ModuleTemplate]) -> dict[str, tuple[str, ModuleTemplate]]:
    """Activity key -> (module key, template), across modules."""
    return {a.key: (k, t) for k, t in templates.items() for a in t.activities}

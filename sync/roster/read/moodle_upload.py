"""Moodle's upload-users CSV as a roster: ``username, firstname, lastname, email`` and per enrolment
``courseN``, ``roleN``, ``groupN`` (Site administration > Users > Upload users).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from i18n import _
from sync.core.progress import Advance
from sync.core.vocabulary import team_key
from sync.roster.names import is_valid_username
from sync.roster.read.checks import Collector, cross_checks
from sync.roster.read.headers import BULK_COURSE_RE, cell, parse_role
from sync.roster.read.model import DEFAULT_MODULES, Role, Roster, RosterPerson

_BULK_FIELDS: dict[str, str] = {
    "username": "username",
    "firstname": "firstname",
    "lastname": "lastname",
    "middlename": "middlename",
    "email": "email",
    "idnumber": "application",
    "city": "village",
    "phone1": "phone",
    "institution": "organisation",
    "department": "district",
    "profile_field_district": "district",
    "district": "district",
    "profile_field_team": "team",
}

_BULK_ROLES: dict[str, str] = {
    "student": "participant",
    "teacher": "staff",
    "editingteacher": "coordinator",
    "manager": "coordinator",
}


def _module_of(shortname: str, course_modules: Mapping[str, int] | None) -> int | None:
    if course_modules is not None:
        for key, number in course_modules.items():
            if key.casefold() == shortname.casefold():
                return number
        return None
    m = re.search(r"([123])$", shortname)
    return int(m.group(1)) if m else None


def parse_moodle_upload(
    name: str,
    header: list[str],
    body: list[tuple[int, list[str]]],
    course_modules: Mapping[str, int] | None,
    advance: Advance | None = None,
) -> Roster:
    """The people of a Moodle upload-users file; ``advance`` moves on by one per row read."""
    out = Collector(name)
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    for required in ("firstname", "lastname", "email"):
        if required not in index:
            out.error(
                1, required, _("Moodle upload file without a «{column}» column").format(column=required)
            )
    if any(p.severity == "error" for p in out.problems):
        return Roster(name, "moodle-upload", [], out.problems, invalid_rows=out.invalid_rows)
    slots = sorted(
        {int(m.group(2)) for h in index if (m := BULK_COURSE_RE.match(h)) and m.group(1) == "course"}
    )
    people: list[RosterPerson] = []
    pending: list[tuple[int, dict[str, str], list[tuple[int, str, str, str]]]] = []
    for number, cells in body:
        values: dict[str, str] = {}
        for column, fld in _BULK_FIELDS.items():
            # Several columns may give one field (department, profile_field_district): the first filled wins.
            if column in index and not values.get(fld):
                values[fld] = cell(cells, index[column])
        enrolments: list[tuple[int, str, str, str]] = []  # (module, role, group, column title)
        for slot in slots:
            course = cell(cells, index.get(f"course{slot}"))
            if not course:
                continue
            module = _module_of(course, course_modules)
            if module is None:
                out.error(
                    number,
                    f"course{slot}",
                    _("course «{course}» is not one of the cohort's module courses").format(course=course),
                )
                continue
            role_text = cell(cells, index.get(f"role{slot}")) or "student"
            group = cell(cells, index.get(f"group{slot}"))
            enrolments.append((module, role_text, group, f"role{slot}"))
        pending.append((number, values, enrolments))
        if advance is not None:
            advance(1)

    known_teams: dict[str, str] = {}
    for _number, _values, enrolments in pending:
        for _module, role_text, group, _col in enrolments:
            if _BULK_ROLES.get(role_text.lower()) == "participant" or parse_role(role_text) == "participant":
                if group:
                    known_teams.setdefault(team_key(group), group)

    for number, values, enrolments in pending:
        roles: set[str] = set()
        modules: set[int] = set()
        groups: list[str] = []
        for module, role_text, group, column in enrolments:
            kind = _BULK_ROLES.get(role_text.lower())
            if kind is None:
                program_role = parse_role(role_text)
                if program_role is None:
                    out.error(number, column, _("unknown role «{role}»").format(role=role_text))
                    continue
                kind = program_role
            roles.add(kind)
            modules.add(module)
            if group:
                groups.append(group)
        role: Role
        if "participant" in roles:
            role = "participant"
        elif "coordinator" in roles:
            role = "coordinator"
        elif "expert" in roles:
            role = "expert"
        elif "mentor" in roles:
            role = "mentor"
        elif "staff" in roles:
            # Mentors and experts share Moodle's non-editing teacher role (field note 14); an expert is
            # the one who only takes part in the project fair.
            role = "expert" if modules == {3} else "mentor"
        else:
            role = "participant"
        if len(roles - {"staff"}) > 1 or (roles & {"participant"} and roles - {"participant"}):
            # Role names here are Moodle's and the program's identifiers, as the file writes them.
            out.warning(
                number,
                "role1",
                _("several roles ({roles}); taken as {role}").format(
                    roles=", ".join(sorted(roles)), role=role
                ),
            )
        team = values.get("team", "")
        mentor_teams: tuple[str, ...] = ()
        if role == "participant":
            distinct = list(dict.fromkeys(groups))
            if not team and distinct:
                team = distinct[0]
            if len({team_key(g) for g in distinct}) > 1:
                out.error(
                    number,
                    "group1",
                    _("a participant in several teams: {teams}").format(teams=", ".join(distinct)),
                )
        elif role == "mentor":
            mentor_teams = tuple(dict.fromkeys(known_teams.get(team_key(g), g) for g in groups))
            team = ""
        else:
            team = ""
        email = values.get("email", "")
        if not values.get("lastname"):
            out.error(number, "lastname", _("the surname is missing"))
        if not values.get("firstname"):
            out.error(number, "firstname", _("the first name is missing"))
        out.check_email(number, "email", email)
        username = values.get("username", "")
        if username and username != username.lower():
            out.warning(
                number,
                "username",
                _("«{username}» lowered to «{lowered}» (Moodle needs lowercase)").format(
                    username=username, lowered=username.lower()
                ),
            )
            username = username.lower()
        if username and not is_valid_username(username):
            out.error(
                number,
                "username",
                _("«{username}»: Moodle usernames are lowercase Latin letters, digits, _ - . @").format(
                    username=username
                ),
            )
        people.append(
            RosterPerson(
                row=number,
                lastname=values.get("lastname", ""),
                firstname=values.get("firstname", ""),
                middlename=values.get("middlename", ""),
                application=values.get("application", ""),
                email=email,
                phone=values.get("phone", ""),
                village=values.get("village", ""),
                district=values.get("district", ""),
                team=team,
                organisation=values.get("organisation", ""),
                role=role,
                modules=frozenset(modules) if modules else DEFAULT_MODULES[role],
                mentor_teams=mentor_teams,
                username=username,
            )
        )

    def bulk_title(fld: str) -> str:
        return {"application": "idnumber", "district": "department", "village": "city"}.get(fld, fld)

    cross_checks(out, people, bulk_title)
    return Roster(name, "moodle-upload", people, out.problems, invalid_rows=out.invalid_rows)

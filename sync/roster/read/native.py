"""The program's own roster table: one row per person, columns named in Russian or English (ФИО or
Фамилия/Имя/Отчество, Email, Команда, Муниципальный район, Роль, Модули...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from i18n import _
from sync.core.progress import Advance
from sync.core.vocabulary import team_key
from sync.roster.read.checks import Collector, cross_checks
from sync.roster.read.headers import (
    COLUMN_TITLES,
    Field,
    cell,
    header_field,
    parse_flag,
    parse_modules,
    parse_role,
    split_fullname,
    split_teams,
)
from sync.roster.read.model import DEFAULT_MODULES, Roster, RosterPerson


def parse_table(
    name: str,
    header_number: int,
    header: list[str],
    body: list[tuple[int, list[str]]],
    advance: Advance | None = None,
) -> Roster:
    """The people of the table and the problems of its rows; ``advance`` moves on by one per row read."""
    out = Collector(name)
    columns: dict[Field, int] = {}
    for index, heading in enumerate(header):
        fld = header_field(heading)
        if fld is None:
            if heading:
                out.warning(header_number, heading, _("unknown column, ignored"))
            continue
        if fld in columns:
            out.warning(
                header_number,
                heading,
                _("a second «{column}» column, ignored").format(column=header[columns[fld]]),
            )
            continue
        columns[fld] = index
    if "fullname" not in columns and not ("lastname" in columns and "firstname" in columns):
        out.error(header_number, None, _("no name columns: give «ФИО» or both «Фамилия» and «Имя»"))
    if "email" not in columns:
        out.error(header_number, None, _("no «Email» column: Moodle needs an email for every account"))
    if out.problems and any(p.severity == "error" for p in out.problems):
        return Roster(name, "table", [], out.problems, invalid_rows=out.invalid_rows)

    titles: dict[str, str] = {fld: header[index] for fld, index in columns.items()}

    def title(fld: str) -> str:
        # A column the file does not have is named as a roster usually heads it.
        return titles.get(fld) or COLUMN_TITLES.get(fld, fld)

    raw: list[dict[str, str]] = []
    for number, cells in body:
        values: dict[str, str] = {fld: cell(cells, index) for fld, index in columns.items()}
        values["_row"] = str(number)
        raw.append(values)

    # Team names known from participant rows, for reading mentors' lists (a name may contain a comma).
    known_teams: dict[str, str] = {}
    for values in raw:
        own_team = values.get("team") or values.get("organisation")
        if parse_role(values.get("role", "")) == "participant" and own_team:
            known_teams.setdefault(team_key(own_team), own_team)

    people: list[RosterPerson] = []
    for values in raw:
        row = int(values["_row"])
        person = _person_from_values(out, row, values, title, known_teams, columns)
        if person is not None:
            people.append(person)
        if advance is not None:
            advance(1)
    cross_checks(out, people, title)
    return Roster(name, "table", people, out.problems, invalid_rows=out.invalid_rows)


def _person_from_values(
    out: Collector,
    row: int,
    values: Mapping[str, str],
    t: Callable[[str], str],
    known_teams: Mapping[str, str],
    columns: Mapping[Field, int],
) -> RosterPerson | None:
    lastname = values.get("lastname", "")
    firstname = values.get("firstname", "")
    middlename = values.get("middlename", "")
    if "fullname" in values and not (lastname and firstname):
        full = values["fullname"]
        if full:
            last, first, middle = split_fullname(full)
            if not first:
                out.error(
                    row, t("fullname"), _("«{name}»: give the surname and the first name").format(name=full)
                )
            lastname, firstname, middlename = last, first, middlename or middle
        else:
            out.error(row, t("fullname"), _("the name is missing"))
    else:
        if not lastname:
            out.error(row, t("lastname"), _("the surname is missing"))
        if not firstname:
            out.error(row, t("firstname"), _("the first name is missing"))

    email = values.get("email", "")
    out.check_email(row, t("email"), email)

    role_text = values.get("role", "")
    role = parse_role(role_text)
    if role is None:
        out.error(
            row,
            t("role"),
            _(
                "unknown role «{role}»: use участник, наставник, эксперт or координатор "
                "(participant, mentor, expert, coordinator)"
            ).format(role=role_text),
        )
        role = "participant"

    modules: frozenset[int] | None = None
    if values.get("modules"):
        modules = parse_modules(values["modules"])
        if modules is None:
            out.error(
                row,
                t("modules"),
                _("«{value}» is not a list of modules 1, 2, 3").format(value=values["modules"]),
            )
    flags = [fld for fld in ("module1", "module2", "module3") if fld in columns]
    if flags and modules is None:
        chosen: set[int] = set()
        any_filled = False
        for number, fld in enumerate(("module1", "module2", "module3"), start=1):
            if fld not in columns:
                continue
            flag = parse_flag(values.get(fld, ""))
            if flag is None:
                out.error(row, t(fld), _("«{value}»: write да or нет").format(value=values.get(fld, "")))
                continue
            if values.get(fld, ""):
                any_filled = True
            if flag:
                chosen.add(number)
        if any_filled:
            modules = frozenset(chosen)
    if not modules:
        modules = DEFAULT_MODULES[role]

    team = values.get("team", "")
    mentor_teams: tuple[str, ...] = ()
    if role == "mentor":
        listed = values.get("mentor_teams", "") or team
        names = split_teams(listed, known_teams)
        resolved: list[str] = []
        for team_name in names:
            if team_key(team_name) in known_teams:
                resolved.append(known_teams[team_key(team_name)])
            else:
                column = t("mentor_teams") if values.get("mentor_teams") else t("team")
                out.error(
                    row,
                    column,
                    _("the mentor's team «{team}» has no participants in this roster").format(team=team_name),
                )
        mentor_teams = tuple(dict.fromkeys(resolved))
        team = ""
    elif role == "participant":
        if not team and values.get("organisation"):
            # A young NGO takes part as a team of its own.
            team = values["organisation"]
        if not team:
            out.warning(row, t("team"), _("no team: the person is enrolled but joins no group"))
    else:
        team = ""

    return RosterPerson(
        row=row,
        lastname=lastname,
        firstname=firstname,
        middlename=middlename,
        application=values.get("application", ""),
        email=email,
        phone=values.get("phone", ""),
        village=values.get("village", ""),
        district=values.get("district", ""),
        team=team,
        organisation=values.get("organisation", ""),
        role=role,
        modules=modules,
        mentor_teams=mentor_teams,
        username=values.get("username", "").lower(),
    )

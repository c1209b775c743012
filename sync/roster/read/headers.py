"""The roster's words: column headers in Russian and English, cells, roles, modules and yes/no answers.

A header is recognised by its whole text first (``Муниципальный район``, ``Email``), then by a fragment of
a longer one (``ФИО участника``, ``Телефон (мобильный)``); the header row is the first of the first ten
with two known columns, or a Moodle upload-users header (``username`` and ``course1``...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

from sync.core.vocabulary import team_key
from sync.roster.read.model import ALL_MODULES, Role


def clean(value: object) -> str:
    """A cell as text: numbers without '.0', whitespace folded, non-breaking spaces gone."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "да" if value else ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\u00a0", " ").replace("\ufeff", "")
    return re.sub(r"\s+", " ", text).strip()


def _header_key(text: str) -> str:
    text = clean(text).casefold().replace("ё", "е")
    text = re.sub(r"[^\w]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# --- columns ------------------------------------------------------------------------------------------------

Field = Literal[
    "application",
    "fullname",
    "lastname",
    "firstname",
    "middlename",
    "email",
    "phone",
    "village",
    "district",
    "team",
    "organisation",
    "role",
    "modules",
    "mentor_teams",
    "module1",
    "module2",
    "module3",
    "username",
]

# Exact header names (after _header_key), per field. Checked before the fragment rules below.
_EXACT: dict[Field, tuple[str, ...]] = {
    "application": (
        "номер заявки",
        "заявка",
        "заявка n",
        "n заявки",
        "no заявки",
        "рег номер",
        "регистрационный номер",
        "application number",
        "application no",
        "application",
        "application id",
        "idnumber",
        "id number",
    ),
    "fullname": ("фио", "ф и о", "фамилия имя отчество", "full name", "fullname", "name", "участник"),
    "lastname": ("фамилия", "last name", "lastname", "surname", "family name"),
    "firstname": ("имя", "first name", "firstname", "given name"),
    "middlename": ("отчество", "middle name", "middlename", "patronymic"),
    "email": (
        "email",
        "e mail",
        "эл почта",
        "электронная почта",
        "почта",
        "адрес электронной почты",
        "email address",
        "e mail address",
    ),
    "phone": ("телефон", "тел", "phone", "phone number", "номер телефона", "мобильный телефон", "phone1"),
    "village": (
        "населенный пункт",
        "село",
        "поселок",
        "нп",
        "village",
        "settlement",
        "locality",
        "city",
        "town",
    ),
    "district": (
        "муниципальный район",
        "район",
        "мр",
        "муниципальное образование",
        "district",
        "municipal district",
        "municipality",
    ),
    "team": (
        "инициативная группа",
        "команда",
        "группа",
        "team",
        "initiative group",
        "group",
        "team name",
        "название команды",
    ),
    "organisation": ("нко", "организация", "organisation", "organization", "ngo", "institution"),
    "role": ("роль", "role", "статус", "status"),
    "modules": ("модули", "модуль", "modules", "module", "участие в модулях"),
    "mentor_teams": (
        "команды наставника",
        "наставляемые команды",
        "курирует",
        "курируемые команды",
        "mentor teams",
        "mentored teams",
        "mentor of",
        "teams",
        "команды",
    ),
    "module1": ("модуль 1", "module 1", "м1", "m1"),
    "module2": ("модуль 2", "module 2", "м2", "m2"),
    "module3": ("модуль 3", "module 3", "м3", "m3"),
    "username": ("username", "логин", "login"),
}

# Header fragments for longer headers ("ФИО участника", "Телефон (мобильный)"), checked in this order.
_FRAGMENTS: tuple[tuple[Field, str], ...] = (
    ("application", "заявк"),
    ("application", "application"),
    ("mentor_teams", "команды наставник"),
    ("mentor_teams", "mentored"),
    ("fullname", "фио"),
    ("email", "mail"),
    ("email", "почт"),
    ("phone", "телефон"),
    ("phone", "phone"),
    ("district", "район"),
    ("district", "district"),
    ("village", "населенн"),
    ("village", "village"),
    ("team", "инициативн"),
    ("team", "команд"),
    ("team", "team"),
    ("organisation", "нко"),
    ("organisation", "организац"),
    ("organisation", "organi"),
    ("role", "роль"),
    ("modules", "модул"),
)

#: How a roster usually heads each column (the README's words): what a problem calls a column the file does
#: not have (a team without a district when there is no district column at all). The roster's own words,
#: so not translated.
COLUMN_TITLES: dict[str, str] = {
    "application": "№ заявки",
    "fullname": "ФИО",
    "lastname": "Фамилия",
    "firstname": "Имя",
    "middlename": "Отчество",
    "email": "Email",
    "phone": "Телефон",
    "village": "Населённый пункт",
    "district": "Муниципальный район",
    "team": "Команда",
    "organisation": "НКО",
    "role": "Роль",
    "modules": "Модули",
    "mentor_teams": "Команды наставника",
    "module1": "Модуль 1",
    "module2": "Модуль 2",
    "module3": "Модуль 3",
    "username": "username",
}

_EXACT_LOOKUP: dict[str, Field] = {_header_key(name): fld for fld, names in _EXACT.items() for name in names}


def header_field(header: str) -> Field | None:
    key = _header_key(header)
    if not key:
        return None
    if key in _EXACT_LOOKUP:
        return _EXACT_LOOKUP[key]
    for fld, fragment in _FRAGMENTS:
        if fragment in key:
            return fld
    return None


_ROLE_WORDS: dict[str, Role] = {}
for _role, _words in {
    "participant": (
        "участник",
        "участница",
        "участники",
        "слушатель",
        "студент",
        "participant",
        "student",
        "member",
    ),
    "mentor": ("наставник", "наставница", "ментор", "консультант", "тьютор", "mentor", "tutor", "teacher"),
    "expert": ("эксперт", "expert", "член жюри", "жюри", "jury"),
    "coordinator": ("координатор", "организатор", "coordinator", "organiser", "organizer", "editingteacher"),
}.items():
    for _word in _words:
        _ROLE_WORDS[_word] = _role  # type: ignore[assignment]


def parse_role(value: str) -> Role | None:
    """Role from a cell; empty means participant. None when the word is unknown."""
    key = _header_key(value)
    if not key:
        return "participant"
    return _ROLE_WORDS.get(key)


#: Words for every module; a range ``1-3`` counts too, but ``1 3`` is a list (modules 1 and 3, as ``м1 м3``).
_ALL_WORDS = {"все", "всe", "all", "все модули"}
_YES = {"да", "+", "x", "х", "v", "1", "yes", "y", "true", "✓", "✔", "участвует"}
_NO = {"нет", "-", "0", "no", "n", "false", ""}


def parse_modules(value: str) -> frozenset[int] | None:
    """``"1, 3"``, ``"м1 м3"``, ``"все"`` -> module numbers; empty -> empty set; None if unreadable."""
    text = value.casefold().strip()
    if not text:
        return frozenset()
    if text in _ALL_WORDS or text.replace(" ", "") in {"1-3", "1–3", "1—3"}:
        return ALL_MODULES
    # Only digits, separators and the words "модуль"/"module"/"м"/"m" may appear.
    rest = re.sub(r"модул[ьи]|modules?|[мm]|и|and|[\s,;/+&.\-]|\d", "", text)
    if rest:
        return None
    digits = re.findall(r"\d+", text)
    if not digits:
        return None
    numbers = {int(d) for d in digits}
    if not numbers <= ALL_MODULES:
        return None
    return frozenset(numbers)


def parse_flag(value: str) -> bool | None:
    text = value.casefold().strip()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


def split_teams(value: str, known: Mapping[str, str]) -> list[str]:
    """A list of team names from one cell; the whole cell counts as one name when it is a known team."""
    if not value:
        return []
    if team_key(value) in known:
        return [value]
    parts = [clean(p) for p in re.split(r"[;\n,]", value)]
    return [p for p in parts if p]


def split_fullname(value: str) -> tuple[str, str, str]:
    """ФИО in Russian order: surname, first name, patronymic (the rest of the words)."""
    parts = value.split(" ")
    if len(parts) < 2:
        return (value, "", "")
    return (parts[0], parts[1], " ".join(parts[2:]))


BULK_COURSE_RE = re.compile(r"^(course|role|group|type|enrolperiod|enroltimestart|enrolstatus)(\d+)$")


def is_moodle_upload(header: Sequence[str]) -> bool:
    """A Moodle upload-users header: ``username`` and enrolment columns (``course1``, ``role1``...)."""
    lowered = [c.strip().lower() for c in header]
    return "username" in lowered and any(BULK_COURSE_RE.match(c) for c in lowered)


def find_header(rows: Sequence[tuple[int, list[str]]]) -> int | None:
    """Index of the header row among the first ten: the first with two or more known column names."""
    for index, (_, cells) in enumerate(rows[:10]):
        if is_moodle_upload(cells):
            return index
        fields = {header_field(c) for c in cells if c}
        fields.discard(None)
        if len(fields) >= 2 and fields & {"fullname", "lastname", "email"}:
            return index
    return None


def cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index]

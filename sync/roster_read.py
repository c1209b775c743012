"""Reading and validating a roster file (CSV or XLSX; the program's own columns or Moodle's bulk upload CSV).

A roster is what the coordinator keeps: one row per person with their application number, name, contacts,
village and district, team (initiative group) or young NGO, role and modules. Nothing here talks to Moodle:
``accel roster check`` runs this alone.

Every problem names the file, the spreadsheet row (the header is row 1 unless title rows sit above it) and
the column, in the words the file itself uses.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from charset_normalizer import from_bytes

from sync.core.vocabulary import team_key
from sync.roster_names import is_valid_username

if TYPE_CHECKING:
    from sync.core.config import AccelConfig

Role = Literal["participant", "mentor", "expert", "coordinator"]
ROLES: tuple[Role, ...] = ("participant", "mentor", "expert", "coordinator")
ALL_MODULES: frozenset[int] = frozenset({1, 2, 3})
#: Experts evaluate the final presentations at the project fair (module 3) unless the roster says otherwise.
DEFAULT_MODULES: dict[Role, frozenset[int]] = {
    "participant": ALL_MODULES,
    "mentor": ALL_MODULES,
    "expert": frozenset({3}),
    "coordinator": ALL_MODULES,
}

Severity = Literal["error", "warning"]


class RosterFileError(Exception):
    """The file cannot be read at all (missing, not a table, no header row, too large, not a regular file).
    The message names the file and says what to do."""


class RosterFileUnavailable(RosterFileError):
    """The file is missing or cannot be opened (perhaps for a moment: an editor saving it)."""


#: A roster larger than this is refused unread ([roster] max_file_mb, else $ACCEL_ROSTER_MAX_MB). A cohort's
#: spreadsheet is well under 1 MB; 50 MB leaves room for anything real and stops a wrong file (a video,
#: a database dump) before it fills the memory.
DEFAULT_MAX_MB = 50.0
#: An XLSX is a zip: its parts may expand to at most this many times the file size cap (a "zip bomb" stops).
XLSX_EXPANSION = 10


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None
    column: str | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column «{self.column}»")
        return f"{', '.join(where)}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class RosterPerson:
    """One person of the roster, cleaned."""

    row: int
    lastname: str
    firstname: str
    middlename: str = ""
    application: str = ""  # application number -> Moodle user "ID number"
    email: str = ""
    phone: str = ""
    village: str = ""
    district: str = ""
    team: str = ""
    organisation: str = ""
    role: Role = "participant"
    modules: frozenset[int] = ALL_MODULES
    #: Mentors only: the teams they mentor; empty = every team of the roster.
    mentor_teams: tuple[str, ...] = ()
    #: Only from a Moodle bulk-upload file: the username the administrator chose for a new account.
    username: str = ""

    @property
    def key(self) -> str:
        """Stable identity inside one roster: the application number, else the email."""
        return f"app:{self.application}" if self.application else f"email:{self.email.lower()}"

    @property
    def fullname(self) -> str:
        return " ".join(p for p in (self.lastname, self.firstname, self.middlename) if p)


@dataclass
class Roster:
    path: str
    format: Literal["table", "moodle-upload"]
    people: list[RosterPerson]
    problems: list[Problem]
    encoding: str = ""
    delimiter: str = ""
    #: Rows that carry at least one error (left out when invalid rows are skipped).
    invalid_rows: set[int] = field(default_factory=set)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def valid_people(self) -> list[RosterPerson]:
        return [p for p in self.people if p.row not in self.invalid_rows]

    def teams(self, people: Iterable[RosterPerson] | None = None) -> dict[str, str]:
        """Team name -> district, in roster order (participants' teams; the names groups get)."""
        out: dict[str, str] = {}
        known: dict[str, str] = {}
        for person in self.valid_people() if people is None else people:
            if person.role != "participant" or not person.team:
                continue
            k = team_key(person.team)
            if k not in known:
                known[k] = person.team
                out[person.team] = person.district
            elif not out[known[k]] and person.district:
                out[known[k]] = person.district
        return out


# --- text helpers -----------------------------------------------------------------------------------------


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


#: HTML5's email pattern (what Moodle's validate_email accepts through PHPMailer), with a dot required in the
#: domain: a participant's address on "localhost" is a typo, not an address.
EMAIL_RE = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$"
)


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_RE.match(email)) and ".." not in email and not email.startswith(".")


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


# --- loading tables --------------------------------------------------------------------------------------------


@dataclass
class Table:
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells)
    encoding: str = ""
    delimiter: str = ""


_CYRILLIC_CODEPAGES = ["cp1251", "koi8_r", "cp866", "mac_cyrillic"]


def max_roster_bytes(config: AccelConfig | None = None) -> int:
    """The size cap of a roster file: ``[roster] max_file_mb``, else ``$ACCEL_ROSTER_MAX_MB``, else 50 MB."""
    if config is not None and config.roster is not None:
        return int(config.roster.max_file_mb * 1024 * 1024)
    raw = os.environ.get("ACCEL_ROSTER_MAX_MB", "").strip()
    if not raw:
        return int(DEFAULT_MAX_MB * 1024 * 1024)
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise RosterFileError(f"ACCEL_ROSTER_MAX_MB={raw!r}: expected a number of megabytes such as 50")
    return int(megabytes * 1024 * 1024)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


_FILE_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(name: str, mode: int) -> RosterFileError:
    kind = next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")
    return RosterFileError(
        f"{name}: {kind}, not a roster file: give the spreadsheet file itself (CSV or XLSX)"
    )


def read_file_bytes(path: Path, max_bytes: int, name: str | None = None) -> bytes:
    """The bytes of a roster file, checked before they are read.

    Only a regular file is opened (a FIFO would block the read forever, a device like /dev/zero never
    ends), and only one up to ``max_bytes``. Raises :class:`RosterFileUnavailable` when the file is missing
    or cannot be opened and :class:`RosterFileError` for everything else; the message names the file.
    """
    label = name or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RosterFileUnavailable(f"{label}: no such file") from None
    except OSError as exc:
        raise RosterFileUnavailable(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise RosterFileError(f"{label}: is a directory, not a roster file")
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(label, info.st_mode)
    too_big = RosterFileError(
        f"{label}: {_megabytes(info.st_size)}, more than the {_megabytes(max_bytes)} a roster file may have: "
        "check it is the right file (or raise [roster] max_file_mb / ACCEL_ROSTER_MAX_MB)"
    )
    if info.st_size > max_bytes:
        raise too_big
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise RosterFileUnavailable(f"{label}: cannot read it ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(label, mode)
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise RosterFileUnavailable(f"{label}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise too_big
    if not data:
        raise RosterFileError(f"{label}: the file is empty")
    return data


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """Text and encoding name of a CSV file: UTF-8 (with or without BOM), UTF-16 or a Cyrillic code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise RosterFileError(
                f"{name}: marked as UTF-8 but byte {exc.start + 3} is not UTF-8 text: save it again as CSV (UTF-8)"
            ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise RosterFileError(
                f"{name}: marked as UTF-16 but is not UTF-16 text: save it again as CSV (UTF-8) or XLSX"
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8: a Russian spreadsheet saved as "CSV" is almost always Windows-1251. charset-normalizer
    # chooses among the Cyrillic code pages only; a wrong guess from its whole list (e.g. a Latin page)
    # would produce mojibake names that validate fine.
    best = from_bytes(data, cp_isolation=_CYRILLIC_CODEPAGES).best()
    encoding = best.encoding if best is not None else "cp1251"
    return data.decode(encoding, errors="replace"), encoding


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the header-ish first lines into the most columns (';' wins ties)."""
    lines = [line for line in text.splitlines() if line.strip()][:5]
    if not lines:
        return ";"
    best, best_score = ";", -1
    for delimiter in (";", ",", "\t"):
        score = max(_cells_in(line, delimiter) for line in lines)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cells_in(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error:
        return 0  # a line the reader itself will refuse, naming it


def load_csv(data: bytes, name: str = "the file") -> Table:
    text, encoding = decode_bytes(data, name)
    if "\x00" in text:
        # A binary file (or a spreadsheet's own format) renamed to .csv: its "names" would be garbage.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RosterFileError(
            f"{name}: line {line} holds NUL bytes: this is not a text table; save the spreadsheet as CSV or XLSX"
        )
    rows: list[tuple[int, list[str]]] = []
    reader: Any = None
    try:
        delimiter = detect_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for number, cells in enumerate(reader, start=1):
            rows.append((number, [clean(c) for c in cells]))
    except csv.Error as exc:
        where = f"line {reader.line_num}: " if reader is not None and reader.line_num else ""
        if "field limit" in str(exc):
            raise RosterFileError(
                f"{name}: {where}a cell longer than {csv.field_size_limit()} characters: not a roster "
                '(an unclosed quote " makes the rest of the file one cell; check the quotes)'
            ) from None
        raise RosterFileError(f"{name}: {where}not a readable CSV table ({exc})") from None
    return Table(rows=rows, encoding=encoding, delimiter=delimiter)


#: A formula element in a worksheet's XML (``<f>``, ``<f t="shared" .../>``, with or without a prefix).
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _has_formulas(archive: zipfile.ZipFile) -> bool:
    """Whether any worksheet holds a formula (read in pieces: a sheet's XML may be large)."""
    for info in archive.infolist():
        if not info.filename.startswith("xl/worksheets/"):
            continue
        with archive.open(info) as part:
            tail = b""
            while chunk := part.read(1 << 20):
                if _FORMULA_RE.search(tail + chunk):
                    return True
                tail = chunk[-16:]
    return False


def load_xlsx(data: bytes, name: str, max_bytes: int) -> Table:
    """The first sheet of the workbook whose first rows hold a recognisable header.

    Read-only (streaming) mode keeps memory small, but it trusts the ``<dimension>`` the writing program
    recorded, and many tools record a stale one: the sheet's size is forgotten so that every row is read.
    Values are the ones the spreadsheet program last computed; a formula cell that has none (a workbook
    written by a script and never opened in Excel) is an error naming the cell, not an empty cell.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            if expanded > XLSX_EXPANSION * max_bytes:
                raise RosterFileError(
                    f"{name}: the workbook expands to {_megabytes(expanded)}, more than {XLSX_EXPANSION} times "
                    f"the {_megabytes(max_bytes)} a roster file may have: check it is the right file"
                )
            formulas = _has_formulas(archive)
        return _read_workbook(data, name, formulas)
    except RosterFileError:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many types for a damaged file
        raise RosterFileError(f"{name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None


def _read_workbook(data: bytes, name: str, formulas: bool) -> Table:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows: list[tuple[int, list[str]]] = []
        raw: list[tuple[Any, ...]] = []
        chosen = 0
        for index, sheet in enumerate(book.worksheets):
            chosen = index
            if hasattr(sheet, "reset_dimensions"):  # a chart sheet has no cells
                sheet.reset_dimensions()
            raw = list(sheet.iter_rows(values_only=True)) if hasattr(sheet, "iter_rows") else []
            rows = [(number, [clean(c) for c in values]) for number, values in enumerate(raw, start=1)]
            if _find_header(rows) is not None:
                break
    finally:
        book.close()
    header = _find_header(rows)
    if formulas and header is not None:
        _check_formula_values(data, name, chosen, raw, rows[header][0])
    return Table(rows=rows, encoding="xlsx")


def _check_formula_values(
    data: bytes, name: str, sheet_index: int, values: list[tuple[Any, ...]], first_row: int
) -> None:
    """Refuse a table with formula cells that have no stored value (openpyxl would read them as empty)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        sheet: Any = book.worksheets[sheet_index]
        sheet.reset_dimensions()
        missing: list[str] = []
        for row in sheet.iter_rows(min_row=first_row):
            for cell in row:
                if getattr(cell, "data_type", None) != "f":
                    continue
                # The same cell in the values read (rows there are numbered from 1 with none left out).
                stored = values[cell.row - 1] if cell.row - 1 < len(values) else ()
                column = int(cell.column) - 1
                if column >= len(stored) or stored[column] is None:
                    missing.append(str(cell.coordinate))
        title = str(sheet.title)
    finally:
        book.close()
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RosterFileError(
            f"{name}: sheet «{title}», cell {missing[0]}{more}: formula without a value: save the workbook in "
            "Excel (or LibreOffice Calc) so that the formulas' results are stored, then try again"
        )


def load_table(path: Path, max_bytes: int | None = None, name: str | None = None) -> Table:
    label = name or str(path)
    limit = max_roster_bytes() if max_bytes is None else max_bytes
    data = read_file_bytes(path, limit, label)
    if path.suffix.lower() in (".xlsx", ".xlsm") or data[:4] == b"PK\x03\x04":
        return load_xlsx(data, label, limit)
    if path.suffix.lower() == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise RosterFileError(f"{label}: old Excel .xls files are not read; save it as .xlsx or CSV")
    return load_csv(data, label)


_BULK_COURSE_RE = re.compile(r"^(course|role|group|type|enrolperiod|enroltimestart|enrolstatus)(\d+)$")


def _is_moodle_upload(header: Sequence[str]) -> bool:
    """A Moodle upload-users header: ``username`` and enrolment columns (``course1``, ``role1``...)."""
    lowered = [c.strip().lower() for c in header]
    return "username" in lowered and any(_BULK_COURSE_RE.match(c) for c in lowered)


def _find_header(rows: Sequence[tuple[int, list[str]]]) -> int | None:
    """Index of the header row among the first ten: the first with two or more known column names."""
    for index, (_, cells) in enumerate(rows[:10]):
        if _is_moodle_upload(cells):
            return index
        fields = {header_field(c) for c in cells if c}
        fields.discard(None)
        if len(fields) >= 2 and fields & {"fullname", "lastname", "email"}:
            return index
    return None


# --- parsing ------------------------------------------------------------------------------------------------


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.invalid_rows: set[int] = set()

    def error(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, row, column, message, "error"))
        if row is not None:
            self.invalid_rows.add(row)

    def warning(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, row, column, message, "warning"))

    def check_email(self, row: int, column: str, email: str) -> None:
        if not email:
            self.error(row, column, "the email is missing (Moodle needs one for every account)")
        elif not is_valid_email(email):
            self.error(row, column, f"«{email}» is not a valid email address")


def read_roster(
    path: str | Path, *, course_modules: Mapping[str, int] | None = None, max_bytes: int | None = None
) -> Roster:
    """Read and validate a roster file.

    ``course_modules`` maps course short names to module numbers for Moodle bulk-upload files
    (``course1=KAM21-M1``); without it the module is read from the short name's last digit.
    ``max_bytes`` is the size cap (default :func:`max_roster_bytes`).
    Raises :class:`RosterFileError` when the file is not a table at all (and for nothing else: no other
    exception escapes, whatever the bytes); everything else is a :class:`Problem` in the result.
    """
    p = Path(path)
    name = str(path)
    table = load_table(p, max_bytes, name)
    header_index = _find_header(table.rows)
    if header_index is None:
        raise RosterFileError(
            f"{name}: no header row found in the first 10 rows; expected columns such as "
            "«ФИО» (or «Фамилия», «Имя»), «Email», «Команда», «Муниципальный район», «Роль»"
        )
    header_number, header = table.rows[header_index]
    body = [(n, cells) for n, cells in table.rows[header_index + 1 :] if any(cells)]
    if _is_moodle_upload(header):
        roster = _parse_bulk(name, header, body, course_modules)
    else:
        roster = _parse_table(name, header_number, header, body)
    roster.encoding = table.encoding
    roster.delimiter = table.delimiter
    return roster


def _cell(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index]


def _parse_table(
    name: str, header_number: int, header: list[str], body: list[tuple[int, list[str]]]
) -> Roster:
    out = _Collector(name)
    columns: dict[Field, int] = {}
    for index, heading in enumerate(header):
        fld = header_field(heading)
        if fld is None:
            if heading:
                out.warning(header_number, heading, "unknown column, ignored")
            continue
        if fld in columns:
            out.warning(header_number, heading, f"a second «{header[columns[fld]]}» column, ignored")
            continue
        columns[fld] = index
    if "fullname" not in columns and not ("lastname" in columns and "firstname" in columns):
        out.error(header_number, None, "no name columns: give «ФИО» or both «Фамилия» and «Имя»")
    if "email" not in columns:
        out.error(header_number, None, "no «Email» column: Moodle needs an email for every account")
    if out.problems and any(p.severity == "error" for p in out.problems):
        return Roster(name, "table", [], out.problems, invalid_rows=out.invalid_rows)

    titles: dict[str, str] = {fld: header[index] for fld, index in columns.items()}

    def title(fld: str) -> str:
        return titles.get(fld, fld)

    raw: list[dict[str, str]] = []
    for number, cells in body:
        values: dict[str, str] = {fld: _cell(cells, index) for fld, index in columns.items()}
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
    _cross_checks(out, people, title)
    return Roster(name, "table", people, out.problems, invalid_rows=out.invalid_rows)


def _person_from_values(
    out: _Collector,
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
                out.error(row, t("fullname"), f"«{full}»: give the surname and the first name")
            lastname, firstname, middlename = last, first, middlename or middle
        else:
            out.error(row, t("fullname"), "the name is missing")
    else:
        if not lastname:
            out.error(row, t("lastname"), "the surname is missing")
        if not firstname:
            out.error(row, t("firstname"), "the first name is missing")

    email = values.get("email", "")
    out.check_email(row, t("email"), email)

    role_text = values.get("role", "")
    role = parse_role(role_text)
    if role is None:
        out.error(
            row,
            t("role"),
            f"unknown role «{role_text}»: use участник, наставник, эксперт or координатор "
            "(participant, mentor, expert, coordinator)",
        )
        role = "participant"

    modules: frozenset[int] | None = None
    if values.get("modules"):
        modules = parse_modules(values["modules"])
        if modules is None:
            out.error(row, t("modules"), f"«{values['modules']}» is not a list of modules 1, 2, 3")
    flags = [fld for fld in ("module1", "module2", "module3") if fld in columns]
    if flags and modules is None:
        chosen: set[int] = set()
        any_filled = False
        for number, fld in enumerate(("module1", "module2", "module3"), start=1):
            if fld not in columns:
                continue
            flag = parse_flag(values.get(fld, ""))
            if flag is None:
                out.error(row, t(fld), f"«{values.get(fld, '')}»: write да or нет")
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
                out.error(row, column, f"the mentor's team «{team_name}» has no participants in this roster")
        mentor_teams = tuple(dict.fromkeys(resolved))
        team = ""
    elif role == "participant":
        if not team and values.get("organisation"):
            # A young NGO takes part as a team of its own.
            team = values["organisation"]
        if not team:
            out.warning(row, t("team"), "no team: the person is enrolled but joins no group")
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


def _cross_checks(out: _Collector, people: list[RosterPerson], t: Callable[[str], str]) -> None:
    """Problems between rows: the same person twice, a team in two districts or in none."""
    seen_app: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    seen_username: dict[str, int] = {}
    for person in people:
        if person.application:
            first = seen_app.setdefault(person.application, person.row)
            if first != person.row:
                out.error(
                    person.row,
                    t("application"),
                    f"the same person twice: application number {person.application} is also on row {first}",
                )
        if person.email:
            first = seen_email.setdefault(person.email.lower(), person.row)
            if first != person.row:
                out.error(
                    person.row,
                    t("email"),
                    f"the same person twice: email {person.email} is also on row {first}",
                )
        if person.username:
            first = seen_username.setdefault(person.username, person.row)
            if first != person.row:
                out.error(person.row, t("username"), f"username {person.username} is also on row {first}")

    districts: dict[str, tuple[str, int]] = {}
    team_rows: dict[str, list[int]] = {}
    for person in people:
        if person.role != "participant" or not person.team:
            continue
        k = team_key(person.team)
        team_rows.setdefault(k, []).append(person.row)
        if person.district:
            if k not in districts:
                districts[k] = (person.district, person.row)
            elif team_key(districts[k][0]) != team_key(person.district):
                out.error(
                    person.row,
                    t("district"),
                    f"team «{person.team}» is in «{districts[k][0]}» on row {districts[k][1]} "
                    f"but in «{person.district}» here",
                )
    for k, rows in team_rows.items():
        if k not in districts:
            team = next(p.team for p in people if p.row == rows[0])
            for row in rows:
                out.error(row, t("district"), f"team «{team}» has no district (муниципальный район)")


# --- Moodle bulk upload CSV ------------------------------------------------------------------------------------

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


def _parse_bulk(
    name: str,
    header: list[str],
    body: list[tuple[int, list[str]]],
    course_modules: Mapping[str, int] | None,
) -> Roster:
    out = _Collector(name)
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    for required in ("firstname", "lastname", "email"):
        if required not in index:
            out.error(1, required, f"Moodle upload file without a «{required}» column")
    if any(p.severity == "error" for p in out.problems):
        return Roster(name, "moodle-upload", [], out.problems, invalid_rows=out.invalid_rows)
    slots = sorted(
        {int(m.group(2)) for h in index if (m := _BULK_COURSE_RE.match(h)) and m.group(1) == "course"}
    )
    people: list[RosterPerson] = []
    pending: list[tuple[int, dict[str, str], list[tuple[int, str, str, str]]]] = []
    for number, cells in body:
        values: dict[str, str] = {}
        for column, fld in _BULK_FIELDS.items():
            # Several columns may give one field (department, profile_field_district): the first filled wins.
            if column in index and not values.get(fld):
                values[fld] = _cell(cells, index[column])
        enrolments: list[tuple[int, str, str, str]] = []  # (module, role, group, column title)
        for slot in slots:
            course = _cell(cells, index.get(f"course{slot}"))
            if not course:
                continue
            module = _module_of(course, course_modules)
            if module is None:
                out.error(
                    number, f"course{slot}", f"course «{course}» is not one of the cohort's module courses"
                )
                continue
            role_text = _cell(cells, index.get(f"role{slot}")) or "student"
            group = _cell(cells, index.get(f"group{slot}"))
            enrolments.append((module, role_text, group, f"role{slot}"))
        pending.append((number, values, enrolments))

    known_teams: dict[str, str] = {}
    for _, _values, enrolments in pending:
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
                    out.error(number, column, f"unknown role «{role_text}»")
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
            out.warning(number, "role1", f"several roles ({', '.join(sorted(roles))}); taken as {role}")
        team = values.get("team", "")
        mentor_teams: tuple[str, ...] = ()
        if role == "participant":
            distinct = list(dict.fromkeys(groups))
            if not team and distinct:
                team = distinct[0]
            if len({team_key(g) for g in distinct}) > 1:
                out.error(number, "group1", f"a participant in several teams: {', '.join(distinct)}")
        elif role == "mentor":
            mentor_teams = tuple(dict.fromkeys(known_teams.get(team_key(g), g) for g in groups))
            team = ""
        else:
            team = ""
        email = values.get("email", "")
        if not values.get("lastname"):
            out.error(number, "lastname", "the surname is missing")
        if not values.get("firstname"):
            out.error(number, "firstname", "the first name is missing")
        out.check_email(number, "email", email)
        username = values.get("username", "")
        if username and username != username.lower():
            out.warning(
                number, "username", f"«{username}» lowered to «{username.lower()}» (Moodle needs lowercase)"
            )
            username = username.lower()
        if username and not is_valid_username(username):
            out.error(
                number,
                "username",
                f"«{username}»: Moodle usernames are lowercase Latin letters, digits, _ - . @",
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

    _cross_checks(out, people, bulk_title)
    return Roster(name, "moodle-upload", people, out.problems, invalid_rows=out.invalid_rows)

"""What a roster is once read: the people (cleaned), their roles and modules, and the problems found.

The readers (sync/roster/read/native.py, moodle_upload.py) build these; the roster sync plans from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from i18n import _
from sync.core.vocabulary import team_key

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


@dataclass(frozen=True)
class RosterProblem:
    """Something wrong in the roster file (the file, a row, a cell): an error makes its row invalid, a warning
    is said. Not a plan's problem (sync.core.plan.Problem), which stops an apply."""

    file: str
    row: int | None
    column: str | None
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        if self.row is not None and self.column:
            text = _("{file}, row {row}, column «{column}»: {message}")
        elif self.row is not None:
            text = _("{file}, row {row}: {message}")
        elif self.column:
            text = _("{file}, column «{column}»: {message}")
        else:
            text = "{file}: {message}"
        return text.format(file=self.file, row=self.row, column=self.column, message=self.message)

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
    problems: list[RosterProblem]
    encoding: str = ""
    delimiter: str = ""
    #: Rows that carry at least one error (left out when invalid rows are skipped).
    invalid_rows: set[int] = field(default_factory=set)

    @property
    def errors(self) -> list[RosterProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[RosterProblem]:
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

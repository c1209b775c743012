"""Checks of a roster's rows: one collector of problems (file, row, column) and the checks between rows.

Each problem names the file, the spreadsheet row and the column in the words the file itself uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from i18n import _
from sync.core.vocabulary import team_key
from sync.roster.read.model import RosterPerson, RosterProblem

#: HTML5's email pattern (what Moodle's validate_email accepts through PHPMailer), with a dot required in the
#: domain: a participant's address on "localhost" is a typo, not an address.
EMAIL_RE = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$"
)


def is_valid_email(email: str) -> bool:
    return bool(EMAIL_RE.match(email)) and ".." not in email and not email.startswith(".")


class Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[RosterProblem] = []
        self.invalid_rows: set[int] = set()

    def error(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(RosterProblem(self.file, row, column, message, "error"))
        if row is not None:
            self.invalid_rows.add(row)

    def warning(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(RosterProblem(self.file, row, column, message, "warning"))

    def check_email(self, row: int, column: str, email: str) -> None:
        if not email:
            self.error(row, column, _("the email is missing (Moodle needs one for every account)"))
        elif not is_valid_email(email):
            self.error(row, column, _("«{email}» is not a valid email address").format(email=email))


def cross_checks(out: Collector, people: list[RosterPerson], t: Callable[[str], str]) -> None:
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
                    _("the same person twice: application number {application} is also on row {row}").format(
                        application=person.application, row=first
                    ),
                )
        if person.email:
            first = seen_email.setdefault(person.email.lower(), person.row)
            if first != person.row:
                out.error(
                    person.row,
                    t("email"),
                    _("the same person twice: email {email} is also on row {row}").format(
                        email=person.email, row=first
                    ),
                )
        if person.username:
            first = seen_username.setdefault(person.username, person.row)
            if first != person.row:
                out.error(
                    person.row,
                    t("username"),
                    _("username {username} is also on row {row}").format(username=person.username, row=first),
                )

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
                    _("team «{team}» is in «{district}» on row {row} but in «{here}» here").format(
                        team=person.team, district=districts[k][0], row=districts[k][1], here=person.district
                    ),
                )
    for k, rows in team_rows.items():
        if k not in districts:
            team = next(p.team for p in people if p.row == rows[0])
            for row in rows:
                out.error(
                    row,
                    t("district"),
                    _("team «{team}» has no district (муниципальный район)").format(team=team),
                )

"""Reading and validating a roster file (CSV or XLSX; the program's own columns or Moodle's bulk upload CSV).

A roster is what the coordinator keeps: one row per person with their application number, name, contacts,
village and district, team (initiative group) or young NGO, role and modules. Nothing here talks to Moodle:
``accel roster check`` runs this alone.

Every problem names the file, the spreadsheet row (the header is row 1 unless title rows sit above it) and
the column, in the words the file itself uses.

The reading is split by job: ``files`` (the file's bytes, charset, CSV/XLSX loading), ``headers`` (the
words of columns and cells), ``native`` (the program's own table), ``moodle_upload`` (Moodle's upload-users
CSV), ``checks`` (the problems of rows and between rows), ``model`` (what a roster is once read) and
``problems`` (the problems as people read them through: the same problem on many rows said once).

What people read (problems, the file's errors) is in their language (:mod:`i18n`); the roster's own column
names (``ФИО``, ``Муниципальный район``) and Moodle's (``course1``) stay as the file writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from i18n import _
from sync.core.progress import NO_PROGRESS, Progress
from sync.roster.read.checks import is_valid_email
from sync.roster.read.files import (
    DEFAULT_MAX_MB,
    RosterFileError,
    RosterFileUnavailable,
    load_table,
    max_roster_bytes,
    read_file_bytes,
)
from sync.roster.read.headers import find_header, is_moodle_upload
from sync.roster.read.model import (
    ALL_MODULES,
    DEFAULT_MODULES,
    ROLES,
    Role,
    Roster,
    RosterPerson,
    RosterProblem,
)
from sync.roster.read.moodle_upload import parse_moodle_upload
from sync.roster.read.native import parse_table

__all__ = [
    "ALL_MODULES",
    "DEFAULT_MAX_MB",
    "DEFAULT_MODULES",
    "ROLES",
    "Role",
    "Roster",
    "RosterFileError",
    "RosterFileUnavailable",
    "RosterPerson",
    "RosterProblem",
    "is_valid_email",
    "max_roster_bytes",
    "read_file_bytes",
    "read_roster",
]


def read_roster(
    path: str | Path,
    *,
    course_modules: Mapping[str, int] | None = None,
    max_bytes: int | None = None,
    progress: Progress = NO_PROGRESS,
) -> Roster:
    """Read and validate a roster file.

    ``course_modules`` maps course short names to module numbers for Moodle bulk-upload files
    (``course1=KAM21-M1``); without it the module is read from the short name's last digit.
    ``max_bytes`` is the size cap (default :func:`max_roster_bytes`). ``progress`` shows the reading of the
    rows and their checks (a large workbook takes a while).
    Raises :class:`RosterFileError` when the file is not a table at all (and for nothing else: no other
    exception escapes, whatever the bytes); everything else is a :class:`RosterProblem` in the result.
    """
    p = Path(path)
    name = str(path)
    with progress.task(_("Reading {file}").format(file=name)) as advance:
        table = load_table(p, max_bytes, name, advance)
    header_index = find_header(table.rows)
    if header_index is None:
        # The column names are the roster's own words (Russian), whatever language accel speaks.
        raise RosterFileError(
            _(
                "{file}: no header row found in the first 10 rows; expected columns such as "
                "«ФИО» (or «Фамилия», «Имя»), «Email», «Команда», «Муниципальный район», «Роль»"
            ).format(file=name)
        )
    header_number, header = table.rows[header_index]
    body = [(n, cells) for n, cells in table.rows[header_index + 1 :] if any(cells)]
    with progress.task(_("Checking the rows of {file}").format(file=name), total=len(body)) as advance:
        if is_moodle_upload(header):
            roster = parse_moodle_upload(name, header, body, course_modules, advance)
        else:
            roster = parse_table(name, header_number, header, body, advance)
    roster.encoding = table.encoding
    roster.delimiter = table.delimiter
    return roster

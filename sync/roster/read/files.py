"""A roster file's bytes and cells: the checks before reading, charset detection and CSV/XLSX loading.

Only a regular file up to the size cap is read (a FIFO would block the read forever, a device like
/dev/zero never ends); CSV text is decoded as UTF-8, UTF-16 or a Cyrillic code page (a Russian spreadsheet
saved as "CSV" is almost always Windows-1251); an XLSX is read from its first sheet with a recognisable
header. Whatever the bytes, the only exception that leaves is :class:`RosterFileError`, naming the file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes
from openpyxl import load_workbook

from i18n import N_, _, ngettext
from sync.core.config import AccelConfig
from sync.core.errors import UsageError
from sync.core.progress import Advance
from sync.core.settings import AccelSettings
from sync.roster.read.headers import clean, find_header


class RosterFileError(UsageError):
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
    # ACCEL_ROSTER_MAX_MB (sync/core/settings.py): a value that is not a positive number is a SettingsError.
    megabytes = AccelSettings.read().roster_max_mb
    return int((DEFAULT_MAX_MB if megabytes is None else megabytes) * 1024 * 1024)


def _megabytes(size: int) -> str:
    return _("{size} MB").format(size=f"{size / (1024 * 1024):.1f}")


_FILE_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISFIFO, N_("a named pipe (FIFO)")),
    (stat.S_ISCHR, N_("a character device")),
    (stat.S_ISBLK, N_("a block device")),
    (stat.S_ISSOCK, N_("a socket")),
)


def _not_regular(name: str, mode: int) -> RosterFileError:
    kind = next((what for test, what in _FILE_KINDS if test(mode)), N_("not a regular file"))
    return RosterFileError(
        _("{file}: {kind}, not a roster file: give the spreadsheet file itself (CSV or XLSX)").format(
            file=name, kind=_(kind)
        )
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
        raise RosterFileUnavailable(_("{file}: no such file").format(file=label)) from None
    except OSError as exc:
        raise _unreadable(label, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise RosterFileError(_("{file}: is a directory, not a roster file").format(file=label))
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(label, info.st_mode)
    too_big = RosterFileError(
        _(
            "{file}: {size}, more than the {limit} a roster file may have: "
            "check it is the right file (or raise [roster] max_file_mb / ACCEL_ROSTER_MAX_MB)"
        ).format(file=label, size=_megabytes(info.st_size), limit=_megabytes(max_bytes))
    )
    if info.st_size > max_bytes:
        raise too_big
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still returns at once.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _unreadable(label, exc) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(label, mode)
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise _unreadable(label, exc) from None
    if len(data) > max_bytes:
        raise too_big
    if not data:
        raise RosterFileError(_("{file}: the file is empty").format(file=label))
    return data


def _unreadable(label: str, exc: OSError) -> RosterFileUnavailable:
    # The reason is the system's own words (strerror), as the system gives them.
    return RosterFileUnavailable(
        _("{file}: cannot read it ({reason})").format(file=label, reason=exc.strerror or exc)
    )


def decode_bytes(data: bytes, name: str = "the file") -> tuple[str, str]:
    """Text and encoding name of a CSV file: UTF-8 (with or without BOM), UTF-16 or a Cyrillic code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise RosterFileError(
                _(
                    "{file}: marked as UTF-8 but byte {byte} is not UTF-8 text: save it again as CSV (UTF-8)"
                ).format(file=name, byte=exc.start + 3)
            ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise RosterFileError(
                _(
                    "{file}: marked as UTF-16 but is not UTF-16 text: save it again as CSV (UTF-8) or XLSX"
                ).format(file=name)
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


#: Rows read between two moves of a progress bar (a move per row would cost more than the row).
PROGRESS_STEP = 200


def _counted(items: Iterable[Any], advance: Advance | None) -> Iterator[Any]:
    """``items`` as they are, moving ``advance`` on by one per item (in steps of PROGRESS_STEP)."""
    if advance is None:
        yield from items
        return
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending == PROGRESS_STEP:
            advance(pending)
            pending = 0
    if pending:
        advance(pending)


def load_csv(data: bytes, name: str = "the file", advance: Advance | None = None) -> Table:
    text, encoding = decode_bytes(data, name)
    if "\x00" in text:
        # A binary file (or a spreadsheet's own format) renamed to .csv: its "names" would be garbage.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RosterFileError(
            _(
                "{file}: line {line} holds NUL bytes: this is not a text table; save the spreadsheet as CSV or XLSX"
            ).format(file=name, line=line)
        )
    rows: list[tuple[int, list[str]]] = []
    reader: Any = None
    try:
        delimiter = detect_delimiter(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for number, cells in enumerate(_counted(reader, advance), start=1):
            rows.append((number, [clean(c) for c in cells]))
    except csv.Error as exc:
        where = name
        if reader is not None and reader.line_num:
            where = _("{file}: line {line}").format(file=name, line=reader.line_num)
        if "field limit" in str(exc):
            raise RosterFileError(
                _(
                    "{where}: a cell longer than {limit} characters: not a roster "
                    '(an unclosed quote " makes the rest of the file one cell; check the quotes)'
                ).format(where=where, limit=csv.field_size_limit())
            ) from None
        # The csv module's own reason stays as it says it.
        raise RosterFileError(
            _("{where}: not a readable CSV table ({reason})").format(where=where, reason=exc)
        ) from None
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


def load_xlsx(data: bytes, name: str, max_bytes: int, advance: Advance | None = None) -> Table:
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
                    _(
                        "{file}: the workbook expands to {size}, more than {times} times "
                        "the {limit} a roster file may have: check it is the right file"
                    ).format(
                        file=name,
                        size=_megabytes(expanded),
                        times=XLSX_EXPANSION,
                        limit=_megabytes(max_bytes),
                    )
                )
            formulas = _has_formulas(archive)
        return _read_workbook(data, name, formulas, advance)
    except RosterFileError:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many types for a damaged file
        raise RosterFileError(
            _("{file}: not a readable XLSX workbook ({reason})").format(
                file=name, reason=f"{type(exc).__name__}: {exc}"
            )
        ) from None


def _read_workbook(data: bytes, name: str, formulas: bool, advance: Advance | None) -> Table:
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows: list[tuple[int, list[str]]] = []
        raw: list[tuple[Any, ...]] = []
        chosen = 0
        for index, sheet in enumerate(book.worksheets):
            chosen = index
            if hasattr(sheet, "reset_dimensions"):  # a chart sheet has no cells
                sheet.reset_dimensions()
            raw = (
                list(_counted(sheet.iter_rows(values_only=True), advance))
                if hasattr(sheet, "iter_rows")
                else []
            )
            rows = [(number, [clean(c) for c in values]) for number, values in enumerate(raw, start=1)]
            if find_header(rows) is not None:
                break
    finally:
        book.close()
    header = find_header(rows)
    if formulas and header is not None:
        _check_formula_values(data, name, chosen, raw, rows[header][0])
    return Table(rows=rows, encoding="xlsx")


def _check_formula_values(
    data: bytes, name: str, sheet_index: int, values: list[tuple[Any, ...]], first_row: int
) -> None:
    """Refuse a table with formula cells that have no stored value (openpyxl would read them as empty)."""
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
        if len(missing) > 1:
            more = ngettext(
                "{file}: sheet «{sheet}», cell {cell} (and {count} more): formula without a value",
                "{file}: sheet «{sheet}», cell {cell} (and {count} more): formulas without a value",
                len(missing) - 1,
            )
        else:
            more = _("{file}: sheet «{sheet}», cell {cell}: formula without a value")
        where = more.format(file=name, sheet=title, cell=missing[0], count=len(missing) - 1)
        raise RosterFileError(
            _(
                "{where}: save the workbook in Excel (or LibreOffice Calc) so that the formulas' results are "
                "stored, then try again"
            ).format(where=where)
        )


def load_table(
    path: Path, max_bytes: int | None = None, name: str | None = None, advance: Advance | None = None
) -> Table:
    """The file's rows (``advance`` moves on as they are read: a large workbook takes a while)."""
    label = name or str(path)
    limit = max_roster_bytes() if max_bytes is None else max_bytes
    data = read_file_bytes(path, limit, label)
    if path.suffix.lower() in (".xlsx", ".xlsm") or data[:4] == b"PK\x03\x04":
        return load_xlsx(data, label, limit, advance)
    if path.suffix.lower() == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise RosterFileError(
            _("{file}: old Excel .xls files are not read; save it as .xlsx or CSV").format(file=label)
        )
    return load_csv(data, label, advance)

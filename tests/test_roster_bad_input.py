"""Bad roster files never end in a traceback or a hang: `roster check`, `roster sync` and the service's roster
job each stop with one line naming the file (exit 2 for the commands, a held change for the service).

Also: an XLSX whose recorded <dimension> is stale is read whole."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import signal
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from sync.roster.read import RosterFileError, read_roster
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE, HEADER, cohort, participant, standard_rows

Run = Callable[..., Result]


@contextlib.contextmanager
def no_hang(seconds: int = 10) -> Iterator[None]:
    """Fail the test instead of hanging it (a FIFO read blocks until a writer comes)."""

    def give_up(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"still running after {seconds}s: the reader blocked")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows([HEADER, *rows])
    return buffer.getvalue().encode("utf-8")


def big_cell(tmp_path: Path) -> Path:
    path = tmp_path / "big-cell.csv"
    # An unclosed quote: the rest of the file becomes one cell, longer than the csv module's limit.
    path.write_bytes(csv_bytes(standard_rows()[:2]) + b'KAM21-099;"Broken ' + b"x" * 200_000 + b"\n")
    return path


def nul_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "nul.csv"
    path.write_bytes(csv_bytes(standard_rows()[:3]).replace(b"p2@example.org", b"p2@exa\x00mple.org"))
    return path


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "roster-pipe.csv"
    os.mkfifo(path)
    return path


def too_big(tmp_path: Path) -> Path:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # sparse: 51 MB on paper, nothing on the disk
        handle.write(csv_bytes(standard_rows()))
        handle.truncate(51 * 1024 * 1024)
    return path


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADER))
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def formula_without_value(tmp_path: Path) -> Path:
    rows: list[list[object]] = [list(r) for r in standard_rows()[:3]]
    rows[1][1] = '=CONCATENATE("Участникова2", " Анна")'  # openpyxl stores no computed value
    return xlsx(tmp_path / "formula.xlsx", rows)


def random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "random.csv"
    path.write_bytes(bytes(range(1, 256)) * 8)  # no NUL: that has its own message
    return path


def broken_xlsx(tmp_path: Path) -> Path:
    whole = xlsx(tmp_path / "whole.xlsx", [list(r) for r in standard_rows()]).read_bytes()
    path = tmp_path / "broken.xlsx"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def bad_bom(tmp_path: Path) -> Path:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes(standard_rows()[:2]) + b"\xff\xfe\xfa")
    return path


def empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    return path


def device(tmp_path: Path) -> Path:
    return Path("/dev/zero")


def directory(tmp_path: Path) -> Path:
    (tmp_path / "folder.csv").mkdir()
    return tmp_path / "folder.csv"


#: (bad file, what the one line says)
BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cell over the csv field limit": (big_cell, r"line \d+: a cell longer than 131072 characters"),
    "nul bytes": (nul_bytes, r"line 3 holds NUL bytes"),
    "fifo": (fifo, r"a named pipe \(FIFO\), not a roster file"),
    "device": (device, r"a character device, not a roster file"),
    "over the size cap": (too_big, r"51\.0 MB, more than the 50\.0 MB a roster file may have"),
    "formula without a value": (
        formula_without_value,
        r"cell B3: formula without a value: save the workbook in Excel",
    ),
    "random bytes": (random_bytes, r"no header row found"),
    "truncated xlsx": (broken_xlsx, r"not a readable XLSX workbook"),
    "invalid utf-8 after a bom": (bad_bom, r"marked as UTF-8 but byte \d+ is not UTF-8"),
    "empty file": (empty, r"the file is empty"),
    "directory": (directory, r"is a directory"),
}


def one_error_line(result: Result, path: Path, says: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"Error: {path}: "), line
    assert re.search(says, line), line


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_roster_check_and_sync_stop_with_one_line(
    case: str, fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    cohort(fake_moodle)
    make, says = BAD_FILES[case]
    path = make(tmp_path)
    with no_hang():
        one_error_line(run_cli("roster", "check", str(path)), path, says)
        one_error_line(run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE), path, says)
    assert [name for name, _ in fake_moodle.calls if "_get_" not in name] == []  # nothing written


def test_the_size_cap_is_configurable(run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(csv_bytes(standard_rows()))  # about 2 KB
    monkeypatch.setenv("ACCEL_ROSTER_MAX_MB", "0.001")
    one_error_line(
        run_cli("roster", "check", str(path)), path, r"more than the 0\.0 MB a roster file may have"
    )
    config = tmp_path / "accelerator.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + "\n[roster]\nmax_file_mb = 1\n", encoding="utf-8")
    assert run_cli("roster", "check", str(path), config=config).exit_code == 0  # the configuration wins
    monkeypatch.setenv("ACCEL_ROSTER_MAX_MB", "lots")
    result = run_cli("roster", "check", str(path))
    assert (
        result.exit_code == 2
        and "ACCEL_ROSTER_MAX_MB='lots': expected a number of megabytes" in result.output
    )


def test_service_holds_a_fifo_or_a_formula_roster_without_hanging(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import write_config

    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    cohort(fake_moodle)
    for make in (fifo, formula_without_value, too_big):
        path = make(tmp_path)
        config = write_config(tmp_path, f'roster_file = "{path.name}"\n')
        with no_hang():
            result = run_cli("--config", str(config), "serve", "--once", "--job", "roster_sync")
        assert "Traceback" not in result.output
        assert re.search(rf"^roster_sync: held .*{re.escape(str(path))}: ", result.output, re.M), (
            result.output
        )
    assert [name for name, _ in fake_moodle.calls if "_get_" not in name and "message" not in name] == []


# --- a stale <dimension> ------------------------------------------------------------------------------------


def with_dimension(path: Path, ref: str) -> Path:
    """Rewrite the first sheet's <dimension ref="..."> in the zip, as tools that write a stale one do."""
    source = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
                assert n == 1
            new.writestr(info, data)
    path.write_bytes(out.getvalue())
    return path


def test_an_xlsx_with_a_stale_dimension_is_read_whole(tmp_path: Path) -> None:
    rows: list[list[object]] = [list(participant(n, "Команда А")) for n in range(1, 21)]
    path = with_dimension(xlsx(tmp_path / "roster.xlsx", rows), "B2:C4")  # 20 people recorded as 3 rows
    roster = read_roster(path)
    assert roster.errors == []
    assert len(roster.people) == 20 and roster.people[-1].email == "p20@example.org"
    assert roster.people[0].application == "KAM21-001"  # column A, left of the recorded range, is read too


def test_formula_cells_with_stored_values_are_read(tmp_path: Path) -> None:
    rows: list[list[object]] = [list(r) for r in standard_rows()[:2]]
    rows[0][5] = '=UPPER("Команда а")'
    path = xlsx(tmp_path / "f.xlsx", rows)
    # What Excel saves: the formula and its last computed value side by side (openpyxl leaves <v/> empty).
    source = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(
                    rb'<c r="F2"><f>(.*?)</f><v\s*/>',
                    '<c r="F2" t="str"><f>\\1</f><v>КОМАНДА А</v>'.encode(),
                    data,
                )
                assert n == 1
            new.writestr(info, data)
    path.write_bytes(out.getvalue())
    roster = read_roster(path)
    assert roster.errors == [] and roster.people[0].team == "КОМАНДА А"


def test_a_workbook_expanding_far_past_the_cap_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "bomb.xlsx", [list(r) for r in standard_rows()])
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/filler.bin", b"\0" * 2_000_000)  # compresses to a few KB
    assert path.stat().st_size < 50_000
    with pytest.raises(RosterFileError, match=r"expands to 1\.9 MB, more than 10 times the 0\.1 MB"):
        read_roster(path, max_bytes=100_000)


# --- random bytes: only the product's own error ---------------------------------------------------------------

_REAL_XLSX = io.BytesIO()
_book = Workbook()
_sheet = _book.active
assert _sheet is not None
_sheet.append(list(HEADER))
_sheet.append(participant(1, "Команда А"))
_book.save(_REAL_XLSX)

prefixes = st.sampled_from(
    [b"", b"PK\x03\x04", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", ";".join(HEADER).encode("utf-8") + b"\n"]
)


@st.composite
def damaged_xlsx(draw: st.DrawFn) -> bytes:
    data = bytearray(_REAL_XLSX.getvalue())
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        data[draw(st.integers(min_value=0, max_value=len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(min_value=1, max_value=len(data)))])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.tuples(prefixes, st.binary(max_size=600)).map(lambda t: t[0] + t[1]), damaged_xlsx()),
    suffix=st.sampled_from([".csv", ".xlsx", ".txt"]),
)
def test_property_random_bytes_give_a_roster_or_the_products_error(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    try:
        read_roster(path)
    except RosterFileError as exc:
        assert str(exc).startswith(f"{path}: ") or str(exc).startswith("ACCEL_ROSTER_MAX_MB")

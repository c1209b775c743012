"""Reading rosters: every accepted format and encoding, validation naming file/row/column, and properties."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from sync.roster.names import USERNAME_RE, assign_usernames, slug, transliterate, username_base
from sync.roster.read import RosterFileError, read_roster
from sync.roster.read.headers import parse_modules, parse_role, split_fullname
from tests.fake_moodle import FakeMoodle

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "roster-kamchatka-2021.csv"
CONFIG = ROOT / "examples" / "kamchatka-2021.toml"
Run = Callable[..., Result]


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


RU_HEADER = ["Номер заявки", "ФИО", "Email", "Населённый пункт", "Муниципальный район", "Команда", "Роль"]
RU_ROWS = [
    [
        "A-1",
        "Иванова Анна Сергеевна",
        "anna@example.org",
        "Шаромы",
        "Мильковский МР",
        "Команда «Шаромы»",
        "участник",
    ],
    ["A-2", "Щукин Пётр", "petr@example.org", "Эссо", "Быстринский МР", "Эссо; тропа", "Участник"],
    ["", "Наставникова Наталья", "mentor@example.org", "", "", "", "наставник"],
]


def test_the_example_roster_is_valid_cp1251_with_semicolons() -> None:
    roster = read_roster(EXAMPLE)
    assert (roster.encoding, roster.delimiter, roster.format) == ("cp1251", ";", "table")
    assert roster.errors == [] and len(roster.people) == 37
    first = roster.people[0]
    assert (first.row, first.lastname, first.firstname, first.middlename) == (
        4,
        "Иванова",
        "Анна",
        "Сергеевна",
    )
    assert (
        first.village == "Шаромы" and first.district == "Мильковский МР" and first.application == "KAM21-001"
    )
    assert len(roster.teams()) == 9
    ngo = next(p for p in roster.people if p.lastname == "Адуканова")
    assert ngo.team == "АНО «Эвенское наследие»" and ngo.modules == frozenset({2, 3})
    mentor = next(p for p in roster.people if p.role == "mentor" and p.lastname == "Консультантов")
    assert "АНО «Эвенское наследие»" in mentor.mentor_teams
    expert = next(p for p in roster.people if p.role == "expert" and p.lastname == "Оценщикова")
    assert expert.modules == frozenset({3})  # experts: the project fair by default


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [
        ("utf-8", ","),
        ("utf-8-sig", ","),
        ("utf-8-sig", ";"),
        ("cp1251", ";"),
        ("cp1251", ","),
        ("utf-16", "\t"),
    ],
)
def test_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str) -> None:
    roster = read_roster(write(tmp_path / "r.csv", [RU_HEADER, *RU_ROWS], encoding, delimiter))
    assert roster.errors == []
    assert [p.email for p in roster.people] == ["anna@example.org", "petr@example.org", "mentor@example.org"]
    assert roster.people[1].lastname == "Щукин" and roster.people[1].team == "Эссо; тропа"
    assert roster.people[2].role == "mentor" and roster.people[2].mentor_teams == ()  # every team


def test_english_headers_split_names_and_module_columns(tmp_path: Path) -> None:
    rows = [
        [
            "Application number",
            "Last name",
            "First name",
            "E-mail",
            "Village",
            "District",
            "Team",
            "Role",
            "Module 1",
            "Module 2",
            "Module 3",
        ],
        [
            "7",
            "Ivanova",
            "Anna",
            "ANNA@Example.org",
            "Milkovo",
            "Milkovsky",
            "Team A",
            "participant",
            "yes",
            "",
            "x",
        ],
        ["8", "Petrov", "Ivan", "ivan@example.org", "Milkovo", "Milkovsky", "team  a", "Student", "", "", ""],
        ["", "Expert", "Eve", "eve@example.org", "", "", "", "Expert", "", "", ""],
    ]
    roster = read_roster(write(tmp_path / "r.csv", rows))
    assert roster.errors == []
    assert roster.people[0].modules == frozenset({1, 3})
    assert roster.people[1].modules == frozenset({1, 2, 3})  # nothing ticked: the default
    assert roster.people[2].modules == frozenset({3})
    assert list(roster.teams()) == ["Team A"]  # "team  a" is the same team


def test_xlsx_with_a_title_row_and_numbers(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Реестр участников акселератора"])
    sheet.append(
        ["№ заявки", "Фамилия", "Имя", "Отчество", "Эл. почта", "Телефон", "Район", "Команда", "Роль"]
    )
    sheet.append(
        [101, "Иванова", "Анна", "Сергеевна", "anna@example.org", 89140000000, "Мильковский МР", "А", None]
    )
    sheet.append([102.0, "Петров", "Иван", None, "ivan@example.org", None, "Мильковский МР", "А", "участник"])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    roster = read_roster(path)
    assert roster.errors == [] and roster.encoding == "xlsx"
    assert [p.application for p in roster.people] == ["101", "102"]
    assert roster.people[0].phone == "89140000000" and roster.people[0].row == 3
    assert roster.people[0].role == "participant"


def test_moodle_bulk_upload_csv(tmp_path: Path) -> None:
    rows = [
        [
            "username",
            "firstname",
            "lastname",
            "email",
            "idnumber",
            "department",
            "course1",
            "role1",
            "group1",
            "course2",
            "role2",
            "group2",
            "course3",
            "role3",
            "group3",
        ],
        [
            "kam21.p0",
            "Анна",
            "Иванова",
            "p0@example.org",
            "APP-0",
            "Мильковский МР",
            "KAM21-M1",
            "student",
            "Команда «Шаромы»",
            "KAM21-M2",
            "student",
            "Команда «Шаромы»",
            "",
            "",
            "",
        ],
        [
            "Kam21.Mentor",
            "Наталья",
            "Наставникова",
            "m@example.org",
            "",
            "",
            "KAM21-M1",
            "teacher",
            "Команда «Шаромы»",
            "KAM21-M2",
            "teacher",
            "",
            "",
            "",
            "",
        ],
        [
            "kam21.expert",
            "Эдуард",
            "Экспертов",
            "e@example.org",
            "",
            "",
            "KAM21-M3",
            "teacher",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
    ]
    roster = read_roster(
        write(tmp_path / "upload.csv", rows), course_modules={"KAM21-M1": 1, "KAM21-M2": 2, "KAM21-M3": 3}
    )
    assert roster.format == "moodle-upload" and roster.errors == []
    anna, mentor, expert = roster.people
    assert (anna.username, anna.application, anna.team, anna.modules) == (
        "kam21.p0",
        "APP-0",
        "Команда «Шаромы»",
        frozenset({1, 2}),
    )
    assert (
        mentor.role == "mentor"
        and mentor.username == "kam21.mentor"
        and mentor.mentor_teams == ("Команда «Шаромы»",)
    )
    assert expert.role == "expert" and expert.modules == frozenset({3})
    assert any("lowered" in w.message for w in roster.warnings)


def test_bulk_upload_unknown_course_and_role(tmp_path: Path) -> None:
    rows = [
        ["username", "firstname", "lastname", "email", "course1", "role1"],
        ["a.b", "А", "Б", "a@example.org", "OTHER-COURSE", "student"],
        ["c.d", "В", "Г", "c@example.org", "KAM21-M1", "wizard"],
    ]
    roster = read_roster(write(tmp_path / "u.csv", rows), course_modules={"KAM21-M1": 1})
    messages = [str(p) for p in roster.errors]
    assert any("row 2, column «course1»" in m and "OTHER-COURSE" in m for m in messages)
    assert any("row 3, column «role1»" in m and "wizard" in m for m in messages)


def test_every_problem_names_file_row_and_column(tmp_path: Path) -> None:
    rows = [
        RU_HEADER,
        ["A-1", "Иванова Анна", "anna@example.org", "Шаромы", "Мильковский МР", "Команда 1", "участник"],
        ["A-2", "", "x@example.org", "Шаромы", "Мильковский МР", "Команда 1", "участник"],  # missing name
        ["A-3", "Петров", "p@example.org", "Шаромы", "Мильковский МР", "Команда 1", "участник"],  # one word
        ["A-4", "Сидорова Ольга", "not-an-email", "Шаромы", "Мильковский МР", "Команда 1", "участник"],
        ["A-1", "Иванова Анна", "anna2@example.org", "Шаромы", "Мильковский МР", "Команда 1", "участник"],
        ["A-6", "Козлов Пётр", "ANNA@example.org", "Шаромы", "Мильковский МР", "Команда 1", "участник"],
        ["A-7", "Смирнова Мария", "m@example.org", "Шаромы", "Мильковский МР", "Команда 1", "волшебник"],
        [
            "A-8",
            "Попов Сергей",
            "s@example.org",
            "Эссо",
            "",
            "Команда 2",
            "участник",
        ],  # team without district
        ["A-9", "Волкова Елена", "e@example.org", "Эссо", "Быстринский МР", "Команда 1", "участник"],
    ]
    path = write(tmp_path / "roster.csv", rows)
    roster = read_roster(path)
    found = {(p.row, p.column) for p in roster.errors}
    assert found == {
        (3, "ФИО"),
        (4, "ФИО"),
        (5, "Email"),
        (6, "Номер заявки"),
        (7, "Email"),
        (8, "Роль"),
        (9, "Муниципальный район"),
        (10, "Муниципальный район"),
    }
    text = "\n".join(str(p) for p in roster.errors)
    assert f"{path}, row 6, column «Номер заявки»: the same person twice" in text
    assert "also on row 2" in text and "волшебник" in text and "«Команда 2» has no district" in text
    assert "«Команда 1» is in «Мильковский МР» on row 2 but in «Быстринский МР» here" in text
    assert [p.row for p in roster.valid_people()] == [2]


def test_not_a_roster(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="no header row"):
        read_roster(write(tmp_path / "x.csv", [["a", "b"], ["1", "2"]]))
    with pytest.raises(RosterFileError, match="no such file"):
        read_roster(tmp_path / "missing.csv")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(RosterFileError, match="xlsx"):
        read_roster(tmp_path / "old.xls")


def test_cell_parsers() -> None:
    assert parse_modules("1, 3") == frozenset({1, 3})
    assert parse_modules("м1 м2") == frozenset({1, 2})
    assert parse_modules("Модули 2 и 3") == frozenset({2, 3})
    assert parse_modules("все") == frozenset({1, 2, 3})
    assert parse_modules("1 3") == frozenset({1, 3})  # a list, like "м1 м3"; not the range "1-3"
    assert parse_modules("1-3") == parse_modules("1 – 3") == frozenset({1, 2, 3})
    assert parse_modules("4") is None and parse_modules("кое-какие") is None
    assert parse_role("") == "participant" and parse_role("Эксперт") == "expert" and parse_role("x") is None
    assert split_fullname("Иванова Анна Сергеевна") == ("Иванова", "Анна", "Сергеевна")
    assert split_fullname("Мамедов Ильхам Гейдар оглы") == ("Мамедов", "Ильхам", "Гейдар оглы")


def test_check_command_is_offline(fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path) -> None:
    ok = run_cli("roster", "check", str(EXAMPLE), config=CONFIG)
    assert ok.exit_code == 0 and "The roster is valid" in ok.output and "cp1251" in ok.output
    bad = write(tmp_path / "bad.csv", [RU_HEADER, ["A-1", "Иванова Анна", "bad@", "", "", "", "участник"]])
    result = run_cli("roster", "check", str(bad))
    assert result.exit_code == 1 and "row 2, column «Email»" in result.output
    assert fake_moodle.calls == []
    missing = run_cli("roster", "check", str(tmp_path / "none.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.output


# --- properties ---------------------------------------------------------------------------------------------

RUSSIAN = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
word = st.text(alphabet=RUSSIAN, min_size=1, max_size=12).map(str.capitalize)
team_name = (
    st.text(alphabet=RUSSIAN + ' «»;,-"0123456789', min_size=1, max_size=20)
    .map(str.strip)
    .filter(lambda t: any(c.isalpha() for c in t))
)


@st.composite
def rosters(draw: st.DrawFn) -> list[tuple[str, str, str, str, str]]:
    n = draw(st.integers(min_value=1, max_value=12))
    teams = draw(
        st.lists(
            team_name,
            min_size=1,
            max_size=3,
            unique_by=lambda t: " ".join(
                t.casefold().replace("ё", "е").replace("«", "").replace("»", "").replace('"', "").split()
            ),
        )
    )
    out = []
    for i in range(n):
        out.append((draw(word), draw(word), f"user{i}@example.org", draw(st.sampled_from(teams)), f"APP-{i}"))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=rosters(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]),
    delimiter=st.sampled_from([",", ";"]),
)
def test_property_written_rosters_read_back(
    tmp_path: Path, people: list[tuple[str, str, str, str, str]], encoding: str, delimiter: str
) -> None:
    rows = [["Фамилия", "Имя", "E-mail", "Команда", "Муниципальный район", "№ заявки"]]
    rows += [[last, first, email, team, "Мильковский МР", app] for last, first, email, team, app in people]
    roster = read_roster(write(tmp_path / "p.csv", rows, encoding, delimiter))
    assert roster.errors == []
    got = [(p.lastname, p.firstname, p.email, p.team, p.application) for p in roster.people]
    assert got == [
        (last, first, email, " ".join(team.split()), app) for last, first, email, team, app in people
    ]
    assert [p.row for p in roster.people] == list(range(2, len(people) + 2))


@given(st.text(max_size=30), st.text(max_size=30))
def test_property_username_base_is_always_acceptable_to_moodle(first: str, last: str) -> None:
    base = username_base(first, last)
    assert base and USERNAME_RE.match(base) and len(base) <= 60
    assert slug(first) and USERNAME_RE.match(slug(first))


@given(
    st.lists(st.tuples(word, word), min_size=1, max_size=30),
    st.sets(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.2345", min_size=1, max_size=15), max_size=30),
)
def test_property_assigned_usernames_are_unique_valid_and_free(
    names: list[tuple[str, str]], taken: set[str]
) -> None:
    bases = {f"k{i}": username_base(first, last) for i, (first, last) in enumerate(names)}
    result = assign_usernames(bases, lambda name: name in taken)
    assert set(result) == set(bases)
    assert len(set(result.values())) == len(result)
    for key, username in result.items():
        assert USERNAME_RE.match(username) and username not in taken
        assert username.startswith(bases[key])
    # Deterministic: the same roster gives the same usernames.
    assert assign_usernames(bases, lambda name: name in taken) == result


def test_transliteration_is_readable() -> None:
    assert username_base("Наталья", "Щукина") == "natalya.shchukina"
    assert username_base("Юлия", "Подъячева") == "yuliya.podyacheva"
    assert username_base("Пётр", "Ёлкин") == "pyotr.yolkin"
    assert slug("Мильковский МР") == "milkovsky-mr"
    assert transliterate("Эссо") == "Esso"


def test_team_names_match_moodles_escaped_group_names() -> None:
    from sync.core.vocabulary import team_key

    # Moodle answers group names through format_string: "&" arrives as "&amp;".
    assert team_key("Команда «Рыбаки &amp; охотники»") == team_key('Команда "Рыбаки & охотники"')
    assert team_key("Ёлки  ") == team_key("елки")

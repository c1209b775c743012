"""The roster of a test cohort, written as the coordinators write it, and what it means for Moodle.

The file is the shape of `examples/roster-kamchatka-2021.csv`: Windows-1251, `;`, a title row above the
header, Russian headers, mentors with their teams' list in one quoted cell, experts, a coordinator and a
young NGO's participants who join in module 2. Every email and application number carries the cohort's
code, so cohorts of different runs never share a person.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

HEADER = (
    "№ заявки",
    "Фамилия",
    "Имя",
    "Отчество",
    "E-mail",
    "Телефон",
    "Населённый пункт",
    "Муниципальный район",
    "Инициативная группа",
    "НКО",
    "Роль",
    "Модули",
    "Команды наставника",
)

MILKOVO = "Мильковский МР"
BYSTRAYA = "Быстринский МР"
# team, village, district, members (surname, first name, patronymic)
TEAMS: tuple[tuple[str, str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Шаромы — наш дом",
        "Шаромы",
        MILKOVO,
        (
            ("Ермолаева", "Вероника", "Олеговна"),
            ("Шестаков", "Тимофей", "Андреевич"),
            ("Крылова", "Полина", "Игоревна"),
            ("Зуев", "Арсений", "Павлович"),
        ),
    ),
    (
        "Мильковские волонтёры",
        "Мильково",
        MILKOVO,
        (
            ("Рябова", "Кира", "Станиславовна"),
            ("Гусев", "Матвей", "Ильич"),
            ("Лыткина", "Злата", "Романовна"),
            ("Дорофеев", "Ефим", "Маркович"),
        ),
    ),
    (
        "Долиновка 2.0",
        "Долиновка",
        MILKOVO,
        (
            ("Соловьёва", "Алиса", "Денисовна"),
            ("Тихонов", "Всеволод", "Юрьевич"),
            ("Мельникова", "Ярослава", "Петровна"),
            ("Жуков", "Савелий", "Артёмович"),
        ),
    ),
    (
        "Атласовские зори",
        "Атласово",
        MILKOVO,
        (
            ("Ковалёва", "Милана", "Глебовна"),
            ("Баранов", "Лев", "Никитич"),
            ("Осипова", "Ульяна", "Львовна"),
            ("Карпов", "Платон", "Егорович"),
        ),
    ),
    (
        "Лазо — территория добра",
        "Лазо",
        MILKOVO,
        (
            ("Фомина", "Василиса", "Тимуровна"),
            ("Лукин", "Мирон", "Фёдорович"),
            ("Блинова", "Есения", "Максимовна"),
            ("Данилов", "Прохор", "Олегович"),
        ),
    ),
    (
        "Эссо: тропа эвенов",
        "Эссо",
        BYSTRAYA,
        (
            ("Ильина", "Стефания", "Вадимовна"),
            ("Медведев", "Гордей", "Антонович"),
            ("Суханова", "Агата", "Кирилловна"),
            ("Пахомов", "Елисей", "Германович"),
        ),
    ),
    (
        "Быстринские мастера",
        "Эссо",
        BYSTRAYA,
        (
            ("Куликова", "Таисия", "Яковлевна"),
            ("Рожков", "Демид", "Ростиславович"),
            ("Шарова", "Олеся", "Эдуардовна"),
            ("Чистяков", "Назар", "Витальевич"),
        ),
    ),
)
NGO = "АНО «Эвенское наследие»"  # a young NGO: no team column, joins in module 2; its group is the NGO's name
NGO_MEMBERS = (("Нутэвги", "Айвана", "Петровна"), ("Солодиков", "Игнат", "Семёнович"))
MENTOR_TEAMS = (
    ("Шаромы — наш дом", "Мильковские волонтёры", "Долиновка 2.0", "Атласовские зори"),
    ("Лазо — территория добра", "Эссо: тропа эвенов", "Быстринские мастера", NGO),
)

ROLE_WORDS = {
    "participant": "участник",
    "mentor": "наставник",
    "expert": "эксперт",
    "coordinator": "координатор",
}


@dataclass(frozen=True)
class Person:
    number: str  # application number (the Moodle ID number); "" for staff
    surname: str
    name: str
    patronymic: str
    email: str
    village: str
    district: str
    team: str  # the team's group ("" for staff and for an NGO's people, whose group is the NGO)
    ngo: str
    role: str  # participant | mentor | expert | coordinator
    modules: tuple[str, ...]  # as written in the file's «Модули» column ("" = the role's default)
    mentor_teams: tuple[str, ...] = ()
    phone: str = ""

    @property
    def group(self) -> str:
        return self.team or (self.ngo if self.role == "participant" else "")

    def takes(self) -> tuple[str, ...]:
        """The modules (m1..m3) this person is enrolled in: participants and mentors all three unless the
        file says otherwise, experts module 3 (README: roster defaults)."""
        if self.modules:
            return tuple(f"m{m}" for m in self.modules)
        if self.role == "expert":
            return ("m3",)
        return ("m1", "m2", "m3")

    def row(self) -> tuple[str, ...]:
        return (
            self.number,
            self.surname,
            self.name,
            self.patronymic,
            self.email,
            self.phone,
            self.village,
            self.district,
            self.team,
            self.ngo,
            ROLE_WORDS[self.role],
            ", ".join(self.modules),
            "; ".join(self.mentor_teams),
        )


def cohort_people(code: str) -> list[Person]:
    prefix = code.upper()
    people: list[Person] = []
    n = 0
    for team, village, district, members in TEAMS:
        for surname, name, patronymic in members:
            n += 1
            people.append(
                Person(
                    f"{prefix}-{n:03d}",
                    surname,
                    name,
                    patronymic,
                    f"p{n:03d}.{code}@example.org",
                    village,
                    district,
                    team,
                    "",
                    "participant",
                    ("1", "2", "3"),
                    phone=f"+7 914 2{n:02d}-11-{n:02d}",
                )
            )
    for surname, name, patronymic in NGO_MEMBERS:
        n += 1
        people.append(
            Person(
                f"{prefix}-{n:03d}",
                surname,
                name,
                patronymic,
                f"p{n:03d}.{code}@example.org",
                "Эссо",
                BYSTRAYA,
                "",
                NGO,
                "participant",
                ("2", "3"),
            )
        )
    staff = (
        ("Наставницкая", "Раиса", "Львовна", "mentor1", "mentor", (), MENTOR_TEAMS[0]),
        ("Советников", "Аркадий", "Ильич", "mentor2", "mentor", (), MENTOR_TEAMS[1]),
        ("Жюриева", "Элеонора", "Марковна", "expert1", "expert", ("3",), ()),
        ("Рецензентов", "Филипп", "Юрьевич", "expert2", "expert", (), ()),
        ("Организаторова", "Инна", "Фёдоровна", "coordinator", "coordinator", (), ()),
    )
    for surname, name, patronymic, local, role, modules, teams in staff:
        people.append(
            Person(
                "",
                surname,
                name,
                patronymic,
                f"{local}.{code}@example.org",
                "Петропавловск-Камчатский",
                "",
                "",
                "Ресурсный центр НКО",
                role,
                modules,
                teams,
            )
        )
    return people


TITLE = "Реестр участников акселератора социальных проектов"


def write_csv(people: list[Person], path: Path) -> Path:
    """Windows-1251, `;`, a title row and an empty row above the header, as Excel saves it here."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([TITLE])
    writer.writerow([])
    writer.writerow(HEADER)
    for person in people:
        writer.writerow(person.row())
    path.write_bytes(buffer.getvalue().encode("cp1251"))
    return path


def write_xlsx(people: list[Person], path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Реестр"
    sheet.append([TITLE])
    sheet.append([])
    sheet.append(list(HEADER))
    for person in people:
        sheet.append(list(person.row()))
    book.save(path)
    return path


def moved(person: Person, team: str) -> Person:
    district = next(d for t, _v, d, _m in TEAMS if t == team)
    return replace(person, team=team, district=district)

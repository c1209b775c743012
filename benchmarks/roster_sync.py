"""Roster sync benchmark: request counts and times on the fake site with max_input_vars=1000.

    .venv/bin/python benchmarks/roster_sync.py [--sizes 100,1200,5000]

For each size it syncs a generated roster (participants in 50 teams across 2 districts, plus mentors and
experts) into an empty cohort of 3 courses, then syncs the unchanged file again. Targets (issue 4) for
1,200 participants: the first sync needs at most 60 requests; the unchanged re-sync makes no write and at
most 20 requests. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import responses

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.transport import MoodleClient  # noqa: E402
from sync.roster.plan import Roles  # noqa: E402
from sync.roster.read import read_roster  # noqa: E402
from sync.roster.sync import CohortCourse, apply_sync, plan_sync  # noqa: E402
from tests.fake_moodle import ADMIN_ID, FakeMoodle  # noqa: E402
from tests.fake_moodle.courses import add_course  # noqa: E402
from tests.fake_moodle.people import enrol  # noqa: E402

TEAMS = 50
DISTRICTS = (
    ("Мильковский МР", ("Шаромы", "Мильково", "Долиновка", "Атласово", "Лазо")),
    ("Быстринский МР", ("Эссо",)),
)
FIRST = (
    "Анна",
    "Иван",
    "Ольга",
    "Пётр",
    "Мария",
    "Сергей",
    "Елена",
    "Дмитрий",
    "Наталья",
    "Юрий",
    "Юлия",
    "Артём",
)
LAST = ("Иванов", "Петров", "Сидоров", "Козлов", "Смирнов", "Попов", "Волков", "Морозов", "Щукин", "Подъячев")
MIDDLE = ("Сергеевич", "Ивановна", "Петрович", "Алексеевна", "Николаевич", "Юрьевна")
COURSES = [CohortCourse(n, f"KAM21-M{n}", f"kam21-m{n}") for n in (1, 2, 3)]


def write_roster(path: Path, participants: int) -> None:
    with path.open("w", encoding="cp1251", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(
            [
                "№ заявки",
                "Фамилия",
                "Имя",
                "Отчество",
                "E-mail",
                "Телефон",
                "Населённый пункт",
                "Муниципальный район",
                "Инициативная группа",
                "Роль",
                "Команды наставника",
            ]
        )
        for n in range(participants):
            team = n % TEAMS
            district, villages = DISTRICTS[0] if team < TEAMS * 4 // 5 else DISTRICTS[1]
            writer.writerow(
                [
                    f"KAM21-{n:05d}",
                    LAST[n % len(LAST)],
                    FIRST[n % len(FIRST)],
                    MIDDLE[n % len(MIDDLE)],
                    f"p{n}@example.org",
                    f"+7 914 {n % 1000:03d}-00-00",
                    villages[team % len(villages)],
                    district,
                    f"Команда {team + 1}",
                    "участник",
                    "",
                ]
            )
        for m in range(5):
            teams = "; ".join(f"Команда {t + 1}" for t in range(m * 10, m * 10 + 10))
            writer.writerow(
                [
                    "",
                    "Наставников",
                    FIRST[m],
                    "",
                    f"mentor{m}@example.org",
                    "",
                    "",
                    "",
                    "",
                    "наставник",
                    teams,
                ]
            )
        for e in range(3):
            writer.writerow(
                ["", "Экспертов", FIRST[e], "", f"expert{e}@example.org", "", "", "", "", "эксперт", ""]
            )


def run(size: int, workdir: Path) -> dict[str, float]:
    site = FakeMoodle(max_input_vars=1000)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        site.install(mock)
        for course in COURSES:
            cid = add_course(
                site, shortname=course.shortname, fullname=course.shortname, idnumber=course.idnumber
            )
            enrol(site, cid, ADMIN_ID, 1)
        path = workdir / f"roster-{size}.csv"
        write_roster(path, size)
        roster = read_roster(path)
        assert not roster.errors, roster.errors[:3]
        out: dict[str, float] = {}
        for label in ("first", "again"):
            client = MoodleClient(site.url, site.token, max_input_vars=1000, sleep=lambda _s: None)
            started = time.perf_counter()
            outcome = plan_sync(client, roster, COURSES, roles=Roles())
            outcome = apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
            assert outcome.result is not None and outcome.result.ok, outcome.result
            out[f"{label}_requests"] = client.request_count
            out[f"{label}_writes"] = client.write_count
            out[f"{label}_seconds"] = time.perf_counter() - started
        return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1200,5000", help="participant counts, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    ok = True
    print(
        f"{'participants':>12} {'1st requests':>13} {'1st writes':>11} {'1st time':>9} "
        f"{'2nd requests':>13} {'2nd writes':>11} {'2nd time':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            r = run(size, Path(tmp))
            print(
                f"{size:>12} {r['first_requests']:>13.0f} {r['first_writes']:>11.0f} {r['first_seconds']:>8.2f}s "
                f"{r['again_requests']:>13.0f} {r['again_writes']:>11.0f} {r['again_seconds']:>8.2f}s"
            )
            if size == 1200:
                ok &= r["first_requests"] <= 60 and r["again_writes"] == 0 and r["again_requests"] <= 20
    print(
        "targets for 1,200 (first <= 60 requests; re-sync 0 writes, <= 20 requests):",
        "met" if ok else "MISSED",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Real-site benchmark (issue 11): `accel` against Moodle's own bulk upload, on the Moodle in the environment.

    set -a; . /opt/moodle-site/site.env; set +a
    .venv/bin/python benchmarks/real_site.py [--participants 1200] [--concurrency 1,4] [--json FILE]

In one run, on the site named by MOODLE_URL / MOODLE_TOKEN (MOODLE_MAX_INPUT_VARS as the product reads it):

1. for each concurrency (default 1 and 4), a fresh cohort (its own code and its own people): a roster of
   1,200 participants in 50 teams of two municipal districts, 10 mentors (5 teams each) and 5 experts;
   `accel provision --apply` (not timed), then, timed, `accel roster sync --apply` (the initial sync), the same
   sync again (a no-op) and `accel indicators gather`, each as the `accel` command with `--stats` for its
   request counts. The concurrency goes in MOODLE_CONCURRENCY (and `--concurrency N` when the CLI has it);
2. Moodle's own `admin/tool/uploaduser/cli/uploaduser.php`, on the site's machine (MOODLE_CONFIG is its
   config.php), with the same people (new accounts: its own usernames and emails) into three fresh courses
   made by `accel provision --apply` for a cohort of its own: users, enrolments with the same roles, and the
   same groups (course1..N / role1..N / group1..N columns; a mentor has one column triple per team and course;
   it makes each group the first time it is named). It has no district groupings: accel's sync does that too;
3. a last cohort whose 1,200 participants have the names of the first cohort's (each new person has a
   namesake on the site), synced once at the last concurrency: its requests show what namesakes cost. With
   ``--prior-namesakes K``, uploaduser.php first makes K more accounts per name with the usernames accel
   would give the next namesakes (``irina.ivanova2``...; the product's own username function), as earlier
   cohorts would have left them: issue 11 saw 2,113 requests when the first probe (``name2``..``name(n+4)``)
   was used up.

It prints requests, seconds and the ratio of accel's initial sync to uploaduser.php for each concurrency, and
the targets of issue 11 (initial sync <= 0.8 x uploaduser.php, no-op re-sync <= 12 s, gather <= 20 s, at
the highest concurrency); exit status 1 when one is missed, 2 when a step failed.

Names: surnames are made per run from Russian syllables (with the letters that transliterate in two ways:
ж, щ, ё, ю, я...), so a cohort of this run has no namesake left by an earlier run; the third cohort makes
them on purpose. Every cohort, course and account stays on the site (codes `bm<hex>...`, emails
`...@example.org`); the files (rosters, configurations, stores, outputs) stay in the work folder it prints.

It loads the site hard (two cores here): it waits while the integration suite runs (a `pytest` process with
`tests/integration` on its command line), unless --no-wait.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEAMS = 50
MENTORS = 10
EXPERTS = 5
DISTRICTS = (
    ("Мильковский МР", ("Шаромы", "Мильково", "Долиновка", "Атласово", "Лазо")),
    ("Быстринский МР", ("Эссо", "Анавгай")),
)
# Syllables of the made-up surnames: the letters with more than one Latin spelling are among them.
SYLLABLES = (
    "ба", "ве", "го", "да", "жу", "зо", "ки", "ло", "му", "не", "по", "ру", "са", "ту", "фё", "ха",
    "це", "чу", "ша", "щё", "бю", "ля", "ер", "ош", "ыр", "эл",
)  # fmt: skip
#: the last consonant of a surname's root, before -ов / -ова
CODAS = ("н", "в", "р", "л", "к", "ш", "ч", "т", "д")
FEMALE = ("Ирина", "Анна", "Ольга", "Мария", "Елена", "Наталья", "Юлия", "Ксения", "Дарья", "Алёна")
MALE = ("Иван", "Пётр", "Сергей", "Дмитрий", "Юрий", "Артём", "Алексей", "Николай", "Фёдор", "Илья")
PATRONYMIC = {"f": ("Сергеевна", "Ивановна", "Петровна"), "m": ("Сергеевич", "Иванович", "Петрович")}
TARGET_RATIO = 0.8
FUNCTION_LOOKUP = "core_user_get_users_by_field"
TARGET_RESYNC_SECONDS = 12.0
TARGET_GATHER_SECONDS = 20.0
_REQUESTS_LINE = re.compile(r"^requests: (\d+) \((\d+) writes?\)", re.M)
_FUNCTION_LINE = re.compile(r"^\s+(\w+): (\d+)(?: \((\d+) writes?\))?$", re.M)


class StepFailed(Exception):
    """A step of the benchmark did not do its work: the numbers would mean nothing."""


# -- people ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    number: int
    lastname: str
    firstname: str
    middlename: str
    role: str  # участник / наставник / эксперт
    team: int | None = None  # participants
    teams: tuple[int, ...] = ()  # mentors

    @property
    def modules(self) -> tuple[int, ...]:
        return (3,) if self.role == "эксперт" else (1, 2, 3)


def surname_roots(rng: random.Random, count: int) -> list[str]:
    roots: set[str] = set()
    while len(roots) < count:
        roots.add(("".join(rng.choice(SYLLABLES) for _ in range(3)) + rng.choice(CODAS)).capitalize())
    return sorted(roots)


def make_people(participants: int, rng: random.Random) -> list[Person]:
    """``participants`` people in TEAMS teams, MENTORS mentors and EXPERTS experts, no two with one name."""
    per_root = len(FEMALE) + len(MALE)
    roots = surname_roots(rng, -(-participants // per_root) + MENTORS + EXPERTS)
    people: list[Person] = []

    def named(number: int, root: str, index: int, role: str, **more: Any) -> Person:
        female = index % 2 == 0
        first = (FEMALE if female else MALE)[(index // 2) % len(FEMALE)]
        last = root + ("ова" if female else "ов")
        middle = PATRONYMIC["f" if female else "m"][number % 3]
        return Person(number, last, first, middle, role, **more)

    for n in range(participants):
        people.append(named(n, roots[n // per_root], n % per_root, "участник", team=n % TEAMS))
    spare = roots[-(MENTORS + EXPERTS) :]
    per_mentor = TEAMS // MENTORS
    for m in range(MENTORS):
        teams = tuple(range(m * per_mentor, (m + 1) * per_mentor))
        people.append(named(participants + m, spare[m], m, "наставник", teams=teams))
    for e in range(EXPERTS):
        people.append(named(participants + MENTORS + e, spare[MENTORS + e], e, "эксперт"))
    return people


def team_name(team: int) -> str:
    return f"Команда {team + 1:02d}"


def team_place(team: int) -> tuple[str, str]:
    """(village, district) of a team: four fifths in the first district."""
    district, villages = DISTRICTS[0] if team < TEAMS * 4 // 5 else DISTRICTS[1]
    return villages[team % len(villages)], district


def email(person: Person, code: str) -> str:
    return f"p{person.number:05d}.{code}@example.org"


def write_roster(path: Path, people: list[Person], code: str) -> None:
    """The coordinators' roster (CSV, ';', Russian headers), as `accel roster sync` reads it."""
    with path.open("w", encoding="utf-8", newline="") as handle:
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
        for p in people:
            village, district = team_place(p.team) if p.team is not None else ("", "")
            writer.writerow(
                [
                    f"{code.upper()}-{p.number:05d}" if p.role == "участник" else "",
                    p.lastname,
                    p.firstname,
                    p.middlename,
                    email(p, code),
                    f"+7 914 {p.number % 1000:03d}-{p.number // 1000:02d}-00" if p.role == "участник" else "",
                    village,
                    district,
                    team_name(p.team) if p.team is not None else "",
                    p.role,
                    "; ".join(team_name(t) for t in p.teams),
                ]
            )


def write_uploaduser_csv(path: Path, people: list[Person], code: str, shortnames: dict[int, str]) -> int:
    """Moodle's upload-users CSV for the same people into the courses ``shortnames`` (module -> short name):
    one course/role/group column triple per enrolment and team. Returns the number of enrolments."""
    rows: list[dict[str, str]] = []
    width = 0
    enrolments = 0
    for p in people:
        village = team_place(p.team)[0] if p.team is not None else ""
        row = {
            "username": f"{code}.p{p.number:05d}",
            "firstname": p.firstname,
            "lastname": p.lastname,
            "middlename": p.middlename,
            "email": email(p, code),
            "idnumber": f"{code.upper()}-{p.number:05d}" if p.role == "участник" else "",
            "city": village,
            "phone1": f"+7914{p.number % 1000:03d}{p.number // 1000:02d}00" if p.role == "участник" else "",
        }
        role = "student" if p.role == "участник" else "teacher"
        triples: list[tuple[str, str, str]] = []
        for module in p.modules:
            enrolments += 1
            teams = [p.team] if p.team is not None else list(p.teams)
            if not teams:
                triples.append((shortnames[module], role, ""))
            for team in teams:
                triples.append((shortnames[module], role, team_name(team)))
        for index, (course, rolename, group) in enumerate(triples, start=1):
            row[f"course{index}"] = course
            row[f"role{index}"] = rolename
            row[f"group{index}"] = group
        width = max(width, len(triples))
        rows.append(row)
    columns = ["username", "firstname", "lastname", "middlename", "email", "idnumber", "city", "phone1"]
    for index in range(1, width + 1):
        columns += [f"course{index}", f"role{index}", f"group{index}"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return enrolments


def config_text(code: str) -> str:
    return "\n".join(
        [
            "# A cohort made by benchmarks/real_site.py; its code is unique to the run.",
            "[cohort]",
            f'code = "{code}"',
            f'name = "Замер {code}"',
            'timezone = "Asia/Kamchatka"',
            f'short_name = "{code.upper()}"',
            "",
            "[category]",
            f'name = "Акселератор — замер {code}"',
            'description = "Создано benchmarks/real_site.py"',
            "parent = 0",
            "",
            '[modules.m1]\nstart = 2021-10-01\nend = 2021-10-31\ntemplate = "ACCEL-TPL-M1"',
            '[modules.m2]\nstart = 2021-11-01\nend = 2022-02-28\ntemplate = "ACCEL-TPL-M2"',
            '[modules.m3]\nstart = 2022-03-01\nend = 2022-03-31\ntemplate = "ACCEL-TPL-M3"',
            "",
            "[roles]\nstudent = 5\nmentor = 4\nexpert = 4\nservice = 1",
            "",
            "[[schedule.webinars]]",
            'title = "Вебинар: фандрайзинг для сельских инициатив"',
            "start = 2021-11-04T22:00:00",
            "duration = 90",
            "",
            "[[schedule.consultations]]",
            'title = "Групповая консультация: трудности проектов после школы"',
            "start = 2021-11-11T18:00:00",
            "duration = 60",
            "",
        ]
    )


# -- running accel and php ---------------------------------------------------------------------------------
@dataclass
class Measured:
    what: str
    seconds: float
    requests: int | None = None
    writes: int | None = None
    per_function: dict[str, int] = field(default_factory=dict)
    returncode: int = 0
    #: the integration suite ran on the site during the step: its time is not a fair figure
    disturbed: bool = False


class SiteGuard:
    """The site is shared: wait before a step while the integration suite runs, and notice if it starts during
    one (it loads the site, and one of its scenarios kills the site's server)."""

    def __init__(self, wait: bool, timeout: float) -> None:
        self.wait = wait
        self.timeout = timeout

    def run(self, command: list[str], **options: Any) -> tuple[subprocess.CompletedProcess[str], float, bool]:
        """Run ``command`` (its output captured); (the result, seconds, whether the suite ran meanwhile)."""
        if self.wait:
            wait_for_idle_site(self.timeout)
        disturbed = False
        started = time.perf_counter()
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options
        ) as process:
            # Output is read by threads of communicate(); the loop looks at the machine every 2 s meanwhile.
            while True:
                try:
                    stdout, stderr = process.communicate(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    disturbed = disturbed or integration_suite_running()
        seconds = time.perf_counter() - started
        disturbed = disturbed or integration_suite_running()
        if disturbed:
            say("  (the integration suite ran on the site during this step: its time is not comparable)")
        done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        return done, seconds, disturbed


GUARD = SiteGuard(wait=True, timeout=3600)


def accel_command() -> list[str]:
    beside = Path(sys.executable).with_name("accel")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("accel")
    if found:
        return [found]
    raise StepFailed("the `accel` command is not installed (pip install -e '.[test]')")


def cli_has_concurrency_option() -> bool:
    done = subprocess.run([*accel_command(), "--help"], capture_output=True, text=True, check=False)
    return "--concurrency" in done.stdout


class Cohort:
    """One cohort of this run: its folder, configuration, store and roster; `accel` run against the site."""

    def __init__(self, workdir: Path, code: str, concurrency: int, use_option: bool) -> None:
        self.code = code
        self.directory = workdir / code
        self.directory.mkdir(parents=True)
        self.config = self.directory / "accelerator.toml"
        self.config.write_text(config_text(code), encoding="utf-8")
        self.roster = self.directory / "roster.csv"
        self.concurrency = concurrency
        self.use_option = use_option
        self.log = self.directory / "accel.log"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOODLE_", "ACCEL_"))}
        env.update(
            MOODLE_URL=os.environ["MOODLE_URL"],
            MOODLE_TOKEN=os.environ["MOODLE_TOKEN"],
            MOODLE_CONCURRENCY=str(self.concurrency),
            ACCEL_CONFIG=str(self.config),
            ACCEL_STORE=str(self.directory / "accel.sqlite3"),
            ACCEL_LOCK_DIR=str(self.directory / "locks"),
            ACCEL_LANG="en",  # the --stats lines are parsed below; accel speaks Russian by default
            PYTHONUNBUFFERED="1",
        )
        if os.environ.get("MOODLE_MAX_INPUT_VARS"):
            env["MOODLE_MAX_INPUT_VARS"] = os.environ["MOODLE_MAX_INPUT_VARS"]
        return env

    def accel(self, what: str, *args: str, ok: tuple[int, ...] = (0,)) -> Measured:
        options = ["--stats"] + (["--concurrency", str(self.concurrency)] if self.use_option else [])
        command = [*accel_command(), *options, *args]
        done, seconds, disturbed = GUARD.run(command, env=self.environment(), cwd=self.directory)
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ accel {' '.join([*options, *args])}  # exit {done.returncode}, {seconds:.1f}s\n")
            log.write(done.stdout + done.stderr + "\n")
        if done.returncode not in ok:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise StepFailed(
                f"{what}: accel {' '.join(args)} exited {done.returncode} (see {self.log})\n{tail}"
            )
        found = _REQUESTS_LINE.findall(done.stderr)
        if not found:
            raise StepFailed(f"{what}: no `requests: N (W writes)` line from --stats (see {self.log})")
        total, writes = (int(x) for x in found[-1])
        tail = done.stderr[done.stderr.rfind("requests: ") :]
        per_function = {m.group(1): int(m.group(2)) for m in _FUNCTION_LINE.finditer(tail)}
        return Measured(what, seconds, total, writes, per_function, done.returncode, disturbed)

    def shortnames(self) -> dict[int, str]:
        return {n: f"{self.code.upper()}-M{n}" for n in (1, 2, 3)}


def uploaduser_script() -> Path:
    config = os.environ.get("MOODLE_CONFIG", "")
    if not config:
        raise StepFailed(
            "MOODLE_CONFIG is not set: uploaduser.php runs on the site's machine with its config.php"
        )
    root = Path(config).parent
    for script in (
        root / "public/admin/tool/uploaduser/cli/uploaduser.php",  # Moodle 5.1: code under public/
        root / "admin/tool/uploaduser/cli/uploaduser.php",
    ):
        if script.exists():
            return script
    raise StepFailed(f"no admin/tool/uploaduser/cli/uploaduser.php beside {config}")


def run_uploaduser(csv_path: Path, log: Path, php: str) -> tuple[Measured, dict[str, int]]:
    command = [
        php,
        str(uploaduser_script()),
        f"--file={csv_path}",
        "--delimiter_name=comma",
        "--encoding=UTF-8",
        "--uutype=0",  # add new only (the same as accel: new accounts, never an update)
        "--uupasswordnew=1",  # make a password and email it (accel: createpassword)
    ]
    done, seconds, disturbed = GUARD.run(command)
    log.write_text(f"$ {' '.join(command)}  # exit {done.returncode}\n{done.stdout}\n{done.stderr}", "utf-8")
    if done.returncode != 0:
        raise StepFailed(f"uploaduser.php exited {done.returncode} (see {log})")
    stats = {
        m.group(1).strip(): int(m.group(2))
        for m in re.finditer(r"^([^:\n]+):\s*(\d+)\s*$", done.stdout, re.M)
    }
    return Measured("uploaduser.php", seconds, 0, 0, disturbed=disturbed), stats


# -- the integration suite shares the site -------------------------------------------------------------------
def integration_suite_running() -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "pytest" in command and "tests/integration" in command:
            return True
    return False


def wait_for_idle_site(timeout: float) -> None:
    if not integration_suite_running():
        return
    print("The integration suite is running on this site: waiting for it to finish (--no-wait to skip).")
    deadline = time.monotonic() + timeout
    while integration_suite_running():
        if time.monotonic() > deadline:
            raise StepFailed(f"the integration suite still runs after {timeout:.0f}s; try again later")
        time.sleep(10)


# -- the run -------------------------------------------------------------------------------------------------
def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    levels = [int(x) for x in args.concurrency.split(",")]
    base = f"bm{secrets.token_hex(2)}"
    use_option = cli_has_concurrency_option()
    say(
        f"Site {os.environ['MOODLE_URL']}, max_input_vars {os.environ.get('MOODLE_MAX_INPUT_VARS') or '(default)'}; "
        f"run {base}; files in {workdir}; concurrency by MOODLE_CONCURRENCY"
        + (" and --concurrency" if use_option else " (the CLI has no --concurrency option yet)")
    )
    out: dict[str, Any] = {"run": base, "site": os.environ["MOODLE_URL"], "by_concurrency": {}}
    first_people: list[Person] | None = None
    for index, level in enumerate(levels):
        cohort = Cohort(workdir, f"{base}c{level}", level, use_option)
        people = make_people(args.participants, random.Random(f"{base}-{index}"))
        first_people = first_people or people
        write_roster(cohort.roster, people, cohort.code)
        say(f"\n[concurrency {level}] cohort {cohort.code}: {len(people)} people")
        provision = cohort.accel("provision", "provision", "--apply")
        say(f"  provision --apply: {provision.seconds:.1f}s, {provision.requests} requests (not compared)")
        steps = [
            cohort.accel("initial sync", "roster", "sync", str(cohort.roster), "--apply"),
            cohort.accel("no-op re-sync", "roster", "sync", str(cohort.roster), "--apply"),
            cohort.accel("gather", "indicators", "gather"),
        ]
        for step in steps:
            say(f"  {step.what}: {step.seconds:.1f}s, {step.requests} requests ({step.writes} writes)")
        out["by_concurrency"][level] = {"provision": asdict(provision), **{s.what: asdict(s) for s in steps}}
        if index == 0 and not args.skip_uploaduser:
            out["uploaduser"] = uploaduser(args, workdir, base, people, use_option)
    assert first_people is not None
    # Namesakes: the first cohort's names again, new people (emails, application numbers).
    cohort = Cohort(workdir, f"{base}ns", levels[-1], use_option)
    write_roster(cohort.roster, first_people, cohort.code)
    if args.prior_namesakes:
        seed_namesakes(args, cohort.directory, first_people, args.prior_namesakes)
    say(
        f"\n[namesakes, concurrency {levels[-1]}] cohort {cohort.code}: the names of {base}c{levels[0]} again"
    )
    cohort.accel("provision", "provision", "--apply")
    namesakes = cohort.accel("namesakes sync", "roster", "sync", str(cohort.roster), "--apply")
    say(
        f"  initial sync: {namesakes.seconds:.1f}s, {namesakes.requests} requests ({namesakes.writes} writes)"
    )
    out["namesakes"] = {**asdict(namesakes), "namesakes_per_person": 1 + args.prior_namesakes}
    return out


def uploaduser(
    args: argparse.Namespace, workdir: Path, base: str, people: list[Person], use_option: bool
) -> dict[str, Any]:
    target = Cohort(workdir, f"{base}up", 4, use_option)
    say(f"\n[uploaduser.php] fresh courses of {target.code} (made by accel provision --apply, not timed)")
    target.accel("provision", "provision", "--apply")
    path = target.directory / "uploaduser.csv"
    enrolments = write_uploaduser_csv(path, people, target.code, target.shortnames())
    measured, stats = run_uploaduser(path, target.directory / "uploaduser.log", args.php)
    say(f"  {len(people)} users, {enrolments} enrolments: {measured.seconds:.1f}s; its own count: {stats}")
    created = next((v for k, v in stats.items() if "created" in k.lower()), None)
    errors = next((v for k, v in stats.items() if "error" in k.lower()), 0)
    if created != len(people) or errors:
        raise StepFailed(f"uploaduser.php created {created} of {len(people)} users with {errors} errors")
    return {**asdict(measured), "stats": stats, "enrolments": enrolments}


def seed_namesakes(args: argparse.Namespace, directory: Path, people: list[Person], depth: int) -> None:
    """``depth`` accounts per participant's name with the usernames accel gives namesakes 2..depth+1."""
    sys.path.insert(0, str(ROOT))
    from sync.roster.names import username_base  # the product's own scheme, so that the names really collide

    path = directory / "namesakes.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["username", "firstname", "lastname", "email"])
        for p in people:
            if p.role != "участник":
                continue
            for n in range(2, depth + 2):
                username = f"{username_base(p.firstname, p.lastname)}{n}"
                writer.writerow(
                    [username, p.firstname, p.lastname, f"{username}.{directory.name}@example.org"]
                )
    measured, stats = run_uploaduser(path, directory / "namesakes.log", args.php)
    say(
        f"  {depth} earlier namesake(s) per participant made by uploaduser.php in {measured.seconds:.0f}s: {stats}"
    )


def _seconds(m: dict[str, Any]) -> str:
    return f"{m['seconds']:>13.1f}" + ("*" if m.get("disturbed") else " ")


def _requests(m: dict[str, Any]) -> str:
    return f"{m['requests']:>8} ({m['writes']:>3}w)"


def report(out: dict[str, Any]) -> bool:
    """The table of issue 11; True when its targets are met at the highest concurrency."""
    levels = list(out["by_concurrency"])
    upload = out.get("uploaduser")
    print("\n" + f"{'':36}" + "".join(f"{'concurrency ' + str(level):>28}" for level in levels))
    print(f"{'':36}" + "".join(f"{'requests':>14}{'seconds':>14}" for _ in levels))
    for what, label in (
        ("initial sync", "accel roster sync --apply (initial)"),
        ("no-op re-sync", "accel no-op re-sync"),
        ("gather", "accel indicators gather"),
    ):
        row = [out["by_concurrency"][level][what] for level in levels]
        print(f"{label:36}" + "".join(_requests(m) + _seconds(m) for m in row))
    ok = True
    if upload:
        print(f"{'uploaduser.php (server-side, no HTTP)':36}" + (f"{0:>14}" + _seconds(upload)) * len(levels))
        ratios = [
            out["by_concurrency"][level]["initial sync"]["seconds"] / upload["seconds"] for level in levels
        ]
        print(f"{'initial sync / uploaduser.php':36}" + "".join(f"{'':>14}{r:>13.2f} " for r in ratios))
        ok &= ratios[-1] <= TARGET_RATIO
    ns = out["namesakes"]
    label = f"namesakes ({ns.get('namesakes_per_person', 1)} each), initial sync"
    print(f"{label:36}{_requests(ns)}{_seconds(ns)}")
    print(f"{'':36}  of which core_user_get_users_by_field: {ns['per_function'].get(FUNCTION_LOOKUP)}")
    steps = [m for level in levels for m in out["by_concurrency"][level].values()] + [ns]
    if upload:
        steps.append(upload)
    if any(m.get("disturbed") for m in steps):
        print("* the integration suite ran on the site meanwhile: that time is not a fair figure")
    last = out["by_concurrency"][levels[-1]]
    resync, gather = last["no-op re-sync"]["seconds"], last["gather"]["seconds"]
    ok &= resync <= TARGET_RESYNC_SECONDS and gather <= TARGET_GATHER_SECONDS
    print(
        f"\ntargets at concurrency {levels[-1]} (issue 11): initial sync <= {TARGET_RATIO} x uploaduser.php, "
        f"no-op re-sync <= {TARGET_RESYNC_SECONDS:.0f}s ({resync:.1f}), gather <= {TARGET_GATHER_SECONDS:.0f}s "
        f"({gather:.1f}): " + ("met" if ok else "MISSED")
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--participants", type=int, default=1200, help="participants per cohort (default 1200)"
    )
    parser.add_argument(
        "--concurrency", default="1,4", help="concurrency levels, comma-separated (default 1,4)"
    )
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a new temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    parser.add_argument(
        "--php", default="php", help="the PHP command line on the site's machine (default php)"
    )
    parser.add_argument("--skip-uploaduser", action="store_true", help="measure accel only")
    parser.add_argument(
        "--prior-namesakes",
        type=int,
        default=0,
        metavar="K",
        help="before the namesakes cohort, K more accounts per name (accel's next usernames) by uploaduser.php",
    )
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the integration suite")
    parser.add_argument("--wait-timeout", type=float, default=3600, help="longest wait for it, seconds")
    args = parser.parse_args()
    missing = [name for name in ("MOODLE_URL", "MOODLE_TOKEN") if not os.environ.get(name)]
    if missing:
        print(f"set {', '.join(missing)}: set -a; . /opt/moodle-site/site.env; set +a", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="accel-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    GUARD.wait, GUARD.timeout = not args.no_wait, args.wait_timeout
    try:
        out = run(args, workdir)
    except StepFailed as exc:
        print(f"\nbenchmark stopped: {exc}", file=sys.stderr)
        return 2
    ok = report(out)
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

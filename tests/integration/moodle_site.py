"""What the integration tests need to drive `accel` against a real Moodle and read what Moodle stored.

The product is driven as a user drives it: the `accel` command in a subprocess, with its own cohort
configuration and store. The ground truth is read from the site's PostgreSQL database with `psql` (SQL
written in the tests), never from the product's own account of what it did. Nothing here imports the
product's packages, so the suite survives their reorganisation.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

REPO = Path(__file__).resolve().parents[2]
# The site's own scripts (up, down, activity.php) live beside the repository: ../shared/moodle-site.
SITE_TOOLS = Path(os.environ.get("MOODLE_SITE_TOOLS", REPO.parent / "shared" / "moodle-site"))
REQUIRED_VARIABLES = ("MOODLE_URL", "MOODLE_TOKEN", "MOODLE_SITE_PGURL")
SKIP_REASON = (
    "integration tests need a real Moodle: set {missing} (start ../shared/moodle-site/up, then "
    "`set -a; . /opt/moodle-site/site.env; set +a`)"
)


def missing_variables() -> list[str]:
    return [name for name in REQUIRED_VARIABLES if not os.environ.get(name)]


@dataclass(frozen=True)
class Site:
    """The local Moodle site of ``../shared/moodle-site`` as its ``site.env`` describes it."""

    url: str
    # Never shown: a failing test prints its fixtures, and CI logs are read by many.
    token: str = field(repr=False)
    pgurl: str = field(repr=False)
    limited_token: str | None = field(repr=False)
    moodle_config: str | None
    max_input_vars: str | None

    @classmethod
    def from_environment(cls) -> Site:
        env = os.environ
        return cls(
            url=env["MOODLE_URL"].rstrip("/"),
            token=env["MOODLE_TOKEN"],
            pgurl=env["MOODLE_SITE_PGURL"],
            limited_token=env.get("MOODLE_LIMITED_TOKEN") or None,
            moodle_config=env.get("MOODLE_CONFIG") or None,
            max_input_vars=env.get("MOODLE_MAX_INPUT_VARS") or None,
        )

    # --- ground truth: the site's database -------------------------------------------------------

    def sql(self, query: str, **variables: object) -> list[dict[str, str]]:
        """Rows of ``query`` as dicts of strings (NULL is ""). ``:'name'`` in the query is ``variables[name]``,
        quoted by psql (the query goes on stdin, where psql interpolates variables)."""
        command = ["psql", self.pgurl, "--csv", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            command += ["-v", f"{name}={value}"]
        done = subprocess.run(command, input=query, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise AssertionError(f"psql failed ({done.returncode}): {done.stderr.strip()}\n{query}")
        return list(csv.DictReader(io.StringIO(done.stdout)))

    def sql_value(self, query: str, **variables: object) -> str:
        rows = self.sql(query, **variables)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value, got {rows}"
        return next(iter(rows[0].values()))

    def sql_int(self, query: str, **variables: object) -> int:
        return int(self.sql_value(query, **variables))

    # --- the web service, for what a test must prepare the way an administrator would -------------

    def ws(self, function: str, form: Mapping[str, object]) -> Any:
        """Call one web-service function (form already flattened PHP-style); Moodle's errors raise."""
        answer = requests.post(
            f"{self.url}/webservice/rest/server.php",
            data={
                "wstoken": self.token,
                "wsfunction": function,
                "moodlewsrestformat": "json",
                **{k: str(v) for k, v in form.items()},
            },
            timeout=60,
        )
        answer.raise_for_status()
        body = answer.json()
        if isinstance(body, dict) and "exception" in body:
            raise AssertionError(f"{function}: {body.get('errorcode')}: {body.get('message')}")
        return body

    # --- the site's server, for the scenario that kills it -----------------------------------------

    @property
    def site_dir(self) -> Path:
        """MOODLE_SITE_DIR of `up` (its config.php is ``$MOODLE_SITE_DIR/src/config.php``)."""
        if os.environ.get("MOODLE_SITE_DIR"):
            return Path(os.environ["MOODLE_SITE_DIR"])
        if self.moodle_config:
            return Path(self.moodle_config).parent.parent
        return Path("/opt/moodle-site")

    def up_environment(self) -> dict[str, str]:
        """The settings `up` needs to start *this* site again (port, database, directory), not the default one."""
        port = urlparse(self.url).port or 80
        database = urlparse(self.pgurl).path.lstrip("/")
        return {
            **os.environ,
            "MOODLE_SITE_DIR": str(self.site_dir),
            "MOODLE_SITE_PORT": str(port),
            "MOODLE_SITE_DB": database,
        }

    def is_answering(self) -> bool:
        try:
            requests.get(f"{self.url}/login/index.php", timeout=5)
        except requests.RequestException:
            return False
        return True


# --- running `accel` ----------------------------------------------------------------------------------


def accel_command() -> list[str]:
    """The installed `accel` command of this environment (the console script beside this Python)."""
    beside = Path(sys.executable).with_name("accel")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("accel")
    if found:
        return [found]
    raise AssertionError("the `accel` command is not installed (pip install -e '.[test]')")


@dataclass
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return f"accel {' '.join(self.args)} exited {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Background:
    args: tuple[str, ...]
    process: subprocess.Popen[str]
    log: Path

    def finish(self, timeout: float = 300) -> Run:
        self.process.wait(timeout=timeout)
        return Run(self.args, self.process.returncode, self.log.read_text(encoding="utf-8"), "")


_REQUESTS_LINE = re.compile(r"^requests: (\d+) \((\d+) writes?\)", re.M)
_FUNCTION_LINE = re.compile(r"^\s+(\w+): (\d+)(?: \((\d+) writes?\))?$", re.M)


def request_counts(output: str) -> tuple[int, int, dict[str, int]]:
    """(requests, writes, requests per function) from the `--stats` lines of a run's output."""
    found = _REQUESTS_LINE.findall(output)
    assert found, f"no `requests: N (W writes)` line in the output (was --stats given?)\n{output}"
    total, writes = (int(x) for x in found[-1])
    tail = output[output.rfind("requests: ") :]
    per_function = {m.group(1): int(m.group(2)) for m in _FUNCTION_LINE.finditer(tail)}
    return total, writes, per_function


def write_functions(output: str) -> dict[str, int]:
    """Write requests per function (the functions `--stats` marks with `(N writes)`)."""
    tail = output[output.rfind("requests: ") :]
    return {m.group(1): int(m.group(3)) for m in _FUNCTION_LINE.finditer(tail) if m.group(3)}


# --- a cohort of this test run --------------------------------------------------------------------------

MODULES = ("m1", "m2", "m3")
TEMPLATES = {"m1": "ACCEL-TPL-M1", "m2": "ACCEL-TPL-M2", "m3": "ACCEL-TPL-M3"}
# The schedule of every test cohort (program.md: webinars are course events, a consultation with a team
# is that team's group event). Dates are in the grant period, long over on the site's clock.
WEBINARS = (
    ("Вебинар: фандрайзинг для сельских инициатив", "2021-11-04T22:00:00", 90),
    ("Вебинар: продвижение проекта в соцсетях", "2021-11-25T18:00:00", 90),
    ("Вебинар: бюджет проекта и отчётность", "2021-12-16T18:00:00", 90),
)
CONSULTATIONS = (
    ("Групповая консультация: трудности проектов после школы", "2021-11-11T18:00:00", 60, None),
    ("Групповая консультация: подготовка к ярмарке", "2022-02-17T18:00:00", 60, None),
    ("Консультация команды «Эссо: тропа эвенов»", "2021-11-05T22:00:00", 60, "Эссо: тропа эвенов"),
    ("Консультация команды «Шаромы — наш дом»", "2021-11-18T18:00:00", 60, "Шаромы — наш дом"),
)


def new_code(prefix: str = "it") -> str:
    """A cohort code no other run uses: the category ID number and the prefix of every course and person."""
    return f"{prefix}{secrets.token_hex(3)}"


def config_text(code: str) -> str:
    lines = [
        "# A cohort made by the integration tests (tests/integration); its code is unique to the run.",
        "[cohort]",
        f'code = "{code}"',
        f'name = "Интеграционный тест {code}"',
        'timezone = "Asia/Kamchatka"',
        f'short_name = "{code.upper()}"',
        "",
        "[category]",
        f'name = "Акселератор — интеграционный тест {code}"',
        'description = "Создано тестами accel"',
        "parent = 0",
        "",
        '[modules.m1]\nstart = 2021-10-01\nend = 2021-10-31\ntemplate = "ACCEL-TPL-M1"',
        '[modules.m2]\nstart = 2021-11-01\nend = 2022-02-28\ntemplate = "ACCEL-TPL-M2"',
        '[modules.m3]\nstart = 2022-03-01\nend = 2022-03-31\ntemplate = "ACCEL-TPL-M3"',
        "",
        "[roles]\nstudent = 5\nmentor = 4\nexpert = 4\nservice = 1",
        "",
        "[targets]\nparticipants = 50\nschool_participants = 28\ninitiative_groups = 7",
        "projects_developed = 7\nprojects_presented = 7\nleader_projects = 3",
        "",
    ]
    for title, start, duration in WEBINARS:
        lines += [
            "[[schedule.webinars]]",
            f'title = "{title}"',
            f"start = {start}",
            f"duration = {duration}",
            "",
        ]
    for title, start, duration, team in CONSULTATIONS:
        lines += [
            "[[schedule.consultations]]",
            f'title = "{title}"',
            f"start = {start}",
            f"duration = {duration}",
        ]
        if team:
            lines.append(f'team = "{team}"')
        lines.append("")
    lines += [
        "[service]",
        'reminders_at = ["09:00"]',
        "reminder_after_hours = 72",
        'coordinator = "admin"',
        'report_dir = "reports"',
        "",
    ]
    return "\n".join(lines)


@dataclass
class Cohort:
    """One cohort of the test run: its configuration, its own store, and `accel` run against the site."""

    site: Site
    code: str
    directory: Path
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text(self.code), encoding="utf-8")

    @property
    def config(self) -> Path:
        return self.directory / "accelerator.toml"

    @property
    def store(self) -> Path:
        return self.directory / "accel.sqlite3"

    @property
    def short(self) -> str:
        return self.code.upper()

    def course_shortname(self, module: str) -> str:
        return f"{self.short}-{module.upper()}"

    def environment(self, token: str | None = None, language: str | None = "en") -> dict[str, str]:
        """The environment of an `accel` run: English unless ``language`` says otherwise (None: accel's own
        choice, from the locale: Russian by default)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOODLE_", "ACCEL_"))}
        if language is not None:
            env["ACCEL_LANG"] = language
        env.update(
            MOODLE_URL=self.site.url,
            MOODLE_TOKEN=token or self.site.token,
            ACCEL_CONFIG=str(self.config),
            ACCEL_STORE=str(self.store),
            PYTHONUNBUFFERED="1",
        )
        if self.site.max_input_vars:
            env["MOODLE_MAX_INPUT_VARS"] = self.site.max_input_vars
        return env

    def accel(
        self, *args: str, token: str | None = None, timeout: float = 600, language: str | None = "en"
    ) -> Run:
        done = subprocess.run(
            [*accel_command(), *args],
            env=self.environment(token, language),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(args, done.returncode, done.stdout, done.stderr)

    def accel_ok(self, *args: str, timeout: float = 600) -> Run:
        run = self.accel(*args, timeout=timeout)
        assert run.returncode == 0, run.explain()
        return run

    def start(self, *args: str) -> Background:
        """`accel` in the background (its own process group); its output goes to a file in the cohort's folder."""
        log = self.directory / f"background-{time.monotonic_ns()}.out"
        with open(log, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                [*accel_command(), *args],
                env=self.environment(),
                cwd=self.directory,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        return Background(args, process, log)

    # --- the cohort in Moodle's tables ---------------------------------------------------------------

    def course_ids(self) -> dict[str, int]:
        """Module -> course id of the cohort's courses, found by ID number as the product sets it."""
        rows = self.site.sql(
            "select idnumber, id from mdl_course where idnumber in (:'m1', :'m2', :'m3')",
            m1=f"{self.code}-m1",
            m2=f"{self.code}-m2",
            m3=f"{self.code}-m3",
        )
        return {row["idnumber"].rsplit("-", 1)[1]: int(row["id"]) for row in rows}

    def user_ids(self) -> dict[str, int]:
        """Email -> user id of every account with one of this cohort's emails."""
        rows = self.site.sql(
            "select lower(email) as email, id from mdl_user where deleted = 0 and email ilike :'pattern'",
            pattern=f"%.{self.code}@example.org",
        )
        return {row["email"]: int(row["id"]) for row in rows}


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.02, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_process_group(pid: int, sig: signal.Signals) -> None:
    os.killpg(pid, sig)


def ids_csv(ids: Iterable[int]) -> str:
    return ",".join(str(i) for i in sorted(ids))

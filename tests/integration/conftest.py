"""The integration suite: `accel` against a real Moodle 5.1 (../shared/moodle-site).

Every test here is marked `moodle`. They run when MOODLE_URL, MOODLE_TOKEN and MOODLE_SITE_PGURL are set
(`set -a; . /opt/moodle-site/site.env; set +a`) and are skipped, with the reason, when they are not, so the
README's one test command runs them wherever a site is up. `pytest -m moodle` runs only them, `-m "not moodle"`
only the fast suite.

The cohorts are built once per session (a cohort takes a few seconds of real provisioning) and each has its
own fresh code and its own store, so runs never collide on a shared site.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import Activity, BuiltCohort, CohortFactory, build
from tests.integration.moodle_site import (
    SITE_TOOLS,
    SKIP_REASON,
    Cohort,
    Site,
    ids_csv,
    missing_variables,
    new_code,
)

HERE = Path(__file__).parent
# The scenario that kills the site's server runs last: whatever it leaves, the other scenarios are done.
LAST_MODULES = ("test_server_killed.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_variables()
    mine = [item for item in items if HERE in Path(str(item.path)).parents]
    for item in mine:
        item.add_marker(pytest.mark.moodle)
        if missing:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON.format(missing=", ".join(missing))))
    last = [item for item in items if Path(str(item.path)).name in LAST_MODULES and item in mine]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def site() -> Site:
    return Site.from_environment()


@pytest.fixture(scope="session")
def new_cohort(site: Site, tmp_path_factory: pytest.TempPathFactory) -> CohortFactory:
    """A fresh cohort (configuration and store in its own folder); nothing on the site yet."""

    def make() -> Cohort:
        code = new_code()
        return Cohort(site, code, tmp_path_factory.mktemp(code))

    return make


@pytest.fixture(scope="session")
def built_cohort(new_cohort: CohortFactory) -> BuiltCohort:
    """Provisioned, roster applied, provisioned again: the teams' consultations can now be made."""
    built = build(new_cohort())
    built.runs["provision_after_roster"] = built.cohort.accel("--stats", "provision", "--apply")
    return built


@pytest.fixture(scope="session")
def active_cohort(built_cohort: BuiltCohort) -> tuple[BuiltCohort, Activity]:
    """The built cohort after its participants worked on the site (../shared/moodle-site/activity.php): team
    submissions, a mentor's grades and comments (with and without a grade), votes, pledges, survey answers."""
    site = built_cohort.site
    script = SITE_TOOLS / "activity.php"
    if not script.exists() or not site.moodle_config:
        pytest.skip(f"needs {script} and MOODLE_CONFIG (the site's config.php) to simulate participants")
    users = built_cohort.cohort.user_ids()
    participants = [users[p.email] for p in built_cohort.people if p.role == "participant"]
    grader = users[next(p.email for p in built_cohort.people if p.role == "mentor")]
    courses = built_cohort.cohort.course_ids()
    done = subprocess.run(
        [
            "php",
            str(script),
            f"--courses={ids_csv(courses.values())}",
            f"--users={ids_csv(participants)}",
            f"--grader={grader}",
            "--gradefraction=0.6",
        ],
        env={**os.environ, "MOODLE_CONFIG": site.moodle_config},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"activity.php failed: {done.stdout}\n{done.stderr}"
    return built_cohort, Activity(courses, participants, grader, done.stdout)

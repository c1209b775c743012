"""The site's server killed in the middle of an apply, then started again: the re-run converges, and no
account, group, event or course is made twice.

WARNING: this scenario kills the PHP server of the site named by MOODLE_URL (its process group, from
`server.pid`) and starts it again with `../shared/moodle-site/up` (never --fresh: the data stays). Anyone
else using that site sees it down for a few seconds. It runs last in the suite (conftest.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.integration.helpers import CohortFactory
from tests.integration.moodle_site import (
    CONSULTATIONS,
    MODULES,
    SITE_TOOLS,
    TEMPLATES,
    WEBINARS,
    Background,
    Cohort,
    Run,
    Site,
    ids_csv,
    wait_for,
)
from tests.integration.roster_data import Person, cohort_people, write_csv


def start_site(site: Site) -> None:
    # `up` prints the site's tokens: keep its output out of the test log.
    done = subprocess.run(
        [str(SITE_TOOLS / "up")],
        env=site.up_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"`up` failed ({done.returncode}): {done.stderr[-2000:]}"
    wait_for(site.is_answering, timeout=60, interval=0.5, what="the site to answer again")


def server_process_group(site: Site) -> int:
    """The process group of the site's PHP server: `server.pid` names it (`up` starts the server as the
    leader of its own group). Two `up` run at once leave in `server.pid` the pid of the one whose server
    could not bind the port and exited; then the group is the one of the process listening on the port."""
    recorded = int((site.site_dir / "server.pid").read_text().strip())
    port = urlparse(site.url).port or 80
    listening = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    pids = {int(p) for p in re.findall(r"pid=(\d+)", listening)}
    groups = set()
    for pid in pids:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"php" in command[0] and b"-S" in command, (
            f"port {port} is not held by PHP's server: {command}"
        )
        groups.add(os.getpgid(pid))
    if not groups:  # `ss` could not name the process (not root): trust the file
        return recorded
    assert len(groups) == 1, f"several process groups listen on port {port}: {groups}"
    return groups.pop()


def kill_server(site: Site) -> None:
    # The server and its workers, as a crash or the OOM killer would stop them.
    os.killpg(server_process_group(site), signal.SIGKILL)
    wait_for(lambda: not site.is_answering(), timeout=10, interval=0.1, what="the server to stop")


def interrupt(site: Site, apply: Background, moment: Callable[[], bool], what: str) -> Run:
    """Wait for ``moment`` of the running apply, freeze the apply there, kill the server under it, let the
    apply go on against the dead server, and bring the site back."""
    try:
        wait_for(lambda: moment() or apply.process.poll() is not None, timeout=180, what=what)
        apply.process.send_signal(signal.SIGSTOP)
        assert apply.process.poll() is None, f"the apply ended before {what}"
        kill_server(site)
    finally:
        apply.process.send_signal(signal.SIGCONT)
        stopped = apply.finish(timeout=300)
        if not site.is_answering():
            start_site(site)
    return stopped


@dataclass
class Killed:
    cohort: Cohort
    people: list[Person]
    provision_stopped: Run
    provision_rerun: Run
    roster_stopped: Run
    roster_rerun: Run
    events_run: Run


@pytest.fixture(scope="module")
def killed(site: Site, new_cohort: CohortFactory) -> Iterator[Killed]:
    if not (SITE_TOOLS / "up").exists() or not (site.site_dir / "server.pid").exists():
        pytest.skip(
            f"needs {SITE_TOOLS / 'up'} and the server's {site.site_dir / 'server.pid'} to restart the site"
        )
    cohort = new_cohort()
    people = cohort_people(cohort.code)
    roster = write_csv(people, cohort.directory / "roster.csv")
    category_courses = """select count(*) from mdl_course c join mdl_course_categories k on k.id = c.category
                           where k.idnumber = :'code' and c.shortname like :'copying'"""

    # 1. Killed while Moodle restores the first course copy (the copy carries the template's short name
    #    with a suffix until the restore ends; core_course_duplicate_course renames it last).
    provision = cohort.start("provision", "--apply")
    provision_stopped = interrupt(
        site,
        provision,
        lambda: site.sql_int(category_courses, code=cohort.code, copying=f"{TEMPLATES['m1']}\\_%") > 0,
        "Moodle to be restoring the first course copy",
    )
    provision_rerun = cohort.accel("provision", "--apply")

    # 2. Killed after the roster sync created the accounts, before it enrolled them and made the groups.
    sync = cohort.start("roster", "sync", str(roster), "--apply")
    roster_stopped = interrupt(
        site,
        sync,
        lambda: (
            site.sql_int(
                "select count(*) from mdl_user where deleted = 0 and email ilike :'p'",
                p=f"%.{cohort.code}@example.org",
            )
            > 0
        ),
        "the roster sync to create the accounts",
    )
    roster_rerun = cohort.accel("roster", "sync", str(roster), "--apply")
    events_run = cohort.accel("provision", "--apply")
    yield Killed(cohort, people, provision_stopped, provision_rerun, roster_stopped, roster_rerun, events_run)


def test_the_reruns_converge_and_nothing_is_made_twice(killed: Killed) -> None:
    cohort, site = killed.cohort, killed.cohort.site
    # The interrupted applies stopped with "site unreachable" and said how to finish.
    for stopped in (killed.provision_stopped, killed.roster_stopped):
        assert stopped.returncode == 3, stopped.explain()
    assert "accel provision --apply" in killed.provision_stopped.output
    for rerun in (killed.provision_rerun, killed.roster_rerun, killed.events_run):
        assert rerun.returncode == 0, rerun.explain()
    assert "A new plan is empty" in killed.events_run.output

    # One category; one course per module by ID number, each with every activity of its template.
    assert (
        site.sql_int("select count(*) from mdl_course_categories where idnumber = :'c'", c=cohort.code) == 1
    )
    courses = cohort.course_ids()
    assert sorted(courses) == list(MODULES)
    for module, course in courses.items():
        copied = site.sql(
            "select idnumber from mdl_course_modules where course = :'id' and idnumber <> '' order by 1",
            id=course,
        )
        template = site.sql(
            """select cm.idnumber from mdl_course_modules cm join mdl_course c on c.id = cm.course
                where c.shortname = :'t' and cm.idnumber <> '' and cm.deletioninprogress = 0 order by 1""",
            t=TEMPLATES[module],
        )
        assert copied == template, f"{module}: the course lacks activities of its template"
    # Accounts: one per person.
    accounts = site.sql(
        "select lower(email) as email, count(*) as n from mdl_user where deleted = 0 and email ilike :'p' "
        "group by lower(email)",
        p=f"%.{cohort.code}@example.org",
    )
    assert {a["email"]: int(a["n"]) for a in accounts} == {p.email: 1 for p in killed.people}
    # Groups: one per team in every course; groupings: one per district in every course.
    in_courses = ids_csv(courses.values())
    teams = {p.group for p in killed.people if p.role == "participant"}
    groups = site.sql(
        f"select courseid, name, count(*) as n from mdl_groups where courseid in ({in_courses}) group by 1, 2"
    )
    assert sorted((int(g["courseid"]), g["name"], int(g["n"])) for g in groups) == sorted(
        (course, team, 1) for course in courses.values() for team in teams
    )
    groupings = site.sql(
        f"select courseid, name, count(*) as n from mdl_groupings where courseid in ({in_courses}) group by 1, 2"
    )
    assert {int(g["n"]) for g in groupings} == {1} and len(groupings) == 3 * len(
        {p.district for p in killed.people if p.role == "participant"}
    )
    # Events: each scheduled event once (the teams' consultations on their groups).
    events = site.sql(
        "select name, groupid, count(*) as n from mdl_event where courseid = :'m2' group by 1, 2",
        m2=courses["m2"],
    )
    assert sorted(e["name"] for e in events) == sorted(
        [w[0] for w in WEBINARS] + [c[0] for c in CONSULTATIONS]
    )
    assert {int(e["n"]) for e in events} == {1}
    # Enrolments: one per person and course they take.
    enrolled = site.sql(
        f"""select e.courseid, ue.userid, count(*) as n from mdl_user_enrolments ue join mdl_enrol e on e.id = ue.enrolid
             where e.courseid in ({in_courses}) group by 1, 2"""
    )
    assert {int(r["n"]) for r in enrolled} == {1}


def test_a_copy_left_half_made_by_the_kill_is_reported(killed: Killed) -> None:
    """A course copy killed mid-restore stays in the cohort category under the template's short name with a
    suffix (ACCEL-TPL-M1_1, «… copy 1», no ID number, partial content): the plan names it, says accel neither
    uses nor deletes it and that an administrator may delete it; the cohort's own course was made beside it."""
    cohort, site = killed.cohort, killed.cohort.site
    leftovers = site.sql(
        """select c.shortname from mdl_course c join mdl_course_categories k on k.id = c.category
            where k.idnumber = :'code' and c.idnumber = ''""",
        code=cohort.code,
    )
    assert leftovers, "the kill left no half-made copy (the scenario did not interrupt a restore)"
    plan = cohort.accel("provision")
    assert plan.returncode == 0, plan.explain()
    for leftover in leftovers:
        assert leftover["shortname"] in plan.output, plan.explain()
    assert "does not use it and does not delete it" in plan.output, plan.explain()
    assert "An administrator may delete it in Moodle" in plan.output, plan.explain()

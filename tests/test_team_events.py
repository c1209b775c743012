"""Team consultations after the roster sync (issue 9): they wait for their teams' groups.

The service's roster job, after an apply that made groups, creates them itself with the events part of the
provisioning plan, inside the same one-writer lock; `accel roster sync --apply` says which wait and to run
`accel provision --apply`. On the fake site, whose calendar answers as the real one (field note 23).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from sync.core.config import load_config
from sync.core.lock import LockBusy, exclusive, lock_path_for
from sync.core.vocabulary import event_kind
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE_ROSTER, cut_roster, seed_site, write_config

Run = Callable[..., Result]
TEAMS = ("Эссо: тропа эвенов", "Шаромы — наш дом")  # the two team consultations of the example schedule


@pytest.fixture
def provisioned(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The template courses on the site and the cohort provisioned from the example configuration (whose
    [service] reads roster.csv beside it); no teams yet, so the two team consultations wait."""
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    seed_site(fake_moodle)
    shutil.copy(EXAMPLE_ROSTER, tmp_path / "roster.csv")
    config = write_config(tmp_path, 'roster_file = "roster.csv"\nroster_check_minutes = 15\n')
    done = run_cli("--config", str(config), "provision", "--apply")
    assert done.exit_code == 0, done.output
    assert team_events(fake_moodle) == [] and len(fake_moodle.events) == 8
    return config


def team_events(site: FakeMoodle) -> list[dict[str, Any]]:
    return sorted((e for e in site.events.values() if e["groupid"]), key=lambda e: e["timestart"])


def group_names(site: FakeMoodle, events: list[dict[str, Any]]) -> list[str]:
    return [site.groups[e["groupid"]]["name"] for e in events]


def writes(site: FakeMoodle, since: int) -> list[str]:
    return [
        name
        for name, _ in site.calls[since:]
        if "get" not in name and name != "core_webservice_get_site_info"
    ]


def test_the_service_roster_job_creates_the_waiting_team_events_in_its_lock(
    fake_moodle: FakeMoodle, run_cli: Run, provisioned: Path
) -> None:
    site = fake_moodle
    lock = lock_path_for(site.url, load_config(provisioned).cohort.code)
    held_while_creating: list[bool] = []

    def check_lock(wsfunction: str) -> None:
        if wsfunction == "core_calendar_create_calendar_events":
            try:
                with exclusive(lock, "test: is the lock held?"):
                    held_while_creating.append(False)
            except LockBusy:
                held_while_creating.append(True)

    site.before_answer = check_lock
    synced = run_cli(
        "--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T10:00", "--job", "roster_sync"
    )
    assert synced.exit_code == 0, synced.output
    assert re.search(r"^roster_sync: ok .*applied .*; calendar: 2 team events created", synced.output, re.M)
    events = team_events(site)
    # One group event per team consultation, in the team's group of module 2, marked as a consultation.
    assert group_names(site, events) == list(TEAMS)
    m2 = next(c["id"] for c in site.courses.values() if c.get("idnumber") == "kam21-m2")
    assert all(e["courseid"] == m2 and e["eventtype"] == "group" for e in events)
    assert all(event_kind(e["description"]) == "consultation" for e in events)
    assert held_while_creating == [True]  # created inside the roster job's one-writer lock

    # Provisioning has nothing left to do, and the job run again writes nothing and makes no second copy.
    plan = json.loads(run_cli("--config", str(provisioned), "provision", "--json").output)["plan"]
    assert plan["changes"] == [] and not [n for n in plan["notes"] if "waits for team" in n]
    since = len(site.calls)
    again = run_cli(
        "--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T11:00", "--job", "roster_sync"
    )
    assert "roster_sync: ok" in again.output and "calendar" not in again.output, again.output
    assert writes(site, since) == [] and len(team_events(site)) == 2


def test_a_failed_team_events_step_is_done_by_the_retry(
    fake_moodle: FakeMoodle, run_cli: Run, provisioned: Path
) -> None:
    from integration.functions import required_functions

    site = fake_moodle
    # The administrator left the event creation out of the token's service: Moodle refuses the call.
    site.service_functions = set(required_functions()) - {"core_calendar_create_calendar_events"}
    failed = run_cli(
        "--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T10:00", "--job", "roster_sync"
    )
    assert "roster_sync: failed" in failed.output and "accessexception" in failed.output, failed.output
    assert team_events(site) == [] and len(group_names(site, [])) == 0
    site.service_functions = None  # added
    # The groups were made, so the retry's roster plan is empty; the team events are still created, once.
    retry = run_cli("--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T10:30")
    assert re.search(
        r"^roster_sync: ok .*Moodle already in step; calendar: 2 team events created", retry.output, re.M
    ), retry.output
    assert group_names(site, team_events(site)) == list(TEAMS)
    later = run_cli(
        "--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T11:00", "--job", "roster_sync"
    )
    assert "calendar" not in later.output and len(team_events(site)) == 2


def test_the_service_creates_only_team_events_and_says_what_else_waits_for_provision(
    fake_moodle: FakeMoodle, run_cli: Run, provisioned: Path
) -> None:
    site = fake_moodle
    webinar = next(e for e in site.events.values() if event_kind(e["description"]) == "webinar")
    del site.events[webinar["id"]]  # the calendar lacks a webinar of the schedule: provisioning's business
    synced = run_cli(
        "--config", str(provisioned), "serve", "--once", "--now", "2022-02-03T10:00", "--job", "roster_sync"
    )
    assert "calendar: 2 team events created; 1 other calendar change waits for `accel provision --apply`" in (
        synced.output
    ), synced.output
    assert not [e for e in site.events.values() if e["name"] == webinar["name"]]
    assert len(team_events(site)) == 2


def test_roster_sync_apply_says_which_team_events_wait(
    fake_moodle: FakeMoodle, run_cli: Run, provisioned: Path
) -> None:
    site = fake_moodle
    roster = provisioned.parent / "roster.csv"
    plan_only = run_cli("--config", str(provisioned), "roster", "sync", str(roster))
    assert plan_only.exit_code == 0 and "Team events" not in plan_only.output
    applied = run_cli("--config", str(provisioned), "roster", "sync", str(roster), "--apply")
    assert applied.exit_code == 0, applied.output
    assert "Team events of the schedule now waiting (their teams exist now):" in applied.output
    for team in TEAMS:
        assert f"(team «{team}»)" in applied.output
    assert (
        "Консультация команды «Эссо: тропа эвенов»" in applied.output and "05.11.2021 22:00" in applied.output
    )
    assert "Run `accel provision --apply`" in applied.output
    assert team_events(site) == []  # the command only says so; provisioning creates them
    done = run_cli("--config", str(provisioned), "provision", "--apply")
    assert done.exit_code == 0 and group_names(site, team_events(site)) == list(TEAMS)

    # An apply after that: nothing waits any more, and --json says so.
    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n != 0)  # the first participant leaves: suspended
    again = run_cli("--config", str(provisioned), "roster", "sync", str(roster), "--apply", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["team_events_waiting"] == []


def test_roster_sync_reads_no_calendar_without_team_events_in_the_schedule(
    fake_moodle: FakeMoodle, run_cli: Run, provisioned: Path
) -> None:
    text = provisioned.read_text(encoding="utf-8")
    text = re.sub(r'\nteam = "[^"]+"[^\n]*', "", text)  # every consultation for the whole course
    provisioned.write_text(text, encoding="utf-8")
    reads = fake_moodle.count("core_calendar_get_calendar_events")
    applied = run_cli(
        "--config", str(provisioned), "roster", "sync", str(provisioned.parent / "roster.csv"), "--apply"
    )
    assert applied.exit_code == 0, applied.output
    assert "Team events" not in applied.output
    assert fake_moodle.count("core_calendar_get_calendar_events") == reads


def test_the_events_plan_leaves_courses_not_made_yet_to_provisioning(fake_moodle: FakeMoodle) -> None:
    from sync.provision.plan import compute_events_plan, waiting_team_events
    from tests.helpers import EXAMPLE, make_client

    seed_site(fake_moodle)  # the templates only: no cohort course yet
    client = make_client(fake_moodle)
    plan = compute_events_plan(client, load_config(EXAMPLE))
    assert plan.changes == [] and fake_moodle.count("core_calendar_get_calendar_events") == 0
    assert [n.split(" ")[0] for n in plan.notes] == ["KAM21-M1", "KAM21-M2", "KAM21-M3"]
    assert waiting_team_events(client, load_config(EXAMPLE)) == []

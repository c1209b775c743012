"""The wings at several requests at a time (issue 11): the roster apply, the site reads of roster, provisioning
and gather, the namesakes' rounds.

Each scenario runs twice, on two fake sites built alike: once with concurrency 1 (the order of a plain loop)
and once with 4. The end state, the journal and the requests per function must be the same; what must go
first (users before their enrolments, groups before memberships and districts) goes first; a failure in one
course stops nothing in the others; a stop lets the requests in flight finish and be journalled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from integration.errors import Cancelled
from integration.transport import MoodleClient
from sync.core.config import load_config
from sync.core.store import open_store
from sync.indicators.gather import gather
from sync.provision.apply import apply_plan
from sync.provision.plan import compute_plan
from sync.roster.apply import stages
from sync.roster.journal import entries, runs
from sync.roster.names import username_base
from sync.roster.plan import AFTER, OP_ORDER, Roles
from sync.roster.read import read_roster
from sync.roster.sync import SyncOutcome, apply_sync, plan_sync
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.core import HANDLERS, invalid_parameter
from tests.fake_moodle.people import add_user
from tests.helpers import (
    COURSES,
    EXAMPLE,
    TEMPLATES,
    build_recorded_cohort,
    cohort,
    make_client,
    participant,
    seed_site,
    write_roster,
)

TEAMS = (("Команда А", "Мильковский МР"), ("Команда Б", "Мильковский МР"), ("Команда В", "Быстринский МР"))


def big_rows(people: int = 45) -> list[list[str]]:
    """``people`` participants in three teams of two districts, a mentor of two teams and an expert."""
    rows = [participant(n, *TEAMS[n % 3]) for n in range(1, people + 1)]
    rows.append(
        ["", "Наставникова Наталья", "mentor@example.org", "", "", "", "наставник", "Команда А; Команда В"]
    )
    rows.append(["", "Экспертов Эдуард", "expert@example.org", "", "", "", "эксперт", ""])
    return rows


@pytest.fixture
def sites() -> Iterator[dict[int, FakeMoodle]]:
    """Two fake sites at addresses of their own: one for concurrency 1, one for 4."""
    made = {
        1: FakeMoodle(url="https://one.example.org"),
        4: FakeMoodle(url="https://four.example.org"),
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for site in made.values():
            site.install(mock)
        yield made


def client_for(site: FakeMoodle, concurrency: int, **options: Any) -> MoodleClient:
    options.setdefault("max_input_vars", 120)  # small batches: several per kind, some splitting
    return make_client(site, concurrency=concurrency, **options)


def per_function(site: FakeMoodle) -> Counter[str]:
    return Counter(name for name, _ in site.calls)


def end_state(site: FakeMoodle) -> dict[str, list[Any]]:
    """What the roster sync leaves on a site, without the ids (they depend on the order of creation)."""
    name = {uid: user["username"] for uid, user in site.users.items()}
    course = {cid: c["shortname"] for cid, c in site.courses.items()}
    group = {gid: g["name"] for gid, g in site.groups.items()}
    return {
        "users": sorted((u["username"], u["email"], u["idnumber"]) for u in site.users.values()),
        "enrolments": sorted(
            (course[cid], name[uid], tuple(sorted(e["roles"])), e["suspended"])
            for (cid, uid), e in site.enrolments.items()
        ),
        "groups": sorted(
            (
                course[g["courseid"]],
                g["name"],
                g["idnumber"],
                tuple(sorted(name[u] for u in site.group_members[gid])),
            )
            for gid, g in site.groups.items()
        ),
        "groupings": sorted(
            (
                course[g["courseid"]],
                g["name"],
                g["idnumber"],
                tuple(sorted(group[x] for x in site.grouping_groups[gid])),
            )
            for gid, g in site.groupings.items()
        ),
    }


def sync(client: MoodleClient, path: Path, store: Any = None) -> SyncOutcome:
    outcome = plan_sync(client, read_roster(path), COURSES, roles=Roles(), cohort="kam21")
    return apply_sync(client, outcome, store=store, report_path=None, removal="suspend")


def journalled(store: Any, run: int) -> list[tuple[str, str, str, str]]:
    """A run's journal as a sorted list (the order of the entries follows the order the batches ended in)."""
    return sorted((e["action"], e["status"], e["course"], e["description"]) for e in entries(store, run))


# -- stages ------------------------------------------------------------------------------------------------
def test_op_order_keeps_every_kind_after_what_it_waits_for_and_stages_follow_it() -> None:
    assert set(AFTER) == set(OP_ORDER)
    for kind, before in AFTER.items():
        assert all(OP_ORDER.index(b) < OP_ORDER.index(kind) for b in before), kind.__name__
    assert stages(1) == [(kind,) for kind in OP_ORDER]  # one request at a time: the order of a plain loop
    several = stages(4)
    assert sorted((k for stage in several for k in stage), key=OP_ORDER.index) == list(OP_ORDER)
    level = {kind: number for number, stage in enumerate(several) for kind in stage}
    for kind, before in AFTER.items():
        assert all(level[b] < level[kind] for b in before), kind.__name__
    assert [[k.kind for k in stage] for stage in several] == [
        ["create_user", "create_group", "create_grouping"],
        ["update_user", "enrol", "add_role", "reactivate", "assign_grouping"],
        ["unassign_role", "unassign_grouping", "remove_member"],
        ["add_member"],
        ["suspend", "unenrol"],
    ]


# -- the roster: the same outcome, the same requests -------------------------------------------------------
def test_the_initial_sync_and_an_edit_end_alike_at_concurrency_1_and_4(
    sites: dict[int, FakeMoodle], tmp_path: Path
) -> None:
    first = write_roster(tmp_path / "roster.csv", big_rows())
    rows = big_rows()
    del rows[4]  # p5 leaves: suspended
    rows[0] = participant(1, "Команда Б")  # p1 changes team
    rows[2] = participant(3, "Команда Г", "Быстринский МР")  # a new team in the other district
    edited = write_roster(tmp_path / "edited.csv", rows)
    counts: dict[int, list[Counter[str]]] = {}
    journals: dict[int, list[list[tuple[str, str, str, str]]]] = {}
    peaks: dict[int, int] = {}
    for level, site in sites.items():
        cohort(site)
        store = open_store(tmp_path / f"store{level}.sqlite3")
        client = client_for(site, level)
        counts[level] = []
        for path in (first, edited, edited):  # the initial sync, the edit, a no-op
            before = len(site.calls)
            outcome = sync(client, path, store)
            assert outcome.result is None or outcome.result.ok, outcome.result
            counts[level].append(Counter(name for name, _ in site.calls[before:]))
        journals[level] = [journalled(store, run.id) for run in reversed(runs(store))]
        peaks[level] = client.peak_in_flight
    assert end_state(sites[1]) == end_state(sites[4])
    assert counts[1] == counts[4]
    assert counts[4][0]["core_user_create_users"] >= 3 and counts[4][0]["enrol_manual_enrol_users"] >= 3
    assert journals[1] == journals[4]
    assert peaks[1] == 1 and peaks[4] <= 4
    state = end_state(sites[4])
    assert ("KAM21-M1", "anna.uchastnikova5", (5,), True) in state["enrolments"]  # suspended, not removed


def test_the_gathered_snapshot_is_the_same_at_concurrency_1_and_4(sites: dict[int, FakeMoodle]) -> None:
    config = load_config(EXAMPLE)
    snapshots = {}
    counts = {}
    for level, site in sites.items():
        build_recorded_cohort(site, config)
        before = len(site.calls)
        client = make_client(site, concurrency=level)
        snapshots[level] = gather(client, config, now=1_650_000_000).model_dump(exclude={"site_url"})
        counts[level] = Counter(name for name, _ in site.calls[before:])
        assert client.peak_in_flight <= level
    assert snapshots[1] == snapshots[4]  # notes included, in the order of the steps
    assert counts[1] == counts[4]
    assert counts[4]["gradereport_user_get_grade_items"] == 3


def test_provisioning_is_the_same_at_concurrency_1_and_4(sites: dict[int, FakeMoodle]) -> None:
    config = load_config(EXAMPLE)
    provisioned = {}
    for level, site in sites.items():
        seed_site(site)
        client = make_client(site, concurrency=level)
        apply_plan(client, compute_plan(client, config, TEMPLATES))
        assert compute_plan(client, config, TEMPLATES).empty
        provisioned[level] = (
            per_function(site),
            sorted(
                (c["shortname"], c["idnumber"], c.get("startdate"), c.get("enddate"))
                for c in site.courses.values()
            ),
            sorted((e["name"], e["timestart"]) for e in site.events.values()),
        )
        assert client.peak_in_flight <= level
    assert provisioned[1] == provisioned[4]


# -- the roster: what waits, what goes at once ---------------------------------------------------------------
class Timeline:
    """When each request reached the fake site and when it was answered; holds the first create_users request
    until a create_groups request has come in too (they must be in flight together)."""

    def __init__(self, site: FakeMoodle) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self.groups_came = threading.Event()
        self.users_waited: bool | None = None
        self.held = False
        self.lock = threading.Lock()
        self._answer = site.answer_form
        site.answer_form = self.answer  # type: ignore[method-assign]

    def answer(self, body: str) -> tuple[int, dict[str, str], str]:
        name = body.split("wsfunction=", 1)[1].split("&", 1)[0]
        started = time.monotonic()
        if name == "core_group_create_groups":
            self.groups_came.set()
        with self.lock:
            first = name == "core_user_create_users" and not self.held
            self.held = self.held or first
        if first:
            self.users_waited = self.groups_came.wait(10)
        try:
            return self._answer(body)
        finally:
            self.spans.append((name, started, time.monotonic()))

    def ends(self, *names: str) -> float:
        return max(end for name, _, end in self.spans if name in names)

    def starts(self, *names: str) -> float:
        return min(start for name, start, _ in self.spans if name in names)


def test_what_a_change_needs_goes_first_and_the_rest_at_once(
    sites: dict[int, FakeMoodle], tmp_path: Path
) -> None:
    site = sites[4]
    cohort(site)
    timeline = Timeline(site)
    outcome = sync(client_for(site, 4), write_roster(tmp_path / "roster.csv", big_rows()))
    assert outcome.result is not None and outcome.result.ok
    # The users' batches and the groups were in flight together...
    assert timeline.users_waited is True
    # ... and what waits for them came after them.
    users = timeline.ends("core_user_create_users")
    assert users <= timeline.starts("enrol_manual_enrol_users")
    assert timeline.ends("core_group_create_groups", "core_group_create_groupings") <= timeline.starts(
        "core_group_assign_grouping"
    )
    assert timeline.ends("enrol_manual_enrol_users", "core_group_create_groups") <= timeline.starts(
        "core_group_add_group_members"
    )
    # Batches sent at once write different rows: each group's members in one batch, each person's
    # enrolments in one batch (on the real site, two batches adding members to one group deadlock).
    batches = [params for name, params in site.calls if name == "core_group_add_group_members"]
    groups = [{m["groupid"] for m in batch["members"]} for batch in batches]
    assert len(batches) > 1 and sum(len(g) for g in groups) == len(set().union(*groups)) == 9
    batches = [params for name, params in site.calls if name == "enrol_manual_enrol_users"]
    people = [{e["userid"] for e in batch["enrolments"]} for batch in batches]
    assert len(batches) > 1 and sum(len(p) for p in people) == len(set().union(*people))


def test_a_failure_in_one_course_stops_nothing_in_the_others(
    sites: dict[int, FakeMoodle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol = HANDLERS["enrol_manual_enrol_users"]
    refused: set[int] = set()

    def enrol_except_in_m2(site: FakeMoodle, params: dict[str, Any]) -> Any:
        if any(int(item["courseid"]) in refused for item in params.get("enrolments", [])):
            raise invalid_parameter()  # e.g. the course's manual enrolment method is off
        return enrol(site, params)

    monkeypatch.setitem(HANDLERS, "enrol_manual_enrol_users", enrol_except_in_m2)
    path = write_roster(tmp_path / "roster.csv", big_rows(30))
    failures = {}
    for level, site in sites.items():
        courses = cohort(site)
        refused.add(courses[2])
        outcome = sync(client_for(site, level), path)
        assert outcome.result is not None
        failures[level] = sorted(
            (f.change.kind, f.change.course, f.change.person, f.status) for f in outcome.result.failures
        )
    assert end_state(sites[1]) == end_state(sites[4])
    assert failures[1] == failures[4]
    state = end_state(sites[4])
    in_m2 = [e for e in state["enrolments"] if e[0] == "KAM21-M2" and e[1] != "admin"]
    assert in_m2 == []
    # Modules 1 and 3: everyone enrolled and in their team; module 2: its enrolments failed, its memberships
    # skipped, its groups and districts made all the same.
    assert len([e for e in state["enrolments"] if e[0] == "KAM21-M1"]) == 1 + 30 + 1
    kinds = Counter((kind, course, status) for kind, course, _, status in failures[4])
    assert kinds == {
        ("enrol", "KAM21-M2", "failed"): 31,
        ("add_member", "KAM21-M2", "skipped"): 32,
    }
    assert all(len(members) > 0 for course, _, _, members in state["groups"] if course != "KAM21-M2")


def test_a_stop_lets_the_batches_in_flight_finish_and_be_journalled(
    sites: dict[int, FakeMoodle], tmp_path: Path
) -> None:
    path = write_roster(tmp_path / "roster.csv", big_rows())
    clean = sites[1]
    cohort(clean)
    sync(client_for(clean, 1), path)
    site = sites[4]
    cohort(site)
    stop = threading.Event()
    after_stop: list[str] = []

    def stop_at_the_first_enrolment(name: str) -> None:
        if stop.is_set():
            after_stop.append(name)
        if name == "enrol_manual_enrol_users" and not stop.is_set():
            stop.set()  # SIGTERM while the enrolments are being sent
            time.sleep(0.2)  # the batches already sent reach the site meanwhile

    site.before_answer = stop_at_the_first_enrolment
    store = open_store(tmp_path / "store.sqlite3")
    client = client_for(site, 4, cancel_check=stop.is_set)
    with pytest.raises(Cancelled):
        sync(client, path, store)
    # Nothing of a later stage was sent; of this stage, only what was in flight when the stop came.
    assert "core_group_add_group_members" not in per_function(site)
    assert all(name == "enrol_manual_enrol_users" for name in after_stop) and len(after_stop) < 4
    (run,) = runs(store)
    assert run.status == "interrupted"
    done = [e for e in entries(store, run.id) if e["status"] == "ok"]
    enrolled = [e for e in done if e["action"] == "enrol"]
    people = {u["id"] for u in site.users.values() if u["email"].endswith("@example.org") and u["id"] != 2}
    on_site = [key for key in site.enrolments if key[1] in people]
    assert len(enrolled) == len(on_site) > 0  # every enrolment the site made is journalled, and no other
    # The next run finishes the job: the same site as a run never stopped.
    site.before_answer = None
    again = sync(client_for(site, 4), path, store)
    assert again.result is not None and again.result.ok
    assert "create_user" not in again.plan.counts()
    assert end_state(site) == end_state(clean)


# -- namesakes ----------------------------------------------------------------------------------------------
SURNAMES = ("Иванова", "Петрова", "Сидорова", "Смирнова", "Кузнецова", "Попова", "Васильева", "Соколова")
FIRST = ("Ирина", "Анна", "Ольга")


def test_a_dozen_namesakes_each_cost_a_few_rounds_not_a_request_per_candidate(
    fake_moodle: FakeMoodle, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    rows = []
    for number, (surname, first) in enumerate((s, f) for s in SURNAMES for f in FIRST):
        base = username_base(first, surname)
        add_user(fake_moodle, base, first, surname, email=f"old.{base}@example.org")
        for n in range(2, 13):  # earlier cohorts left name2 ... name12
            add_user(fake_moodle, f"{base}{n}", first, surname, email=f"old.{base}{n}@example.org")
        rows.append(participant(number + 1, "Команда А", name=f"{surname} {first} Петровна"))
    # Two new people share a name too: they get two free usernames.
    rows.append(participant(99, "Команда А", name="Иванова Ирина Сергеевна"))
    client = make_client(fake_moodle)
    before = fake_moodle.count("core_user_get_users_by_field")
    outcome = plan_sync(
        client, read_roster(write_roster(tmp_path / "roster.csv", rows)), COURSES, roles=Roles()
    )
    lookups = fake_moodle.count("core_user_get_users_by_field") - before
    made = {op.username for op in outcome.plan.changes if op.kind == "create_user"}
    assert len(made) == len(rows)
    assert {name for name in made if name.startswith("irina.ivanova")} == {
        "irina.ivanova13",
        "irina.ivanova14",
    }
    assert all(name.endswith(("13", "14")) for name in made)
    # By ID number, by email, then the usernames: the plain names, name2..name6, name7..name16.
    assert lookups == 2 + 3

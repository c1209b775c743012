"""Roster sync end to end on the stateful fake: plan, apply, re-run, removals, moves, failures, guards."""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from integration.transport import MoodleClient
from sync.core.config import load_config
from sync.core.store import open_store
from sync.roster.journal import entries, runs
from sync.roster.plan import CreateGroup, Reactivate, Roles, UnassignRole
from sync.roster.read import Roster, read_roster
from sync.roster.sync import SyncOutcome, apply_sync, cohort_courses, plan_sync
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.people import (
    add_group,
    add_grouping,
    add_user,
    enrol,
    group_of,
    grouping_of,
    user_by_email,
)
from tests.helpers import (
    COURSES,
    EXAMPLE,
    EXAMPLE_ROSTER,
    HEADER,
    ROOT,
    cohort,
    make_client,
    participant,
    standard_rows,
    write_roster,
)

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))


def sync(client: MoodleClient, roster: Roster) -> SyncOutcome:
    """Plan and apply with the standard roles, suspending removals (no journal, no failure report)."""
    return apply_sync(
        client,
        plan_sync(client, roster, COURSES, roles=Roles()),
        store=None,
        report_path=None,
        removal="suspend",
    )


class InterruptAfter:
    """A progress display whose reader presses Ctrl-C once ``limit`` changes are done."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen = 0

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        def advance(n: int) -> None:
            self.seen += n
            if self.seen > self.limit:
                raise KeyboardInterrupt

        yield advance


def writes(site: FakeMoodle, since: int = 0) -> list[str]:
    return [
        name
        for name, _ in site.calls[since:]
        if "_get_" not in name and name != "core_webservice_get_site_info"
    ]


def members(site: FakeMoodle, courseid: int, team: str) -> set[str]:
    gid = group_of(site, courseid, team)
    assert gid is not None, team
    return {site.users[u]["email"] for u in site.group_members[gid]}


def active_students(site: FakeMoodle, courseid: int) -> set[str]:
    return {
        site.users[uid]["email"]
        for (cid, uid), e in site.enrolments.items()
        if cid == courseid and 5 in e["roles"] and not e["suspended"]
    }


def test_example_roster_plan_apply_and_second_run_changes_nothing(
    fake_moodle: FakeMoodle, run_cli: Run
) -> None:
    courses = cohort(fake_moodle)
    plan = run_cli("roster", "sync", str(EXAMPLE_ROSTER), config=EXAMPLE)
    assert plan.exit_code == 0, plan.output
    assert "users to create: 37" in plan.output and "Nothing was written" in plan.output
    assert writes(fake_moodle) == []

    applied = run_cli("roster", "sync", str(EXAMPLE_ROSTER), "--apply", config=EXAMPLE)
    assert applied.exit_code == 0, applied.output
    anna = user_by_email(fake_moodle, "kam21.p001@example.org")
    assert anna is not None and anna["username"] == "anna.ivanova" and anna["idnumber"] == "KAM21-001"
    assert anna["middlename"] == "Сергеевна" and anna["city"] == "Шаромы"
    # 28 school participants in 7 teams; the young NGOs take modules 2 and 3 only.
    assert len(active_students(fake_moodle, courses[1])) == 28
    assert len(active_students(fake_moodle, courses[2])) == 32
    assert members(fake_moodle, courses[1], "Шаромы — наш дом") >= {
        "kam21.p001@example.org",
        "mentor1@example.org",
    }
    expert = user_by_email(fake_moodle, "expert1@example.org")
    assert expert is not None
    assert (courses[3], expert["id"]) in fake_moodle.enrolments and (
        courses[1],
        expert["id"],
    ) not in fake_moodle.enrolments
    groupings = {g["idnumber"] for g in fake_moodle.groupings.values()}
    assert "kam21-m1-milkovsky-mr" in groupings and "kam21-m3-bystrinsky-mr" in groupings
    esso = group_of(fake_moodle, courses[2], "Эссо: тропа эвенов")
    bystr = next(g for g in fake_moodle.groupings.values() if g["idnumber"] == "kam21-m2-bystrinsky-mr")
    assert esso in fake_moodle.grouping_groups[bystr["id"]]

    before = len(fake_moodle.calls)
    again = run_cli("roster", "sync", str(EXAMPLE_ROSTER), "--apply", "--json", config=EXAMPLE)
    assert again.exit_code == 0, again.output
    payload = json.loads(again.stdout)
    assert payload["operations"] == [] and payload["counts"] == {}
    assert writes(fake_moodle, before) == []
    assert len(fake_moodle.calls) - before <= 20

    history = run_cli("roster", "history", config=EXAMPLE)
    # A table of runs: run, started, status, changes, failed, removal, file.
    assert re.search(
        r"^1 +\S+ +completed +\d+ +0 +suspend +\S*roster-kamchatka-2021\.csv", history.output, re.M
    ), history.output


def test_edited_roster_removals_moves_and_bad_row(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 0

    rows = standard_rows()
    del rows[14]  # p15 dropped
    rows[0] = participant(1, "Команда Б")  # p1 moves from А to Б
    rows.append(participant(99, "Команда В", "Быстринский МР", email="not-an-email"))  # a bad row
    path = write_roster(tmp_path / "roster.csv", rows)
    refused = run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE)
    assert refused.exit_code == 1
    assert (
        "row 18" in refused.output
        and "not-an-email" in refused.output
        and "nothing was written" in refused.output
    )
    refused_report = next(tmp_path.glob("roster-failures-*.csv"))
    assert "invalid row, nothing written: Email" in refused_report.read_text(encoding="utf-8-sig")
    refused_report.unlink()

    before = len(fake_moodle.calls)
    result = run_cli(
        "roster", "sync", str(path), "--apply", "--skip-invalid", "--max-suspend-share", "0.2", config=EXAMPLE
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 invalid row: 18" in result.output
    done = writes(fake_moodle, before)
    assert "core_user_create_users" not in done
    for cid in courses.values():
        assert "p15@example.org" not in active_students(fake_moodle, cid)
        p15 = user_by_email(fake_moodle, "p15@example.org")
        assert (
            p15 is not None and fake_moodle.enrolments[(cid, p15["id"])]["suspended"]
        )  # kept, not unenrolled
        assert "p1@example.org" in members(fake_moodle, cid, "Команда Б")
        assert "p1@example.org" not in members(fake_moodle, cid, "Команда А")
    # The mentor stays in her teams' groups; the dropped person keeps their group (their work stays visible).
    assert "mentor@example.org" in members(fake_moodle, courses[2], "Команда А")
    assert "p15@example.org" in members(fake_moodle, courses[2], "Команда В")

    report = next(tmp_path.glob("roster-failures-*.csv")).read_text(encoding="utf-8-sig")
    assert "18;" in report and "invalid row, skipped: Email" in report and "not-an-email" in report

    again = run_cli("roster", "sync", str(path), "--skip-invalid", "--json", config=EXAMPLE)
    assert json.loads(again.stdout)["operations"] == []


def test_suspension_guard_and_empty_roster(fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path) -> None:
    cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 0
    rows = standard_rows()
    shrunk = write_roster(tmp_path / "roster.csv", rows[:5] + rows[10:])  # team Б's 5 of 15 students gone
    before = len(fake_moodle.calls)
    stopped = run_cli("roster", "sync", str(shrunk), "--apply", config=EXAMPLE)
    assert stopped.exit_code == 1
    assert "would suspend 5 of 16 active participants" in stopped.output and "--force" in stopped.output
    assert writes(fake_moodle, before) == []
    forced = run_cli("roster", "sync", str(shrunk), "--apply", "--force", config=EXAMPLE)
    assert forced.exit_code == 0, forced.output
    assert "enrolments to suspend: 15" in forced.output

    empty = write_roster(tmp_path / "empty.csv", [])
    before = len(fake_moodle.calls)
    stopped = run_cli("roster", "sync", str(empty), "--apply", config=EXAMPLE)
    assert stopped.exit_code == 1 and "nobody in it" in stopped.output
    assert writes(fake_moodle, before) == []


def test_removal_keep_and_unenrol_must_be_asked_for(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 0
    rows = standard_rows()
    del rows[0]
    path = write_roster(tmp_path / "roster.csv", rows)
    keep = run_cli("roster", "sync", str(path), "--removal", "keep", "--json", config=EXAMPLE)
    assert json.loads(keep.stdout)["counts"] == {}
    out = run_cli("roster", "sync", str(path), "--apply", "--removal", "unenrol", config=EXAMPLE)
    assert out.exit_code == 0, out.output
    p1 = user_by_email(fake_moodle, "p1@example.org")
    assert p1 is not None and all((cid, p1["id"]) not in fake_moodle.enrolments for cid in courses.values())


def test_conflict_same_email_other_idnumber_is_skipped_and_not_suspended(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    other = add_user(fake_moodle, "old.account", email="p3@example.org", idnumber="OTHER-1")
    enrol(fake_moodle, courses[1], other, 5)
    adopted = add_user(fake_moodle, "p4.legacy", email="P4@example.org".lower())
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    result = run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE)
    # The others are applied, but a person skipped for a conflict is a problem: exit 1, said so.
    assert result.exit_code == 1, result.output
    assert "conflict, row 4" in result.output and "OTHER-1" in result.output
    assert "1 person skipped because of a conflict with a Moodle account (row 4)" in result.output
    assert fake_moodle.users[other]["idnumber"] == "OTHER-1"
    assert not fake_moodle.enrolments[(courses[1], other)]["suspended"]  # in the file: never suspended
    assert fake_moodle.users[adopted]["idnumber"] == "KAM21-004"  # adopted, username kept
    assert fake_moodle.users[adopted]["username"] == "p4.legacy"
    report = next(tmp_path.glob("roster-failures-*.csv"))
    text = report.read_text(encoding="utf-8-sig")
    assert "OTHER-1" in text and text.splitlines()[0].startswith("Строка;ФИО")


def test_failed_batch_is_isolated_and_reported_then_rerun_retries_only_that(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    # Someone outside the roster already uses p7's email in another case: Moodle refuses the new account
    # (emails are unique whatever the case) and the whole batch fails without saying which user (note 5).
    add_user(fake_moodle, "someone.else", email="P7@EXAMPLE.ORG", idnumber="X-7")
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    report = tmp_path / "failures.csv"
    result = run_cli("roster", "sync", str(path), "--apply", "--report", str(report), config=EXAMPLE)
    assert result.exit_code == 1
    assert user_by_email(fake_moodle, "p6@example.org") is not None
    assert user_by_email(fake_moodle, "p8@example.org") is not None
    assert [u for u in fake_moodle.users.values() if u["email"] == "p7@example.org"] == []
    rows = list(csv.reader(report.open(encoding="utf-8-sig"), delimiter=";"))
    failed = [r for r in rows[1:] if r[6] == "ошибка"]
    assert len(failed) == 1 and failed[0][0] == "8" and failed[0][2] == "p7@example.org"
    assert "invalidparameter" in failed[0][7] and "email already belongs" in failed[0][7]
    skipped = [r for r in rows[1:] if r[6] == "пропущено"]
    assert skipped and all(r[0] == "8" for r in skipped)  # p7's enrolments and memberships

    # The coordinator fixes the other account; the next run creates only p7.
    other = user_by_email(fake_moodle, "P7@EXAMPLE.ORG")
    assert other is not None
    other["email"] = "someone.else@example.org"
    before = len(fake_moodle.calls)
    again = run_cli("roster", "sync", str(path), "--apply", "--json", config=EXAMPLE)
    assert again.exit_code == 0, again.output
    counts = json.loads(again.stdout)["counts"]
    assert counts == {"create_user": 1, "enrol": 3, "add_member": 3}
    assert writes(fake_moodle, before).count("core_user_create_users") == 1


def test_rerun_after_interruption_completes_the_rest(fake_moodle: FakeMoodle, tmp_path: Path) -> None:
    courses = cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    client = make_client(fake_moodle)
    store = open_store(tmp_path / "s.sqlite3")
    # The users are created on the server but the answer is lost; then the site goes away during enrolment.
    fake_moodle.inject("core_user_create_users", "drop-after-apply")
    fake_moodle.inject("enrol_manual_enrol_users", "connection", times=100)
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    outcome = apply_sync(client, outcome, store=store, report_path=tmp_path / "r.csv", removal="suspend")
    assert outcome.failed
    # The lost answer was reconciled by re-reading the usernames: nobody is created twice.
    assert len([u for u in fake_moodle.users.values() if u["email"].startswith("p")]) == 15
    assert not any(failure.change.kind == "create_user" for failure in outcome.result.failures)  # type: ignore[union-attr]
    fake_moodle.injected.clear()

    client = make_client(fake_moodle)
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    assert "create_user" not in outcome.plan.counts()
    outcome = apply_sync(client, outcome, store=store, report_path=tmp_path / "r.csv", removal="suspend")
    assert not outcome.failed
    assert len(active_students(fake_moodle, courses[1])) == 15
    again = plan_sync(make_client(fake_moodle), roster, COURSES, roles=Roles())
    assert again.plan.empty
    journal = runs(store)
    assert [r.status for r in journal] == ["ok", "failed"]
    assert any(e["status"] == "failed" for e in entries(store, journal[1].id))


def test_team_change_and_role_change(fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path) -> None:
    courses = cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    sync(client, roster)
    rows = standard_rows()
    rows[1] = participant(2, "", role="наставник", teams="Команда Б")  # p2 becomes a mentor of Б
    roster = read_roster(write_roster(tmp_path / "roster.csv", rows))
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    kinds = outcome.plan.counts()
    assert kinds == {"add_role": 3, "unassign_role": 3, "remove_member": 3, "add_member": 3}
    apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    p2 = user_by_email(fake_moodle, "p2@example.org")
    assert p2 is not None
    for cid in courses.values():
        assert fake_moodle.enrolments[(cid, p2["id"])]["roles"] == {4}
        assert "p2@example.org" in members(fake_moodle, cid, "Команда Б")
        assert "p2@example.org" not in members(fake_moodle, cid, "Команда А")
    assert plan_sync(client, roster, COURSES, roles=Roles()).plan.empty


def test_a_role_change_that_fails_keeps_the_old_role(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    """The new role is given before the old one is taken (field note 22). When Moodle refuses the new one
    (wsusercannotassign), the old role stays: the person is not left enrolled with no role at all."""
    courses = cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    sync(client, roster)
    rows = standard_rows()
    rows[1] = participant(2, "", role="наставник", teams="Команда Б")  # p2 becomes a mentor of Б
    roster = read_roster(write_roster(tmp_path / "roster.csv", rows))
    refused = Roles(mentor=999)  # a role the token may not assign
    outcome = plan_sync(client, roster, COURSES, roles=refused)
    assert len([op for op in outcome.plan.of(UnassignRole) if op.row == 3]) == 3
    outcome = apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    assert outcome.result is not None
    failures = [f for f in outcome.result.failures if f.change.row == 3]
    assert {(f.change.kind, f.status) for f in failures} >= {
        ("add_role", "failed"),
        ("unassign_role", "skipped"),
    }
    assert all("old role stays" in f.error for f in failures if f.change.kind == "unassign_role")
    p2 = user_by_email(fake_moodle, "p2@example.org")
    assert p2 is not None
    for cid in courses.values():
        assert fake_moodle.enrolments[(cid, p2["id"])]["roles"] == {5}


def test_existing_groups_are_matched_by_name_and_suspended_people_reactivated(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    existing = add_group(fake_moodle, courses[1], "Команда А")
    returning = add_user(fake_moodle, "anna.returning", email="p1@example.org", idnumber="KAM21-001")
    enrol(fake_moodle, courses[1], returning, 5, suspended=True)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    assert [op.team for op in outcome.plan.of(CreateGroup) if op.module == 1] == ["Команда Б", "Команда В"]
    assert [op.userid for op in outcome.plan.of(Reactivate)] == [returning]
    apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    assert not fake_moodle.enrolments[(courses[1], returning)]["suspended"]
    assert returning in fake_moodle.group_members[existing]


def test_guard_counts_per_course() -> None:
    from sync.roster.plan import CourseRemovals, RosterPlan
    from sync.roster.sync import RemovalShare

    plan = RosterPlan(removals=[CourseRemovals(1, "KAM21-M1", 20, 2), CourseRemovals(2, "KAM21-M2", 20, 3)])
    (problem,) = RemovalShare(0.1, "suspend").check(plan)
    assert problem.subject == "KAM21-M2" and "KAM21-M2: would suspend 3 of 20" in problem.message


def test_missing_course_is_a_usage_error(fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path) -> None:
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    result = run_cli("roster", "sync", str(path), config=EXAMPLE)
    assert result.exit_code == 2 and "KAM21-M1" in result.output and "accel provision" in result.output


def test_request_budget_for_1200_participants_at_max_input_vars_1000() -> None:
    """Issue 4's targets, counted on the fake (the benchmark prints the same for 100 and 5,000)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("roster_benchmark", ROOT / "benchmarks" / "roster_sync.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        small = bench.run(100, Path(tmp))
        big = bench.run(1200, Path(tmp))
    assert big["first_requests"] <= 60
    assert big["again_writes"] == 0 and big["again_requests"] <= 20
    # Requests grow with the data divided by the request limit, not with one call per person.
    assert big["first_requests"] - small["first_requests"] < (1200 - 100) / 20


def test_sync_roster_for_the_service_holds_a_guarded_change(fake_moodle: FakeMoodle, tmp_path: Path) -> None:
    from sync.roster.sync import roles_from, sync_roster

    cohort(fake_moodle)
    config = load_config(EXAMPLE)
    client = make_client(fake_moodle)
    store = open_store(tmp_path / "s.sqlite3")
    full = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    planned = sync_roster(
        client, full, cohort_courses(config), roles=roles_from(config), apply=False, store=store
    )
    assert planned.result is None and planned.plan.counts()["create_user"] == 17 and writes(fake_moodle) == []
    done = sync_roster(
        client, full, cohort_courses(config), roles=roles_from(config), apply=True, store=store
    )
    assert done.result is not None and done.result.ok and done.report is None
    rows = standard_rows()
    half = read_roster(write_roster(tmp_path / "half.csv", rows[:5] + rows[10:]))
    before = len(fake_moodle.calls)
    held = sync_roster(
        client, half, cohort_courses(config), roles=roles_from(config), apply=True, store=store
    )
    assert held.blocked and held.result is None and writes(fake_moodle, before) == []


def test_similar_team_names_get_their_own_groups_and_staff_roles_stay(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    designer = add_user(fake_moodle, "designer", email="mentor@example.org")
    enrol(fake_moodle, courses[1], designer, 3)  # an editing teacher who is also a mentor in the roster
    rows = standard_rows()
    rows[5] = participant(6, "Команда-А")  # slug "komanda-a", like "Команда А"
    roster = read_roster(write_roster(tmp_path / "roster.csv", rows))
    outcome = sync(client, roster)
    assert outcome.result is not None and outcome.result.ok
    a, a2 = group_of(fake_moodle, courses[1], "Команда А"), group_of(fake_moodle, courses[1], "Команда-А")
    assert a and a2 and a != a2
    assert {fake_moodle.groups[a]["idnumber"], fake_moodle.groups[a2]["idnumber"]} == {
        "kam21-m1-komanda-a",
        "kam21-m1-komanda-a-2",
    }
    assert fake_moodle.enrolments[(courses[1], designer)]["roles"] == {3, 4}
    assert plan_sync(client, roster, COURSES, roles=Roles()).plan.empty


def test_an_account_suspended_on_the_site_is_reported_not_reactivated_forever(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    blocked = add_user(fake_moodle, "blocked", email="p1@example.org", idnumber="KAM21-001", suspended=True)
    enrol(fake_moodle, courses[1], blocked, 5)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    plan = plan_sync(client, roster, COURSES, roles=Roles()).plan
    assert plan.of(Reactivate) == []
    assert any("suspended on the site" in note.message for note in plan.warnings)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_ctrl_c_midway_is_journalled_and_the_next_run_finishes(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, concurrency: int
) -> None:
    courses = cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    client = make_client(fake_moodle, concurrency=concurrency)
    store = open_store(tmp_path / "accel.sqlite3")  # the store the CLI uses (ACCEL_STORE)
    # One request at a time: the users, then the enrolments; Ctrl-C before the groups. Several: the users with
    # the groups and groupings, then the enrolments with the districts; Ctrl-C before the memberships.
    done_by_then = 17 + 49 if concurrency == 1 else 17 + 9 + 6 + 49 + 9
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    with pytest.raises(KeyboardInterrupt):
        apply_sync(
            client,
            outcome,
            store=store,
            report_path=None,
            removal="suspend",
            progress=InterruptAfter(done_by_then - 1),
        )
    assert [r.status for r in runs(store)] == ["interrupted"]
    journalled = store.execute("SELECT action, count(*) FROM roster_journal GROUP BY action").fetchall()
    if concurrency == 1:
        assert fake_moodle.groups == {}
        assert dict(journalled) == {"create_user": 17, "enrol": 49}
    else:
        assert len(fake_moodle.groups) == 9 and not any(fake_moodle.group_members.values())
        assert dict(journalled) == {
            "create_user": 17,
            "create_group": 9,
            "create_grouping": 6,
            "enrol": 49,
            "assign_grouping": 9,
        }

    result = run_cli("roster", "sync", str(tmp_path / "roster.csv"), "--apply", "--json", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert "create_user" not in counts and "enrol" not in counts
    assert counts.get("create_group") == (9 if concurrency == 1 else None)
    assert len(members(fake_moodle, courses[3], "Команда В")) == 6  # 5 participants and their mentor

    history = run_cli("roster", "history", "--json", config=EXAMPLE)
    assert [r["status"] for r in json.loads(history.stdout)] == ["ok", "interrupted"]
    first = run_cli("roster", "history", "--run", "1", config=EXAMPLE)
    assert "create user anna.uchastnikova1" in first.output
    person = run_cli("roster", "history", "--person", "Участникова3", "--json", config=EXAMPLE)
    assert {e["action"] for e in json.loads(person.stdout)} >= {"create_user", "enrol", "add_member"}


def test_a_site_level_refusal_is_not_split_down_to_every_person(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    wrong = Roles(student=999, mentor=999, expert=999)  # the token may not assign this role anywhere
    outcome = plan_sync(client, roster, COURSES, roles=wrong)
    before = fake_moodle.count("enrol_manual_enrol_users")
    outcome = apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    assert outcome.result is not None
    enrol_failures = [f for f in outcome.result.failures if f.change.kind == "enrol"]
    assert len(enrol_failures) == 49 and all("wsusercannotassign" in f.error for f in enrol_failures)
    assert fake_moodle.count("enrol_manual_enrol_users") - before < 40  # splitting all: ~100


def test_many_bad_items_first_do_not_stop_the_good_ones(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    for n in range(1, 11):  # the first ten people's emails already belong to other accounts
        add_user(fake_moodle, f"other{n}", email=f"P{n}@EXAMPLE.ORG", idnumber=f"X-{n}")
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    outcome = sync(client, roster)
    assert outcome.result is not None
    failed = sorted(f.change.row or 0 for f in outcome.result.failures if f.change.kind == "create_user")
    assert failed == list(range(2, 12))
    for n in range(11, 16):
        assert user_by_email(fake_moodle, f"p{n}@example.org") is not None
    assert user_by_email(fake_moodle, "mentor@example.org") is not None


def test_one_account_is_never_given_to_two_roster_people() -> None:
    from integration.users import MoodleUser
    from sync.roster.plan import match_people
    from sync.roster.read import RosterPerson

    account = MoodleUser(id=9, username="anna", email="old@example.org", idnumber="A-1")
    anna = RosterPerson(
        row=2, lastname="Иванова", firstname="Анна", application="A-1", email="new@example.org"
    )
    other = RosterPerson(row=3, lastname="Петров", firstname="Иван", email="old@example.org", role="mentor")
    matches = match_people([other, anna], [account])
    assert matches[anna.key].userid == 9 and matches[anna.key].how == "idnumber"
    assert matches[other.key].how == "conflict" and matches[other.key].related == (9,)


def test_long_phone_and_village_fit_moodle_columns_and_the_rerun_is_quiet(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    """mdl_user.phone1 is 20 characters and city 120: PostgreSQL refuses longer values (the fake too), which
    would fail the account creation; the sync sends what fits, and compares what it sends."""
    cohort(fake_moodle)
    path = tmp_path / "roster.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow([*HEADER, "Телефон"])
        two_phones = "+7 (914) 123-45-67, +7 (914) 765-43-21"
        writer.writerow([*participant(1, "Команда А", village="Село " + "о" * 130), two_phones])
        writer.writerow([*participant(2, "Команда А"), "+7 (914) 123-45-67 доб. 1234"])
        writer.writerow([*participant(3, "Команда А"), "+7 900 000-00-00"])
    roster = read_roster(path)
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    done = apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    assert not done.failed, done.result
    p1, p2, p3 = (user_by_email(fake_moodle, f"p{n}@example.org") for n in (1, 2, 3))
    assert p1 is not None and p2 is not None and p3 is not None
    assert p1["phone1"] == "+7 (914) 123-45-67" and len(p1["city"]) == 120
    assert p2["phone1"] == "+791412345671234"
    assert p3["phone1"] == "+7 900 000-00-00"
    assert plan_sync(client, roster, COURSES, roles=Roles()).plan.empty


def district_of(site: FakeMoodle, courseid: int, team: str) -> set[str]:
    """Names of the groupings that hold the team's group in the course."""
    gid = group_of(site, courseid, team)
    return {
        site.groupings[gg]["name"]
        for gg, groups in site.grouping_groups.items()
        if gid in groups and site.groupings[gg]["courseid"] == courseid
    }


def moved_rows() -> list[list[str]]:
    """Team В leaves Быстринский МР (which then has no team) for Мильковский МР; team Б moves to a new
    district, Усть-Камчатский МР."""
    rows = standard_rows()
    for row in rows:
        if row[5] == "Команда В":
            row[4] = "Мильковский МР"
        elif row[5] == "Команда Б":
            row[4] = "Усть-Камчатский МР"
    return rows


def test_a_team_moved_to_another_district_leaves_the_old_grouping_in_every_course(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 0
    for cid in courses.values():
        assert district_of(fake_moodle, cid, "Команда В") == {"Быстринский МР"}
    # A course designer's own grouping holds team В in module 1: not a district grouping, never touched.
    own = add_grouping(
        fake_moodle,
        courses[1],
        "Проектные команды",
        groups=(group_of(fake_moodle, courses[1], "Команда В") or 0,),
    )

    path = write_roster(tmp_path / "roster.csv", moved_rows())
    planned = run_cli("roster", "sync", str(path), "--json", config=EXAMPLE)
    assert planned.exit_code == 0, planned.output
    payload = json.loads(planned.stdout)
    assert payload["counts"] == {"create_grouping": 3, "assign_grouping": 6, "unassign_grouping": 6}
    ops = payload["operations"]
    leaving = [op for op in ops if op["kind"] == "unassign_grouping"]
    assert {(op["team"], op["district"], op["data"]["to"]) for op in leaving} == {
        ("Команда В", "Быстринский МР", "Мильковский МР"),
        ("Команда Б", "Мильковский МР", "Усть-Камчатский МР"),
    }
    assert {op["module"] for op in leaving} == {1, 2, 3}
    kinds = [op["kind"] for op in ops]
    assert max(i for i, k in enumerate(kinds) if k == "assign_grouping") < kinds.index("unassign_grouping")
    text = run_cli("roster", "sync", str(path), config=EXAMPLE)
    assert "groups to take out of groupings (teams moved to another district): 6" in text.output
    # A row of the kind's table: the team, the course, where it leaves and where it is now.
    assert re.search(
        r"^«Команда В» +KAM21-M2 +out of «Быстринский МР»; its district is now «Мильковский МР»",
        text.output,
        re.M,
    ), text.output

    before = len(fake_moodle.calls)
    applied = run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE)
    assert applied.exit_code == 0, applied.output
    done = writes(fake_moodle, before)
    assert done.index("core_group_assign_grouping") < done.index("core_group_unassign_grouping")
    for cid in courses.values():
        assert district_of(fake_moodle, cid, "Команда А") == {"Мильковский МР"}
        assert district_of(fake_moodle, cid, "Команда В") - {"Проектные команды"} == {"Мильковский МР"}
        assert district_of(fake_moodle, cid, "Команда Б") == {"Усть-Камчатский МР"}
        assert grouping_of(fake_moodle, cid, "Быстринский МР") is not None  # emptied, not deleted
    assert fake_moodle.grouping_groups[own] == {group_of(fake_moodle, courses[1], "Команда В")}

    history = run_cli("roster", "history", "--run", "2", config=EXAMPLE)
    assert history.output.count("take group «Команда Б» out of grouping «Мильковский МР»") == 3

    before = len(fake_moodle.calls)
    again = run_cli("roster", "sync", str(path), "--apply", "--json", config=EXAMPLE)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["operations"] == []
    assert writes(fake_moodle, before) == []


def test_a_failed_district_move_keeps_the_team_in_its_old_district_and_fails_alone(
    fake_moodle: FakeMoodle, client: MoodleClient, tmp_path: Path
) -> None:
    courses = cohort(fake_moodle)
    first = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    sync(client, first)
    rows = standard_rows()
    for row in rows:
        if row[5] == "Команда В":
            row[4] = "Мильковский МР"
    moved = read_roster(write_roster(tmp_path / "roster.csv", rows))
    outcome = plan_sync(client, moved, COURSES, roles=Roles())
    assert outcome.plan.counts() == {"assign_grouping": 3, "unassign_grouping": 3}
    # Between plan and apply someone deletes module 2's old grouping and module 3's new one.
    old_m2 = grouping_of(fake_moodle, courses[2], "Быстринский МР")
    new_m3 = grouping_of(fake_moodle, courses[3], "Мильковский МР")
    assert old_m2 is not None and new_m3 is not None
    del fake_moodle.groupings[old_m2], fake_moodle.groupings[new_m3]
    store = open_store(tmp_path / "s.sqlite3")
    outcome = apply_sync(client, outcome, store=store, report_path=tmp_path / "r.csv", removal="suspend")
    assert outcome.result is not None
    failures = {(f.change.kind, f.change.module): f for f in outcome.result.failures}
    assert set(failures) == {("assign_grouping", 3), ("unassign_grouping", 2), ("unassign_grouping", 3)}
    assert "invalidrecordunknown" in failures[("unassign_grouping", 2)].error
    assert failures[("unassign_grouping", 3)].status == "skipped"
    assert "stays in this one" in failures[("unassign_grouping", 3)].error
    # Module 1 moved; module 3 keeps the team in its old district rather than in none.
    assert district_of(fake_moodle, courses[1], "Команда В") == {"Мильковский МР"}
    assert district_of(fake_moodle, courses[3], "Команда В") == {"Быстринский МР"}
    journal = entries(store, runs(store)[0].id)
    assert [e["status"] for e in journal if e["action"] == "unassign_grouping"].count("ok") == 1
    assert "Быстринский МР" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")


def test_an_email_retyped_in_another_case_finds_the_same_account(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    """Moodle looks emails up exactly (PostgreSQL) but refuses a new account whose email another account has
    in any case. A mentor (no application number) whose email the coordinator retypes in lower case keeps her
    account: no refused (or, where the site allows shared emails, duplicate) new one, no suspended old one."""
    courses = cohort(fake_moodle)
    rows = standard_rows()
    rows[15][2] = "Mentor@Example.org"
    path = write_roster(tmp_path / "roster.csv", rows)
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 0
    mentor = user_by_email(fake_moodle, "mentor@example.org")
    assert mentor is not None and mentor["email"] == "Mentor@Example.org"

    rows[15][2] = "mentor@example.org"
    path = write_roster(tmp_path / "roster.csv", rows)
    before = len(fake_moodle.calls)
    again = run_cli("roster", "sync", str(path), "--apply", "--json", config=EXAMPLE)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"] == {}
    assert writes(fake_moodle, before) == []
    assert [u["id"] for u in fake_moodle.users.values() if u["email"].lower() == "mentor@example.org"] == [
        mentor["id"]
    ]
    for cid in courses.values():
        assert not fake_moodle.enrolments[(cid, mentor["id"])]["suspended"]
    assert mentor["id"] in fake_moodle.group_members[group_of(fake_moodle, courses[1], "Команда А") or 0]


def test_a_conflict_alone_is_never_already_in_step(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    add_user(fake_moodle, "old.account", email="p3@example.org", idnumber="OTHER-1")
    path = write_roster(tmp_path / "roster.csv", standard_rows())
    assert run_cli("roster", "sync", str(path), "--apply", config=EXAMPLE).exit_code == 1
    for args in ((), ("--apply",)):  # everyone else is in step now: only the conflict is left
        again = run_cli("roster", "sync", str(path), *args, config=EXAMPLE)
        assert again.exit_code == 1, again.output
        assert "already matches" not in again.output
        assert "Moodle does not match the roster: 1 person skipped because of a conflict" in again.output
        assert "Error: 1 person skipped because of a conflict with a Moodle account (row 4)" in again.output
    as_json = run_cli("roster", "sync", str(path), "--json", config=EXAMPLE)
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["conflicts"][0]["row"] == 4


def test_a_file_much_shorter_than_the_last_one_applied_is_held(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    rows = standard_rows()
    path = tmp_path / "roster.csv"
    assert run_cli("roster", "sync", str(write_roster(path, rows)), "--apply", config=EXAMPLE).exit_code == 0
    # 12 of 17 people: the per-course share is raised out of the way; the file-level guard still holds it.
    write_roster(path, rows[:5] + rows[10:])
    before = len(fake_moodle.calls)
    held = run_cli("roster", "sync", str(path), "--apply", "--max-suspend-share", "0.9", config=EXAMPLE)
    assert held.exit_code == 1, held.output
    assert (
        f"Stopped: {path} has 12 people, 5 fewer than the 17 of the last sync applied to cohort kam21 "
        "(journal run 1, " in held.output
    )
    assert "29% fewer, more than the allowed 10%" in held.output and "--force" in held.output
    assert writes(fake_moodle, before) == []
    forced = run_cli(
        "roster", "sync", str(path), "--apply", "--max-suspend-share", "0.9", "--force", config=EXAMPLE
    )
    assert forced.exit_code == 0, forced.output
    # The next file is compared with the forced one (12); growing back is never held.
    assert run_cli("roster", "sync", str(write_roster(path, rows)), "--apply", config=EXAMPLE).exit_code == 0
    # Three fewer of 17 is under the default minimum of 5 people: not held by this guard.
    small = run_cli(
        "roster",
        "sync",
        str(write_roster(path, rows[:14])),
        "--apply",
        "--max-suspend-share",
        "0.9",
        config=EXAMPLE,
    )
    assert small.exit_code == 0, small.output
    # --removal keep removes nobody: nothing to guard.
    keep = run_cli(
        "roster", "sync", str(write_roster(path, rows[:6])), "--apply", "--removal", "keep", config=EXAMPLE
    )
    assert keep.exit_code == 0, keep.output

    # The limits come from [roster] in the configuration.
    config = tmp_path / "accelerator.toml"
    limits = "\n[roster]\nmax_suspend_share = 0.9\nmax_shrink_share = 0.1\nshrink_min_people = 2\n"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + limits, encoding="utf-8")
    strict = run_cli("roster", "sync", str(write_roster(path, rows[:12])), "--apply", "--json", config=config)
    assert strict.exit_code == 1
    [reason] = json.loads(strict.stdout)["blocked"]
    assert reason.startswith(f"{path} has 12 people, 2 fewer than the 14 of the last sync applied")


def test_the_services_roster_job_holds_a_shrunk_file(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    import shutil

    from tests.helpers import cut_roster, write_config

    cohort(fake_moodle)
    roster = tmp_path / "roster.csv"
    shutil.copy(EXAMPLE_ROSTER, roster)
    # The per-course guard is set out of the way ([roster] max_suspend_share = 1): only the shrink guard holds.
    config = write_config(tmp_path, 'roster_file = "roster.csv"\n\n[roster]\nmax_suspend_share = 1.0\n')
    synced = run_cli("--config", str(config), "serve", "--once", "--job", "roster_sync")
    assert "roster_sync: ok" in synced.output, synced.output
    cut_roster(EXAMPLE_ROSTER, roster, keep=lambda n: n % 2 == 0)
    before = len(fake_moodle.calls)
    held = run_cli("--config", str(config), "serve", "--once", "--job", "roster_sync")
    assert re.search(
        r"^roster_sync: held .*has 19 people, 18 fewer than the 37 of the last sync", held.output, re.M
    ), held.output
    assert [n for n in writes(fake_moodle, before) if "message" not in n] == []

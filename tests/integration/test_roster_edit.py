"""An edited roster synced into a real Moodle: people dropped are suspended (never unenrolled), a person moved
to another team changes group in every course, a bad row is skipped (its person left as they were), a new
person whose email an existing account with another ID number already holds is a conflict (nobody is
created or changed), a new person is added."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.integration.helpers import (
    BuiltCohort,
    CohortFactory,
    build,
    enrolments,
    group_members,
    roles_by_course,
)
from tests.integration.moodle_site import MODULES, request_counts
from tests.integration.roster_data import Person, moved, write_csv


@dataclass
class Edited:
    built: BuiltCohort
    named: dict[str, Person]  # by surname, and "newcomer", "conflicting"
    accounts_before: dict[str, int]  # email -> user id before the edited roster was applied
    roster: Path


@pytest.fixture(scope="module")
def edited(new_cohort: CohortFactory) -> Edited:
    built = build(new_cohort())
    cohort, site, people = built.cohort, built.site, built.people
    by_name = {p.surname: p for p in people}
    code = cohort.code

    # An account that already holds the new person's email, with another ID number: made as an administrator
    # would make it, through the web service (Moodle's own user creation, not SQL).
    conflict_email = f"p090.{code}@example.org"
    site.ws(
        "core_user_create_users",
        {
            "users[0][username]": f"other.{code}",
            "users[0][password]": "Other-Person-1",
            "users[0][firstname]": "Другой",
            "users[0][lastname]": "Человек",
            "users[0][email]": conflict_email,
            "users[0][idnumber]": f"OTHER-{code}",
        },
    )
    newcomer = replace(
        by_name["Фомина"],
        number=f"{code.upper()}-091",
        surname="Новосёлова",
        name="Алёна",
        email=f"p091.{code}@example.org",
    )
    conflicting = replace(
        by_name["Лукин"],
        number=f"{code.upper()}-090",
        surname="Дубликатов",
        name="Денис",
        email=conflict_email,
    )
    removed = {"Блинова", "Шарова"}  # 2 of 28 in module 1: under the 10% guard
    edited_people: list[Person] = []
    for person in people:
        if person.surname in removed:
            continue
        if person.surname == "Ермолаева":  # same district
            person = moved(person, "Мильковские волонтёры")
        elif person.surname == "Ильина":  # to a team in the other district
            person = moved(person, "Шаромы — наш дом")
        elif person.surname == "Шестаков":  # a bad row: the email is broken
            person = replace(person, email="shestakov-at-example.org")
        edited_people.append(person)
    edited_people += [newcomer, conflicting]
    roster = write_csv(edited_people, cohort.directory / "roster-edited.csv")

    before = cohort.user_ids()
    named = {
        "newcomer": newcomer,
        "conflicting": conflicting,
        **{p.surname: p for p in people},
    }
    built.runs["edited"] = cohort.accel(
        "--stats", "roster", "sync", str(roster), "--apply", "--skip-invalid", "--json"
    )
    return Edited(built, named, before, roster)


def test_edited_roster_suspends_moves_skips_and_reports_the_conflict(
    edited: Edited,
) -> None:
    built, named, before = edited.built, edited.named, edited.accounts_before
    cohort, site = built.cohort, built.site
    run = built.runs["edited"]
    result = json.loads(run.stdout)
    # The bad row is skipped and the conflict reported, and the sync says so in its exit status (1)...
    assert run.returncode == 1, run.explain()
    assert [e["row"] for e in result["roster"]["errors"]] == result["skipped_rows"]
    assert "shestakov-at-example.org" in result["roster"]["errors"][0]["message"]
    assert any(named["conflicting"].email in c["message"] for c in result["conflicts"])
    # ... and nothing else failed: every other change of the plan was carried out. (Moodle can answer
    # enrol_manual_enrol_users with an error after it committed the enrolments: the course welcome message,
    # sent from the course contact, e.g. the coordinator, could not be emailed, "Message was not sent.".)
    assert result["applied"] is True
    assert result["failures"] == [], run.explain()
    assert result["done"] == result["counts"], run.explain()
    assert result["counts"] == {
        "create_user": 1,
        "enrol": 3,
        "suspend": 6,
        "remove_member": 6,
        "add_member": 9,
    }

    users = cohort.user_ids()
    courses = cohort.course_ids()
    status = enrolments(site, cohort)
    roles = roles_by_course(site, cohort)
    members = group_members(site, cohort)

    def uid(surname: str) -> int:
        return users[named[surname].email]

    def groups_of(user: int, module: str) -> set[str]:
        return {name for (course, name), ids in members.items() if course == courses[module] and user in ids}

    # Dropped: suspended in every course, never unenrolled; the student role (and so their work) stays.
    for surname in ("Блинова", "Шарова"):
        for module in MODULES:
            key = (courses[module], uid(surname))
            assert status.get(key) == 1, f"{surname} in {module}: enrolment {status.get(key)}"
            assert roles.get(key) == {5}
    # Moved: in the new team's group and out of the old one, in every course.
    for surname, old, new in (
        ("Ермолаева", "Шаромы — наш дом", "Мильковские волонтёры"),
        ("Ильина", "Эссо: тропа эвенов", "Шаромы — наш дом"),
    ):
        for module in MODULES:
            assert groups_of(uid(surname), module) == {new}, f"{surname} in {module}"
            assert status[(courses[module], uid(surname))] == 0
        assert old != new
    # The bad row's person is left as they were: active, in their team, email unchanged.
    for module in MODULES:
        assert status[(courses[module], uid("Шестаков"))] == 0
        assert groups_of(uid("Шестаков"), module) == {"Шаромы — наш дом"}
    # The conflict: the existing account is not adopted, changed or enrolled; no second account is made.
    other = site.sql(
        "select id, idnumber, firstname from mdl_user where deleted = 0 and lower(email) = :'e'",
        e=named["conflicting"].email,
    )
    assert [(r["idnumber"], r["firstname"]) for r in other] == [(f"OTHER-{cohort.code}", "Другой")]
    assert not [key for key in status if key[1] == int(other[0]["id"])]
    assert (
        site.sql_int("select count(*) from mdl_user where idnumber = :'n'", n=named["conflicting"].number)
        == 0
    )
    # The newcomer: one account, a student in every course, in the team's group.
    newcomer = named["newcomer"]
    account = site.sql(
        "select id, idnumber from mdl_user where deleted = 0 and lower(email) = :'e'", e=newcomer.email
    )
    assert [r["idnumber"] for r in account] == [newcomer.number]
    for module in MODULES:
        assert status[(courses[module], int(account[0]["id"]))] == 0
        assert roles[(courses[module], int(account[0]["id"]))] == {5}
        assert groups_of(int(account[0]["id"]), module) == {newcomer.group}
    # Everyone else is untouched: still active; nobody got a second account.
    untouched = set(before.values()) - {uid("Блинова"), uid("Шарова")}
    for user in untouched:
        assert all(s == 0 for (course, u), s in status.items() if u == user)
    assert set(users) - set(before) == {newcomer.email}


def test_the_edited_roster_synced_again_writes_nothing(edited: Edited) -> None:
    again = edited.built.cohort.accel(
        "--stats", "roster", "sync", str(edited.roster), "--apply", "--skip-invalid"
    )
    assert request_counts(again.output)[1] == 0, again.output
    # The same skipped row and conflict are reported again (exit 1), and nothing else is planned.
    assert again.returncode == 1, again.explain()
    assert "Nothing to change for the others" in again.output

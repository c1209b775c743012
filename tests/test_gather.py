"""Gathering on the stateful fake: the recorded cohort rebuilt on the fake site -> snapshot -> indicators.

`build_recorded_cohort` (tests/helpers.py) puts on the fake site the data of the recordings (tests/fixtures/recordings): the
"Камчатка 2021" cohort with 8 participants in two teams, a mentor who is a member of both teams' groups, the
recorded activities, submissions, grades with the mentor's comment, votes (3/3/2), pledges (50 000 Деньги,
15 000 Товары, 30 000 Услуги) and survey answers. Times are chosen inside the grant period (the recordings
were made later) and written down here so the hand counts below can be checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.core.config import AccelConfig, load_config
from sync.core.store import open_store
from sync.core.vocabulary import event_kind
from sync.indicators.compute import compute
from sync.indicators.gather import gather
from sync.indicators.pending import pending_submissions
from sync.indicators.snapshot import list_snapshots, load_snapshot, save_snapshot
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.activities import (
    answer_survey,
    vote,
)
from tests.fake_moodle.people import add_grouping, add_user, enrol
from tests.helpers import (
    EXAMPLE,
    build_recorded_cohort,
    make_client,
    ts,
)

SNAPSHOT_AT = ts(2022, 4, 1)


@pytest.fixture
def config() -> AccelConfig:
    return load_config(EXAMPLE)


def test_gather_reads_the_recorded_cohort_into_a_snapshot(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    build_recorded_cohort(fake_moodle, config)
    client = make_client(fake_moodle)
    snap = gather(client, config, now=SNAPSHOT_AT)

    assert [c.shortname for c in snap.courses] == ["KAM21-M1", "KAM21-M2", "KAM21-M3"]
    assert all(c.id for c in snap.courses)
    keys = {a.key for a in snap.activities}
    assert keys == {
        "m1-intro-forum", "m1-idea", "m1-concept", "m1-fundraising", "m1-survey", "m2-questions",
        "m2-consultations", "m2-final-project", "m3-pitch", "m3-vote", "m3-pledges", "m3-survey",
    }  # fmt: skip
    assert not [n for n in snap.notes if n.kind == "missing_activity"]
    # Team grades come from the gradebook, one row per member: 4 members x 2 teams x 2 assignments + pitch.
    graded = [g for g in snap.grades if g.grade is not None]
    assert len(graded) == 4 * 2 * 2 + 4
    assert {t.district for t in snap.teams} == {"Мильковский МР", "Быстринский МР"}
    assert len(snap.pledges) == 3 and len(snap.surveys) == 2
    assert {event_kind(e.description) for e in snap.events} == {"webinar", "consultation"}


def test_indicators_of_the_recorded_cohort_match_hand_counts(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    build_recorded_cohort(fake_moodle, config)
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    report = compute(snap, config.targets_for())
    values = {r.key: r.value for r in report.results}
    # Hand counts from the recordings (see the module docstring):
    assert values == {
        "participants": 8,  # 8 students; p7 is suspended in module 2 but active in 1 and 3
        "school_participants": 8,  # 4 + 4 in the two teams of module 1
        "initiative_groups": 2,
        "projects_developed": 2,  # both concepts submitted and graded 8
        # idea + concept for two teams, team Эссо's pitch and team Шаромы's consultation log (a comment
        # without a grade), each with a comment; once per team, not per member
        "mentor_feedback": 6,
        "webinars_held": 1,  # the third webinar is in the future
        "consultations_held": 1,  # the group consultation of team Эссо
        "projects_presented": 2,
        "leader_projects": 1,  # only team Эссо's pitch is graded
        "funds_raised": 95000,
        "votes_cast": 8,  # 3 + 3 + 2
        "satisfaction": 7.625,  # (6+7+8+9+10+6+7+8) / 8
        "ngo_intent": 0.625,  # (3 Да + 2 Уже зарегистрировали) / 8
    }
    assert report.result("funds_raised").breakdown == {"Деньги": 50000, "Товары": 15000, "Услуги": 30000}
    assert report.result("initiative_groups").status == "behind"  # 2 of 7 after module 1 ended
    assert report.result("projects_developed").target == 7
    mentor = report.mentors[0]
    assert mentor.name == "Наталья Наставникова"
    # 24, 36, 48, 48 and the consultation log's 24
    assert (mentor.reviews, mentor.with_feedback, mentor.median_hours) == (5, 5, 36.0)
    assert mentor.pending == 3
    # Team Шаромы's pitch waits for the experts, not for a mentor; its answered consultation log waits for
    # nobody, team Эссо's (not answered yet) waits for the mentor's comment.
    assert [(p.team, p.activity_key) for p in report.pending] == [
        ("Команда «Эссо»", "m2-consultations"),
        ("Команда «Шаромы»", "m2-final-project"),
        ("Команда «Эссо»", "m2-final-project"),
    ]
    assert any("without a grade" in n and ": 1." in n for n in report.result("mentor_feedback").notes)
    assert any("m3-pitch" in n for n in report.result("mentor_feedback").notes)
    assert {(d.district, d.participants, d.teams) for d in report.districts} == {
        ("Мильковский МР", 4, 1),
        ("Быстринский МР", 4, 1),
    }
    assert {(v.village, v.teams) for v in report.villages} == {("Шаромы", 1), ("Эссо", 1)}
    sharomy = next(t for t in report.teams if t.name == "Команда «Шаромы»")
    assert sharomy.status["m1-concept"] == "graded: 8"
    assert sharomy.status["m3-pitch"] == "submitted"
    assert sharomy.status["m2-consultations"] == "reviewed: feedback without a grade"
    assert sharomy.graded == 3  # idea, concept and the answered consultation log
    esso = next(t for t in report.teams if t.name == "Команда «Эссо»")
    assert esso.status["m2-consultations"] == "submitted"
    assert (sharomy.done, sharomy.total, sharomy.feedback_received) == (5, 5, 3)
    link = report.result("projects_developed").evidence[0].url
    assert link.startswith(fake_moodle.url + "/mod/assign/view.php?id=")


def test_request_count_does_not_grow_with_people(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    cohort = build_recorded_cohort(fake_moodle, config)
    client = make_client(fake_moodle)
    gather(client, config, now=SNAPSHOT_AT)
    small = client.request_count
    # Forty more participants in every course and team, with survey answers and votes.
    for n in range(40):
        uid = add_user(fake_moodle, f"kam21.extra{n}", "Доп", f"Участник{n}", city="Мильково")
        for key, cid in cohort.courses.items():
            enrol(fake_moodle, cid, uid, 5)
            fake_moodle.group_members[cohort.teams[(key, "Шаромы" if n % 2 else "Эссо")]].add(uid)
        answer_survey(fake_moodle, cohort.surveys["m1-survey"], uid, {"usefulness": "9", "ngo_plan": "Да"})
        vote(fake_moodle, cohort.vote, 3, uid)
    client = make_client(fake_moodle)
    snap = gather(client, config, now=SNAPSHOT_AT)
    assert client.request_count == small
    assert snap.request_count == small
    assert compute(snap).result("participants").value == 48
    assert small < 60


def test_snapshot_round_trips_through_the_store(
    fake_moodle: FakeMoodle, config: AccelConfig, tmp_path: Path
) -> None:
    build_recorded_cohort(fake_moodle, config)
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    conn = open_store(str(tmp_path / "store.sqlite3"))
    first = save_snapshot(conn, snap)
    later = snap.model_copy(update={"taken_at": SNAPSHOT_AT + 3600})
    second = save_snapshot(conn, later)
    assert [s.id for s in list_snapshots(conn, "kam21")] == [first, second]
    assert load_snapshot(conn).taken_at == SNAPSHOT_AT + 3600
    again = load_snapshot(conn, first)
    assert again == snap
    # Reproducible with no site at hand: the same numbers from the stored copy.
    assert compute(again).model_dump() == compute(snap).model_dump()
    assert len(pending_submissions(again)) == 3


def test_a_feedback_only_assignment_is_found_with_or_without_its_gradebook_item(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    """Moodle 5.1 gives a feedback-only assignment a text gradebook item (with the activity's ID number,
    grademax 100) while its feedback comments are on; without them it has none. Either way gather finds it
    and knows it has no grade."""
    cohort = build_recorded_cohort(fake_moodle, config)
    with_item = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    looked_up = fake_moodle.count("core_course_get_course_module")
    fake_moodle.assignments[cohort.assign["m2-consultations"]]["feedbackcomments"] = False
    without_item = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    # Its ID number comes from core_course_get_course_module then: one request more.
    assert fake_moodle.count("core_course_get_course_module") - looked_up == looked_up + 1
    for snap in (with_item, without_item):
        log = next(a for a in snap.activities if a.key == "m2-consultations")
        assert log.grademax is None and log.teamsubmission
    assert {g.key for g in with_item.grades} >= {"m2-consultations"}
    assert "m2-consultations" not in {g.key for g in without_item.grades}


def test_not_enrolled_token_user_gives_warnings_and_missing_activity_notes(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    cohort = build_recorded_cohort(fake_moodle, config)
    del fake_moodle.enrolments[(cohort.courses["m3"], fake_moodle.token_userid)]
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    warnings = [n.text for n in snap.notes if n.kind == "moodle_warning"]
    assert any("User is not enrolled" in w and "mod_assign_get_assignments" in w for w in warnings)
    missing = {n.text for n in snap.notes if n.kind == "missing_activity"}
    assert any("m3-vote" in m for m in missing) and any("m3-pitch" in m for m in missing)
    report = compute(snap)
    assert report.result("projects_presented").value is None
    assert report.result("projects_presented").status == "no_data"
    assert any("m3-pitch" in n for n in report.result("projects_presented").notes)
    assert report.warnings == warnings


def test_missing_course_is_a_note_not_a_crash(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    cohort = build_recorded_cohort(fake_moodle, config)
    del fake_moodle.courses[cohort.courses["m2"]]
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    assert snap.course("m2") is not None and snap.course("m2").id is None  # type: ignore[union-attr]
    report = compute(snap)
    assert report.result("webinars_held").status == "no_data"
    assert any("KAM21-M2" in n for n in report.notes)


def test_robustness_notes_reach_the_report(
    fake_moodle: FakeMoodle, config: AccelConfig, tmp_path: Path
) -> None:
    from sync.indicators.report.write import write_cohort_reports

    cohort = build_recorded_cohort(fake_moodle, config)
    # A deleted user: Moodle drops their enrolments (the fake hides deleted users), their survey answer stays.
    deleted = cohort.users["kam21.p7"]
    fake_moodle.users[deleted]["deleted"] = True
    # A team with no members, in module 1.
    empty_group = fake_moodle.next_id("group")
    fake_moodle.groups[empty_group] = {**fake_moodle.groups[cohort.teams[("m1", "Эссо")]], "id": empty_group,
                                       "name": "Команда «Лазо»", "idnumber": "kam21-m1-lazo"}  # fmt: skip
    fake_moodle.group_members[empty_group] = set()
    # The final survey and the vote are gone from module 3; module 2 has no participants left.
    vote_cm = fake_moodle.choices.pop(cohort.vote)["coursemodule"]
    del fake_moodle.modules[vote_cm]
    for key in [
        k for k in fake_moodle.enrolments if k[0] == cohort.courses["m2"] and k[1] in cohort.users.values()
    ]:
        del fake_moodle.enrolments[key]
    # Nobody answered the school survey.
    fake_moodle.feedback_responses = [
        r for r in fake_moodle.feedback_responses if r["feedbackid"] != cohort.surveys["m1-survey"]
    ]
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    report = compute(snap, config.targets_for())
    values = {r.key: r.value for r in report.results}
    assert values["participants"] == 7 and values["initiative_groups"] == 2
    assert values["votes_cast"] is None and values["satisfaction"] is None and values["ngo_intent"] is None
    notes = " ".join(report.notes + [n for r in report.results for n in r.notes])
    assert "«m3-vote»" in notes
    assert "Команда «Лазо»" in notes and "has no members" in notes
    assert "Nobody has answered" in notes
    assert "Course KAM21-M2 has no active participant" in notes
    assert f"#{deleted}" in notes  # still a member of a group / gave an answer, but no longer enrolled

    conn = open_store(str(tmp_path / "s.sqlite3"))
    save_snapshot(conn, snap)
    written = write_cohort_reports(conn, config, tmp_path / "reports", now=SNAPSHOT_AT)
    assert [p.name for p in written] == [f"indicators-kam21-2022-04-01.{f}" for f in ("xlsx", "html", "json")]
    page = written[1].read_text(encoding="utf-8")
    assert "Команда «Лазо»" in page and "Nobody has answered" in page and "m3-vote" in page


def test_a_moodle_error_on_one_activity_costs_only_its_numbers(
    fake_moodle: FakeMoodle, config: AccelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_moodle.core import HANDLERS, Fault

    build_recorded_cohort(fake_moodle, config)

    def refuse(site: FakeMoodle, params: dict[str, Any]) -> Any:
        raise Fault("nopermissions", "Sorry, but you do not currently have permissions to do that (View).")

    monkeypatch.setitem(HANDLERS, "mod_choice_get_choice_results", refuse)
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    assert any(n.kind == "read_failed" and "nopermissions" in n.text for n in snap.notes)
    report = compute(snap)
    assert report.result("votes_cast").status == "no_data"
    assert report.result("funds_raised").value == 95000


def test_access_denied_is_not_swallowed(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    from integration.errors import AccessDenied
    from tests.fake_moodle.core import HANDLERS

    build_recorded_cohort(fake_moodle, config)
    fake_moodle.service_functions = set(HANDLERS) - {"mod_feedback_get_responses_analysis"}
    with pytest.raises(AccessDenied):
        gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)


def test_survey_answers_read_in_one_request_or_in_the_pages_a_site_insists_on(
    fake_moodle: FakeMoodle, config: AccelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration.activities import get_feedback_responses
    from tests.fake_moodle.core import HANDLERS

    cohort = build_recorded_cohort(fake_moodle, config)
    client = make_client(fake_moodle)
    assert len(get_feedback_responses(client, cohort.surveys["m1-survey"])) == 8
    assert fake_moodle.count("mod_feedback_get_responses_analysis") == 1
    original = HANDLERS["mod_feedback_get_responses_analysis"]

    def three_per_page(site: FakeMoodle, params: dict[str, Any]) -> Any:
        return original(
            site, {**params, "perpage": params.get("perpage") if params.get("perpage") != "0" else "3"}
        )

    monkeypatch.setitem(HANDLERS, "mod_feedback_get_responses_analysis", three_per_page)
    answers = get_feedback_responses(client, cohort.surveys["m1-survey"])
    assert sorted(a.userid or 0 for a in answers) == sorted(cohort.users.values())
    assert fake_moodle.count("mod_feedback_get_responses_analysis") == 1 + 3


def test_people_carry_their_village(fake_moodle: FakeMoodle, config: AccelConfig) -> None:
    cohort = build_recorded_cohort(fake_moodle, config)
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    people = {p.id: p for p in snap.people}
    assert people[cohort.users["kam21.p5"]].city == "Эссо"
    assert people[cohort.users["kam21.p5"]].fullname == "Сергей Попов"
    assert people[cohort.users["kam21.p0"]].idnumber == "APP-2021-000"


def test_a_team_in_a_course_designers_grouping_keeps_its_district(
    fake_moodle: FakeMoodle, config: AccelConfig
) -> None:
    """A course designer may put every team in a grouping of their own (e.g. for the team assignments). The
    district is the grouping the roster sync made, whatever the names' order (Moodle lists groupings by name:
    «Все команды» comes between «Быстринский МР» and «Мильковский МР»)."""
    c = build_recorded_cohort(fake_moodle, config)
    for key, cid in c.courses.items():
        teams = tuple(gid for (module, _village), gid in c.teams.items() if module == key)
        add_grouping(fake_moodle, cid, "Все команды", idnumber="all-teams", groups=teams)
    snap = gather(make_client(fake_moodle), config, now=SNAPSHOT_AT)
    assert {(t.name, t.district) for t in snap.teams} == {
        ("Команда «Шаромы»", "Мильковский МР"),
        ("Команда «Эссо»", "Быстринский МР"),
    }

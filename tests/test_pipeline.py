"""The whole pipeline on ONE fake site, through the CLI, the way a coordinator runs it on a real site.

Template courses ACCEL-TPL-M1..M3 with the activities of program.md -> `templates check` -> `provision
--apply` (idempotent) -> `roster sync --apply` (idempotent) -> `provision --apply` again (the team
consultations find their groups) -> participants work in the COPIED courses -> `indicators gather` ->
`indicators show --json` (hand counts below) -> `indicators pending` -> `report` (html, xlsx, json) ->
`accel serve --once` (reminders reach the roster's mentors) -> `status --json`.

The cohort is examples/kamchatka-2021.toml (with its [service] timetable) and its roster
examples/roster-kamchatka-2021.csv: 32 participants (7 teams of 4 in module 1; 4 people of two young NGOs in
modules 2 and 3), two mentors (Наставникова: the first four teams; Консультантов: the other three and both
NGOs), two experts and a coordinator.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from openpyxl import load_workbook

from course_templates.loader import ModuleTemplate, load_templates
from i18n import set_language
from sync.core.config import load_config
from sync.core.store import open_store
from sync.indicators.compute import compute
from sync.indicators.snapshot import SnapshotNotFound, find_snapshot
from tests.fake_moodle import ADMIN_ID, FakeMoodle
from tests.fake_moodle.activities import (
    add_assign,
    add_choice,
    add_database,
    add_entry,
    add_feedback,
    add_forum,
    answer_survey,
    grade,
    submit,
    vote,
)
from tests.fake_moodle.courses import add_category, add_course, add_module

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"
ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"
KAM = dt.timezone(dt.timedelta(hours=12))  # Asia/Kamchatka


def ts(y: int, m: int, d: int, h: int = 12) -> int:
    return int(dt.datetime(y, m, d, h, tzinfo=KAM).timestamp())


# Due dates the course designer gave the template activities, inside each module's dates.
DUE = {
    "m1-idea": ts(2021, 10, 8, 23),
    "m1-concept": ts(2021, 10, 20, 23),
    "m1-fundraising": ts(2021, 10, 28, 23),
    "m2-consultations": ts(2022, 2, 20, 23),
    "m2-final-project": ts(2022, 2, 25, 23),
    "m3-pitch": ts(2022, 3, 14, 23),
}
GRADE_MAX = {
    "m1-idea": 10,
    "m1-concept": 100,
    "m1-fundraising": 10,
    "m2-consultations": 0,
    "m2-final-project": 100,
    "m3-pitch": 100,
}

# The teams of the roster (group names) and their mentors.
T1, T2, T3, T4 = "Шаромы — наш дом", "Мильковские волонтёры", "Долиновка 2.0", "Атласовские зори"
T5, T6, T7 = "Лазо — территория добра", "Эссо: тропа эвенов", "Быстринские мастера"
N1, N2 = "АНО «Эвенское наследие»", "АНО «Мильковский центр ремёсел»"
MENTOR1, MENTOR2 = "mentor1@example.org", "mentor2@example.org"


def build_templates(site: FakeMoodle) -> dict[str, int]:
    """The three template courses as a course designer builds them once, with the fake's helpers."""
    templates = load_templates()
    category = add_category(site, "Шаблоны акселератора", "accel-templates")
    out = {}
    for key, template in templates.items():
        cid = add_course(
            site,
            shortname=template.template_shortname,
            fullname=template.title,
            categoryid=category,
            sections=[s.title for s in template.sections],
        )
        for act in template.activities:
            add_activity(site, cid, template, act.key)
        out[key] = cid
    return out


def add_activity(site: FakeMoodle, cid: int, template: ModuleTemplate, key: str) -> None:
    act = template.activity(key)
    section = template.section_number(act.section)
    if act.type == "page":
        add_module(site, cid, modname="page", name=act.name, idnumber=key, section=section)
    elif act.type == "forum":
        add_forum(site, cid, key, act.name, section=section)
    elif act.type == "assign":
        add_assign(
            site, cid, key, act.name, team=bool(act.team_submission), grade=GRADE_MAX[key], duedate=DUE[key],
            section=section,
        )  # fmt: skip
    elif key == "m1-survey":
        add_feedback(
            site, cid, key, act.name,
            [
                ("numeric", "usefulness", "Оцените полезность школы (1-10)", "1|10"),
                ("multichoice", "ngo_plan", "Планируете ли вы зарегистрировать НКО?",
                 "r>>>>>Да|Нет|Уже зарегистрировали"),
                ("textarea", "best", "Что было самым полезным?", "40|20"),
            ],
            section=section,
        )  # fmt: skip
    elif key == "m3-survey":
        add_feedback(
            site, cid, key, act.name,
            [("numeric", "growth", "Насколько выросли ваши знания?", "1|10")], section=section,
        )  # fmt: skip
    elif act.type == "choice":
        add_choice(site, cid, key, act.name, [T1, T2, T3, T4, T5, T6], section=section)
    elif act.type == "data":
        add_database(site, cid, key, act.name, section=section)  # fields partner, project, amount, kind
    else:  # pragma: no cover - the templates hold only these types
        raise AssertionError(f"{key}: {act.type}")


def writes(site: FakeMoodle, since: int) -> list[str]:
    """The write requests answered since call number ``since`` (every read function has "get" in its name)."""
    return [name for name, _ in site.calls[since:] if "get" not in name]


class Cohort:
    """The copied courses, their activities and the roster's people and groups, as the site holds them."""

    def __init__(self, site: FakeMoodle) -> None:
        self.site = site
        self.course = {
            f"m{n}": next(c["id"] for c in site.courses.values() if c["shortname"] == f"KAM21-M{n}")
            for n in (1, 2, 3)
        }
        self.instance: dict[str, int] = {}
        for cm in site.modules.values():
            if cm["course"] in self.course.values() and cm["idnumber"]:
                self.instance[cm["idnumber"]] = cm["instance"]

    def user(self, email: str) -> int:
        return int(next(u["id"] for u in self.site.users.values() if u["email"] == email))

    def participant(self, n: int) -> int:
        return self.user(f"kam21.p{n:03d}@example.org")

    def group(self, module: str, name: str) -> int:
        cid = self.course[module]
        groups = self.site.groups.values()
        return int(next(g["id"] for g in groups if g["courseid"] == cid and g["name"] == name))

    def member(self, module: str, name: str) -> int:
        """A student of the team's group (whose grade Moodle applies to the whole team)."""
        mentors = {self.user(MENTOR1), self.user(MENTOR2)}
        return min(self.site.group_members[self.group(module, name)] - mentors)


# Work of the teams, graded by the mentors (hours from submission to grade in the comments).
COMMENT = "Хорошо: уточните целевую группу и бюджет."
# key -> module, submitted at, [(team, grade or None if not graded yet, comment, graded at)]
TEAM_WORK: dict[str, tuple[str, int, list[tuple[str, float | None, str, int]]]] = {
    "m1-idea": (
        "m1",
        ts(2021, 10, 8),
        [
            (T1, 8, COMMENT, ts(2021, 10, 9)),  # 24 h, Наставникова
            (T2, 9, COMMENT, ts(2021, 10, 10)),  # 48 h
            (T3, 7, COMMENT, ts(2021, 10, 9, 0)),  # 12 h
            (T4, 8, COMMENT, ts(2021, 10, 11)),  # 72 h
            (T5, 9, COMMENT, ts(2021, 10, 9)),  # 24 h, Консультантов
            (T6, 10, COMMENT, ts(2021, 10, 10, 0)),  # 36 h
            (T7, 6, "", ts(2021, 10, 9)),  # 24 h, graded without a comment
        ],
    ),
    "m1-concept": (
        "m1",
        ts(2021, 10, 20),
        [
            (T1, 80, COMMENT, ts(2021, 10, 21)),  # 24 h
            (T2, 75, COMMENT, ts(2021, 10, 22)),  # 48 h
            (T3, 90, COMMENT, ts(2021, 10, 21, 0)),  # 12 h
            (T4, 60, COMMENT, ts(2021, 10, 23)),  # 72 h
            (T5, 85, COMMENT, ts(2021, 10, 21)),  # 24 h
            (T6, None, "", 0),  # waits for Консультантов; T7 never submitted
        ],
    ),
    # A feedback-only assignment: Наставникова answers T1's log with a comment and no grade (field note 24,
    # 24 h); T5's and N1's wait for Консультантов.
    "m2-consultations": (
        "m2",
        ts(2021, 12, 1),
        [
            (T1, None, "Журнал ведётся, добавьте даты встреч.", ts(2021, 12, 2)),
            (T5, None, "", 0),
            (N1, None, "", 0),
        ],
    ),
    "m2-final-project": (
        "m2",
        ts(2022, 1, 28),
        [
            (T1, 88, COMMENT, ts(2022, 1, 29)),  # 24 h
            (T2, 70, COMMENT, ts(2022, 1, 31)),  # 72 h
            (T3, 65, "", ts(2022, 1, 30)),  # 48 h, no comment
            (T4, None, "", 0),  # waits for Наставникова
            (N1, None, "", 0),  # waits for Консультантов
        ],
    ),
    "m3-pitch": (
        "m3",
        ts(2022, 3, 14),
        [
            (T1, 90, "Сильная презентация.", ts(2022, 3, 16)),
            (T2, 85, "Убедительный бюджет.", ts(2022, 3, 16)),
            (T3, 80, "Нужны партнёры.", ts(2022, 3, 16)),
            (T4, 70, "Слабая защита.", ts(2022, 3, 16)),
            (T5, 95, "Лучший проект ярмарки.", ts(2022, 3, 16)),
            (T6, None, "", 0),
        ],
    ),
}
PROGRAM_KEYS = [
    "m1-intro-forum", "m1-idea", "m1-concept", "m1-fundraising", "m1-survey", "m2-questions",
    "m2-consultations", "m2-final-project", "m3-pitch", "m3-vote", "m3-pledges", "m3-survey",
]  # fmt: skip
# The hand counts of what simulate_participants does (the gather's snapshot is taken after it all).
EXPECTED = {
    "participants": 32,  # every roster participant is an active student somewhere
    "school_participants": 28,  # 7 teams x 4 in module 1 (the NGO people take modules 2 and 3)
    "initiative_groups": 7,  # the two NGO groups of module 1 have only their mentor: not teams there
    "projects_developed": 5,  # concepts of T1..T5 graded; T6 waits; T7 never submitted
    # idea 6 (T7 without a comment) + concept 5 + fundraising 1 + T1's consultation log (a comment without a
    # grade) + final project 2 (T3 without) + pitch 5
    "mentor_feedback": 20,
    "webinars_held": 4,  # every scheduled webinar is over
    "consultations_held": 6,  # 4 group consultations for all + 2 team consultations
    "projects_presented": 6,  # T1..T6
    "leader_projects": 3,  # T5 95, T1 90, T2 85
    "funds_raised": 127000,  # 50 000 + 20 000 + 15 000 + 30 000 + 12 000
    "votes_cast": 23,  # 8 + 5 + 4 + 3 + 2 + 1
    "satisfaction": 8.5,  # 136 / 16
    "ngo_intent": 0.5,  # (6 Да + 2 Уже зарегистрировали) / 16
}
# m1-survey: 16 answers. usefulness sums to 136 (mean 8.5); Да 6 + Уже зарегистрировали 2 of 16 (0.5).
USEFULNESS = [9, 8, 10, 7, 9, 8, 6, 10, 9, 9, 8, 7, 10, 10, 8, 8]
NGO_PLAN = ["Да"] * 6 + ["Уже зарегистрировали"] * 2 + ["Нет"] * 8
VOTES = [8, 5, 4, 3, 2, 1]  # per option: 23 people voted
PLEDGES = [
    ("ООО «Камчатрыба»", T5, "50000", "Деньги"),
    ("Администрация Мильковского МР", T1, "20000", "Деньги"),
    ("ИП Петров", T2, "15000", "Товары"),
    ("Родовая община «Мэнэдек»", T6, "30000", "Услуги"),
    ("Волонтёрский центр", T3, "12000", "Волонтёры"),
]


def teams_status(shown: dict[str, Any], name: str) -> dict[str, str]:
    return dict(next(t for t in shown["teams"] if t["name"] == name)["status"])


def simulate_participants(site: FakeMoodle) -> Cohort:
    """What participants, mentors and experts do in the cohort's courses (never in the templates)."""
    c = Cohort(site)
    for key, (module, submitted, rows) in TEAM_WORK.items():
        for team, value, comment, graded_at in rows:
            submit(site, c.instance[key], groupid=c.group(module, team), when=submitted)
            if value is not None or comment:  # a grade, or a comment saved without one
                grade(site, c.instance[key], c.member(module, team), value, feedback=comment, when=graded_at)
    # Individual fundraising plans: one graded with a comment (24 h), one waiting.
    p1, p5 = c.participant(1), c.participant(5)
    submit(site, c.instance["m1-fundraising"], userid=p1, when=ts(2021, 10, 25))
    submit(site, c.instance["m1-fundraising"], userid=p5, when=ts(2021, 10, 25))
    grade(site, c.instance["m1-fundraising"], p1, 9, feedback="Реалистичный план.", when=ts(2021, 10, 26))
    # The school survey (16 of the 28 school participants) and the final survey (5 answers).
    for n, (usefulness, plan) in enumerate(zip(USEFULNESS, NGO_PLAN, strict=True), start=1):
        answers = {"usefulness": str(usefulness), "ngo_plan": plan, "best": "Наставники"}
        answer_survey(site, c.instance["m1-survey"], c.participant(n), answers, when=ts(2021, 10, 30))
    for n in range(1, 6):
        answer_survey(site, c.instance["m3-survey"], c.participant(n), {"growth": "9"}, when=ts(2022, 3, 30))
    # The public vote and the live fundraising at the fair.
    voter = iter(range(1, 33))
    for option, count in enumerate(VOTES):
        for _ in range(count):
            vote(site, c.instance["m3-vote"], option, c.participant(next(voter)))
    for partner, project, amount, kind in PLEDGES:
        values = {"partner": partner, "project": project, "amount": amount, "kind": kind}
        add_entry(site, c.instance["m3-pledges"], values, when=ts(2022, 3, 15))
    return c


@pytest.fixture
def cohort_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example configuration and roster, side by side as a coordinator keeps them, and a fresh store."""
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    shutil.copy(ROSTER, tmp_path / ROSTER.name)
    config = tmp_path / "accelerator.toml"
    shutil.copy(EXAMPLE, config)
    return config


def test_the_whole_pipeline_on_one_site(
    fake_moodle: FakeMoodle, run_cli: Run, cohort_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = fake_moodle
    config = cohort_files
    tmp = config.parent
    roster = tmp / ROSTER.name

    def accel(*args: str) -> Result:
        result = run_cli("--config", str(config), *args)
        assert result.exit_code == 0, result.output
        return result

    templates = build_templates(site)

    # -- the template courses are complete ------------------------------------------------------------------
    check = json.loads(accel("templates", "check", "--json").output)
    assert check["ok"] is True
    assert [m["course_id"] for m in check["modules"]] == [templates["m1"], templates["m2"], templates["m3"]]
    assert not [f for m in check["modules"] for f in m["findings"] if f["severity"] != "info"]

    # -- provisioning: the plan, the apply, then nothing left to do ----------------------------------------
    accel("provision", "--apply")
    assert sorted(c["shortname"] for c in site.courses.values() if c["shortname"].startswith("KAM21")) == [
        "KAM21-M1", "KAM21-M2", "KAM21-M3",
    ]  # fmt: skip
    plan = json.loads(accel("provision", "--json").output)["plan"]
    assert plan["changes"] == [] and plan["problems"] == [] and plan["date_warnings"] == []
    assert len([note for note in plan["notes"] if "waits for team" in note]) == 2  # no groups yet
    since = len(site.calls)
    accel("provision", "--apply")
    assert writes(site, since) == []

    # -- the roster: people, enrolments, teams, districts; then nothing left to do ------------------------
    report_csv = tmp / "roster-failures.csv"
    accel("roster", "sync", str(roster), "--apply", "--report", str(report_csv))
    since = len(site.calls)
    again = accel("roster", "sync", str(roster), "--apply", "--report", str(report_csv))
    assert writes(site, since) == [], again.output

    people = [u for u in site.users.values() if u["email"].endswith("@example.org") and u["id"] != ADMIN_ID]
    assert len(people) == 32 + 2 + 2 + 1  # participants, mentors, experts, the coordinator
    cohort = Cohort(site)
    m1_teams = [g for g in site.groups.values() if g["courseid"] == cohort.course["m1"]]
    students = {
        uid for (cid, uid), e in site.enrolments.items() if cid == cohort.course["m1"] and 5 in e["roles"]
    }
    assert sorted(len(site.group_members[g["id"]] & students) for g in m1_teams) == [0, 0] + [4] * 7

    # -- provisioning again: the two team consultations become group events of their teams -----------------
    plan = json.loads(accel("provision", "--json").output)["plan"]
    assert [(ch["action"], ch["data"]["event"]["groupid"]) for ch in plan["changes"]] == [
        ("create_event", cohort.group("m2", T6)),
        ("create_event", cohort.group("m2", T1)),
    ]
    accel("provision", "--apply")
    m2_events = [e for e in site.events.values() if e["courseid"] == cohort.course["m2"]]
    assert sorted(e["groupid"] for e in m2_events) == [0] * 8 + sorted(
        [cohort.group("m2", T1), cohort.group("m2", T6)]
    )
    since = len(site.calls)
    accel("provision", "--apply")
    assert writes(site, since) == []

    # -- a season of work in the copied courses; the templates stay untouched ------------------------------
    simulate_participants(site)
    template_instances = {
        (cm["modname"], cm["instance"]) for cm in site.modules.values() if cm["course"] in templates.values()
    }
    assert not {("assign", s["assignment"]) for s in site.submissions} & template_instances

    # -- gather and the indicators, against hand counts ----------------------------------------------------
    # The indicators and the reports as the coordinators read them: in Russian (the rest of this test reads
    # accel's English).
    monkeypatch.setenv("ACCEL_LANG", "ru")
    set_language("ru")
    gathered = json.loads(accel("indicators", "gather", "--json").output)
    assert gathered["activities"] == sorted(PROGRAM_KEYS)
    assert gathered["notes"] == [] and gathered["warnings"] == []
    shown = json.loads(accel("indicators", "show", "--json").output)["indicators"]
    assert {r["key"]: r["value"] for r in shown["results"]} == EXPECTED
    results = {r["key"]: r for r in shown["results"]}
    assert results["funds_raised"]["breakdown"] == {
        "Деньги": 70000,
        "Товары": 15000,
        "Услуги": 30000,
        "Волонтёры": 12000,
    }
    assert sorted(e["label"] for e in results["leader_projects"]["evidence"]) == sorted([T5, T1, T2])
    assert results["consultations_held"]["breakdown"] == {"группа": 2, "весь курс": 4}
    mentors = {m["name"]: m for m in shown["mentors"]}
    # The experts hold the mentors' Moodle role (4) but are in no team: not in the mentor tables.
    assert sorted(mentors) == ["Наталья Наставникова", "Олег Консультантов"]
    # Наставникова: idea and concept of T1..T4 (24, 48, 12, 72 h each), p001's fundraising plan (24 h),
    # T1's consultation log (a comment without a grade, 24 h), final projects of T1..T3 (24, 72, 48 h; T3
    # without a comment) -> 13 reviews, 12 with a comment, median of 12,12,24,24,24,24,24,48,48,48,72,72,72
    # = 24 h; T4's final project waits.
    # Консультантов: idea of T5, T6, T7 (24, 36, 24 h; T7 without a comment) and concept of T5 (24 h);
    # T6's concept, T5's and N1's consultation logs and N1's final project wait. The experts' comments on
    # pitches are nobody's.
    assert [
        (m["reviews"], m["with_feedback"], m["median_hours"], m["pending"])
        for m in (mentors["Наталья Наставникова"], mentors["Олег Консультантов"])
    ] == [(13, 12, 24.0, 1), (4, 3, 24.0, 4)]
    assert teams_status(shown, T1)["m2-consultations"] == "проверено: отзыв без оценки"
    assert teams_status(shown, T5)["m2-consultations"] == "сдано"

    # The young NGOs join in module 2: their row shows their own members, village and district; module 1's
    # assignments are not theirs (not overdue, not in their progress). Their people are placed by that team.
    teams = {t["name"]: t for t in shown["teams"]}
    evens = teams[N1]
    assert (evens["members"], evens["village"], evens["district"]) == (2, "Эссо", "Быстринский МР")
    assert evens["status"]["m1-concept"] == "нет участников в курсе" and evens["overdue"] == ["Презентация"]
    assert (evens["done"], evens["total"]) == (2, 3)  # the log and the final project of 3 module 2-3 tasks
    assert (teams[T1]["village"], teams[T1]["done"], teams[T1]["total"]) == ("Шаромы", 5, 5)
    places = {(p["district"], p["village"]): (p["participants"], p["teams"]) for p in shown["villages"]}
    assert places == {
        ("Быстринский МР", "Эссо"): (4 + 4 + 2, 3),
        ("Мильковский МР", "Мильково"): (4 + 2, 2),
        ("Мильковский МР", "Шаромы"): (4, 1),
        ("Мильковский МР", "Долиновка"): (4, 1),
        ("Мильковский МР", "Атласово"): (4, 1),
        ("Мильковский МР", "Лазо"): (4, 1),
    }
    districts = {p["district"]: (p["participants"], p["teams"]) for p in shown["districts"]}
    assert districts == {"Быстринский МР": (10, 3), "Мильковский МР": (22, 6)}

    # The fourth quarter of 2021 only (grading, event end, pledge and survey dates in the period).
    quarter = json.loads(
        accel("indicators", "show", "--from", "2021-10-01", "--to", "2021-12-31", "--json").output
    )
    assert {r["key"]: r["value"] for r in quarter["indicators"]["results"]} == {
        **EXPECTED,
        # idea, concept and the fundraising plan were graded in October, T1's log answered on 02.12
        "mentor_feedback": 6 + 5 + 1 + 1,
        "webinars_held": 3,  # 04.11, 25.11, 16.12
        "consultations_held": 4,  # 05.11, 11.11, 18.11, 09.12
        "projects_presented": 0,
        "leader_projects": 0,
        "funds_raised": 0,
    }

    pending = json.loads(accel("indicators", "pending", "--json").output)["pending"]
    # The consultation logs T5 and N1 wait for a comment; T1's was answered without a grade.
    assert [(p["team"], p["activity_key"], p["mentors"]) for p in pending] == [
        (T6, "m1-concept", ["Олег Консультантов"]),
        *sorted(
            [
                (N1, "m2-consultations", ["Олег Консультантов"]),
                (T5, "m2-consultations", ["Олег Консультантов"]),
            ]
        ),
        (N1, "m2-final-project", ["Олег Консультантов"]),
        (T4, "m2-final-project", ["Наталья Наставникова"]),
    ]
    assert "Ждут проверки 5 командных работ (сначала самые давние):" in accel("indicators", "pending").output

    # -- the reports -------------------------------------------------------------------------------------
    for fmt in ("html", "xlsx", "json"):
        accel("report", "--format", fmt, "--out", str(tmp / f"otchet.{fmt}"))
    data = json.loads((tmp / "otchet.json").read_text(encoding="utf-8"))
    assert {r["key"]: r["value"] for r in data["indicators"]["results"]} == EXPECTED
    page = (tmp / "otchet.html").read_text(encoding="utf-8")
    assert all(name in page for name in (T1, T6, N1, "Наталья Наставникова"))
    # Counts after a colon, or in the form the number takes (no broken plurals such as "4 голосов", "1 записей").
    assert "голосов: 4" in page and " — 3 записи</summary>" in page
    assert not re.search(r"\d голосов|(?<!\d)[1-4] записей", page)
    external = re.findall(r'(?:src|href)="(https?://[^"]*)"', page)
    assert external and all(url.startswith(site.url) for url in external)  # only links into Moodle
    book = load_workbook(tmp / "otchet.xlsx")
    assert book.sheetnames == [
        "Показатели", "Команды", "Наставники", "Районы и сёла", "Доказательства", "Ждут проверки",
        "Примечания", "Динамика",
    ]  # fmt: skip
    rows = {row[0]: row for row in book["Показатели"].iter_rows(values_only=True) if row[0]}
    assert rows["Привлечённые средства (обещания партнёров), руб."][3] == 127000
    assert rows["Разработанные проекты (концепция сдана и оценена)"][3] == 5
    assert book["Ждут проверки"].max_row >= 3 + 1

    monkeypatch.setenv("ACCEL_LANG", "en")
    set_language("en")

    # -- the service, rehearsed on 03.02.2022 09:30 (a Thursday of module 2) ---------------------------------
    # Without --send a rehearsal says what it would send and sends nothing.
    dry = accel("serve", "--once", "--now", "2022-02-03T09:30").output
    assert "would remind 2 mentors of 5 submissions" in dry and site.messages == []
    for suffix in ("", "-wal", "-shm"):  # start the rehearsal again, now sending
        (tmp / f"accel.rehearsal.sqlite3{suffix}").unlink(missing_ok=True)
    since = len(site.calls)
    served = accel("serve", "--once", "--send", "--now", "2022-02-03T09:30").output
    ran = dict(re.findall(r"^(\w+): ok \([\d.]+s, (\d+) requests\)", served, re.M))
    assert sorted(ran) == ["reminders", "report", "roster_sync", "snapshot"], served
    assert "Moodle already in step" in served and "mentors reminded: 2, submissions listed: 5" in served
    # Each job's own requests: the reminders gather as much as the snapshot, plus one message request.
    assert int(ran["reminders"]) == int(ran["snapshot"]) + 1 and ran["report"] == "0"
    assert writes(site, since) == ["core_message_send_instant_messages"]
    told = {int(m["useridto"]): m["text"] for m in site.messages}
    assert sorted(told) == sorted([cohort.user(MENTOR1), cohort.user(MENTOR2)])
    assert told[cohort.user(MENTOR1)].count("<li>") == 1 and T4 in told[cohort.user(MENTOR1)]
    assert told[cohort.user(MENTOR2)].count("<li>") == 4  # T6's concept, two logs, N1's final project
    assert T6 in told[cohort.user(MENTOR2)] and "Эвенское наследие" in told[cohort.user(MENTOR2)]
    assert len(list((tmp / "reports" / "rehearsal").iterdir())) == 3
    # The rehearsal's snapshot, in the rehearsal's store, counts the calendar as at 03.02.2022: the
    # consultation of 17.02 is ahead. The service's store has only the snapshot `indicators gather` took.
    rehearsal_store = open_store(tmp / "accel.rehearsal.sqlite3")
    _sid, at_rehearsal = find_snapshot(rehearsal_store, 2)
    assert compute(at_rehearsal, load_config(config).targets_for()).result("consultations_held").value == 5
    rehearsal_store.close()
    assert json.loads(accel("status", "--json").output)["jobs"][0]["last_run"] is None
    with pytest.raises(SnapshotNotFound):
        find_snapshot(open_store(tmp / "accel.sqlite3"), 2)

    status = json.loads(accel("status", "--rehearsal", "--json", "--now", "2022-02-03T10:00").output)
    jobs = {job["job"]: job for job in status["jobs"]}
    assert {name: job["last_outcome"] for name, job in jobs.items()} == dict.fromkeys(ran, "ok")
    assert jobs["reminders"]["next_run"].startswith("2022-02-04T09:00")
    assert jobs["report"]["next_run"].startswith("2022-02-07T07:00")  # the next Monday
    # The newest snapshot by its time is the one `indicators gather` took today, not the rehearsal's.
    assert status["indicators"]["snapshot"] == 1
    assert {row["key"]: row["value"] for row in status["indicators"]["values"]} == EXPECTED


def test_a_copied_course_has_new_activities_with_the_template_settings_and_no_user_data(
    fake_moodle: FakeMoodle, run_cli: Run, cohort_files: Path
) -> None:
    """The fake's core_course_duplicate_course as the real one: a new course module AND a new instance."""
    site = fake_moodle
    build_templates(site)
    template_course = next(c["id"] for c in site.courses.values() if c["shortname"] == "ACCEL-TPL-M3")
    by_key = {cm["idnumber"]: cm for cm in site.modules.values() if cm["course"] == template_course}
    # Someone tried the template out: a vote, a pledge and a submission that must not be copied.
    vote(site, by_key["m3-vote"]["instance"], 0, 2)
    add_entry(site, by_key["m3-pledges"]["instance"], {"partner": "Проба", "amount": "1"})
    submit(site, by_key["m3-pitch"]["instance"], userid=2)

    result = run_cli("--config", str(cohort_files), "provision", "--apply")
    assert result.exit_code == 0, result.output
    copy = next(c["id"] for c in site.courses.values() if c["shortname"] == "KAM21-M3")
    copied = {cm["idnumber"]: cm for cm in site.modules.values() if cm["course"] == copy}
    assert sorted(copied) == sorted(by_key)
    for key, cm in copied.items():
        original = by_key[key]
        assert cm["id"] != original["id"] and cm["instance"] != original["instance"], key
        assert (cm["modname"], cm["name"], cm["dates"]) == (
            original["modname"],
            original["name"],
            original["dates"],
        )
    pitch = site.assignments[copied["m3-pitch"]["instance"]]
    assert (pitch["cmid"], pitch["course"], pitch["teamsubmission"], pitch["grade"], pitch["duedate"]) == (
        copied["m3-pitch"]["id"], copy, 1, 100, DUE["m3-pitch"],
    )  # fmt: skip
    choice = site.choices[copied["m3-vote"]["instance"]]
    original_choice = site.choices[by_key["m3-vote"]["instance"]]
    assert [o["text"] for o in choice["options"]] == [o["text"] for o in original_choice["options"]]
    assert not {o["id"] for o in choice["options"]} & {o["id"] for o in original_choice["options"]}
    data = copied["m3-pledges"]["instance"]
    assert [f["name"] for f in site.data_fields[data]] == ["partner", "project", "amount", "kind"]
    assert all(f["dataid"] == data for f in site.data_fields[data])
    survey = copied["m3-survey"]["instance"]
    assert [(i["label"], i["feedback"]) for i in site.feedback_items[survey]] == [("growth", survey)]
    # No user data in the copy.
    instances = {cm["instance"] for cm in copied.values()}
    assert not [a for a in site.choice_answers if a["choiceid"] in instances]
    assert not [e for e in site.data_entries if e["dataid"] in instances]
    assert not [s for s in site.submissions if s["assignment"] in instances]
    # ... so the copied activities read empty, and the template's answers stay where they were.
    assert sum(o["numberofuser"] for o in _results(site, choice["id"])) == 0
    assert sum(o["numberofuser"] for o in _results(site, original_choice["id"])) == 1


def _results(site: FakeMoodle, choiceid: int) -> list[dict[str, Any]]:
    from tests.fake_moodle.core import HANDLERS

    answer: dict[str, Any] = HANDLERS["mod_choice_get_choice_results"](site, {"choiceid": str(choiceid)})
    return list(answer["options"])

"""Builders shared by the test files: a test file imports these, never another test file (fixtures are in
conftest.py). One section per kind of thing built."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result

from course_templates.courses import module_courses
from course_templates.loader import ModuleTemplate, load_templates
from integration.transport import MoodleClient
from sync.core.config import AccelConfig, load_config
from sync.core.store import open_store
from sync.core.vocabulary import event_description
from sync.roster.names import slug
from sync.roster.sync import cohort_courses
from sync.service.runner import Job, JobContext, JobResult, ServiceRunner
from tests.fake_moodle import ADMIN_ID, FakeMoodle
from tests.fake_moodle.activities import (
    add_assign,
    add_choice,
    add_database,
    add_entry,
    add_feedback,
    add_forum,
    answer_survey,
    submit,
    vote,
)
from tests.fake_moodle.courses import add_category, add_course
from tests.fake_moodle.people import add_user, enrol

ROOT = Path(__file__).resolve().parent.parent
#: the complete 2021 Kamchatka cohort (README) and its roster
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"
EXAMPLE_ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"

# -- recorded answers of the real site, and clients of the fake site -----------------------------------------


RECORDINGS = Path(__file__).parent / "fixtures" / "recordings"


def recording(name: str) -> dict[str, Any]:
    """One recorded exchange of the real Moodle 5.1 site (``<wsfunction>__<case>``)."""
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


def all_recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json"))


def make_client(site: FakeMoodle, **options: Any) -> MoodleClient:
    """A client for ``site`` that never really sleeps between retries."""
    options.setdefault("max_input_vars", site.max_input_vars)
    options.setdefault("sleep", lambda _seconds: None)
    return MoodleClient(site.url, site.token, **options)


# -- the recorded cohort (tests/fixtures/recordings) rebuilt on the fake site --------------------------------


KAM = dt.timezone(dt.timedelta(hours=12))


FEEDBACK = "Хорошая проблема, уточните целевую группу и бюджет."


def ts(y: int, m: int, d: int, h: int = 12) -> int:
    return int(dt.datetime(y, m, d, h, tzinfo=KAM).timestamp())


# (username, first, last, city, team) as in core_enrol_get_enrolled_users__ok / mod_assign_list_participants.
PARTICIPANTS = [
    ("kam21.p0", "Анна", "Иванова", "Мильково", "Шаромы"),
    ("kam21.p1", "Иван", "Петров", "Мильково", "Шаромы"),
    ("kam21.p2", "Ольга", "Сидорова", "Долиновка", "Шаромы"),
    ("kam21.p3", "Пётр", "Козлов", "Атласово", "Шаромы"),
    ("kam21.p4", "Мария", "Смирнова", "Лазо", "Эссо"),
    ("kam21.p5", "Сергей", "Попов", "Эссо", "Эссо"),
    ("kam21.p6", "Елена", "Волкова", "Шаромы", "Эссо"),
    ("kam21.p7", "Дмитрий", "Морозов", "Мильково", "Эссо"),
]


DISTRICT = {"Шаромы": "Мильковский МР", "Эссо": "Быстринский МР"}


# mod_feedback_get_responses_analysis__ok_3: usefulness and ngo_plan per participant (p0..p7).
SURVEY = {
    "kam21.p0": ("6", "Да"),
    "kam21.p1": ("7", "Нет"),
    "kam21.p2": ("8", "Уже зарегистрировали"),
    "kam21.p3": ("9", "Да"),
    "kam21.p4": ("10", "Нет"),
    "kam21.p5": ("6", "Уже зарегистрировали"),
    "kam21.p6": ("7", "Да"),
    "kam21.p7": ("8", "Нет"),
}


class Cohort:
    """Ids of what build_recorded_cohort made, for tests that change the site further."""

    def __init__(self) -> None:
        self.courses: dict[str, int] = {}
        self.users: dict[str, int] = {}
        self.teams: dict[tuple[str, str], int] = {}  # (module key, village) -> group id
        self.assign: dict[str, int] = {}
        self.mentor = 0
        self.vote = 0
        self.pledges = 0
        self.surveys: dict[str, int] = {}


def _group(site: FakeMoodle, courseid: int, village: str, members: list[int]) -> int:
    gid = site.next_id("group")
    site.groups[gid] = {
        "id": gid,
        "courseid": courseid,
        "name": f"Команда «{village}»",
        "description": f"Инициативная группа с. {village}",
        "descriptionformat": 1,
        "enrolmentkey": None,
        "idnumber": f"kam21-{courseid}-{village}",
        "visibility": 0,
        "participation": True,
    }
    site.group_members[gid] = set(members)
    grouping = next(
        (g for g in site.groupings.values() if g["courseid"] == courseid and g["name"] == DISTRICT[village]),
        None,
    )
    if grouping is None:
        grouping_id = site.next_id("grouping")
        grouping = {
            "id": grouping_id,
            "courseid": courseid,
            "name": DISTRICT[village],
            "description": "",
            # As the roster sync names it: {course ID number}-{district slug} (kam21-m1-milkovsky-mr).
            "idnumber": f"{site.courses[courseid]['idnumber']}-{slug(DISTRICT[village])}",
        }
        site.groupings[grouping_id] = grouping
    site.grouping_groups.setdefault(grouping["id"], set()).add(gid)
    return gid


def build_recorded_cohort(site: FakeMoodle, config: AccelConfig) -> Cohort:
    c = Cohort()
    for mc in module_courses(config):
        c.courses[mc.key] = add_course(
            site, shortname=mc.shortname, fullname=mc.fullname, idnumber=mc.idnumber,
            startdate=mc.startdate, enddate=mc.enddate,
        )  # fmt: skip
        enrol(site, c.courses[mc.key], site.token_userid, 1)  # field note 9: the token's user is enrolled
    for username, first, last, city, _team in PARTICIPANTS:
        c.users[username] = add_user(
            site, username, first, last, city=city, idnumber=f"APP-2021-00{username[-1]}"
        )
    c.mentor = add_user(site, "kam21.mentor", "Наталья", "Наставникова")
    for key, cid in c.courses.items():
        for username, uid in c.users.items():
            # core_enrol_get_enrolled_users__only_active: p7 is suspended in module 2.
            enrol(site, cid, uid, 5, suspended=(key == "m2" and username == "kam21.p7"))
        enrol(site, cid, c.mentor, 4)
        for village in ("Шаромы", "Эссо"):
            members = [c.users[p[0]] for p in PARTICIPANTS if p[4] == village] + [c.mentor]
            c.teams[(key, village)] = _group(site, cid, village, members)

    m1, m2, m3 = c.courses["m1"], c.courses["m2"], c.courses["m3"]
    add_forum(site, m1, "m1-intro-forum", "Знакомство команд")
    c.assign["m1-idea"] = add_assign(site, m1, "m1-idea", "Идея проекта и дерево проблем", grade=10)
    c.assign["m1-concept"] = add_assign(site, m1, "m1-concept", "Концепция социального проекта")
    c.assign["m1-fundraising"] = add_assign(
        site, m1, "m1-fundraising", "План фандрайзинга", team=False, grade=10
    )
    c.surveys["m1-survey"] = add_feedback(
        site, m1, "m1-survey", "Анкета участника школы",
        [
            ("numeric", "usefulness", "Оцените полезность школы (1-10)", "1|10"),
            ("multichoice", "ngo_plan", "Планируете ли вы зарегистрировать НКО?", "r>>>>>Да|Нет|Уже зарегистрировали"),
            ("textarea", "best", "Что было самым полезным?", "40|20"),
        ],
    )  # fmt: skip
    add_forum(site, m2, "m2-questions", "Вопросы наставникам")
    c.assign["m2-consultations"] = add_assign(site, m2, "m2-consultations", "Журнал консультаций", grade=0)
    c.assign["m2-final-project"] = add_assign(site, m2, "m2-final-project", "Доработанный проект")
    c.assign["m3-pitch"] = add_assign(site, m3, "m3-pitch", "Презентация проекта")
    c.vote = add_choice(site, m3, "m3-vote", "Народное голосование", [f"Проект {i}" for i in range(1, 8)])
    c.pledges = add_database(site, m3, "m3-pledges", "Обещания партнёров")
    c.surveys["m3-survey"] = add_feedback(
        site,
        m3,
        "m3-survey",
        "Итоговая анкета",
        [("numeric", "growth", "Насколько выросли ваши знания?", "1|10")],
    )

    # Submissions (mod_assign_get_submissions__all): both teams submitted every team assignment; the
    # individual fundraising plans are "new" (not submitted).
    for village in ("Шаромы", "Эссо"):
        submit(site, c.assign["m1-idea"], groupid=c.teams[("m1", village)], when=ts(2021, 10, 15))
        submit(site, c.assign["m1-concept"], groupid=c.teams[("m1", village)], when=ts(2021, 10, 20))
        submit(site, c.assign["m2-consultations"], groupid=c.teams[("m2", village)], when=ts(2021, 12, 1))
        submit(site, c.assign["m2-final-project"], groupid=c.teams[("m2", village)], when=ts(2022, 1, 28))
        submit(site, c.assign["m3-pitch"], groupid=c.teams[("m3", village)], when=ts(2022, 3, 14))
    for username in ("kam21.p0", "kam21.p6"):
        submit(
            site, c.assign["m1-fundraising"], userid=c.users[username], status="new", when=ts(2021, 10, 10)
        )

    # Grades (gradereport_user_get_grade_items__all_users): 8 for idea and concept, both teams, with the
    # mentor's comment; m3-pitch 8 for team Эссо (mod_assign_save_grade__team_feedback).
    def grade_team(
        key: str, module: str, village: str, when: int, value: float | None = 8, text: str = FEEDBACK
    ) -> None:
        for uid in site.group_members[c.teams[(module, village)]]:
            if uid == c.mentor:
                continue
            site.grades.append(
                {"assignment": c.assign[key], "userid": uid, "grade": value, "feedback": text,
                 "timemodified": when, "grader": c.mentor, "attemptnumber": 0}
            )  # fmt: skip

    grade_team("m1-idea", "m1", "Шаромы", ts(2021, 10, 17))  # 48 h after submission
    grade_team("m1-idea", "m1", "Эссо", ts(2021, 10, 17))  # 48 h
    grade_team("m1-concept", "m1", "Шаромы", ts(2021, 10, 21))  # 24 h
    grade_team("m1-concept", "m1", "Эссо", ts(2021, 10, 22, 0))  # 36 h
    grade_team("m3-pitch", "m3", "Эссо", ts(2022, 3, 16))
    # The mentor's comment on team Шаромы's consultation log, a feedback-only assignment: no grade, a grading
    # time and the comment (gradereport_user_get_grade_items__feedback_only, field note 24). 24 h.
    grade_team("m2-consultations", "m2", "Шаромы", ts(2021, 12, 2), value=None)

    # Votes (mod_choice_get_choice_results__ok): 3, 3, 2 over the first three options.
    voters = list(c.users.values())
    for index, uid in enumerate(voters):
        vote(site, c.vote, 0 if index < 3 else 1 if index < 6 else 2, uid)
    # Pledges (mod_data_get_entries__ok).
    for partner, project, amount, kind in [
        ("ООО «Камчатрыба»", "Команда «Шаромы»", "50000", "Деньги"),
        ("ИП Петров", "Команда «Эссо»", "15000", "Товары"),
        ("Родовая община «Мэнэдек»", "Команда «Эссо»", "30000", "Услуги"),
    ]:
        add_entry(site, c.pledges, {"partner": partner, "project": project, "amount": amount, "kind": kind},
                  when=ts(2022, 3, 15))  # fmt: skip
    for username, (usefulness, plan) in SURVEY.items():
        answer_survey(
            site, c.surveys["m1-survey"], c.users[username],
            {"usefulness": usefulness, "ngo_plan": plan, "best": "Практика и наставники"}, when=ts(2021, 10, 30),
        )  # fmt: skip
        answer_survey(
            site, c.surveys["m3-survey"], c.users[username], {"growth": usefulness}, when=ts(2022, 3, 30)
        )

    # Calendar (core_calendar_create_calendar_events__ok): a course webinar and a group consultation, made
    # by provisioning with the kind marker; plus one webinar still ahead at the snapshot time.
    def event(name: str, kind: Any, start: int, duration: int, groupid: int = 0) -> None:
        eid = site.next_id("event")
        site.events[eid] = {
            "id": eid, "name": name, "description": event_description(kind, "Ссылка на подключение в курсе"),
            "format": 1, "courseid": m2, "groupid": groupid, "userid": site.token_userid, "modulename": "",
            "instance": 0, "eventtype": "group" if groupid else "course", "timestart": start,
            "timeduration": duration, "visible": 1, "uuid": "", "sequence": 1, "timemodified": site.now,
            "subscriptionid": None,
        }  # fmt: skip

    event("Вебинар: фандрайзинг для сельских инициатив", "webinar", 1636020000, 5400)
    event("Консультация команды «Эссо»", "consultation", 1636106400, 3600, c.teams[("m2", "Эссо")])
    event("Вебинар: как зарегистрировать НКО", "webinar", ts(2022, 5, 20), 5400)
    return c


# -- roster files and the cohort's courses for the roster sync -----------------------------------------------


COURSES = cohort_courses(load_config(EXAMPLE))


HEADER = [
    "№ заявки",
    "ФИО",
    "Email",
    "Населённый пункт",
    "Муниципальный район",
    "Команда",
    "Роль",
    "Команды наставника",
]


def cohort(site: FakeMoodle) -> dict[int, int]:
    """The three cohort courses as provisioning leaves them (the token's user enrolled as manager)."""
    out = {}
    for number in (1, 2, 3):
        cid = add_course(
            site, shortname=f"KAM21-M{number}", fullname=f"Модуль {number}", idnumber=f"kam21-m{number}"
        )
        enrol(site, cid, ADMIN_ID, 1)
        out[number] = cid
    return out


def participant(n: int, team: str, district: str = "Мильковский МР", **over: str) -> list[str]:
    row = {
        "app": f"KAM21-{n:03d}",
        "name": f"Участникова{n} Анна Петровна",
        "email": f"p{n}@example.org",
        "village": "Мильково",
        "district": district,
        "team": team,
        "role": "участник",
        "teams": "",
    }
    row.update(over)
    return list(row.values())


def standard_rows() -> list[list[str]]:
    rows = [participant(n, "Команда А") for n in range(1, 6)]
    rows += [participant(n, "Команда Б") for n in range(6, 11)]
    rows += [participant(n, "Команда В", "Быстринский МР", village="Эссо") for n in range(11, 16)]
    rows.append(
        ["", "Наставникова Наталья", "mentor@example.org", "", "", "", "наставник", "Команда А; Команда В"]
    )
    rows.append(["", "Экспертов Эдуард", "expert@example.org", "", "", "", "эксперт", ""])
    return rows


def write_roster(
    path: Path, rows: list[list[str]], *, encoding: str = "cp1251", delimiter: str = ";"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


# -- the service's configuration and what it sent ------------------------------------------------------------


SERVICE = """
[service]
snapshot_at = ["02:00"]
reminders_at = ["09:00"]
reminder_after_hours = 72
report_weekday = "monday"
report_at = "07:00"
report_dir = "reports"
retry_minutes = 5
"""


def write_config(tmp_path: Path, extra: str = "", coordinator: str | None = "admin") -> Path:
    path = tmp_path / "accelerator.toml"
    told = f'coordinator = "{coordinator}"\n' if coordinator else ""
    # The example's own [service] table is replaced by the test's timetable.
    base = EXAMPLE.read_text(encoding="utf-8").split("\n[service]")[0]
    path.write_text(base + SERVICE + told + extra, encoding="utf-8")
    return path


def reminders_sent(site: FakeMoodle) -> list[dict[str, str]]:
    return [m for m in site.messages if "ждут вашей оценки" in str(m.get("text", ""))]


def cut_roster(source: Path, target: Path, keep: Callable[[int], bool]) -> None:
    """A copy of the roster ``source`` in ``target`` with only the people (data rows, from 0) ``keep`` says."""
    lines = (
        source.read_bytes().split(b"\r\n")
        if b"\r\n" in source.read_bytes()
        else source.read_bytes().split(b"\n")
    )
    header_at = next(i for i, line in enumerate(lines) if line.count(b";") > 5)
    kept = lines[: header_at + 1] + [
        line for n, line in enumerate(lines[header_at + 1 :]) if line and keep(n)
    ]
    target.write_bytes(b"\n".join(kept) + b"\n")


# -- template courses on the fake site, for provisioning -----------------------------------------------------


TEMPLATES = load_templates()


# Dates in the real template courses (recorded): m1-idea due 2021-10-11, m1-concept 2021-10-21.
# m1-fundraising is put after the end of module 1 (31.10.2021) to exercise the date warning.
TEMPLATE_DATES: dict[str, list[tuple[str, int]]] = {
    "m1-idea": [("duedate", 1633906800)],
    "m1-concept": [("duedate", 1634770800)],
    "m1-fundraising": [("duedate", 1637409600)],  # 2021-11-20 12:00 UTC: outside module 1
    "m2-final-project": [("duedate", 1643410800)],
    "m3-pitch": [("duedate", 1647298800)],
}


def seed_template(
    site: FakeMoodle,
    template: ModuleTemplate,
    *,
    categoryid: int,
    skip: tuple[str, ...] = (),
    sections: int | None = None,
    shortname: str | None = None,
    drop_items: tuple[str, ...] = (),
) -> int:
    """A template course as a course designer builds it: section 0 keeps Moodle's "General" title."""
    titles = ["General"] + [s.title for s in template.sections[1:]]
    if sections is not None:
        titles = titles[:sections]
    modules = [
        {
            "modname": a.type,
            "name": a.name,
            "idnumber": a.key,
            "section": min(template.section_number(a.section), len(titles) - 1),
            "dates": TEMPLATE_DATES.get(a.key, []),
        }
        for a in template.activities
        if a.key not in skip
    ]
    courseid = add_course(
        site,
        shortname=shortname or template.template_shortname,
        fullname=template.title,
        categoryid=categoryid,
        idnumber=f"accel-tpl-{template.key}",
        sections=titles,
        modules=modules,
    )
    # Survey items and database fields, named as the indicators read them (labels / field names).
    for cm in [m for m in site.modules.values() if m["course"] == courseid]:
        act = next(a for a in template.activities if a.key == cm["idnumber"])
        names = [n for n in act.items if n not in drop_items]
        if cm["modname"] == "feedback":
            site.feedbacks[cm["instance"]] = {
                "id": cm["instance"],
                "course": courseid,
                "name": cm["name"],
                "coursemodule": cm["id"],
            }
            site.feedback_items[cm["instance"]] = [
                {
                    "id": 100 * cm["instance"] + i,
                    "feedback": cm["instance"],
                    "name": n,
                    "label": n,
                    "presentation": "1|10",
                    "typ": "numeric",
                }
                for i, n in enumerate(names)
            ]
        elif cm["modname"] == "data":
            site.databases[cm["instance"]] = {
                "id": cm["instance"],
                "course": courseid,
                "name": cm["name"],
                "coursemodule": cm["id"],
            }
            site.data_fields[cm["instance"]] = [
                {"id": 100 * cm["instance"] + i, "type": "text", "name": n, "description": n}
                for i, n in enumerate(names)
            ]
    return courseid


def seed_site(site: FakeMoodle, **overrides: Any) -> None:
    tpl_category = add_category(site, "Шаблоны акселератора", "accel-templates")
    for key, template in TEMPLATES.items():
        # m2's template course lacks its last section: provisioning adds it to the cohort course.
        seed_template(
            site,
            template,
            categoryid=tpl_category,
            sections=4 if key == "m2" else None,
            **overrides.get(key, {}),
        )


def writes(site: FakeMoodle, since: int = 0) -> list[str]:
    """The write calls the fake site received since call number ``since`` (reads have "get" in their name)."""
    readonly = ("get", "core_webservice_get_site_info")
    return [name for name, _ in site.calls[since:] if not any(part in name for part in readonly)]


# -- a service runner with recording jobs --------------------------------------------------------------------


KAMCHATKA = dt.timezone(dt.timedelta(hours=12))


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2021, month, day, hour, minute, tzinfo=KAMCHATKA)


def config_with_service(tmp_path: Path, **service: Any) -> AccelConfig:
    base = load_config(EXAMPLE)
    merged = {**base.service.model_dump(), **service}
    return base.model_copy(
        update={"service": type(base.service)(**merged), "source": str(tmp_path / "x.toml")}
    )


class Recorder:
    """A job that records when it ran and does what the test says next."""

    def __init__(self, *actions: Any) -> None:
        self.actions = list(actions)
        self.runs: list[dt.datetime] = []

    def __call__(self, context: JobContext) -> JobResult:
        self.runs.append(context.now)
        action = self.actions.pop(0) if self.actions else None
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, JobResult):
            return action
        return JobResult("ok", "")


def runner_for(tmp_path: Path, jobs: dict[str, Recorder], **service: Any) -> ServiceRunner:
    config = config_with_service(tmp_path, **service)
    store = open_store(tmp_path / "store.sqlite3")

    def no_client() -> Any:
        raise AssertionError("these jobs do not use the site")

    return ServiceRunner(
        config,
        store,
        no_client,
        [Job(name, fn) for name, fn in jobs.items()],
        lock_path=tmp_path / "store.sqlite3.lock",
    )


# -- the indicators through the CLI --------------------------------------------------------------------------


def gathered(run_cli: Callable[..., Result]) -> Result:
    result = run_cli("--config", str(EXAMPLE), "indicators", "gather", "--json")
    assert result.exit_code == 0, result.output
    return result


# -- the recorded calendar (field note 23) on the fake site -----------------------------------------------


CALENDAR_BOTH = "core_calendar_get_calendar_events__course_and_group_ids"
CALENDAR_GROUPS_ONLY = "core_calendar_get_calendar_events__group_ids_only"


def seed_recorded_calendar(site: FakeMoodle) -> None:
    """The recorded site's course 6, team 13 and their events, in the fake's state."""
    site.courses[6] = {
        "id": 6,
        "shortname": "KAM21-M2",
        "fullname": "М2",
        "categoryid": 3,
        "idnumber": "kam21-m2",
    }
    site.groups[13] = {"id": 13, "courseid": 6, "name": "Эссо", "description": "", "idnumber": ""}
    for name in (CALENDAR_BOTH, CALENDAR_GROUPS_ONLY):
        for e in recording(name)["response"]["events"]:
            site.events[e["id"]] = {
                **e,
                "groupid": e["groupid"] or 0,
                "modulename": "",
                "instance": 0,
                "uuid": "",
            }

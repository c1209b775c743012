"""Cohort configuration: the shipped example, defaults, and errors naming the file and key path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from course_templates.courses import module_courses
from sync.core.config import ConfigError, TargetsSection, load_config
from sync.core.vocabulary import EVENT_KIND_MARKERS, INDICATORS, event_description, event_kind

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"

MINIMAL = """
[cohort]
code = "test22"
name = "Тест 2022"

[category]
name = "Акселератор — Тест 2022"

[modules.m1]
start = 2022-10-01
end = 2022-10-31
[modules.m2]
start = 2022-11-01
end = 2023-02-28
[modules.m3]
start = 2023-03-01
end = 2023-03-31
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "accelerator.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_is_the_2021_kamchatka_cohort() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.cohort.code == "kam21"
    assert cfg.category_idnumber == "kam21"
    courses = module_courses(cfg)
    assert [c.key for c in courses] == ["m1", "m2", "m3"]
    assert [c.shortname for c in courses] == ["KAM21-M1", "KAM21-M2", "KAM21-M3"]
    assert [c.idnumber for c in courses] == ["kam21-m1", "kam21-m2", "kam21-m3"]
    assert [c.template_shortname for c in courses] == ["ACCEL-TPL-M1", "ACCEL-TPL-M2", "ACCEL-TPL-M3"]
    assert courses[0].fullname == "Школа активистов сельских территорий — Камчатка 2021"
    # Grant period 01.10.2021 - 31.03.2022, Kamchatka time (UTC+12).
    assert courses[0].start == dt.datetime(2021, 10, 1, tzinfo=dt.timezone(dt.timedelta(hours=12)))
    assert courses[0].startdate == 1633046400 - 12 * 3600
    assert courses[2].end.date() == dt.date(2022, 3, 31)
    assert courses[2].enddate == int(dt.datetime(2022, 4, 1, tzinfo=dt.UTC).timestamp()) - 12 * 3600 - 1
    targets = cfg.targets_for()
    assert set(targets) == set(INDICATORS)
    assert targets["participants"] == 50
    assert targets["school_participants"] == 28
    assert targets["initiative_groups"] == 7
    assert targets["leader_projects"] == 3
    assert (cfg.roles.student, cfg.roles.mentor, cfg.roles.expert, cfg.roles.service) == (5, 4, 4, 1)
    events = cfg.scheduled_events()
    assert {e.kind for e in events} == {"webinar", "consultation"}
    webinar = events[0]
    # The recorded webinar of the real site: 2021-11-04 22:00 Kamchatka = 1636020000.
    assert webinar.timestart == 1636020000 and webinar.timeduration == 5400
    assert any(e.team == "Эссо: тропа эвенов" for e in events)


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert (cfg.roles.student, cfg.roles.mentor, cfg.roles.expert, cfg.roles.service) == (5, 4, 4, 1)
    assert cfg.cohort.timezone == "Asia/Kamchatka"
    assert cfg.short_name == "TEST22"
    assert cfg.store_path() is None
    # No schedule: the webinar/consultation targets follow the (empty) schedule.
    assert cfg.targets_for()["webinars_held"] == 0
    assert [c.template_shortname for c in module_courses(cfg)] == [
        "ACCEL-TPL-M1",
        "ACCEL-TPL-M2",
        "ACCEL-TPL-M3",
    ]


def test_store_path_is_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + '\n[store]\npath = "data/accel.sqlite3"\n'))
    assert cfg.store_path() == tmp_path / "data" / "accel.sqlite3"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("start = 2022-10-01", "strat = 2022-10-01"), "modules.m1.strat: unknown key"),
        (lambda t: t.replace('code = "test22"', 'code = "Тест"'), "cohort.code: must be 2-31 lowercase"),
        (lambda t: t + '\n[roles]\nstudent = "five"\n', "roles.student:"),
        (lambda t: t.replace("[modules.m3]", "[modules.m4]"), "modules: unknown module m4"),
        (lambda t: t.replace("end = 2022-10-31", "end = 2022-09-01"), "modules.m1: end must be after start"),
        (
            lambda t: t + '\n[[schedule.webinars]]\ntitle = "x"\nstart = 2022-11-02T18:00:00\n',
            "schedule.webinars[0].duration: required key is missing",
        ),
        (
            lambda t: (
                t + '\n[[schedule.consultations]]\ntitle = "x"\nstart = 2022-11-02T18:00:00\nduration = 60\n'
                'module = "m9"\n'
            ),
            "schedule.consultations[0].module: must be one of m1, m2, m3",
        ),
        (lambda t: t + "\n[bogus]\nx = 1\n", "bogus: unknown key"),
        (
            lambda t: t.replace('name = "Тест 2022"', 'name = "Тест 2022"\ntimezone = "Mars/Olympus"'),
            "cohort.timezone: unknown time zone",
        ),
    ],
)
def test_errors_name_file_and_key_path(tmp_path: Path, edit: object, expected: str) -> None:
    path = write(tmp_path, edit(MINIMAL))  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_a_bad_date_is_one_line_and_several_problems_one_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("start = 2022-10-01", 'start = "1 октября"'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.count("modules.m1.start") == 1
    assert "expected a date such as 2021-10-01 or a date-time" in message
    assert "\n" not in message
    path = write(
        tmp_path,
        MINIMAL.replace("start = 2022-10-01", "strat = 2022-10-01").replace(
            'code = "test22"', 'code = "Тест"'
        ),
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}:"
    assert any("modules.m1.strat: unknown key" in line for line in lines[1:])
    assert any("cohort.code: must be 2-31 lowercase" in line for line in lines[1:])


def test_toml_syntax_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOML syntax"):
        load_config(write(tmp_path, "[cohort\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_event_kind_marker_round_trip() -> None:
    for kind, marker in EVENT_KIND_MARKERS.items():
        assert event_kind("<p>Ссылка в курсе</p>" + marker) == kind
        assert event_kind(event_description(kind, "Ссылка\nв курсе")) == kind  # type: ignore[arg-type]
    assert event_kind("Вебинар без метки") is None
    assert event_kind(None) is None


def test_targets_have_one_key_per_indicator_in_the_programs_order() -> None:
    """[targets] keys are the vocabulary's indicator keys (the templates and the reports use the same list)."""
    assert tuple(TargetsSection.model_fields) == INDICATORS


def test_time_zones_come_from_tzdata_where_the_system_has_no_zone_database(tmp_path: Path) -> None:
    """A machine without /usr/share/zoneinfo (a slim container, Windows) still knows Asia/Kamchatka: zoneinfo
    falls back to the tzdata package, which accel declares. PYTHONTZPATH pointing at an empty folder is such a
    machine; the same lookup with tzdata hidden fails, so the zone did come from tzdata."""
    import os
    import subprocess
    import sys

    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    env = {**os.environ, "PYTHONTZPATH": str(empty)}
    root = Path(__file__).resolve().parent.parent
    with_tzdata = subprocess.run(
        [
            sys.executable,
            "-c",
            "import datetime as dt, zoneinfo; from sync.core.config import load_config; "
            f"config = load_config({str(EXAMPLE)!r}); print(zoneinfo.TZPATH, dt.datetime(2021, 11, 3, tzinfo=config.tz).utcoffset())",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert with_tzdata.returncode == 0, with_tzdata.stderr
    assert with_tzdata.stdout.split() == [f"('{empty}',)", "12:00:00"]
    without = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['tzdata'] = None; import zoneinfo; zoneinfo.ZoneInfo('Asia/Kamchatka')",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert without.returncode != 0 and "ZoneInfoNotFoundError" in without.stderr

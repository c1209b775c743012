"""`accel templates check` and `accel provision [--apply] [--json]` against the fake site."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.courses import find_course
from tests.helpers import EXAMPLE, TEMPLATES, seed_site, writes

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))


def test_templates_check_passes_on_complete_templates(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    result = run_cli("templates", "check", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "m1: template course ACCEL-TPL-M1" in result.output and "OK" in result.output
    assert "cannot create activities" in result.output
    # Section 0 is still Moodle's "General" in the template: reported, provisioning sets it.
    assert "section 0 is «General», the template says «О школе»" in result.output
    assert "WARNING" not in result.output.replace("WARNING m2-final-project: in section 3", "")


def test_templates_check_warns_about_survey_items_and_database_fields(
    fake_moodle: FakeMoodle, run_cli: Run
) -> None:
    seed_site(fake_moodle, m1={"drop_items": ("ngo_plan",)}, m3={"drop_items": ("amount",)})
    result = run_cli("templates", "check", config=EXAMPLE)
    assert result.exit_code == 0, result.output  # a warning: the activities themselves are there
    assert "m1-survey: item labels ngo_plan not found (the site has: usefulness, best)" in result.output
    assert "m3-pledges: fields amount not found (the site has: partner, project, kind)" in result.output


def test_templates_check_fails_on_missing_or_wrong_activity(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle, m1={"skip": ("m1-concept",)})
    quiz = next(m for m in fake_moodle.modules.values() if m["idnumber"] == "m3-vote")
    quiz["modname"] = "quiz"
    result = run_cli("templates", "check", "--json", config=EXAMPLE)
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert payload["ok"] is False
    by_module = {m["module"]: m for m in payload["modules"]}
    m1 = {(f["code"], f["key"]) for f in by_module["m1"]["findings"] if f["severity"] == "error"}
    assert m1 == {("missing_activity", "m1-concept")}
    m3 = [f for f in by_module["m3"]["findings"] if f["severity"] == "error"]
    assert [(f["code"], f["key"]) for f in m3] == [("wrong_type", "m3-vote")]
    assert "is a quiz" in m3[0]["message"] and "needs a choice" in m3[0]["message"]
    assert by_module["m2"]["ok"] is True
    assert "cannot create activities" in payload["note"]


def test_templates_check_reports_missing_template_course(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle, m3={"shortname": "OLD-M3"})
    result = run_cli("templates", "check", config=EXAMPLE)
    assert result.exit_code == 1
    assert "template course 'ACCEL-TPL-M3' not found" in result.output


def test_bad_template_file_is_a_usage_error_with_file_and_line(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path
) -> None:
    tpl_dir = tmp_path / "templates"
    tpl_dir.mkdir()
    for key in TEMPLATES:
        text = (Path(__file__).resolve().parent.parent / "course_templates" / f"{key}.yaml").read_text(
            "utf-8"
        )
        if key == "m2":
            text = text.replace("    graded: false\n", "    graded: нет\n")
        (tpl_dir / f"{key}.yaml").write_text(text, encoding="utf-8")
    config = tmp_path / "accelerator.toml"
    config.write_text(EXAMPLE.read_text("utf-8") + '\n[templates]\ndir = "templates"\n', encoding="utf-8")
    line = next(
        i
        for i, t in enumerate((tpl_dir / "m2.yaml").read_text("utf-8").splitlines(), 1)
        if "graded: нет" in t
    )
    for args in (("templates", "check"), ("provision",)):
        result = run_cli(*args, config=config)
        assert result.exit_code == 2, result.output
        assert f"{tpl_dir / 'm2.yaml'}:{line}: activities[1].graded: expected true or false" in result.output
    assert fake_moodle.calls == []


def test_provision_prints_plan_then_apply_then_nothing(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    result = run_cli("provision", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "create course" in result.output and "KAM21-M1" in result.output
    assert "Nothing was written" in result.output
    assert "m1-fundraising «План фандрайзинга»" in result.output  # the date warning
    assert writes(fake_moodle) == []

    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "Applying:" in result.output and "[1/" in result.output
    assert "A new plan is empty" in result.output
    assert find_course(fake_moodle, "idnumber", "kam21-m3") is not None

    calls = len(fake_moodle.calls)
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "no changes, the site matches" in result.output
    assert writes(fake_moodle, calls) == []


def test_provision_json(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    result = run_cli("provision", "--json", config=EXAMPLE)
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["applied"] is False
    plan = payload["plan"]
    assert plan["empty"] is False and plan["blocked"] is False
    assert [c["action"] for c in plan["changes"]][:4] == [
        "create_category",
        "create_course",
        "create_course",
        "create_course",
    ]
    assert plan["courses"]["m2"]["shortname"] == "KAM21-M2"
    assert plan["date_warnings"][0]["key"] == "m1-fundraising"

    result = run_cli("provision", "--apply", "--json", config=EXAMPLE)
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["applied"] is True and payload["remaining"]["empty"] is True
    assert sorted(payload["created_courses"]) == ["m1", "m2", "m3"]


def test_provision_blocked_exits_1_and_writes_nothing(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle, m1={"shortname": "ELSEWHERE"})
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 1
    assert "template course ACCEL-TPL-M1 not found" in result.output
    assert "nothing was written" in result.output
    assert writes(fake_moodle) == []


def test_interrupted_apply_tells_how_to_finish(fake_moodle: FakeMoodle, run_cli: Run) -> None:
    seed_site(fake_moodle)
    fake_moodle.inject("core_course_update_courses", "drop-after-apply")
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 3, result.output
    assert "run `accel provision --apply` again" in result.output
    # The progress line is printed before each write, so the last one names the step that stopped.
    assert result.output.rstrip().splitlines()[-1].startswith("Error:")
    assert "[2/20] create course: course KAM21-M1" in result.output and "[3/20]" not in result.output
    assert "Apply stopped after 1 of 20 steps" in result.output
    assert "The step that did not finish: create course: course KAM21-M1" in result.output
    result = run_cli("provision", "--apply", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    shortnames = sorted(
        c["shortname"] for c in fake_moodle.courses.values() if c["shortname"].startswith("KAM21")
    )
    assert shortnames == ["KAM21-M1", "KAM21-M2", "KAM21-M3"]


def test_the_check_after_an_apply_of_events_only_reads_only_the_calendar(
    fake_moodle: FakeMoodle, run_cli: Run
) -> None:
    """Issue 11: the closing check reads again what the apply touched. A cohort already made, whose calendar
    lost an event: only the calendar's part of the plan is read again (courses, groups, events)."""
    seed_site(fake_moodle)
    assert run_cli("provision", "--apply", config=EXAMPLE).exit_code == 0
    event = next(iter(fake_moodle.events))
    del fake_moodle.events[event]
    before = len(fake_moodle.calls)
    result = run_cli("provision", "--apply", "--json", config=EXAMPLE)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [c["action"] for c in payload["plan"]["changes"]] == ["create_event"]
    assert payload["remaining"]["empty"] is True
    calls = [name for name, _ in fake_moodle.calls[before:]]
    after = calls[calls.index("core_calendar_create_calendar_events") + 1 :]
    assert sorted(set(after)) == [
        "core_calendar_get_calendar_events",
        "core_course_get_courses_by_field",
        "core_group_get_course_groups",
    ]
    # The three courses by ID number, their groups, their events (the teams' events too, when there are
    # groups): fewer than the plan's own reads before the write.
    assert len(after) == 3 + 3 + 1 < calls.index("core_calendar_create_calendar_events")

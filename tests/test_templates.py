"""Module templates: the bundled files are valid and carry the program; bad files give file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_templates.loader import BUNDLED_DIR, TemplateError, load_templates, parse_template

# program.md: activity keys with their Moodle type.
PROGRAM_ACTIVITIES = {
    "m1-programme": "page",
    "m1-intro-forum": "forum",
    "m1-idea": "assign",
    "m1-concept": "assign",
    "m1-fundraising": "assign",
    "m1-survey": "feedback",
    "m2-questions": "forum",
    "m2-consultations": "assign",
    "m2-final-project": "assign",
    "m3-pitch": "assign",
    "m3-vote": "choice",
    "m3-pledges": "data",
    "m3-survey": "feedback",
}


def test_bundled_templates_carry_the_program() -> None:
    templates = load_templates()
    assert list(templates) == ["m1", "m2", "m3"]
    found = {a.key: a.type for t in templates.values() for a in t.activities}
    assert found == PROGRAM_ACTIVITIES
    assert templates["m1"].title == "Школа активистов сельских территорий"
    assert templates["m2"].title == "Онлайн-сопровождение"
    assert templates["m3"].title == "Ярмарка проектов и живой фандрайзинг"
    assert [t.template_shortname for t in templates.values()] == [
        "ACCEL-TPL-M1",
        "ACCEL-TPL-M2",
        "ACCEL-TPL-M3",
    ]
    m1 = templates["m1"]
    assert m1.activity("m1-concept").team_submission is True
    assert m1.activity("m1-fundraising").team_submission is False
    assert "projects_developed" in m1.activity("m1-concept").indicators
    assert templates["m2"].activity("m2-consultations").graded is False
    # Every section has a Russian title and the general section comes first.
    for t in templates.values():
        assert t.sections[0].key == "general"
        assert all(any("а" <= ch <= "я" for ch in s.title.lower()) for s in t.sections)


GOOD = (BUNDLED_DIR / "m3.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_unknown_key_names_file_and_line() -> None:
    bad = GOOD.replace(
        "    name: Народное голосование\n", "    name: Народное голосование\n    colour: red\n"
    )
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    assert info.value.problems == [
        f"m3.yaml:{line_of(bad, 'colour: red')}: activities[1].colour: unknown key"
    ]


def test_wrong_type_names_line_and_expectation() -> None:
    bad = GOOD.replace("grade_max: 100", "grade_max: сто")
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    (problem,) = info.value.problems
    assert problem.startswith(
        f"m3.yaml:{line_of(bad, 'grade_max: сто')}: activities[0].grade_max: expected a whole"
    )


def test_wrong_activity_type_lists_allowed_types() -> None:
    bad = GOOD.replace("type: choice", "type: poll")
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    (problem,) = info.value.problems
    assert f"m3.yaml:{line_of(bad, 'type: poll')}: activities[1].type: expected" in problem
    assert "'choice'" in problem


def test_missing_key_points_at_its_parent() -> None:
    bad = GOOD.replace("title: Ярмарка проектов и живой фандрайзинг\n", "")
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    assert info.value.problems == [f"m3.yaml:{line_of(bad, 'key: m3')}: title: required key is missing"]


def test_unknown_section_reference() -> None:
    bad = GOOD.replace("    section: vote\n", "    section: nowhere\n")
    with pytest.raises(TemplateError, match="section 'nowhere' is not one of the sections"):
        parse_template(bad, "m3.yaml")


def test_unknown_placeholder_and_indicator() -> None:
    bad = GOOD.replace('"{cohort_short}-M3"', '"{cohort}-M3"').replace("[votes_cast]", "[votes]")
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    text = "\n".join(info.value.problems)
    assert f"m3.yaml:{line_of(bad, '{cohort}-M3')}: course.shortname: unknown placeholder {{cohort}}" in text
    assert "unknown indicator 'votes'" in text


def test_yaml_syntax_error_has_line() -> None:
    bad = GOOD.replace("  - key: vote\n", "  - key: vote: x\n")
    with pytest.raises(TemplateError) as info:
        parse_template(bad, "m3.yaml")
    assert info.value.problems[0].startswith(f"m3.yaml:{line_of(bad, 'key: vote: x')}: YAML syntax")


def test_duplicate_key_is_rejected() -> None:
    bad = GOOD.replace("number: 3\n", "number: 3\nnumber: 3\n")
    with pytest.raises(TemplateError, match=r"m3.yaml:\d+: number: duplicate key"):
        parse_template(bad, "m3.yaml")


def test_directory_reports_every_bad_file(tmp_path: Path) -> None:
    for key in ("m1", "m2", "m3"):
        (tmp_path / f"{key}.yaml").write_text(
            (BUNDLED_DIR / f"{key}.yaml").read_text(encoding="utf-8"), "utf-8"
        )
    (tmp_path / "m2.yaml").write_text("key: m2\nnumber: two\n", encoding="utf-8")
    (tmp_path / "m3.yaml").unlink()
    with pytest.raises(TemplateError) as info:
        load_templates(tmp_path)
    text = "\n".join(info.value.problems)
    assert f"{tmp_path / 'm2.yaml'}:2: number: expected a whole number" in text
    assert f"{tmp_path / 'm3.yaml'}: cannot read" in text

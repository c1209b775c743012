"""`accel doctor` with the full and the limited token, `accel templates check` on the seed templates."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.helpers import CohortFactory
from tests.integration.moodle_site import TEMPLATES, Site

SERVICE_FUNCTIONS = """
    select f.functionname
      from mdl_external_services s
      join mdl_external_services_functions f on f.externalserviceid = s.id
     where s.shortname = :'service'
"""


def test_doctor_with_the_full_token_finds_every_function(site: Site, new_cohort: CohortFactory) -> None:
    cohort = new_cohort()
    run = cohort.accel("doctor", "--json")
    assert run.returncode == 0, run.explain()
    report = json.loads(run.stdout)
    assert report["status"] == "ok" and report["missing_functions"] == []

    assert report["site"]["release"] == site.sql_value("select value from mdl_config where name = 'release'")
    token_user = site.sql_value(
        """select t.userid from mdl_external_tokens t join mdl_external_services s on s.id = t.externalserviceid
            where s.shortname = 'accel_full' order by t.id limit 1"""
    )
    assert report["user"]["id"] == int(token_user)
    assert report["user"]["username"] == site.sql_value(
        "select username from mdl_user where id = :'id'", id=token_user
    )
    # The service's functions, as the site stores them (site info lists exactly these).
    assert report["functions_available"] == len(site.sql(SERVICE_FUNCTIONS, service="accel_full"))
    assert site.token not in run.output


def test_doctor_with_the_limited_token_names_each_missing_function(
    site: Site, new_cohort: CohortFactory
) -> None:
    if not site.limited_token:
        pytest.skip("MOODLE_LIMITED_TOKEN is not set (site.env of ../shared/moodle-site gives it)")
    cohort = new_cohort()
    run = cohort.accel("doctor", "--json", token=site.limited_token)
    assert run.returncode == 1, run.explain()  # exit 1: functions missing
    report = json.loads(run.stdout)
    assert report["status"] == "missing_functions"

    allowed = {row["functionname"] for row in site.sql(SERVICE_FUNCTIONS, service="accel_limited")}
    assert report["functions_available"] == len(allowed) == 3
    missing = {item["name"] for item in report["missing_functions"]}
    assert missing and not (missing & allowed)
    # Every function named missing is a real function of the site, in the full service, and says who needs it.
    on_site = {row["name"] for row in site.sql("select name from mdl_external_functions")}
    assert missing <= on_site
    assert missing <= {row["functionname"] for row in site.sql(SERVICE_FUNCTIONS, service="accel_full")}
    assert all(item["needed_by"] for item in report["missing_functions"])
    # The three functions of the limited service are all the product's (connection, provisioning, roster),
    # so the product's total, as the full token's doctor counts it, is the missing ones plus those three.
    full = cohort.accel("doctor")
    used = re.search(r"all (\d+) functions the product uses are available", full.stdout)
    assert used, full.explain()
    assert len(missing) == int(used.group(1)) - len(allowed)
    text = cohort.accel("doctor", token=site.limited_token)
    assert text.returncode == 1
    assert f"{len(missing)} of {used.group(1)} functions are missing" in text.stdout
    for name in missing:
        assert name in text.stdout
    assert site.limited_token not in text.output


def test_doctor_speaks_russian_by_default(
    site: Site, new_cohort: CohortFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No ACCEL_LANG and a server's C locale: what the administrator reads is Russian, the function names stay.
    monkeypatch.setenv("LANG", "C.UTF-8")
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    text = new_cohort().accel("doctor", token=site.limited_token, language=None)
    assert text.returncode == 1, text.explain()
    assert re.search("[А-Яа-яЁё]{4}", text.stdout), text.explain()
    assert "functions are missing" not in text.stdout
    assert re.search(r"\b(core|enrol|mod|gradereport)_[a-z_]+\b", text.stdout), text.explain()
    assert site.limited_token not in text.output


def test_doctor_with_a_wrong_token_exits_4(new_cohort: CohortFactory) -> None:
    run = new_cohort().accel("doctor", token="0" * 32)
    assert run.returncode == 4, run.explain()


def test_templates_check_on_the_seed_templates(site: Site, new_cohort: CohortFactory) -> None:
    cohort = new_cohort()
    run = cohort.accel("templates", "check", "--json")
    assert run.returncode == 0, run.explain()
    report = json.loads(run.stdout)
    assert report["ok"] is True
    by_module = {m["module"]: m for m in report["modules"]}
    assert set(by_module) == set(TEMPLATES)
    for module, shortname in TEMPLATES.items():
        found = by_module[module]
        course = site.sql(
            "select id, (select count(*) from mdl_course_sections s where s.course = c.id) as sections "
            "from mdl_course c where shortname = :'shortname'",
            shortname=shortname,
        )
        assert len(course) == 1, f"the seed site has no template course {shortname}"
        assert found["template_shortname"] == shortname and found["ok"] is True
        assert found["course_id"] == int(course[0]["id"])
        activities = site.sql(
            "select idnumber from mdl_course_modules where course = :'course' and idnumber <> '' "
            "and deletioninprogress = 0",
            course=course[0]["id"],
        )
        assert sorted(found["activities_found"]) == sorted(row["idnumber"] for row in activities)
        assert not [f for f in found["findings"] if f["severity"] == "error"]

    # What the check says about the seed's m3 course is what the site holds: 5 sections, m3-survey in section 4.
    m3 = by_module["m3"]
    sections = site.sql_int(
        "select count(*) from mdl_course_sections s join mdl_course c on c.id = s.course "
        "where c.shortname = 'ACCEL-TPL-M3'"
    )
    survey_section = site.sql_int(
        """select s.section from mdl_course_modules cm join mdl_course_sections s on s.id = cm.section
            join mdl_course c on c.id = cm.course where c.shortname = 'ACCEL-TPL-M3' and cm.idnumber = 'm3-survey'"""
    )
    messages = [f["message"] for f in m3["findings"]]
    assert any(f"the course has {sections} sections" in m for m in messages), messages
    assert any(m.startswith(f"m3-survey: in section {survey_section},") for m in messages), messages

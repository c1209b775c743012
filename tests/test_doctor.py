"""`accel doctor` and the token's secrecy everywhere it could leak."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import responses
from click.testing import CliRunner, Result

from integration.errors import InvalidToken, MoodleUnreachable, UncertainWrite
from integration.functions import required_functions
from integration.site import SiteInfo
from sync.commands import main
from tests.fake_moodle import FakeMoodle
from tests.helpers import make_client, recording

SECRET = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def test_site_info_model_reads_the_recording_and_ignores_new_fields() -> None:
    answer = recording("core_webservice_get_site_info__full_token")["response"]
    info = SiteInfo.model_validate({**answer, "some_future_field": {"x": 1}})
    assert info.sitename == "Kamchatka Accelerator"
    assert info.release == "5.1+ (Build: 20251017)"
    assert info.userid == 2
    assert len(info.functions) == 760


def test_the_recorded_full_token_has_every_function_the_product_uses() -> None:
    answer = recording("core_webservice_get_site_info__full_token")["response"]
    available = {f["name"] for f in answer["functions"]}
    assert set(required_functions()) <= available


def test_doctor_all_well(run_cli: Callable[..., Result]) -> None:
    result = run_cli("doctor")
    assert result.exit_code == 0, result.output
    assert "Kamchatka Accelerator" in result.output
    assert "5.1+ (Build: 20251017)" in result.output
    assert "user admin (id 2" in result.output
    assert "functions the product uses are available" in result.output


def test_doctor_lists_missing_functions_with_where_to_add_them(
    run_cli: Callable[..., Result], fake_moodle: FakeMoodle
) -> None:
    # The recorded limited token: a service with three functions only.
    limited = recording("core_webservice_get_site_info__limited_token")["response"]["functions"]
    fake_moodle.service_functions = {f["name"] for f in limited}
    result = run_cli("doctor")
    assert result.exit_code == 1
    assert "core_user_create_users" in result.output
    assert "mod_assign_get_submissions" in result.output
    assert "External services" in result.output
    assert "core_webservice_get_site_info  (" not in result.output
    missing = len(set(required_functions()) - fake_moodle.service_functions)
    assert missing == len(required_functions()) - 3
    assert f"{missing} of {len(required_functions())} functions are missing" in result.output

    as_json = run_cli("doctor", "--json")
    assert as_json.exit_code == 1
    payload = json.loads(as_json.output)
    assert payload["status"] == "missing_functions"
    names = {m["name"] for m in payload["missing_functions"]}
    assert "core_user_create_users" in names and "core_webservice_get_site_info" not in names
    assert all(m["needed_by"] for m in payload["missing_functions"])


def test_doctor_json_when_all_well(run_cli: Callable[..., Result]) -> None:
    result = run_cli("doctor", "--json")
    payload = json.loads(result.output)
    assert result.exit_code == 0
    assert payload["status"] == "ok"
    assert payload["site"]["release"] == "5.1+ (Build: 20251017)"
    assert payload["user"]["username"] == "admin"
    assert payload["missing_functions"] == []


def test_doctor_invalid_token_exits_4(run_cli: Callable[..., Result], fake_moodle: FakeMoodle) -> None:
    fake_moodle.token_revoked = True
    result = run_cli("doctor")
    assert result.exit_code == 4
    assert "refused the token" in result.output
    payload = json.loads(run_cli("doctor", "--json").output)
    assert payload["status"] == "invalid_token"


def test_doctor_unreachable_site_exits_3(run_cli: Callable[..., Result], fake_moodle: FakeMoodle) -> None:
    fake_moodle.inject("core_webservice_get_site_info", "connection", times=10)
    result = run_cli("doctor")
    assert result.exit_code == 3
    assert "did not answer" in result.output


def test_doctor_maintenance_page_exits_3(run_cli: Callable[..., Result], fake_moodle: FakeMoodle) -> None:
    fake_moodle.inject("core_webservice_get_site_info", "html")
    result = run_cli("doctor", "--json")
    assert result.exit_code == 3
    assert json.loads(result.output)["status"] == "unreachable"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "MOODLE_URL is not set"),
        ({"MOODLE_URL": "https://moodle.example.org"}, "no Moodle token"),
        ({"MOODLE_TOKEN": SECRET}, "MOODLE_URL is not set"),
        ({"MOODLE_URL": "http://moodle.example.org", "MOODLE_TOKEN": SECRET}, "refusing plain http"),
        (
            {"MOODLE_URL": "https://moodle.example.org", "MOODLE_TOKEN_FILE": "/nonexistent/token"},
            "cannot read",
        ),
        (
            {"MOODLE_URL": "https://m.example.org", "MOODLE_TOKEN": SECRET, "MOODLE_READ_TIMEOUT": "x"},
            "not a number",
        ),
    ],
)
def test_doctor_configuration_errors_exit_2(
    env: dict[str, str], needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MOODLE_URL", "MOODLE_TOKEN", "MOODLE_TOKEN_FILE", "MOODLE_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert SECRET not in result.output


@responses.activate
def test_token_from_file_and_env_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = FakeMoodle(token=SECRET)
    site.install(responses.mock)
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    token_file.chmod(0o600)
    monkeypatch.setenv("MOODLE_URL", site.url)
    monkeypatch.delenv("MOODLE_TOKEN", raising=False)
    monkeypatch.setenv("MOODLE_TOKEN_FILE", str(token_file))
    result = CliRunner().invoke(main, ["--stats", "doctor"])
    assert result.exit_code == 0, result.output
    assert "core_webservice_get_site_info: 1" in result.output  # --stats prints request counts
    assert SECRET not in result.output


# -- the token never leaks ------------------------------------------------------------------------------


def test_token_is_not_in_repr_or_errors(fake_moodle: FakeMoodle) -> None:
    fake_moodle.token = SECRET
    client = make_client(fake_moodle)
    assert SECRET not in repr(client)
    assert SECRET not in repr(vars(client))
    fake_moodle.token = "changed"
    with pytest.raises(InvalidToken) as caught:
        client.call("core_webservice_get_site_info")
    formatted = "".join(traceback.format_exception(caught.value))
    assert SECRET not in formatted and SECRET not in repr(caught.value)


@responses.activate
def test_token_is_not_in_transport_errors_even_when_the_site_echoes_it() -> None:
    endpoint = "https://moodle.example.org/webservice/rest/server.php"
    responses.add(responses.POST, endpoint, body=f"<html>proxy error for wstoken={SECRET}</html>", status=502)
    responses.add(responses.POST, endpoint, body=requests.exceptions.ConnectionError(f"boom {SECRET}"))
    responses.add(
        responses.POST, endpoint, json={"exception": "x", "errorcode": "y", "message": f"bad {SECRET}"}
    )
    from integration.transport import MoodleClient

    client = MoodleClient("https://moodle.example.org", SECRET, max_retries=0, sleep=lambda _s: None)
    for expected in (MoodleUnreachable, UncertainWrite, Exception):
        with pytest.raises(expected) as caught:
            client.call(
                "core_user_create_users",
                {"users": [{"username": "x"}]},
                write=expected is not MoodleUnreachable,
            )
        text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
        assert SECRET not in text


def test_token_is_never_logged(
    fake_moodle: FakeMoodle, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_moodle.token = SECRET
    monkeypatch.setenv("MOODLE_URL", fake_moodle.url)
    monkeypatch.setenv("MOODLE_TOKEN", SECRET)
    monkeypatch.delenv("MOODLE_TOKEN_FILE", raising=False)
    fake_moodle.inject("core_webservice_get_site_info", "timeout")
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(main, ["-vvv", "doctor", "--json"])
        logging.getLogger("somewhere.else").warning("oops %s", SECRET)  # even a careless logger is scrubbed
    assert result.exit_code == 0, result.output
    assert caplog.records, "debug logging should have produced records"
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert SECRET not in result.output


# -- the site's request-size limit (issue 11) ----------------------------------------------------------------
def test_doctor_measures_max_input_vars_and_says_the_setting_is_right(
    run_cli: Callable[..., Result], fake_moodle: FakeMoodle
) -> None:
    result = run_cli("doctor")  # the client is told the site's own 5000
    assert result.exit_code == 0, result.output
    assert "Limit:   the site keeps 5000 form variables per request (PHP max_input_vars)" in result.output
    assert "MOODLE_MAX_INPUT_VARS is 5000: right for this site." in result.output
    # Measured through the web services: a couple of reads of the token's own user, never a guess.
    assert fake_moodle.count("core_user_get_users_by_field") >= 2


@pytest.mark.parametrize(
    ("configured", "words"),
    [
        (8000, "MOODLE_MAX_INPUT_VARS is 8000, but the site keeps only 5000 form variables per request"),
        (1000, "MOODLE_MAX_INPUT_VARS is 1000; the site accepts 5000 form variables per request"),
    ],
)
def test_doctor_says_what_to_set_when_the_setting_is_off(
    run_cli: Callable[..., Result], configured: int, words: str
) -> None:
    result = run_cli("doctor", client_options={"max_input_vars": configured})
    assert result.exit_code == 0, result.output  # accel keeps to the site's limit: advice, not a failure
    assert words in result.output and "set MOODLE_MAX_INPUT_VARS=5000" in result.output
    payload = json.loads(run_cli("doctor", "--json", client_options={"max_input_vars": configured}).output)
    assert payload["max_input_vars"] == {
        "site": 5000,
        "exact": True,
        "configured": configured,
        "setting": "MOODLE_MAX_INPUT_VARS",
        "advice": payload["max_input_vars"]["advice"],
        "not_measured": None,
    }
    assert "set MOODLE_MAX_INPUT_VARS=5000" in payload["max_input_vars"]["advice"]


def test_doctor_names_the_option_when_the_limit_was_given_on_the_command_line(
    run_cli: Callable[..., Result],
) -> None:
    result = run_cli("--max-input-vars", "6000", "doctor", client_options={"max_input_vars": 6000})
    assert "--max-input-vars is 6000, but the site keeps only 5000" in result.output
    assert "set --max-input-vars=5000" in result.output


def test_doctor_without_the_function_to_measure_with_says_so(
    run_cli: Callable[..., Result], fake_moodle: FakeMoodle
) -> None:
    fake_moodle.service_functions = set(required_functions()) - {"core_user_get_users_by_field"}
    result = run_cli("doctor")
    assert result.exit_code == 1  # a function is missing
    assert (
        "Limit:   max_input_vars not measured: the token's service lacks core_user_get_users_by_field"
        in result.output
    )
    assert fake_moodle.count("core_user_get_users_by_field") == 0

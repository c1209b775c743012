"""The site's max_input_vars measured through the web services, and the client that never sends more."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import responses

from integration.errors import AccessDenied, RequestTooLarge
from integration.limits import (
    CEILING,
    FUNCTION,
    InputVarsLimit,
    LimitNotMeasurable,
    advice,
    arrives,
    measure_max_input_vars,
    measured_limit,
)
from tests.fake_moodle import FakeMoodle, handler
from tests.helpers import make_client


@handler("limit_echo_values")
def _echo_values(site: FakeMoodle, params: dict[str, Any]) -> Any:
    return list(params.get("values", []))


def probes(site: FakeMoodle) -> int:
    return site.count(FUNCTION)


def test_the_fake_keeps_one_variable_more_than_its_setting_as_php_does(fake_moodle: FakeMoodle) -> None:
    # Measured on the real site (max_input_vars 5000): 5001 variables of a POST arrive, the 5002nd does not.
    fake_moodle.max_input_vars = 5000
    client = make_client(fake_moodle)
    assert arrives(client, 5001, 2)
    assert not arrives(client, 5002, 2)


@pytest.mark.parametrize("setting", [1000, 2000, 5000, 10000])
def test_a_round_setting_is_found_in_a_handful_of_requests(fake_moodle: FakeMoodle, setting: int) -> None:
    fake_moodle.max_input_vars = setting
    client = make_client(fake_moodle, max_input_vars=1000)
    found = measure_max_input_vars(client)
    assert found == InputVarsLimit(max_input_vars=setting, exact=True, requests=probes(fake_moodle))
    assert found.requests <= 5
    assert client.stats == {"core_webservice_get_site_info": 1, FUNCTION: found.requests}


@pytest.mark.parametrize("setting", [1000, 5000, 3333])
def test_the_configured_value_when_right_costs_two_requests(fake_moodle: FakeMoodle, setting: int) -> None:
    fake_moodle.max_input_vars = setting
    found = measure_max_input_vars(make_client(fake_moodle), expected=setting)
    assert (found.max_input_vars, found.exact, found.requests) == (setting, True, 2)


@pytest.mark.parametrize(
    ("setting", "expected"), [(1000, 5000), (5000, 1000), (4321, 5000), (37, 1000), (20000, 5000)]
)
def test_a_wrong_configured_value_is_corrected(fake_moodle: FakeMoodle, setting: int, expected: int) -> None:
    fake_moodle.max_input_vars = setting
    found = measure_max_input_vars(make_client(fake_moodle), expected=expected)
    assert found.max_input_vars == setting and found.exact
    assert found.requests <= 20  # log2 of the gap between two round values, at worst


def test_a_site_above_the_ceiling_is_at_least_the_ceiling(fake_moodle: FakeMoodle) -> None:
    fake_moodle.max_input_vars = 80_000
    found = measure_max_input_vars(make_client(fake_moodle), ceiling=CEILING)
    assert (found.max_input_vars, found.exact) == (CEILING, False)
    assert "at least 50000" in found.describe()


def test_a_probe_that_never_comes_back_is_an_error(fake_moodle: FakeMoodle) -> None:
    fake_moodle.users[2]["deleted"] = True  # the fake then never returns the token's user
    with pytest.raises(LimitNotMeasurable, match="did not return the token's own user"):
        measure_max_input_vars(make_client(fake_moodle), ceiling=2000)


def test_a_token_without_the_function_says_so(fake_moodle: FakeMoodle) -> None:
    fake_moodle.service_functions = {"core_webservice_get_site_info"}
    with pytest.raises(AccessDenied):
        measure_max_input_vars(make_client(fake_moodle))


@responses.activate
def test_php_warnings_in_front_of_the_answer_mean_the_request_was_cut() -> None:
    """A site that displays PHP's warnings prints its complaint before the JSON of a request it cut."""
    site = "https://moodle.example.org"

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        body = request.body if isinstance(request.body, str) else request.body.decode()
        if body.count("&") + 1 > 1001:
            return 200, {}, "<br />\n<b>Warning</b>:  PHP Request Startup: Input variables exceeded 1000.[]"
        if "core_webservice_get_site_info" in body:
            return 200, {}, '{"sitename": "s", "userid": 2, "username": "admin"}'
        return 200, {}, '[{"id": 2, "username": "admin"}]'

    responses.add_callback(responses.POST, f"{site}/webservice/rest/server.php", callback=answer)
    from integration.transport import MoodleClient

    found = measure_max_input_vars(MoodleClient(site, "t0ken", sleep=lambda _s: None), expected=1000)
    assert (found.max_input_vars, found.requests) == (1000, 2)


# -- the client keeps to the measured limit --------------------------------------------------------------
def test_the_measured_limit_caps_the_configured_one(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, max_input_vars=5000)
    client.cap_max_input_vars(1000)
    assert client.max_input_vars == 1000 and client.configured_max_input_vars == 5000
    assert all(3 + len(chunk) <= 1000 for chunk in client.chunks(list(range(3000))))
    with pytest.raises(RequestTooLarge):
        client.call("limit_echo_values", {"values": list(range(1200))})
    client.cap_max_input_vars(8000)  # a larger measurement never raises the configured limit
    assert client.max_input_vars == 5000


def test_told_too_much_the_client_measures_and_loses_nothing(
    fake_moodle: FakeMoodle, caplog: pytest.LogCaptureFixture
) -> None:
    fake_moodle.max_input_vars = 1000
    values = [f"v{n}" for n in range(4000)]
    naive = make_client(fake_moodle, max_input_vars=5000)
    assert sum(len(a) for a in naive.call_batched("limit_echo_values", "values", values)) < 4000  # cut
    client = make_client(fake_moodle, max_input_vars=5000, measure_limit=measured_limit)
    with caplog.at_level(logging.WARNING, logger="accel.moodle"):
        answers = client.call_batched("limit_echo_values", "values", values)
    assert [v for answer in answers for v in answer] == values
    assert client.max_input_vars == 1000 and client.stats["limit_echo_values"] == 5  # 997 values each
    assert "set MOODLE_MAX_INPUT_VARS=1000" in caplog.text
    # A single request too large for the real limit is refused, not cut.
    with pytest.raises(RequestTooLarge):
        client.call("limit_echo_values", {"values": values[:1500]})


def test_verification_costs_one_measurement_per_client_and_none_for_small_requests(
    fake_moodle: FakeMoodle,
) -> None:
    client = make_client(fake_moodle, max_input_vars=5000, measure_limit=measured_limit)
    client.call_batched("limit_echo_values", "values", list(range(900)))  # under PHP's default: no check
    assert probes(fake_moodle) == 0
    client.call_batched("limit_echo_values", "values", list(range(4000)))
    client.call_batched("limit_echo_values", "values", list(range(9000)))
    client.call("limit_echo_values", {"values": list(range(4990))})
    assert probes(fake_moodle) == 2 and client.max_input_vars == 5000  # the configured value was right


def test_without_verification_nothing_is_measured(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, max_input_vars=5000)
    client.call_batched("limit_echo_values", "values", list(range(9000)))
    assert probes(fake_moodle) == 0 and client.measured_max_input_vars is None


def test_advice() -> None:
    exact = InputVarsLimit(max_input_vars=1000, exact=True, requests=2)
    text = advice(exact, 5000)
    assert text is not None and "set MOODLE_MAX_INPUT_VARS=1000" in text and "dropped silently" in text
    more = advice(InputVarsLimit(max_input_vars=5000, exact=True, requests=2), 1000)
    assert more is not None and "set MOODLE_MAX_INPUT_VARS=5000 for fewer, larger requests" in more
    assert advice(InputVarsLimit(max_input_vars=5000, exact=True, requests=2), 5000) is None
    assert advice(InputVarsLimit(max_input_vars=CEILING, exact=False, requests=4), 1000) is None

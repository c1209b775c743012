"""The Moodle client's transport: encoding, errors, bad bodies, warnings, retries, request size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from integration.encoding import count_vars, flatten
from integration.errors import (
    AccessDenied,
    BadResponse,
    CannotAssignRole,
    CategoryIdnumberTaken,
    ConfigurationError,
    InvalidParameter,
    InvalidToken,
    MessageNotSent,
    MoodleError,
    MoodleUnreachable,
    NoCompletionCriteria,
    RecordNotFound,
    RequestTooLarge,
    ShortnameTaken,
    UncertainWrite,
)
from integration.transport import MoodleClient, endpoint_for
from tests.fake_moodle import FakeMoodle, handler
from tests.helpers import all_recordings, make_client, recording

SITE = "https://moodle.example.org"
ENDPOINT = SITE + "/webservice/rest/server.php"
TOKEN = "s3cr3t-t0ken-abcdef"


def new_client(**options: Any) -> MoodleClient:
    options.setdefault("sleep", lambda _s: None)
    return MoodleClient(SITE, TOKEN, **options)


@pytest.mark.parametrize("path", all_recordings(), ids=lambda p: p.stem)
def test_encoding_of_every_recording_gives_its_form(path: Path) -> None:
    exchange = recording(path.stem)
    assert flatten(exchange["params"]) == [tuple(pair) for pair in exchange["form"]]


def test_encoding_rules() -> None:
    assert flatten({"a": True, "b": False, "c": None, "d": [], "e": 8.0, "f": 2.5}) == [
        ("a", "1"),
        ("b", "0"),
        ("e", "8"),
        ("f", "2.5"),
    ]
    assert count_vars({"users": [{"a": 1, "b": None}, {"a": 2, "b": [1, 2]}]}) == 4


ERROR_CASES = [
    (path.stem, recording(path.stem))
    for path in all_recordings()
    if isinstance(recording(path.stem)["response"], dict) and "errorcode" in recording(path.stem)["response"]
]
EXPECTED_CLASS = {
    "invalidtoken": InvalidToken,
    "accessexception": AccessDenied,
    "invalidparameter": InvalidParameter,
    "invalidrecordunknown": RecordNotFound,
    "shortnametaken": ShortnameTaken,
    "categoryidnumbertaken": CategoryIdnumberTaken,
    "wsusercannotassign": CannotAssignRole,
    "nocriteriaset": NoCompletionCriteria,
    "Message was not sent.": MessageNotSent,
}


def test_every_recorded_errorcode_has_a_class() -> None:
    recorded = {exchange["response"]["errorcode"] for _, exchange in ERROR_CASES}
    assert recorded <= set(EXPECTED_CLASS), recorded - set(EXPECTED_CLASS)
    assert len(ERROR_CASES) >= 12


@pytest.mark.parametrize(("name", "exchange"), ERROR_CASES, ids=[name for name, _ in ERROR_CASES])
@responses.activate
def test_every_recorded_error_raises_its_type(name: str, exchange: dict[str, Any]) -> None:
    responses.add(responses.POST, ENDPOINT, json=exchange["response"], status=exchange["http_status"])
    client = new_client()
    with pytest.raises(MoodleError) as caught:
        client.call(exchange["wsfunction"], exchange["params"], write=True)
    error = caught.value
    assert type(error) is EXPECTED_CLASS[exchange["response"]["errorcode"]]
    assert error.errorcode == exchange["response"]["errorcode"]
    assert error.message == exchange["response"]["message"]
    assert error.wsfunction == exchange["wsfunction"]
    assert exchange["wsfunction"] in str(error)
    assert len(responses.calls) == 1  # a Moodle error is an answer: never retried


@responses.activate
def test_request_is_a_form_post_with_the_token_in_the_body_only() -> None:
    exchange = recording("core_user_get_users_by_field__found")
    responses.add(responses.POST, ENDPOINT, json=exchange["response"])
    answer = new_client().call("core_user_get_users_by_field", exchange["params"])
    assert answer == exchange["response"]
    sent = responses.calls[0].request
    assert sent.url == ENDPOINT
    assert TOKEN not in sent.url
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = parse_qsl(sent.body if isinstance(sent.body, str) else sent.body.decode())
    assert body[:3] == [
        ("wstoken", TOKEN),
        ("wsfunction", "core_user_get_users_by_field"),
        ("moodlewsrestformat", "json"),
    ]
    assert body[3:] == [tuple(pair) for pair in exchange["form"]]


@pytest.mark.parametrize(
    "name",
    [
        "core_course_update_courses__warning_unknown_course",
        "core_user_update_users__unknown_user",
        "mod_assign_get_grades__all",
    ],
)
@responses.activate
def test_warnings_reach_the_caller(name: str) -> None:
    exchange = recording(name)
    responses.add(responses.POST, ENDPOINT, json=exchange["response"])
    client = new_client()
    answer = client.call(exchange["wsfunction"], exchange["params"])
    assert answer["warnings"] == exchange["response"]["warnings"]
    assert [w.message for w in client.warnings] == [w["message"] for w in exchange["response"]["warnings"]]
    first = exchange["response"]["warnings"][0]
    assert client.warnings[0].itemid == first["itemid"]
    assert client.warnings[0].warningcode == str(first["warningcode"])


@responses.activate
def test_null_and_string_answers_pass_through() -> None:
    responses.add(responses.POST, ENDPOINT, body="null")
    responses.add(
        responses.POST, ENDPOINT, json=recording("core_courseformat_update_course__section_add")["response"]
    )
    client = new_client()
    assert (
        client.call(
            "enrol_manual_enrol_users",
            {"enrolments": [{"roleid": 5, "userid": 3, "courseid": 5}]},
            write=True,
        )
        is None
    )
    assert isinstance(
        client.call("core_courseformat_update_course", {"action": "section_add", "courseid": 6}, write=True),
        str,
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (
            "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>This site is undergoing "
            "maintenance</h1></body></html>",
            200,
            "HTML page",
        ),
        (
            "<br />\n<b>Notice</b>: Undefined property: stdClass::$x in /var/www/moodle/lib.php on line 12<br />\n"
            '{"id": 1}',
            200,
            "PHP messages",
        ),
        ("<html><body>403 Forbidden</body></html>", 403, "unexpected answer"),
        ("plain garbage", 200, "not JSON"),
    ],
)
@responses.activate
def test_bad_bodies_become_a_clear_error(body: str, status: int, needle: str) -> None:
    responses.add(responses.POST, ENDPOINT, body=body, status=status)
    with pytest.raises(BadResponse) as caught:
        new_client().call("core_webservice_get_site_info")
    error = caught.value
    assert error.status == status
    assert needle in str(error)
    assert "<" not in error.excerpt  # tags are stripped from the excerpt
    assert len(error.excerpt) <= 201


@responses.activate
def test_reads_are_retried_with_backoff_on_connection_errors_and_gateway_statuses() -> None:
    responses.add(responses.POST, ENDPOINT, body=requests.exceptions.ConnectionError("refused"))
    responses.add(responses.POST, ENDPOINT, body=requests.exceptions.ReadTimeout("slow"))
    responses.add(responses.POST, ENDPOINT, body="<html>Bad gateway</html>", status=502)
    responses.add(responses.POST, ENDPOINT, body="<html>Unavailable</html>", status=503)
    responses.add(responses.POST, ENDPOINT, json={"sitename": "x", "userid": 2, "username": "admin"})
    waits: list[float] = []
    client = new_client(sleep=waits.append, backoff=1.0)
    assert client.call("core_webservice_get_site_info")["userid"] == 2
    assert len(responses.calls) == 5
    assert client.stats["core_webservice_get_site_info"] == 5
    # Exponential with jitter: attempt n waits between half and all of 2**(n-1) seconds.
    for attempt, wait in enumerate(waits, start=1):
        assert 2 ** (attempt - 1) / 2 <= wait <= 2 ** (attempt - 1)


@responses.activate
def test_reads_give_up_after_max_retries() -> None:
    for _ in range(3):
        responses.add(responses.POST, ENDPOINT, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(MoodleUnreachable):
        new_client(max_retries=2).call("core_webservice_get_site_info")
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ConnectionError("reset"), requests.exceptions.ReadTimeout("slow"), 504, 503],
    ids=["connection", "read-timeout", "http504", "http503"],
)
@responses.activate
def test_a_write_is_never_resent(failure: Any) -> None:
    if isinstance(failure, int):
        responses.add(responses.POST, ENDPOINT, body="<html>Gateway</html>", status=failure)
    else:
        responses.add(responses.POST, ENDPOINT, body=failure)
    responses.add(responses.POST, ENDPOINT, json=[{"id": 3, "username": "a"}])
    with pytest.raises(UncertainWrite) as caught:
        new_client().call("core_user_create_users", {"users": [{"username": "a"}]}, write=True)
    assert len(responses.calls) == 1
    assert "Read the site again" in str(caught.value)


@responses.activate
def test_a_write_that_never_connected_may_be_sent_again() -> None:
    responses.add(responses.POST, ENDPOINT, body=requests.exceptions.ConnectTimeout("no route"))
    responses.add(responses.POST, ENDPOINT, json=[{"id": 3, "username": "a"}])
    answer = new_client().call("core_user_create_users", {"users": [{"username": "a"}]}, write=True)
    assert answer == [{"id": 3, "username": "a"}]


def test_chunks_respect_max_input_vars() -> None:
    client = new_client(max_input_vars=100)
    items = [{"roleid": 5, "userid": n, "courseid": 7} for n in range(200)]  # 3 vars each
    chunks = client.chunks(items)
    assert sum(len(chunk) for chunk in chunks) == 200
    assert [item for chunk in chunks for item in chunk] == items
    assert all(3 * len(chunk) + 3 <= 100 for chunk in chunks)
    assert len(chunks) == 7  # 32 items (96 vars + 3 fixed) per request


def test_a_single_item_too_large_is_an_error_not_a_truncation() -> None:
    client = new_client(max_input_vars=20)
    with pytest.raises(RequestTooLarge):
        client.chunks([{"values": list(range(30))}])
    with pytest.raises(RequestTooLarge):
        client.call("core_user_get_users_by_field", {"field": "id", "values": list(range(30))})


def test_batched_calls_never_lose_items_on_a_site_that_truncates(fake_moodle: FakeMoodle) -> None:
    received: list[str] = []

    @handler("test_echo_values")
    def echo(site: FakeMoodle, params: dict[str, Any]) -> list[str]:
        received.extend(params.get("values", []))
        return list(params.get("values", []))

    fake_moodle.max_input_vars = 50
    values = [f"v{n}" for n in range(400)]
    client = make_client(fake_moodle, max_input_vars=50)
    answers = client.call_batched("test_echo_values", "values", values)
    assert [v for answer in answers for v in answer] == values
    # The chunks of a read go several at a time, so the site may see them in any order; none is lost.
    assert sorted(received) == sorted(values) and len(received) == len(values)
    assert client.stats["test_echo_values"] == 9  # 47 values per request
    # Without the client's limit the same site drops most of them and still answers 200 (PHP keeps one
    # variable more than max_input_vars of a POST body: 48 values after the 3 fixed variables).
    received.clear()
    naive = make_client(fake_moodle, max_input_vars=5000)
    assert len(naive.call("test_echo_values", {"values": values})) == 48
    # No items, no request: the wrappers in integration/ rely on it instead of checking first.
    assert client.call_batched("test_echo_values", "values", [], write=True) == []
    assert client.stats["test_echo_values"] == 9


def test_a_failing_chunk_reports_what_went_through(fake_moodle: FakeMoodle) -> None:
    @handler("test_fail_on_bad")
    def fail_on_bad(site: FakeMoodle, params: dict[str, Any]) -> list[str]:
        from tests.fake_moodle.core import invalid_parameter

        if "bad" in params["values"]:
            raise invalid_parameter()
        return list(params["values"])

    client = make_client(fake_moodle, max_input_vars=13)  # 10 values per request
    values = [f"v{n}" for n in range(25)]
    values[14] = "bad"
    with pytest.raises(InvalidParameter) as caught:
        client.call_batched("test_fail_on_bad", "values", values, write=True)
    assert caught.value.chunk_index == 1
    assert caught.value.completed == [values[:10]]
    assert client.stats["test_fail_on_bad"] == 2  # stops at the failing chunk


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("https://moodle.example.org", False, True),
        ("https://moodle.example.org/moodle/", False, True),
        ("http://127.0.0.1:8765", False, True),
        ("http://localhost", False, True),
        ("http://[::1]:8080", False, True),
        ("http://moodle.example.org", False, False),
        ("http://10.0.0.5", False, False),
        ("http://moodle.example.org", True, True),
        ("ftp://moodle.example.org", True, False),
        ("https://moodle.example.org/?wstoken=abc", False, False),
        ("", False, False),
    ],
)
def test_plain_http_is_refused_except_on_loopback(url: str, allow: bool, ok: bool) -> None:
    if ok:
        assert endpoint_for(url, allow_http=allow).endswith("/webservice/rest/server.php")
        assert "//webservice" not in endpoint_for(url, allow_http=allow)
    else:
        with pytest.raises(ConfigurationError):
            endpoint_for(url, allow_http=allow)


def test_timeouts_are_configurable_and_tls_verification_stays_on() -> None:
    client = new_client(timeout=(3.0, 45.0))
    assert client.timeout == (3.0, 45.0)
    assert client.session.verify is True


@responses.activate
def test_timeouts_reach_requests() -> None:
    responses.add(responses.POST, ENDPOINT, json={"sitename": "x", "userid": 2, "username": "admin"})
    responses.add(responses.POST, ENDPOINT, json={"id": 5, "shortname": "KAM21-M1"})
    client = new_client(timeout=(3.0, 45.0))
    client.call("core_webservice_get_site_info")
    client.call("core_course_duplicate_course", {"courseid": 2}, write=True, read_timeout=900)
    assert responses.calls[0].request.req_kwargs["timeout"] == (3.0, 45.0)
    assert responses.calls[1].request.req_kwargs["timeout"] == (3.0, 900)
    # requests passes a CA bundle path (REQUESTS_CA_BUNDLE) or True: either way, verification is on.
    assert responses.calls[0].request.req_kwargs["verify"] not in (False, None)


def test_request_counts_per_function(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle)
    client.call("core_webservice_get_site_info")
    client.call("core_webservice_get_site_info")
    with pytest.raises(RecordNotFound):
        client.call("local_nothing_here")  # an unknown function: field note 4
    assert client.stats == {"core_webservice_get_site_info": 2, "local_nothing_here": 1}
    assert client.request_count == 3
    assert client.write_count == 0


@responses.activate
def test_answers_are_utf8_even_without_a_charset() -> None:
    # A proxy that drops "; charset=utf-8" must not turn Russian names into mojibake.
    body = json.dumps([{"id": 3, "fullname": "Анна Иванова"}], ensure_ascii=False).encode("utf-8")
    responses.add(responses.POST, ENDPOINT, body=body, content_type="text/plain")
    assert new_client().call("core_user_get_users_by_field", {"field": "id", "values": [3]})[0][
        "fullname"
    ] == ("Анна Иванова")

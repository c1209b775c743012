"""The client never hands the token to a redirect, says why TLS failed, honours Retry-After, and treats a write
whose answer failed Moodle's own check (invalidresponse) as possibly applied."""

from __future__ import annotations

import contextlib
import email.utils
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from integration.errors import (
    BadResponse,
    InvalidResponse,
    MoodleError,
    MoodleUnreachable,
    SiteRedirected,
    TlsFailure,
    UncertainAnswer,
    UncertainWrite,
)
from integration.transport import MoodleClient, retry_after_seconds
from sync.commands import main
from sync.commands.context import AppContext
from sync.roster.plan import Roles
from sync.roster.read import read_roster
from sync.roster.sync import apply_sync, plan_sync
from tests.fake_moodle import FakeMoodle
from tests.helpers import COURSES, cohort, make_client, standard_rows, write_roster

SITE = "https://moodle.example.org"
ENDPOINT = SITE + "/webservice/rest/server.php"
TOKEN = "s3cr3t-t0ken-abcdef"
SITE_INFO = {"sitename": "x", "userid": 2, "username": "admin"}


def new_client(**options: Any) -> MoodleClient:
    options.setdefault("sleep", lambda _s: None)
    return MoodleClient(SITE, TOKEN, **options)


# -- redirects ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@responses.activate
def test_a_redirect_is_never_followed_and_names_the_new_address(status: int) -> None:
    moved = "https://new.example.org/moodle/webservice/rest/server.php"
    responses.add(responses.POST, ENDPOINT, status=status, headers={"Location": moved})
    responses.add(responses.POST, moved, json=SITE_INFO)
    responses.add(responses.GET, moved, json=SITE_INFO)
    with pytest.raises(SiteRedirected) as caught:
        new_client().call("core_webservice_get_site_info")
    assert len(responses.calls) == 1  # the target got nothing, token or not
    message = str(caught.value)
    assert moved in message
    assert "MOODLE_URL=https://new.example.org/moodle" in message
    assert caught.value.location == moved
    assert TOKEN not in message


@responses.activate
def test_a_redirect_elsewhere_says_to_check_moodle_url_and_a_write_is_not_resent() -> None:
    responses.add(responses.POST, ENDPOINT, status=302, headers={"Location": "/login/index.php"})
    with pytest.raises(SiteRedirected) as caught:
        new_client().call("core_user_create_users", {"users": [{"username": "a"}]}, write=True)
    assert len(responses.calls) == 1
    assert "https://moodle.example.org/login/index.php" in str(caught.value)
    assert "check that MOODLE_URL (https://moodle.example.org)" in str(caught.value)


@responses.activate
def test_a_redirect_to_plain_http_warns_about_it() -> None:
    responses.add(
        responses.POST,
        ENDPOINT,
        status=301,
        headers={"Location": "http://moodle.example.org/webservice/rest/server.php"},
    )
    with pytest.raises(SiteRedirected, match="plain http"):
        new_client().call("core_webservice_get_site_info")


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_real_redirect_never_carries_the_token_to_another_server() -> None:
    """Two real servers: the site answers 307 (which keeps a POST body) to a second one that records bodies."""
    received: list[bytes] = []

    class Catcher(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            body = b'{"sitename": "thief", "userid": 1}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http_server(Catcher) as catcher:

        class Moved(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(307)
                self.send_header("Location", catcher + "/webservice/rest/server.php")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        with http_server(Moved) as site:
            client = MoodleClient(site, TOKEN, sleep=lambda _s: None)
            with pytest.raises(SiteRedirected) as caught:
                client.call("core_webservice_get_site_info")
    assert received == []
    assert f"MOODLE_URL={catcher}" in str(caught.value)


@responses.activate
def test_doctor_on_a_redirect_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOODLE_URL", SITE)
    monkeypatch.setenv("MOODLE_TOKEN", TOKEN)
    monkeypatch.delenv("MOODLE_TOKEN_FILE", raising=False)
    responses.add(
        responses.POST,
        ENDPOINT,
        status=301,
        headers={"Location": "https://lms.example.org/webservice/rest/server.php"},
    )
    result = CliRunner().invoke(main, ["doctor"], obj=AppContext(config_path=None))
    assert result.exit_code == 2, result.output
    assert "MOODLE_URL=https://lms.example.org" in result.output
    assert "Traceback" not in result.output
    assert TOKEN not in result.output


# -- TLS ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name localhost only (not for 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key


@contextlib.contextmanager
def https_server(cert: Path, key: Path) -> Iterator[tuple[int, list[int]]]:
    """A TLS server answering site info; yields its port and a list that counts the handshakes tried."""
    attempts: list[int] = []

    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"sitename": "tls", "userid": 2}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def get_request(self) -> Any:
            connection, address = super().get_request()
            attempts.append(1)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            return context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the client's refused handshake

    server = Server(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], attempts
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_certificate_says_so_once(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with https_server(*certificate) as (port, attempts):
        client = MoodleClient(f"https://localhost:{port}", TOKEN, sleep=lambda _s: None)
        with pytest.raises(TlsFailure) as caught:
            client.call("core_webservice_get_site_info")
    message = str(caught.value)
    assert "could not be verified" in message
    assert "self-signed" in message  # OpenSSL's own reason
    assert "REQUESTS_CA_BUNDLE" in message
    assert client.stats["core_webservice_get_site_info"] == 1  # not retried
    assert len(attempts) == 1


def test_a_certificate_for_another_name_says_so_once(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, _key = certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # trusted, but issued for localhost only
    with https_server(*certificate) as (port, attempts):
        trusted = MoodleClient(f"https://localhost:{port}", TOKEN, sleep=lambda _s: None)
        assert trusted.call("core_webservice_get_site_info")["sitename"] == "tls"
        client = MoodleClient(f"https://127.0.0.1:{port}", TOKEN, sleep=lambda _s: None)
        with pytest.raises(TlsFailure) as caught:
            client.call("core_user_create_users", {"users": [{"username": "a"}]}, write=True)
    message = str(caught.value)
    assert "not valid for that name" in message
    assert "127.0.0.1" in message
    assert "MOODLE_URL" in message
    assert client.stats["core_user_create_users"] == 1
    assert len(attempts) == 2  # one for the trusted call, one for the refused one


def test_tls_spoken_to_a_plain_http_port_names_the_tls_error() -> None:
    class Plain(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    with http_server(Plain) as site:
        client = MoodleClient(
            site.replace("http://", "https://"), TOKEN, sleep=lambda _s: None, max_retries=1
        )
        with pytest.raises(MoodleUnreachable, match="TLS error") as caught:
            client.call("core_webservice_get_site_info")
    assert not isinstance(caught.value, TlsFailure)


# -- Retry-After -------------------------------------------------------------------------------------------


def http_date(moment: float) -> str:
    return email.utils.formatdate(moment, usegmt=True)


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:45 GMT", date) == 45.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:27:00 GMT", date) == 0.0  # in the past: at once
    later = retry_after_seconds(http_date(time.time() + 100))
    assert later is not None and 95 <= later <= 100


@pytest.mark.parametrize("status", [429, 503])
@responses.activate
def test_a_read_waits_as_long_as_retry_after_says(status: int) -> None:
    responses.add(responses.POST, ENDPOINT, status=status, headers={"Retry-After": "7"}, body="busy")
    now = time.time()
    responses.add(
        responses.POST,
        ENDPOINT,
        status=status,
        headers={"Retry-After": http_date(now + 20), "Date": http_date(now)},
        body="busy",
    )
    responses.add(responses.POST, ENDPOINT, json=SITE_INFO)
    waits: list[float] = []
    client = new_client(sleep=waits.append, backoff=0.5)
    assert client.call("core_webservice_get_site_info")["userid"] == 2
    assert len(responses.calls) == 3
    assert waits[0] == 7.0
    assert 19 <= waits[1] <= 20


@responses.activate
def test_a_retry_after_beyond_the_cap_fails_at_once_and_says_when() -> None:
    responses.add(responses.POST, ENDPOINT, status=503, headers={"Retry-After": "3600"}, body="maintenance")
    responses.add(responses.POST, ENDPOINT, json=SITE_INFO)
    waits: list[float] = []
    with pytest.raises(MoodleUnreachable, match="3600s") as caught:
        new_client(sleep=waits.append).call("core_webservice_get_site_info")
    assert caught.value.retry_after == 3600.0
    assert waits == []
    assert len(responses.calls) == 1


@pytest.mark.parametrize(("status", "error"), [(429, BadResponse), (503, UncertainWrite)])
@responses.activate
def test_a_write_is_not_resent_whatever_retry_after_says(status: int, error: type[Exception]) -> None:
    responses.add(responses.POST, ENDPOINT, status=status, headers={"Retry-After": "1"}, body="busy")
    responses.add(responses.POST, ENDPOINT, json=[{"id": 3, "username": "a"}])
    with pytest.raises(error):
        new_client().call("core_user_create_users", {"users": [{"username": "a"}]}, write=True)
    assert len(responses.calls) == 1


# -- invalidresponse ---------------------------------------------------------------------------------------

INVALID_RESPONSE = {
    "exception": "core\\exception\\invalid_response_exception",
    "errorcode": "invalidresponse",
    "message": "Invalid response value detected",
}


@responses.activate
def test_invalidresponse_on_a_write_may_have_been_applied_and_on_a_read_is_a_moodle_error() -> None:
    responses.add(responses.POST, ENDPOINT, json=INVALID_RESPONSE)
    responses.add(responses.POST, ENDPOINT, json=INVALID_RESPONSE)
    client = new_client()
    with pytest.raises(UncertainAnswer) as caught:
        client.call("core_group_create_groups", {"groups": [{"courseid": 2, "name": "A"}]}, write=True)
    assert isinstance(caught.value, UncertainWrite)
    assert not isinstance(caught.value, MoodleError)  # a bad-item handler must not take it
    assert "may have been applied" in str(caught.value)
    assert caught.value.errorcode == "invalidresponse"
    with pytest.raises(InvalidResponse):
        client.call("core_group_get_course_groups", {"courseid": 2})


def test_a_batch_whose_answer_failed_validation_is_reread_not_split_and_resent(
    fake_moodle: FakeMoodle, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    client = make_client(fake_moodle)
    # Moodle creates every user, then its check of the answer fails: the batch went through.
    fake_moodle.inject("core_user_create_users", "invalidresponse-after-apply")
    outcome = plan_sync(client, roster, COURSES, roles=Roles())
    created = outcome.plan.counts()["create_user"]
    outcome = apply_sync(client, outcome, store=None, report_path=None, removal="suspend")
    assert fake_moodle.count("core_user_create_users") == 1  # never split and sent again
    assert len([u for u in fake_moodle.users.values() if u["username"] != "admin"]) == created
    # The users were found by re-reading their usernames, so what depends on them went ahead.
    assert not outcome.failed, outcome.result.failures  # type: ignore[union-attr]
    assert plan_sync(make_client(fake_moodle), roster, COURSES, roles=Roles()).plan.empty


def test_an_enrolment_batch_whose_answer_failed_validation_is_reported_not_split(
    fake_moodle: FakeMoodle, tmp_path: Path
) -> None:
    cohort(fake_moodle)
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    client = make_client(fake_moodle)
    fake_moodle.inject("enrol_manual_enrol_users", "invalidresponse-after-apply")
    outcome = apply_sync(
        client,
        plan_sync(client, roster, COURSES, roles=Roles()),
        store=None,
        report_path=None,
        removal="suspend",
    )
    assert fake_moodle.count("enrol_manual_enrol_users") == 1  # the one batch, nothing resent
    failures = outcome.result.failures  # type: ignore[union-attr]
    assert failures and all(
        "may or may not have applied" in f.error for f in failures if f.change.kind == "enrol"
    )
    # The next run reads the site and finds the enrolments made: nothing left to enrol.
    again = plan_sync(make_client(fake_moodle), roster, COURSES, roles=Roles())
    assert "enrol" not in again.plan.counts()

"""A site that cannot send e-mail answers "Message was not sent." to enrol_manual_enrol_users after saving.

Courses copied from the templates keep the manual enrolment's "send course welcome message"; once a course
has a contact (the coordinator, an editing teacher), every enrol call (new enrolments, suspending,
reactivating) sends it after the commit, and a failed e-mail becomes the call's answer although the
enrolments are saved (recording ``enrol_manual_enrol_users__welcome_message_not_sent``, seen on the real
Moodle 5.1 of the integration suite). accel must count those enrolments as done, not failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import responses
from click.testing import Result

from integration.enrol import enrol_users
from tests.fake_moodle import ADMIN_ID, FakeMoodle
from tests.fake_moodle.courses import add_course
from tests.fake_moodle.people import enrol, user_by_email
from tests.helpers import make_client, recording

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "kamchatka-2021.toml"
EXAMPLE_ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"
RECORDED = recording("enrol_manual_enrol_users__welcome_message_not_sent")


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    monkeypatch.setenv("ACCEL_LOCK_DIR", str(tmp_path / "locks"))


@responses.activate
def test_enrolments_saved_before_the_message_failed_are_done_and_the_next_request_goes() -> None:
    url = "https://moodle.example.org/webservice/rest/server.php"
    responses.add(responses.POST, url, json=RECORDED["response"])
    responses.add(responses.POST, url, body="null", content_type="application/json")
    client = make_client(FakeMoodle(), max_input_vars=12)  # 4 variables an item, 2 items a request
    items = [{"roleid": 5, "userid": n, "courseid": 5, "suspend": 0} for n in range(1, 5)]
    assert enrol_users(client, items) == 1
    assert len(responses.calls) == 2


def test_roster_sync_on_a_site_without_mail_suspends_and_exits_0(
    fake_moodle: FakeMoodle,
    run_cli: Callable[..., Result],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for number in (1, 2, 3):
        cid = add_course(
            fake_moodle, shortname=f"KAM21-M{number}", fullname=f"M{number}", idnumber=f"kam21-m{number}"
        )
        enrol(fake_moodle, cid, ADMIN_ID, 1)
    fake_moodle.mail_fails = True
    first = run_cli("roster", "sync", str(EXAMPLE_ROSTER), "--apply", config=CONFIG)
    assert first.exit_code == 0, first.output  # no course contact yet when everyone is enrolled
    lines = EXAMPLE_ROSTER.read_bytes().split(b"\r\n" if b"\r\n" in EXAMPLE_ROSTER.read_bytes() else b"\n")
    gone = next(i for i, line in enumerate(lines) if line.startswith(b"KAM21-001;"))
    edited = tmp_path / "roster.csv"
    edited.write_bytes(b"\n".join(lines[:gone] + lines[gone + 1 :]))
    with caplog.at_level(logging.WARNING):
        second = run_cli("roster", "sync", str(edited), "--apply", config=CONFIG)
    assert second.exit_code == 0, second.output
    user = user_by_email(fake_moodle, "kam21.p001@example.org")
    assert user is not None
    suspended = [
        cid for (cid, uid), e in fake_moodle.enrolments.items() if uid == user["id"] and e["suspended"]
    ]
    assert len(suspended) == 3
    assert "could not send the course welcome message" in caplog.text
    again = run_cli("roster", "sync", str(edited), config=CONFIG)
    assert again.exit_code == 0 and "already matches" in again.output, again.output

"""Moodle refuses an instant message over 4096 bytes (core_message\\api::MESSAGE_MAX_LENGTH, PHP's strlen):
long reminders are split, long notices shortened, and the fake refuses what the real site refuses."""

from __future__ import annotations

from integration.messages import MESSAGE_MAX_BYTES, fits, message, send_instant_messages
from integration.transport import MoodleClient
from sync.indicators.models import PendingItem
from sync.service.jobs import _notice_body
from sync.service.reminders import Reminder, split_to_fit
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.people import add_user


def pending(n: int) -> PendingItem:
    return PendingItem(
        team=f"Команда «Инициативная группа села номер {n}»",
        groupid=n,
        courseid=5,
        activity="Концепция социального проекта",
        activity_key="m1-concept",
        submitted_at=1_000 + n,
        waited_hours=50,
        resubmitted=bool(n % 2),
        mentor_ids=[11],
        url=f"https://moodle.example.org/mod/assign/view.php?id=16&action=grader&userid={100 + n}",
    )


def test_a_long_reminder_is_split_into_messages_moodle_accepts() -> None:
    items = tuple(pending(n) for n in range(30))
    whole = Reminder(11, items)
    assert not fits(whole.text("Наталья Наставникова"))  # one message would be refused
    parts = split_to_fit(whole, "Наталья Наставникова")
    assert len(parts) > 1
    assert all(len(p.text("Наталья Наставникова").encode()) <= MESSAGE_MAX_BYTES for p in parts)
    assert [i for p in parts for i in p.items] == list(items) and {p.mentor for p in parts} == {11}
    short = Reminder(11, items[:3])
    assert split_to_fit(short, "Наталья") == [short]


def test_a_long_notice_keeps_its_last_line_and_counts_what_was_left_out() -> None:
    lines = [f"строка {n}: " + "описание причины " * 10 for n in range(40)] + ["Запустите вручную."]
    body = _notice_body("Синхронизация остановлена", lines)
    assert fits(body)
    assert body.endswith("<li>Запустите вручную.</li></ul>") and "и ещё" in body
    assert "строка 0:" in body
    assert _notice_body("Тема", ["одна", "две"]) == "<p>Тема</p><ul><li>одна</li><li>две</li></ul>"


def test_the_fake_refuses_a_message_over_4096_bytes_and_sends_the_others(
    fake_moodle: FakeMoodle, client: MoodleClient
) -> None:
    mentor = add_user(fake_moodle, "kam21.mentor", email="mentor@example.org")
    too_long = "<p>" + "я" * 2100 + "</p>"  # 2107 characters, 4207 bytes
    sent = send_instant_messages(
        client, [message(mentor, too_long, "a-1"), message(mentor, "<p>ок</p>", "a-2")]
    )
    assert [s.ok for s in sent] == [False, True] and sent[0].errormessage

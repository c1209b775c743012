"""Mentor reminders: one Moodle message per mentor listing their teams' work that waits too long.

The rule people rely on: the same submission is never sent to the same mentor twice in a day (a day in
the cohort's time zone). A resubmission is a new submission (its time differs), so it is reminded afresh.
What was sent is recorded in the store *before* the next round can see it, and only for messages Moodle
accepted.
"""

from __future__ import annotations

import datetime as dt
import html
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from integration.messages import fits
from sync.indicators.models import PendingItem
from sync.indicators.pending import waited_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders_sent (
    mentor INTEGER NOT NULL,
    submission TEXT NOT NULL,   -- course:activity:group:submitted_at
    day TEXT NOT NULL,          -- YYYY-MM-DD in the cohort's time zone
    sent_at TEXT NOT NULL,
    PRIMARY KEY (mentor, submission, day)
);
"""


def submission_key(item: PendingItem) -> str:
    return f"{item.courseid}:{item.activity_key}:{item.groupid}:{item.submitted_at}"


@dataclass(frozen=True)
class Reminder:
    mentor: int
    items: tuple[PendingItem, ...]

    def text(self, mentor_name: str) -> str:
        """The message, in Russian (HTML, Moodle's message format 1)."""
        lines = [
            f"<p>Здравствуйте, {html.escape(mentor_name)}!</p>",
            "<p>Работы ваших команд ждут вашей оценки и обратной связи:</p>",
            "<ul>",
        ]
        for item in self.items:
            waited = waited_text(item.waited_hours)
            again = " (отправлена повторно)" if item.resubmitted else ""
            link = f' — <a href="{html.escape(item.url)}">открыть</a>' if item.url else ""
            lines.append(
                f"<li>{html.escape(item.team)}: «{html.escape(item.activity)}»{again}, ждёт {waited}{link}</li>"
            )
        lines.append("</ul>")
        lines.append("<p>Это автоматическое напоминание акселератора социальных проектов.</p>")
        return "\n".join(lines)


def ensure_schema(store: sqlite3.Connection) -> None:
    store.executescript(SCHEMA)


def sent_today(store: sqlite3.Connection, day: str) -> set[tuple[int, str]]:
    ensure_schema(store)
    rows = store.execute("SELECT mentor, submission FROM reminders_sent WHERE day = ?", (day,)).fetchall()
    return {(int(row[0]), str(row[1])) for row in rows}


def plan_reminders(
    pending: Iterable[PendingItem], *, threshold_hours: float, already_sent: set[tuple[int, str]]
) -> list[Reminder]:
    """Group the work waiting at least ``threshold_hours`` by mentor, leaving out what was sent today."""
    by_mentor: dict[int, list[PendingItem]] = defaultdict(list)
    for item in pending:
        if item.waited_hours < threshold_hours:
            continue
        key = submission_key(item)
        for mentor in item.mentor_ids:
            if (mentor, key) not in already_sent:
                by_mentor[mentor].append(item)
    return [
        Reminder(mentor, tuple(sorted(items, key=lambda i: (i.submitted_at, i.team))))
        for mentor, items in sorted(by_mentor.items())
    ]


def split_to_fit(reminder: Reminder, mentor_name: str) -> list[Reminder]:
    """The reminder as one or more reminders whose messages Moodle accepts (4096 bytes each, see
    ``integration.messages.MESSAGE_MAX_BYTES``): a mentor of many teams gets the list in several messages."""
    parts: list[Reminder] = []
    current: list[PendingItem] = []
    for item in reminder.items:
        if current and not fits(Reminder(reminder.mentor, (*current, item)).text(mentor_name)):
            parts.append(Reminder(reminder.mentor, tuple(current)))
            current = []
        current.append(item)
    if current:
        parts.append(Reminder(reminder.mentor, tuple(current)))
    return parts


def record_sent(store: sqlite3.Connection, reminder: Reminder, day: str, now: dt.datetime) -> None:
    ensure_schema(store)
    with store:
        store.executemany(
            "INSERT OR IGNORE INTO reminders_sent (mentor, submission, day, sent_at) VALUES (?, ?, ?, ?)",
            [
                (reminder.mentor, submission_key(item), day, now.isoformat(timespec="seconds"))
                for item in reminder.items
            ],
        )


def forget_sent(store: sqlite3.Connection, reminder: Reminder, day: str) -> None:
    """Moodle refused the message: let a later round try again today."""
    with store:
        store.executemany(
            "DELETE FROM reminders_sent WHERE mentor = ? AND submission = ? AND day = ?",
            [(reminder.mentor, submission_key(item), day) for item in reminder.items],
        )


def day_of(now: dt.datetime, tz: dt.tzinfo) -> str:
    return now.astimezone(tz).date().isoformat()

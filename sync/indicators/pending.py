"""Team work waiting for a mentor's review, oldest first.

A submission waits when its team has no review for the assignment, or when the team submitted again after
its last review (a resubmission waits for a new look). A review is a grade, or a comment saved without one
(field note 24): on a feedback-only assignment (grade type "none", such as the consultation log) the
mentor's comment is the review, and a comment saved with the grade left empty ends the wait too. Computed
from a snapshot, so it is also available with no site at hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sync.indicators.compute import Context, PendingItem, Period, fmt_date, pending_items
from sync.indicators.snapshot import Snapshot


def pending_submissions(snapshot: Snapshot) -> list[PendingItem]:
    """Team submissions waiting for a review, oldest first, with the hours waited at the snapshot time."""
    return pending_items(Context(snapshot, Period()))


def team_mentor_ids(snapshot: Snapshot) -> dict[int, list[int]]:
    """Group id -> user ids of the mentors who are members of that group (the roster's mentor-team link)."""
    ctx = Context(snapshot, Period())
    return {team.id: sorted(ctx.mentors_of(team)) for team in snapshot.teams}


def waited_text(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.0f} дн."
    return f"{hours:.0f} ч."


def render_pending(items: Sequence[PendingItem], tz: dt.tzinfo | None = None) -> str:
    """A plain-text table for the terminal."""
    if not items:
        return "Нет командных работ, ждущих проверки."
    lines = [f"Ждут проверки: {len(items)} (сначала самые давние)"]
    for item in items:
        again = " [сдано повторно]" if item.resubmitted else ""
        mentors = ", ".join(item.mentors) or "наставник не назначен"
        lines.append(
            f"- {fmt_date(item.submitted_at, tz, True)}  ждёт {waited_text(item.waited_hours):>8}  "
            f"{item.team} — {item.activity}{again}; {mentors}"
        )
        if item.url:
            lines.append(f"    {item.url}")
    return "\n".join(lines)

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

from i18n import _, ngettext
from sync.indicators.context import Context
from sync.indicators.models import PendingItem, Period, fmt_date
from sync.indicators.program import EXPERT_REVIEWED
from sync.indicators.snapshot import Snapshot


def pending_items(ctx: Context) -> list[PendingItem]:
    """Team submissions waiting for a mentor's review (or a new look after a resubmission), oldest first.

    A review is a grade or a comment saved without one (field note 24), so a feedback-only assignment
    (``m2-consultations``) waits for the mentor's comment and leaves the list once it is saved.
    """
    out: list[PendingItem] = []
    for activity in ctx.snap.activities:
        if activity.modname != "assign" or not activity.teamsubmission:
            continue
        if activity.key in EXPERT_REVIEWED:
            continue  # presentations wait for the experts, not for a mentor
        for sub in ctx.subs_by_key.get(activity.key, []):
            if sub.status != "submitted" or sub.userid != 0:
                continue
            team = ctx.team_by_id.get(sub.groupid)
            if team is None:
                continue
            g = ctx.team_grade(activity.key, team)
            resubmitted = g.reviewed and g.dategraded is not None and sub.timemodified > g.dategraded
            if g.reviewed and not resubmitted:
                continue
            out.append(
                PendingItem(
                    team=team.name,
                    groupid=team.id,
                    courseid=team.courseid,
                    activity=activity.name or activity.key,
                    activity_key=activity.key,
                    submitted_at=sub.timemodified,
                    waited_hours=round(max(ctx.snap.taken_at - sub.timemodified, 0) / 3600.0, 1),
                    resubmitted=resubmitted,
                    mentors=sorted(ctx.name(u) for u in ctx.mentors_of(team)),
                    mentor_ids=sorted(ctx.mentors_of(team)),
                    url=ctx.links.grading(activity.cmid, team.member_ids[0] if team.member_ids else None),
                )
            )
    return sorted(out, key=lambda p: (p.submitted_at, p.team, p.activity_key))


def pending_submissions(snapshot: Snapshot) -> list[PendingItem]:
    """Team submissions waiting for a review, oldest first, with the hours waited at the snapshot time."""
    return pending_items(Context(snapshot, Period()))


def team_mentor_ids(snapshot: Snapshot) -> dict[int, list[int]]:
    """Group id -> user ids of the mentors who are members of that group (the roster's mentor-team link)."""
    ctx = Context(snapshot, Period())
    return {team.id: sorted(ctx.mentors_of(team)) for team in snapshot.teams}


def waited_text(hours: float) -> str:
    """How long a submission has waited, in whole days from two days on, else in hours («3 дня», «5 часов»)."""
    if hours >= 48:
        days = round(hours / 24)
        return ngettext("{count} day", "{count} days", days).format(count=days)
    whole = round(hours)
    return ngettext("{count} hour", "{count} hours", whole).format(count=whole)


def pending_heading(count: int) -> str:
    """The line above the pending list: how many wait, or that none does."""
    if not count:
        return _("No team submission is waiting for a review.")
    return ngettext(
        "{count} team submission is waiting for a review (oldest first):",
        "{count} team submissions are waiting for a review (oldest first):",
        count,
    ).format(count=count)


def pending_table(
    items: Sequence[PendingItem], tz: dt.tzinfo | None = None
) -> tuple[list[str], list[list[str]]]:
    """The pending list as a table for the terminal: headers and one row per submission, oldest first."""
    headers = [_("Submitted"), _("Waiting"), _("Team"), _("Assignment"), _("Mentors"), _("Link")]
    rows = []
    for item in items:
        activity = (
            _("{activity} (submitted again)").format(activity=item.activity)
            if item.resubmitted
            else item.activity
        )
        rows.append(
            [
                fmt_date(item.submitted_at, tz, True),
                waited_text(item.waited_hours),
                item.team,
                activity,
                ", ".join(item.mentors) or _("no mentor assigned"),
                item.url,
            ]
        )
    return headers, rows

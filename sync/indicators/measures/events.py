"""Indicators of the events held in module 2: webinars and consultations (from the calendar)."""

from __future__ import annotations

from i18n import _, ngettext
from integration.calendar import CalendarEvent
from sync.core.vocabulary import EventKind, event_kind
from sync.indicators.context import Context
from sync.indicators.models import Evidence, Measurement


def webinars_held(ctx: Context) -> Measurement:
    """Module 2's course events of kind webinar that ended in the period."""
    return _events_held(ctx, "webinar")


def consultations_held(ctx: Context) -> Measurement:
    """Module 2's events (course or team) of kind consultation that ended in the period."""
    return _events_held(ctx, "consultation")


def _event_kind_of(ev: CalendarEvent) -> str:
    marked = event_kind(ev.description)
    if marked:
        return marked
    # Events made by hand in Moodle carry no marker; their title is what staff go by (Russian titles on the site:
    # data, not accel's text).
    name = ev.name.strip().lower()
    if name.startswith("вебинар"):
        return "webinar"
    if name.startswith("консультац"):
        return "consultation"
    return ""


def _events_held(ctx: Context, kind: EventKind) -> Measurement:
    notes: list[str] = []
    cid = ctx.require_course("m2", notes)
    if cid is None:
        return Measurement(None, notes=notes)
    evidence: list[Evidence] = []
    future = 0
    by_title = 0
    breakdown: dict[str, float] = {}
    for ev in sorted(ctx.snap.events, key=lambda e: (e.timestart, e.id)):
        if ev.courseid != cid or _event_kind_of(ev) != kind:
            continue
        if kind == "webinar" and ev.groupid:
            continue  # program.md: webinars are course events; a group event is a consultation's shape
        end = ev.timestart + ev.timeduration
        if end > ctx.snap.taken_at:
            future += 1
            continue
        if not ctx.period.contains(end):
            continue
        if not event_kind(ev.description):
            by_title += 1
        scope = _("course")
        if ev.groupid:
            team = ctx.team_by_id.get(ev.groupid)
            scope = (
                _("team «{team}»").format(team=team.name) if team else _("group #{id}").format(id=ev.groupid)
            )
        kind_text = _("group") if ev.groupid else _("whole course")
        breakdown[kind_text] = breakdown.get(kind_text, 0.0) + 1
        minutes = ev.timeduration // 60
        evidence.append(
            Evidence(
                label=ev.name,
                detail=ngettext("{scope}, {minutes} minute", "{scope}, {minutes} minutes", minutes).format(
                    scope=scope, minutes=minutes
                ),
                url=ctx.links.event(cid, ev.timestart, ev.id),
                when=ev.timestart,
            )
        )
    if future:
        notes.append(
            _(
                "Events of this kind scheduled but not over at the snapshot's date (not counted): {count}."
            ).format(count=future)
        )
    if by_title:
        notes.append(
            _("Events without accel's marker, recognised by their title: {count}.").format(count=by_title)
        )
    return Measurement(float(len(evidence)), evidence, notes, breakdown)

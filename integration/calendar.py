"""Calendar events of the cohort's courses: webinars and consultations (field note 17).

Events made by ``accel provision`` say their kind in their description (see ``sync.core.vocabulary.event_kind``):
a last paragraph "Вид события: вебинар" or "Вид события: консультация". Moodle has no free "type" field
for events (``eventtype`` is course/group/user/site), and the description is returned by
core_calendar_get_calendar_events after format_text, which strips HTML comments and unknown markup but keeps
plain text, so the marker is a short visible line in Russian that also makes sense to participants.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from i18n import _
from integration.errors import BadResponse
from integration.transport import MoodleClient


class CalendarEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    name: str
    description: str | None = ""
    courseid: int | None = None
    groupid: int | None = None
    eventtype: str = ""
    timestart: int
    timeduration: int = 0
    visible: int = 1
    modulename: str | None = None

    @property
    def timeend(self) -> int:
        return self.timestart + self.timeduration


#: timeend 0 means "no end"; user and site events are not ours.
_OPTIONS = {"userevents": 0, "siteevents": 0, "timestart": 0, "timeend": 0, "ignorehidden": 0}


def get_events(
    client: MoodleClient, *, courseids: Sequence[int], groupids: Sequence[int] = ()
) -> list[CalendarEvent]:
    """Course events of ``courseids`` and group events of ``groupids``, at any time, each event once.

    Two reads (field note 23): asked for course ids and group ids together, Moodle returns the course events
    only and drops the group events, which come back only when the group ids are asked alone. So the course
    ids are asked first, then (only when there are groups) the group ids on their own, each in as many
    requests as ``max_input_vars`` needs, and the answers are merged by event id. Course events carry
    ``groupid`` null.
    Calls: core_calendar_get_calendar_events (once per kind of id, more for very many ids; at once).
    """
    asks = [
        {selector: chunk}
        for selector, ids in (("courseids", courseids), ("groupids", groupids))
        for chunk in client.chunks(list(dict.fromkeys(ids)), extra={"options": _OPTIONS})
    ]
    events: dict[int, CalendarEvent] = {}
    # Independent reads: sent at once (up to the client's concurrency), merged in the order asked.
    for answer in client.map(lambda selector: _read_events(client, selector), asks):
        for event in answer:
            events.setdefault(event.id, event)
    return list(events.values())


def _read_events(client: MoodleClient, selector: dict[str, list[int]]) -> list[CalendarEvent]:
    answer = client.call("core_calendar_get_calendar_events", {"events": selector, "options": _OPTIONS})
    if not isinstance(answer, dict):
        raise BadResponse(_("events answer is not an object"), status=200, excerpt=str(answer)[:200])
    return [CalendarEvent.model_validate(e) for e in answer.get("events") or []]


def create_events(client: MoodleClient, events: Sequence[dict[str, Any]]) -> list[CalendarEvent]:
    """Create course or group events (dicts: name, courseid, [groupid], eventtype, timestart, timeduration,
    description, format). Calls: core_calendar_create_calendar_events."""
    created: list[CalendarEvent] = []
    for answer in client.call_batched("core_calendar_create_calendar_events", "events", events, write=True):
        if not isinstance(answer, dict):
            raise BadResponse(
                _("event creation answer is not an object"), status=200, excerpt=str(answer)[:200]
            )
        created.extend(CalendarEvent.model_validate(e) for e in answer.get("events") or [])
    return created


def delete_events(client: MoodleClient, event_ids: Sequence[int]) -> None:
    """Delete events by id; answers null on success (field note 7). Calls: core_calendar_delete_calendar_events."""
    client.call_batched(
        "core_calendar_delete_calendar_events",
        "events",
        [{"eventid": i, "repeat": 0} for i in event_ids],
        write=True,
    )

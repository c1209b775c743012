"""The program's words, one definition each, for every part of accel.

- :data:`MODULE_KEYS`: the three modules of the program (m1 the activists' school, m2 online support, m3 the
  project fair); a cohort has one course per module.
- :data:`INDICATORS`: the grant indicators of program.md, in its order (the keys of ``[targets]``, of the
  templates' ``indicators`` lists and of the reports).
- Event kinds: what provisioning writes at the end of an event's description so that gathering can tell
  webinars from consultations (:func:`event_description`, :func:`event_kind`).
- :func:`team_key`: when two team names are the same team (the roster, provisioning's group events and the
  indicators all compare with it).
- :func:`idnumber_prefix`: how the ID numbers the roster sync gives a course's groups and groupings begin
  (gathering recognises the sync's groupings by it).
- :func:`key_path`: a place in a configuration or template file as people read it.

Nothing here imports another part of accel but :mod:`i18n` (the words people read). The event kinds' marker
stays Russian whatever the reader's language: it is data on the site, read back by gathering.
"""

from __future__ import annotations

import html
import re
from typing import Literal

from i18n import _

MODULE_KEYS: tuple[str, ...] = ("m1", "m2", "m3")

#: The grant indicators (program.md), in its order. ``sync.core.config.TargetsSection`` has one field each.
INDICATORS: tuple[str, ...] = (
    "participants",
    "school_participants",
    "initiative_groups",
    "projects_developed",
    "mentor_feedback",
    "webinars_held",
    "consultations_held",
    "projects_presented",
    "leader_projects",
    "funds_raised",
    "votes_cast",
    "satisfaction",
    "ngo_intent",
)

# --- Calendar event kinds ------------------------------------------------------------------------------------
# Moodle events have no free "type" field (eventtype is course/group/user/site) and
# core_calendar_get_calendar_events returns the description after format_text, which strips HTML comments and
# unknown markup. So provisioning ends each event description with a short visible paragraph that names the
# kind in Russian ("Вид события: вебинар" / "Вид события: консультация"); :func:`event_kind` reads it back.
# Gathering counts webinars_held / consultations_held with it.
EventKind = Literal["webinar", "consultation"]
EVENT_KIND_LABELS: dict[EventKind, str] = {"webinar": "вебинар", "consultation": "консультация"}
EVENT_KIND_MARKERS: dict[str, str] = {
    kind: f"<p>Вид события: {label}</p>" for kind, label in EVENT_KIND_LABELS.items()
}
_KIND_BY_LABEL: dict[str, EventKind] = {label: kind for kind, label in EVENT_KIND_LABELS.items()}
_EVENT_MARKER_RE = re.compile(r"Вид\s+события:\s*(" + "|".join(_KIND_BY_LABEL) + ")", re.IGNORECASE)


def event_kind(description: str | None) -> EventKind | None:
    """The kind of a calendar event made by `accel provision`, read from its description; None otherwise."""
    if not description:
        return None
    text = re.sub(r"<[^>]+>", " ", description).replace("&nbsp;", " ")
    m = _EVENT_MARKER_RE.search(text)
    if m is None:
        return None
    return _KIND_BY_LABEL[m.group(1).lower()]


def event_description(kind: EventKind, text: str) -> str:
    """The HTML description of a scheduled event: the coordinator's text, then the kind marker."""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    return body + EVENT_KIND_MARKERS[kind]


# --- Teams ---------------------------------------------------------------------------------------------------


def team_key(name: str) -> str:
    """Team names compare without case, extra spaces, ё/е or quote style differences.

    Moodle returns group names through format_string, so "&" comes back as "&amp;": unescaped first.
    """
    text = html.unescape(name).casefold().replace("ё", "е")
    text = re.sub(r"[«»\"“”„']", "", text)
    return re.sub(r"\s+", " ", text).strip()


def idnumber_prefix(course_idnumber: str, course_shortname: str) -> str:
    """How the ID numbers the roster sync gives a course's groups and groupings begin: the course's ID number
    (else its short name), lower case, then ``-`` and the team's or district's slug (``kam21-m1-milkovsky-mr``)."""
    return (course_idnumber or course_shortname).lower()


# --- Files people edit ---------------------------------------------------------------------------------------


def key_path(loc: tuple[int | str, ...]) -> str:
    """An error location as people read it: ``modules.m1.start``, ``schedule.webinars[0].title``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or _("(top level)")

"""Reading what people typed into Moodle: feedback comments (HTML), pledge amounts, survey scores, and a
team's village from its group's name or description.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable

from sync.indicators.snapshot import Team

_TAG_RE = re.compile(r"<[^>]+>")


def plain_text(value: str | None) -> str:
    """Moodle feedback comments are HTML; '<p></p>' or '&nbsp;' is no comment at all."""
    if not value:
        return ""
    text = html.unescape(_TAG_RE.sub(" ", value))
    return " ".join(text.split())


def parse_amount(text: str) -> float | None:
    """A pledge amount as people type it: '50000', '50 000', '1500,50', '15000 руб.'."""
    cleaned = (
        text.replace("\u00a0", "").replace(" ", "").replace("руб.", "").replace("руб", "").replace("₽", "")
    )
    cleaned = cleaned.replace(",", ".")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def parse_score(text: str) -> float | None:
    """A survey score as Moodle prints it ('8', '7,5')."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


_VILLAGE_RE = re.compile(r"\bс\.\s*([А-ЯЁA-Z][^,;.()]*)")
# "Команда «Шаромы»": a team named after its village (an NGO's «name», "АНО «Эвенское наследие»", is not one).
_QUOTED_RE = re.compile(r"^\s*команда\s+«([^»]+)»", re.IGNORECASE)


def team_village(team: Team, cities: Iterable[str]) -> str:
    """A team's village: 'с. Эссо' in the group description, else "Команда «name»", else its members' usual
    city."""
    m = _VILLAGE_RE.search(team.description or "")
    if m:
        return m.group(1).strip()
    m = _QUOTED_RE.search(team.name)
    if m:
        return m.group(1).strip()
    common = Counter(c for c in cities if c).most_common(1)
    return common[0][0] if common else ""

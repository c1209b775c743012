"""The JSON report, for other tools: machine keys (English), unix times, and the texts people read alongside,
in the language the report was built in."""

from __future__ import annotations

from typing import Any

from i18n import current_language
from sync.indicators.registry import INDICATOR_KEYS, TITLES
from sync.indicators.report.model import Report


def report_json(report: Report) -> dict[str, Any]:
    """The JSON report for other tools: machine keys, unix times, and the texts people read alongside."""
    data = report.model_dump(mode="json")
    data["format"] = "accel-indicators-report"
    data["format_version"] = 1
    data["language"] = current_language()
    data["titles"] = {k: TITLES[k] for k in INDICATOR_KEYS}
    return data

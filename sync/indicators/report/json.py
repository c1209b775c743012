"""The JSON report, for other tools: machine keys, unix times, and the Russian texts alongside."""

from __future__ import annotations

from typing import Any

from sync.indicators.registry import INDICATOR_KEYS, TITLES
from sync.indicators.report.model import Report


def report_json(report: Report) -> dict[str, Any]:
    """The JSON report for other tools: machine keys, unix times, and the Russian texts alongside."""
    data = report.model_dump(mode="json")
    data["format"] = "accel-indicators-report"
    data["format_version"] = 1
    data["titles"] = {k: TITLES[k] for k in INDICATOR_KEYS}
    return data

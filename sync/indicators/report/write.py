"""Writing a report to a file in one of the formats (whole or not at all, readable by its owner only), and
the service's weekly report files."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sync.core.config import AccelConfig
from sync.core.private_files import ensure_private_dir, write_private
from sync.indicators.models import Period
from sync.indicators.report.html import render_html
from sync.indicators.report.json import report_json
from sync.indicators.report.model import Report, build_report
from sync.indicators.report.xlsx import write_xlsx
from sync.indicators.snapshot import find_snapshot, load_all_snapshots

FORMATS: tuple[str, ...] = ("xlsx", "html", "json")


def write_report(report: Report, fmt: str, path: Path) -> None:
    """Write ``report`` as ``fmt`` (one of :data:`FORMATS`) to ``path``: whole or not at all, mode 0600."""
    if fmt == "json":
        text = json.dumps(report_json(report), ensure_ascii=False, indent=2)
        write_private(path, lambda p: p.write_text(text + "\n", encoding="utf-8"), make_dirs=False)
    elif fmt == "xlsx":
        write_private(path, lambda p: write_xlsx(report, p), make_dirs=False)
    elif fmt == "html":
        page = render_html(report)
        write_private(path, lambda p: p.write_text(page, encoding="utf-8"), make_dirs=False)
    else:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


def write_cohort_reports(
    store: sqlite3.Connection,
    config: AccelConfig,
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    *,
    now: int,
    period: Period | None = None,
) -> list[Path]:
    """Reports of the cohort's newest snapshot, one file per format, named by cohort and snapshot date
    (``indicators-kam21-2022-03-31.html``); for the service's weekly report job."""
    sid, snapshot = find_snapshot(store, cohort=config.cohort.code)
    report = build_report(
        snapshot,
        targets=config.targets_for(),
        period=period or Period(),
        cohort_name=config.cohort.name,
        timezone=config.cohort.timezone,
        snapshot_id=sid,
        history=load_all_snapshots(store, snapshot.cohort),
        now=now,
    )
    day = dt.datetime.fromtimestamp(snapshot.taken_at, config.tz).date().isoformat()
    ensure_private_dir(out_dir)  # reports name people: a folder accel makes is its owner's only
    written = []
    for fmt in formats:
        path = out_dir / f"indicators-{config.cohort.code}-{day}.{fmt}"
        write_report(report, fmt, path)
        written.append(path)
    return written

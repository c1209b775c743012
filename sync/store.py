"""The local SQLite store: roster journal, indicator snapshots, job runs.

One file holds everything so that an administrator backs up one thing. Each feature creates its own
tables with ``CREATE TABLE IF NOT EXISTS``; nothing here knows their shape.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def default_store_path() -> Path:
    """``$ACCEL_STORE``, else ``$XDG_DATA_HOME/accel/accel.sqlite3`` (``~/.local/share/accel/...``)."""
    explicit = os.environ.get("ACCEL_STORE")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "accel" / "accel.sqlite3"


def open_store(path: str | Path | None = None) -> sqlite3.Connection:
    """Open (creating if needed) the store at ``path`` or the default location.

    WAL mode lets ``accel status`` read while the service writes; the busy timeout covers the short
    moments when both write at once.
    """
    target = Path(path).expanduser() if path else default_store_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(target, timeout=30)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection

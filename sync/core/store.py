"""The local SQLite store: roster journal, indicator snapshots, job runs.

One file holds everything so that an administrator backs up one thing. Each feature creates its own
tables with ``CREATE TABLE IF NOT EXISTS``; what changes an existing table's shape is a migration here,
numbered by the store's format (``PRAGMA user_version``), so that a store written by an earlier accel is
brought up to date, not broken, and one written by a later accel is refused rather than misread.

The store holds personal data: it is created 0600 in a folder created 0700 (sync/core/private_files.py), and
SQLite gives its WAL and shared-memory files the database's mode.

Writers keep their transactions short and never hold one open while a request to Moodle is in flight (the
roster journal buffers its records and writes them between requests), so a second process (``accel
status``, the service) waits at most a moment. If the store stays busy past the busy timeout the command
stops with one line (:class:`StoreBusy`, exit 5 like the one-writer lock), not a traceback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from i18n import _
from sync.core.errors import AccelError, Busy, UsageError
from sync.core.private_files import create_private_file, narrow
from sync.core.settings import AccelSettings

#: How long a statement waits for another process's write to finish before the store counts as busy.
BUSY_TIMEOUT = 30.0

#: SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


class StoreError(AccelError):
    """The store cannot be used (written by a newer accel, busy); the message says what to do."""


class StoreFormatError(StoreError, UsageError):
    """The store was written by a newer accel (a newer store format): upgrade, or use another store."""


class StoreBusy(StoreError, Busy):
    """Another process kept the store locked for longer than the busy timeout."""


def default_store_path() -> Path:
    """``$ACCEL_STORE``, else ``$XDG_DATA_HOME/accel/accel.sqlite3`` (``~/.local/share/accel/...``)."""
    settings = AccelSettings.read()
    if settings.store is not None:
        return settings.store.expanduser()
    data_home = settings.data_home or Path.home() / ".local" / "share"
    return data_home.expanduser() / "accel" / "accel.sqlite3"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class StoreConnection(sqlite3.Connection):
    """A connection whose "database is locked" becomes :class:`StoreBusy` with the store's name."""

    store_path: str = ""
    busy_timeout: float = BUSY_TIMEOUT

    def _busy(self) -> StoreBusy:
        return StoreBusy(
            _(
                "store {path}: busy: another accel process kept it locked for more than {seconds}s; try "
                "again in a moment"
            ).format(path=self.store_path, seconds=f"{self.busy_timeout:g}")
        )

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(sql_script)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise


# --- format and migrations ---------------------------------------------------------------------------------


def _migrate_roster_runs_cohort(connection: sqlite3.Connection) -> None:
    """Format 0 -> 1: the roster journal's ``roster_runs`` (sync/roster/journal.py) gains ``cohort`` and
    ``people``, when the table exists at all (else the journal creates it with every column)."""
    columns = table_columns(connection, "roster_runs")
    if not columns:
        return
    if "cohort" not in columns:
        connection.execute("ALTER TABLE roster_runs ADD COLUMN cohort TEXT NOT NULL DEFAULT ''")
    if "people" not in columns:
        connection.execute("ALTER TABLE roster_runs ADD COLUMN people INTEGER")


#: ``MIGRATIONS[n]`` brings a store of format ``n`` to format ``n + 1``. Format 0 is every store written
#: before formats were numbered (the tables of that time, created by each feature as it was first used).
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    # 0 -> 1: roster runs remember the cohort and the number of people of the file applied (shrink guard).
    _migrate_roster_runs_cohort,
)
STORE_VERSION = len(MIGRATIONS)


def store_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, path: str = "") -> None:
    """Bring the store to :data:`STORE_VERSION` in one transaction; refuse one from a newer accel."""
    if store_version(connection) == STORE_VERSION:
        return
    connection.commit()
    # IMMEDIATE: two processes opening an old store at once do not both migrate it.
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = store_version(connection)
        if version > STORE_VERSION:
            raise StoreFormatError(
                _(
                    "store {path}: written by a newer accel (store format {version}; this accel reads up to "
                    "{supported}): upgrade accel, or set ACCEL_STORE to another file"
                ).format(path=path, version=version, supported=STORE_VERSION)
            )
        for step in MIGRATIONS[version:]:
            step(connection)
        connection.execute(f"PRAGMA user_version = {STORE_VERSION}")
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def table_columns(connection: sqlite3.Connection, table: str) -> Mapping[str, str]:
    """Column name -> declared type of ``table`` (empty when the table does not exist)."""
    return {str(r[1]): str(r[2]) for r in connection.execute(f"PRAGMA table_info({table})").fetchall()}


def open_store(path: str | Path | None = None, *, timeout: float | None = None) -> sqlite3.Connection:
    """Open (creating if needed, 0600) the store at ``path`` or the default location, migrated.

    WAL mode lets ``accel status`` read while the service writes; the busy timeout covers the short
    moments when both write at once. Raises :class:`StoreFormatError` for a store of a newer format and
    :class:`StoreBusy` when it stays locked.
    """
    target = Path(path).expanduser() if path else default_store_path()
    busy_timeout = BUSY_TIMEOUT if timeout is None else timeout
    create_private_file(target)
    for suffix in ("-wal", "-shm", "-journal"):
        narrow(target.with_name(target.name + suffix))
    connection = sqlite3.connect(target, timeout=busy_timeout, factory=StoreConnection)
    assert isinstance(connection, StoreConnection)
    connection.store_path = str(target)
    connection.busy_timeout = busy_timeout
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
        migrate(connection, str(target))
    except BaseException:
        connection.close()
        raise
    return connection

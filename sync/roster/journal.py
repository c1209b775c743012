"""The roster journal: every change an applied sync made (or tried), in the local SQLite store.

The store's location is documented in sync/core/store.py (config [store] path, else $ACCEL_STORE, else
~/.local/share/accel/accel.sqlite3). Two tables: ``roster_runs`` (one row per ``accel roster sync --apply``)
and ``roster_journal`` (one row per operation: when, what, for whom, and Moodle's answer when it failed).

A run also keeps its cohort and how many people its file had, for the shrink guard (a file much shorter than
the last one applied to the same cohort is held: sync/roster/sync.py). Stores written before these columns get
them from the store's migration (sync/core/store.py), with an empty cohort: such runs are not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from sync.roster.plan import Op

SCHEMA = """
CREATE TABLE IF NOT EXISTS roster_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    file TEXT NOT NULL,
    site TEXT NOT NULL,
    removal TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    summary TEXT NOT NULL DEFAULT '{}',
    cohort TEXT NOT NULL DEFAULT '',
    people INTEGER
);
CREATE TABLE IF NOT EXISTS roster_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES roster_runs(id),
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    course TEXT NOT NULL DEFAULT '',
    person TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    roster_row INTEGER,
    userid INTEGER,
    description TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS roster_journal_run ON roster_journal(run_id);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def ensure_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(SCHEMA)


_INSERT_ENTRY = (
    "INSERT INTO roster_journal (run_id, at, action, status, course, person, name, roster_row, userid,"
    " description, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Journal:
    """One applied run.

    Records are kept in memory and written in one short transaction by :meth:`commit`, which the applier
    calls between requests (before each one and after each outcome): no write transaction is ever open
    while a request is in flight, so another process is never kept waiting for Moodle's answer (or a
    failing batch's whole split), and an interrupted run still keeps everything up to its last request.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        file: str,
        site: str,
        removal: str,
        cohort: str = "",
        people: int | None = None,
    ) -> None:
        ensure_schema(connection)
        self.connection = connection
        self._pending: list[tuple[Any, ...]] = []
        cursor = connection.execute(
            "INSERT INTO roster_runs (started_at, file, site, removal, cohort, people) VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), file, site, removal, cohort, people),
        )
        connection.commit()
        self.run_id = int(cursor.lastrowid or 0)

    def record(self, op: Op, status: str, error: str = "") -> None:
        self._pending.append(
            (
                self.run_id,
                _now(),
                op.kind,
                status,
                op.course,
                op.person,
                op.name,
                op.row,
                op.userid,
                op.describe(),
                error,
            )
        )

    def commit(self) -> None:
        """Write the records kept so far (one transaction; nothing when there are none)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self.connection.executemany(_INSERT_ENTRY, pending)
            self.connection.commit()
        except BaseException:
            if self.connection.in_transaction:
                self.connection.rollback()
            self._pending = pending + self._pending
            raise

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        self.commit()
        self.connection.execute(
            "UPDATE roster_runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
            (_now(), status, json.dumps(summary, ensure_ascii=False), self.run_id),
        )
        self.connection.commit()


@dataclass
class RunRow:
    id: int
    started_at: str
    finished_at: str | None
    file: str
    site: str
    removal: str
    status: str
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def runs(connection: sqlite3.Connection, limit: int = 20) -> list[RunRow]:
    ensure_schema(connection)
    rows = connection.execute(
        "SELECT id, started_at, finished_at, file, site, removal, status, summary FROM roster_runs"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        RunRow(
            id=int(r[0]),
            started_at=str(r[1]),
            finished_at=r[2],
            file=str(r[3]),
            site=str(r[4]),
            removal=str(r[5]),
            status=str(r[6]),
            summary=json.loads(r[7] or "{}"),
        )
        for r in rows
    ]


def entries(
    connection: sqlite3.Connection, run_id: int | None = None, person: str | None = None
) -> list[dict[str, Any]]:
    """Journal entries of one run, or (with ``person``: a name, email key or application number) of one person."""
    ensure_schema(connection)
    sql = (
        "SELECT run_id, at, action, status, course, person, name, roster_row, userid, description, error"
        " FROM roster_journal WHERE 1=1"
    )
    args: list[Any] = []
    if run_id is not None:
        sql += " AND run_id = ?"
        args.append(run_id)
    if person:
        sql += " AND (person LIKE ? OR name LIKE ?)"
        args.extend([f"%{person}%", f"%{person}%"])
    sql += " ORDER BY id"
    keys = (
        "run",
        "at",
        "action",
        "status",
        "course",
        "person",
        "name",
        "row",
        "userid",
        "description",
        "error",
    )
    return [dict(zip(keys, tuple(r), strict=True)) for r in connection.execute(sql, args).fetchall()]


@dataclass(frozen=True)
class AppliedRun:
    id: int
    started_at: str
    file: str
    people: int


def last_applied_run(connection: sqlite3.Connection, *, cohort: str, site: str) -> AppliedRun | None:
    """The newest run that applied a file to ``cohort`` on ``site`` (whatever its outcome: even a run with
    failed items or one interrupted midway wrote part of that file to the site)."""
    ensure_schema(connection)
    row = connection.execute(
        "SELECT id, started_at, file, people FROM roster_runs WHERE cohort = ? AND site = ?"
        " AND people IS NOT NULL ORDER BY id DESC LIMIT 1",
        (cohort, site),
    ).fetchone()
    if row is None:
        return None
    return AppliedRun(id=int(row[0]), started_at=str(row[1]), file=str(row[2]), people=int(row[3]))

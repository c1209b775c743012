"""The roster journal: every change an applied sync made (or tried), in the local SQLite store.

The store's location is documented in sync/store.py (config [store] path, else $ACCEL_STORE, else
~/.local/share/accel/accel.sqlite3). Two tables: ``roster_runs`` (one row per ``accel roster sync --apply``)
and ``roster_journal`` (one row per operation: when, what, for whom, and Moodle's answer when it failed).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.roster_plan import Op

SCHEMA = """
CREATE TABLE IF NOT EXISTS roster_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    file TEXT NOT NULL,
    site TEXT NOT NULL,
    removal TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running',
    summary TEXT NOT NULL DEFAULT '{}'
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


class Journal:
    """One applied run. Records are committed after each request's outcome is known (:meth:`commit`), so an
    interrupted run keeps what it did without paying for one disk flush per person."""

    def __init__(self, connection: sqlite3.Connection, *, file: str, site: str, removal: str) -> None:
        ensure_schema(connection)
        self.connection = connection
        cursor = connection.execute(
            "INSERT INTO roster_runs (started_at, file, site, removal) VALUES (?, ?, ?, ?)",
            (_now(), file, site, removal),
        )
        connection.commit()
        self.run_id = int(cursor.lastrowid or 0)

    def record(self, op: Op, status: str, error: str = "") -> None:
        self.connection.execute(
            "INSERT INTO roster_journal (run_id, at, action, status, course, person, name, roster_row, userid,"
            " description, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    def commit(self) -> None:
        self.connection.commit()

    def finish(self, status: str, summary: dict[str, Any]) -> None:
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

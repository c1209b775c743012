"""The store: a format version with migrations, WAL, one clear line when it is busy, and no write transaction
held while a request to Moodle is in flight (the roster journal writes between requests)."""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from sync.core.store import STORE_VERSION, StoreBusy, StoreError, open_store, store_version
from sync.indicators.snapshot import (
    SNAPSHOT_SCHEMA_VERSION,
    Snapshot,
    SnapshotFormatError,
    find_snapshot,
    load_all_snapshots,
    save_snapshot,
)
from sync.roster.journal import Journal, last_applied_run, runs
from sync.roster.plan import Roles
from sync.roster.read import read_roster
from sync.roster.sync import apply_sync, plan_sync
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.people import add_user
from tests.helpers import COURSES, EXAMPLE, cohort, make_client, standard_rows, write_roster

#: roster_runs as stores written before formats were numbered have it (no cohort, no people).
OLD_ROSTER_RUNS = """
CREATE TABLE roster_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT, file TEXT NOT NULL,
    site TEXT NOT NULL, removal TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'running',
    summary TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO roster_runs (started_at, finished_at, file, site, removal, status)
    VALUES ('2021-10-01T00:00:00+00:00', '2021-10-01T00:01:00+00:00', 'roster.csv', 'https://m', 'suspend', 'ok');
"""


def test_a_new_store_has_the_current_format_and_wal(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite3")
    assert store_version(store) == STORE_VERSION >= 1
    assert store.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_store_from_before_formats_is_migrated_not_broken(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(OLD_ROSTER_RUNS)
    old.close()
    store = open_store(path)
    assert store_version(store) == STORE_VERSION
    [run] = runs(store)
    assert (run.id, run.status, run.file) == (1, "ok", "roster.csv")  # history kept
    # The new columns are there: a new run journals its cohort and size, the old one is never compared.
    journal = Journal(store, file="r.csv", site="https://m", removal="suspend", cohort="kam21", people=17)
    journal.finish("ok", {})
    found = last_applied_run(store, cohort="kam21", site="https://m")
    assert found is not None and (found.id, found.people) == (2, 17)
    store.close()
    assert store_version(open_store(path)) == STORE_VERSION  # opening again changes nothing


def test_a_store_of_a_newer_format_is_refused(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "new.sqlite3"
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    newer.close()
    with pytest.raises(StoreError, match="written by a newer accel"):
        open_store(path)
    monkeypatch.setenv("ACCEL_STORE", str(path))
    result = run_cli("roster", "history")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: store {path}: written by a newer accel (store format {STORE_VERSION + 1}; this accel reads "
        f"up to {STORE_VERSION}): upgrade accel, or set ACCEL_STORE to another file"
    ]


def test_a_busy_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = open_store(path)
    first.execute("CREATE TABLE t (x)")
    first.commit()
    second = open_store(path, timeout=0.2)
    first.execute("INSERT INTO t VALUES (1)")  # a write transaction left open
    assert second.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # WAL: readers are not kept waiting
    with pytest.raises(StoreBusy, match=r"^store .*s\.sqlite3: busy: another accel process kept it locked"):
        second.execute("INSERT INTO t VALUES (2)")
    first.commit()
    second.execute("INSERT INTO t VALUES (2)")
    second.commit()


def test_a_busy_store_stops_the_cli_with_exit_5_and_one_line(
    fake_moodle: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "busy.sqlite3"
    monkeypatch.setenv("ACCEL_STORE", str(path))
    monkeypatch.setattr("sync.core.store.BUSY_TIMEOUT", 0.2)
    cohort(fake_moodle)
    roster = write_roster(tmp_path / "roster.csv", standard_rows())
    holder = open_store(path)
    holder.execute("CREATE TABLE hold (x)")
    holder.execute("INSERT INTO hold VALUES (1)")  # another process in the middle of a write
    result = run_cli("roster", "sync", str(roster), "--apply", config=EXAMPLE)
    assert result.exit_code == 5, result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: store {path}: busy: another accel process kept it locked for more than 0.2s; "
        "try again in a moment"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("concurrency", [1, 4])
def test_no_write_transaction_is_open_while_a_request_is_in_flight(
    fake_moodle: FakeMoodle, tmp_path: Path, concurrency: int
) -> None:
    """A batch Moodle refuses is split into many requests; meanwhile another process must be able to write.

    One request at a time: no transaction is open while Moodle answers. Several: the applying thread records
    each batch as it ends while others are in flight, in a transaction of a moment, never one held while it
    waits for Moodle: another writer gets the lock within its short timeout.
    """
    cohort(fake_moodle)
    # p7's email is taken in another case: every batch that holds p7 fails and is split down to p7 alone.
    add_user(fake_moodle, "someone.else", email="P7@EXAMPLE.ORG", idnumber="X-7")
    path = tmp_path / "s.sqlite3"
    store = open_store(path)
    alone = concurrency == 1
    other = sqlite3.connect(path, timeout=0 if alone else 2, check_same_thread=False)
    one_at_a_time = threading.Lock()  # the other process's connection, used from the client's threads
    roster = read_roster(write_roster(tmp_path / "roster.csv", standard_rows()))
    # small batches: more requests, more splitting
    client = make_client(fake_moodle, max_input_vars=60, concurrency=concurrency)
    outcome = plan_sync(client, roster, COURSES, roles=Roles(), cohort="kam21")
    checked = 0
    answer = fake_moodle.answer_form

    def while_in_flight(body: str) -> tuple[int, dict[str, str], str]:
        nonlocal checked
        if alone:
            assert not store.in_transaction
        with one_at_a_time:
            # The write lock, at once (or within 2 s), or "database is locked".
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            checked += 1
        return answer(body)

    fake_moodle.answer_form = while_in_flight  # type: ignore[method-assign]
    outcome = apply_sync(client, outcome, store=store, report_path=None, removal="suspend")
    assert outcome.result is not None and len(outcome.result.failures) > 1  # p7, then what needed p7
    assert fake_moodle.count("core_user_create_users") >= 4 and checked >= 10
    assert client.peak_in_flight == concurrency
    # Everything was journalled all the same.
    assert runs(store)[0].status == "failed"
    journalled = store.execute("SELECT count(*) FROM roster_journal").fetchone()[0]
    assert journalled == len(outcome.result.done) + len(outcome.result.failures)


def test_a_snapshot_of_another_format_is_refused_not_read_with_defaults(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite3")
    current = save_snapshot(store, Snapshot(cohort="kam21", taken_at=1_640_000_000))
    body = Snapshot(cohort="kam21", taken_at=1_640_100_000).model_dump(mode="json")
    body["schema_version"] = SNAPSHOT_SCHEMA_VERSION + 1
    body["votes"] = [{"a": 1}]  # a field this accel does not know: it must not be dropped silently
    store.execute(
        "INSERT INTO indicator_snapshots (cohort, taken_at, stored_at, schema_version, body) VALUES (?, ?, ?, ?, ?)",
        ("kam21", 1_640_100_000, 0, SNAPSHOT_SCHEMA_VERSION + 1, zlib.compress(json.dumps(body).encode())),
    )
    store.commit()
    with pytest.raises(SnapshotFormatError) as refused:
        find_snapshot(store, cohort="kam21")  # the newest is the other format's
    assert str(refused.value) == (
        f"stored snapshot 2 was written in snapshot format {SNAPSHOT_SCHEMA_VERSION + 1}; this accel reads "
        f"format {SNAPSHOT_SCHEMA_VERSION}: run `accel indicators gather` for a new snapshot (or use the "
        "accel that wrote it)"
    )
    assert find_snapshot(store, current)[0] == current
    # The indicators-over-time chart leaves it out rather than misreading it.
    assert [sid for sid, _ in load_all_snapshots(store, "kam21")] == [current]


def test_show_refuses_a_snapshot_of_another_format_with_exit_2(
    run_cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite3"
    monkeypatch.setenv("ACCEL_STORE", str(path))
    store = open_store(path)
    sid = save_snapshot(store, Snapshot(cohort="kam21", taken_at=1_640_000_000))
    store.execute("UPDATE indicator_snapshots SET schema_version = 0 WHERE id = ?", (sid,))
    store.commit()
    result = run_cli("indicators", "show", "--snapshot", str(sid), config=EXAMPLE)
    assert result.exit_code == 2
    assert "written in snapshot format 0" in result.output and "Traceback" not in result.output

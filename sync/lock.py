"""One sync or apply at a time, between the service and people using the CLI.

The lock is an advisory ``flock`` on a file beside the store. The kernel releases it when the holding
process ends in any way (even ``kill -9``), so a killed process never leaves a lock that blocks forever;
the file's content (who, what, since when) is only there to tell a waiting person who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    purpose: str
    since: float

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"{self.purpose} (process {self.pid} on {self.host}, since {started})"


class LockBusy(Exception):
    """Another sync or apply holds the lock."""

    def __init__(self, path: Path, holder: LockHolder | None, waited: float) -> None:
        who = holder.describe() if holder else "another process"
        waited_text = f" after waiting {waited:.0f}s" if waited >= 1 else ""
        super().__init__(
            f"another sync or apply is running{waited_text}: {who}. Try again when it has finished "
            f"(lock file {path}), or pass --wait SECONDS to wait for it."
        )
        self.path = path
        self.holder = holder


def lock_path_for(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


def read_holder(handle: IO[str]) -> LockHolder | None:
    try:
        handle.seek(0)
        data: dict[str, Any] = json.loads(handle.read() or "{}")
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["purpose"]), float(data["since"]))
    except (ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def exclusive(
    path: Path,
    purpose: str,
    *,
    wait: float = 0.0,
    poll: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> Iterator[None]:
    """Hold the lock at ``path`` for the block; wait up to ``wait`` seconds for it, else raise LockBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    try:
        started = clock()
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(handle)
                waited = clock() - started
                if waited >= wait:
                    raise LockBusy(path, holder, waited) from None
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                sleep(min(poll, max(wait - waited, 0.01)))
        handle.seek(0)
        handle.truncate()
        json.dump(
            {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose, "since": time.time()},
            handle,
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()

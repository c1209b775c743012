"""How a long step tells the person waiting how far it has got, without knowing who shows it.

The wings take a :class:`Progress` (default :data:`NO_PROGRESS`) and wrap each long step in
``with progress.task(_("Reading the courses"), total=3) as advance: ... advance(1)``. The command line gives
them a bar on a terminal (sync.commands.terminal); the service and the tests give them nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

#: moves a task's bar on by ``n`` steps
Advance = Callable[[int], None]


class Progress(Protocol):
    def task(self, description: str, total: int | None = None) -> contextlib.AbstractContextManager[Advance]:
        """A step of ``total`` units (None: unknown); the context gives the function that advances it."""
        ...


class _Silent:
    """Shows nothing: the service, ``--json`` runs, output that is not a terminal, and the tests."""

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield _ignore


def _ignore(n: int) -> None:
    return None


NO_PROGRESS: Progress = _Silent()

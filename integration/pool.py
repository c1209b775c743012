"""A bounded pool for Moodle requests that do not depend on each other.

A production Moodle (and the test site: PHP with 4 workers) answers several requests at once, so reads of
different courses, or the enrolments of different courses, need not wait for each other. The client
(:meth:`integration.transport.MoodleClient.concurrent`, ``.map``, ``.outcomes``) runs such tasks here:

- at most ``workers`` tasks at a time; with one worker, in the calling thread, in order, exactly as a plain
  loop would (no thread at all);
- results in the order of the tasks, whatever order they finish in;
- once a stop is asked (SIGTERM through the client's cancel hook, Ctrl-C) or a task failed, no new task
  starts; the ones in flight finish, and their outcomes are handed back (``on_done`` runs for each, in the
  calling thread, so a journal kept in a SQLite connection of that thread can record them);
- Ctrl-C reaching the waiting thread asks the client to stop, lets the tasks in flight finish (and be
  recorded), then propagates.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from i18n import _, ngettext
from integration.errors import Cancelled, UncertainWrite

log = logging.getLogger("accel.moodle")

R = TypeVar("R")

#: how often the waiting thread wakes up, so that a signal's handler runs promptly whatever the platform
_POLL_SECONDS = 0.2


@dataclass
class Outcome(Generic[R]):
    """What became of one task: not started (a stop or an earlier failure came first), a value, or an error."""

    index: int
    started: bool = False
    finished: bool = False
    value: R | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.finished and self.error is None

    def result(self) -> R:
        """The task's value; its error is raised; a task that never started raises :class:`Cancelled`."""
        if self.error is not None:
            raise self.error
        if not self.finished:
            raise Cancelled(
                _("task {index} was not started (stop requested or an earlier task failed)").format(
                    index=self.index
                )
            )
        return cast(R, self.value)


def run_tasks(
    tasks: Sequence[Callable[[], R]],
    *,
    workers: int,
    should_stop: Callable[[], bool],
    on_done: Callable[[Outcome[R]], None] | None = None,
    keep_going: bool = False,
    on_interrupt: Callable[[], None] | None = None,
) -> list[Outcome[R]]:
    """Run ``tasks`` with at most ``workers`` at a time; one :class:`Outcome` per task, in task order.

    A task's exception is kept in its outcome, never raised here (see :func:`results`). Unless
    ``keep_going``, a failed task stops the others from starting. ``should_stop`` is asked before each task
    starts. ``on_done`` is called in the calling thread for every task that finished (in task order with one
    worker, in finishing order otherwise); if it raises, no new task starts and its exception is raised once
    the tasks in flight are done. ``on_interrupt`` is called when Ctrl-C (KeyboardInterrupt) reaches the
    calling thread: it should make ``should_stop`` true and keep further requests from being sent.
    """
    outcomes: list[Outcome[R]] = [Outcome(index) for index in range(len(tasks))]
    workers = max(1, min(workers, len(tasks)))
    if not tasks:
        return outcomes
    if workers == 1:
        _run_in_order(tasks, outcomes, should_stop, on_done, keep_going, on_interrupt)
    else:
        _run_in_threads(tasks, outcomes, workers, should_stop, on_done, keep_going, on_interrupt)
    return outcomes


def _run_in_order(
    tasks: Sequence[Callable[[], R]],
    outcomes: list[Outcome[R]],
    should_stop: Callable[[], bool],
    on_done: Callable[[Outcome[R]], None] | None,
    keep_going: bool,
    on_interrupt: Callable[[], None] | None,
) -> None:
    """One worker: the calling thread runs the tasks one after another, as a plain loop would."""
    for outcome, task in zip(outcomes, tasks, strict=True):
        if should_stop():
            return
        outcome.started = True
        try:
            outcome.value = task()
        except Exception as exc:
            outcome.error = exc
        except KeyboardInterrupt:
            if on_interrupt is not None:
                on_interrupt()
            raise
        outcome.finished = True
        if on_done is not None:
            on_done(outcome)
        if outcome.error is not None and not keep_going:
            return


@dataclass
class _Progress:
    """Which task comes next, how many were claimed by a worker, and whether no more may start."""

    next: int = 0
    claimed: int = 0
    halted: bool = False
    #: ``should_stop`` itself failed in a worker: raised in the calling thread
    broken: BaseException | None = None


def _run_in_threads(
    tasks: Sequence[Callable[[], R]],
    outcomes: list[Outcome[R]],
    workers: int,
    should_stop: Callable[[], bool],
    on_done: Callable[[Outcome[R]], None] | None,
    keep_going: bool,
    on_interrupt: Callable[[], None] | None,
) -> None:
    """Several workers take the tasks in order; the calling thread hands out the outcomes as they come.

    A task is claimed under the lock, and none once ``halted``: so when the calling thread has been handed
    every claimed task and no more can be claimed, it is done, however many workers ever started (Ctrl-C may
    come while they are being started).
    """
    lock = threading.Lock()
    state = _Progress()
    finished: queue.Queue[Outcome[R]] = queue.Queue()

    def halt() -> None:
        with lock:
            state.halted = True

    def worker() -> None:
        while True:
            with lock:
                try:
                    if not state.halted and should_stop():
                        state.halted = True
                except BaseException as exc:
                    state.broken, state.halted = exc, True
                if state.halted or state.next >= len(tasks):
                    return
                index = state.next
                state.next += 1
                state.claimed += 1
            outcome = outcomes[index]
            outcome.started = True
            try:
                outcome.value = tasks[index]()
            except BaseException as exc:  # kept for the calling thread, whatever it is
                outcome.error = exc
            outcome.finished = True
            if outcome.error is not None and not keep_going:
                halt()
            finished.put(outcome)

    def all_handed_out(handed: int) -> bool:
        with lock:
            return (state.halted or state.next >= len(tasks)) and handed == state.claimed

    interrupted: KeyboardInterrupt | None = None
    callback_error: BaseException | None = None

    def interrupt(exc: KeyboardInterrupt) -> None:
        nonlocal interrupted
        if interrupted is not None:
            raise exc  # a second Ctrl-C: stop waiting for the requests in flight
        interrupted = exc
        halt()
        if on_interrupt is not None:
            on_interrupt()
        log.warning(
            "interrupted: waiting for the requests in flight to finish (Ctrl-C again to abandon them)"
        )

    handed = 0
    try:
        for number in range(workers):
            threading.Thread(target=worker, name=f"accel-moodle-{number + 1}", daemon=True).start()
    except KeyboardInterrupt as exc:
        interrupt(exc)
    while True:
        try:
            if all_handed_out(handed):
                break
            try:
                item = finished.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            handed += 1
            if on_done is not None and callback_error is None:
                try:
                    on_done(item)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    callback_error = exc
                    halt()
        except KeyboardInterrupt as exc:
            interrupt(exc)
    if interrupted is not None:
        raise interrupted
    if callback_error is not None:
        raise callback_error
    if state.broken is not None:
        raise state.broken
    for outcome in outcomes:
        if outcome.error is not None and not isinstance(outcome.error, Exception):
            raise outcome.error  # SystemExit or the like from a task: never kept quiet in an outcome


def first_error(outcomes: Sequence[Outcome[R]]) -> BaseException | None:
    """The error that matters most among ``outcomes``, else None.

    An uncertain write comes first (the site may have changed: whoever called must read it again), then any
    other error, then a :class:`Cancelled` (a stop that reached a task midway); among equals, the first task.
    """
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    for kind in (UncertainWrite, Exception, BaseException):
        for error in errors:
            if isinstance(error, kind) and (kind is not Exception or not isinstance(error, Cancelled)):
                return error
    return None


def results(outcomes: Sequence[Outcome[R]]) -> list[R]:
    """Every task's value, in task order; raises :func:`first_error`, or :class:`Cancelled` if a task never ran.

    Other errors among the tasks in flight are logged, so that none fails silently.
    """
    error = first_error(outcomes)
    if error is not None:
        for outcome in outcomes:
            if outcome.error is not None and outcome.error is not error:
                log.warning("task %d also failed: %s", outcome.index, outcome.error)
        raise error
    skipped = sum(1 for outcome in outcomes if not outcome.finished)
    if skipped:
        raise Cancelled(
            ngettext(
                "stopped (shutdown requested) with {count} of {total} task not started",
                "stopped (shutdown requested) with {count} of {total} tasks not started",
                len(outcomes),
            ).format(count=skipped, total=len(outcomes))
        )
    return [cast(R, outcome.value) for outcome in outcomes]

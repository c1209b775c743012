"""The plan/apply vocabulary of the wings that write to Moodle (the roster sync and provisioning).

    read the site  ->  plan (pure)  ->  guards  ->  applier (the only code that writes)  ->  ApplyResult

- :class:`Change`: one change a plan asks for. Each kind of change is a dataclass of its own, whose
  ``kind`` names it in JSON, the journal and the counts (the roster's in sync/roster/plan.py, provisioning's
  in sync/provision/changes.py).
- :class:`Plan`: the changes, carried out in the order of the plan's ``ORDER`` (one class per kind), the
  :class:`Problem` s that block the apply and the warnings (:class:`Notice`) a person should read. Each wing's
  plan is a subclass that adds what its commands show (the roster's conflicts, the cohort's courses...).
- :class:`Guard`: a check of a finished plan that may stop its apply (the roster's removal share, shrunk
  file and empty file). A plan's own problems always block; what a guard finds may be overridden (--force).
- :class:`Applier`: carries one plan out with one handler per kind of change (:class:`Handlers`).
- :class:`ApplyResult`: what was done, what failed or was skipped (and why), and the ids of what was created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar


class Change:
    """One change a plan asks for. Subclasses are dataclasses, one per kind of change."""

    #: The kind's name (``create_course``, ``enrol``...), as JSON, the journal and the counts say it.
    kind: ClassVar[str] = ""

    def describe(self) -> str:
        """The change in one line, for people."""
        raise NotImplementedError(f"{type(self).__name__}.describe")


C = TypeVar("C", bound=Change)
K = TypeVar("K", bound=Change)
P_contra = TypeVar("P_contra", contravariant=True)


@dataclass(frozen=True)
class Problem:
    """Something that stops the apply until it is fixed: nothing is written."""

    message: str
    #: what it is about (a module key, a course...); None: the plan as a whole
    subject: str | None = None


@dataclass(frozen=True)
class Notice:
    """A warning: something a person should read, or do by hand; the apply goes on."""

    message: str
    #: what it is about (a module key, a course...); None: the plan as a whole
    subject: str | None = None


@dataclass
class Plan(Generic[C]):
    """What must change for the site to be as wanted. Computed from a read of the site; writes nothing."""

    changes: list[C] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Notice] = field(default_factory=list)

    #: The kinds of change in the order the apply carries them out (each wing's plan sets it).
    ORDER: ClassVar[tuple[type[Change], ...]] = ()

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def blocked(self) -> bool:
        return bool(self.problems)

    def ordered(self) -> list[C]:
        """The changes in apply order (kind by kind; the plan's order within a kind)."""
        rank = {kind: number for number, kind in enumerate(self.ORDER)}
        return sorted(self.changes, key=lambda change: rank[type(change)])

    def of(self, kind: type[K]) -> list[K]:
        """The changes of one kind, in the plan's order."""
        return [change for change in self.changes if isinstance(change, kind)]

    def counts(self) -> dict[str, int]:
        """How many changes of each kind, in apply order (kinds without any left out)."""
        return count_kinds(self.changes, self.ORDER)

    def warn(self, message: str, subject: str | None = None) -> None:
        self.warnings.append(Notice(message, subject))


def count_kinds(changes: Iterable[Change], order: Sequence[type[Change]]) -> dict[str, int]:
    numbers: dict[type[Change], int] = {}
    for change in changes:
        numbers[type(change)] = numbers.get(type(change), 0) + 1
    return {kind.kind: numbers[kind] for kind in order if numbers.get(kind)}


class Guard(Protocol[P_contra]):
    """A check of a finished plan that may stop its apply; each problem it returns is a reason to stop."""

    def check(self, plan: P_contra) -> list[Problem]: ...


def run_guards(plan: P_contra, guards: Iterable[Guard[P_contra]]) -> list[Problem]:
    """Every reason the guards give to stop before writing (none: the apply may go)."""
    return [problem for guard in guards for problem in guard.check(plan)]


Status = Literal["failed", "skipped"]


@dataclass
class Failure(Generic[C]):
    """A change that was not made: Moodle refused it (``failed``), or it depends on one that failed
    (``skipped``); ``error`` says why, for people."""

    change: C
    error: str
    status: Status = "failed"


@dataclass
class ApplyResult(Generic[C]):
    """What an apply did; filled as it goes, so a caller that catches an interruption can say how far it got."""

    done: list[C] = field(default_factory=list)
    failures: list[Failure[C]] = field(default_factory=list)
    #: Moodle's ids of what the apply created, by the key the plan knows it by (a module's new course by the
    #: module key, a new account by the person's roster key)
    created: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> dict[str, int]:
        """How many changes of each kind were done."""
        out: dict[str, int] = {}
        for change in self.done:
            out[change.kind] = out.get(change.kind, 0) + 1
        return out


class Handlers:
    """One handler per kind of change: each is called once with all the changes of its kind, kind by kind
    in the plan's order (a handler may send them in one request, or in batches)."""

    def __init__(self) -> None:
        self._by_kind: dict[type[Change], Callable[[list[Any]], None]] = {}

    def on(self, kind: type[K], handler: Callable[[list[K]], None]) -> Handlers:
        self._by_kind[kind] = handler
        return self

    def check(self, changes: Iterable[Change], order: Sequence[type[Change]]) -> None:
        """Raise TypeError if a change's kind has no handler or no place in ``order``: it would be silently
        left out of the apply."""
        unknown = {type(c).__name__ for c in changes if type(c) not in self._by_kind or type(c) not in order}
        if unknown:
            raise TypeError(f"no handler for {', '.join(sorted(unknown))}")

    def run(self, changes: Iterable[Change], order: Sequence[type[Change]]) -> None:
        by_kind: dict[type[Change], list[Change]] = {}
        for change in changes:
            by_kind.setdefault(type(change), []).append(change)
        self.check([kind_changes[0] for kind_changes in by_kind.values()], order)
        for kind in order:
            if by_kind.get(kind):
                self._by_kind[kind](by_kind[kind])


class Applier(Protocol[C]):
    """Carries one plan out, the only code that writes: :class:`Handlers`, one per kind of change."""

    @property
    def plan(self) -> Plan[C]: ...

    def handlers(self) -> Handlers: ...

    def apply(self) -> ApplyResult[C]: ...

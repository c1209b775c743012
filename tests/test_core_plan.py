"""The shared plan/apply vocabulary (sync/core/plan.py) on its own: order, counts, guards, handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from sync.core.plan import ApplyResult, Change, Handlers, Plan, Problem, run_guards


@dataclass
class Make(Change):
    kind: ClassVar[str] = "make"
    name: str

    def describe(self) -> str:
        return f"make {self.name}"


@dataclass
class Drop(Change):
    kind: ClassVar[str] = "drop"
    name: str

    def describe(self) -> str:
        return f"drop {self.name}"


@dataclass
class Forgotten(Change):
    kind: ClassVar[str] = "forgotten"


@dataclass
class TwoStepPlan(Plan[Change]):
    ORDER: ClassVar[tuple[type[Change], ...]] = (Make, Drop)


@dataclass(frozen=True)
class AtMostOneDrop:
    def check(self, plan: TwoStepPlan) -> list[Problem]:
        drops = plan.of(Drop)
        return [Problem(f"{len(drops)} drops", "drop")] if len(drops) > 1 else []


def test_changes_are_ordered_and_counted_kind_by_kind() -> None:
    plan = TwoStepPlan(changes=[Drop("x"), Make("a"), Drop("y"), Make("b")])
    assert [c.describe() for c in plan.ordered()] == ["make a", "make b", "drop x", "drop y"]
    assert plan.counts() == {"make": 2, "drop": 2}
    assert [d.name for d in plan.of(Drop)] == ["x", "y"]
    assert not plan.blocked and not plan.empty
    plan.warn("look at this", "a")
    assert plan.warnings[0].subject == "a" and not plan.blocked


def test_guards_give_problems_and_problems_block() -> None:
    plan = TwoStepPlan(changes=[Drop("x"), Drop("y")])
    (problem,) = run_guards(plan, [AtMostOneDrop()])
    assert problem == Problem("2 drops", "drop")
    assert run_guards(TwoStepPlan(changes=[Drop("x")]), [AtMostOneDrop()]) == []
    plan.problems.append(problem)
    assert plan.blocked


def test_handlers_run_each_kind_once_in_the_plans_order() -> None:
    calls: list[tuple[str, list[str]]] = []
    result: ApplyResult[Change] = ApplyResult()

    def make(changes: list[Make]) -> None:
        calls.append(("make", [c.name for c in changes]))
        result.done.extend(changes)

    def drop(changes: list[Drop]) -> None:
        calls.append(("drop", [c.name for c in changes]))
        result.done.extend(changes)

    plan = TwoStepPlan(changes=[Drop("x"), Make("a"), Make("b")])
    Handlers().on(Make, make).on(Drop, drop).run(plan.changes, plan.ORDER)
    assert calls == [("make", ["a", "b"]), ("drop", ["x"])]
    assert result.counts() == {"drop": 1, "make": 2} and result.ok


def test_a_kind_without_a_handler_is_refused_before_anything_runs() -> None:
    ran: list[str] = []
    handlers = Handlers().on(Make, lambda changes: ran.append("make"))
    with pytest.raises(TypeError, match="Drop"):
        handlers.run([Make("a"), Drop("x")], TwoStepPlan.ORDER)
    with pytest.raises(TypeError, match="Forgotten"):
        Handlers().on(Forgotten, lambda changes: None).run([Forgotten()], TwoStepPlan.ORDER)
    assert ran == []

"""The grant indicators (program.md), one definition each: key, Russian title and unit, the module whose dates
its "on track" expectation follows, how its value reads, and the function that measures it.

Adding an indicator: its key in ``sync.core.vocabulary.INDICATORS`` (what ``[targets]`` and the templates
accept; its default target is the configuration's, a field of ``sync.core.config.TargetsSection``, since the
core sits below this wing), one :class:`Indicator` below in the same place, and its function in
``sync.indicators.measures``. Tests check that the registry, the vocabulary and the targets list the same keys
in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sync.indicators.context import Context
from sync.indicators.measures import answers, events, people, work
from sync.indicators.models import Measurement

#: How a value reads: a plain number, a share shown as a percentage, a mean score, an amount in roubles.
ShownAs = Literal["number", "share", "score", "roubles"]


@dataclass(frozen=True)
class Indicator:
    key: str
    title: str  # Russian, as the reports head it
    unit: str  # Russian
    #: The module the indicator's work happens in: its "on track" expectation follows that module's dates
    #: (None: all the cohort's courses).
    module: str | None
    measure: Callable[[Context], Measurement]
    shown_as: ShownAs = "number"


REGISTRY: tuple[Indicator, ...] = (
    Indicator(
        key="participants",
        title="Участники программы",
        unit="чел.",
        module=None,
        measure=people.participants,
    ),
    Indicator(
        key="school_participants",
        title="Участники школы (модуль 1) в командах",
        unit="чел.",
        module="m1",
        measure=people.school_participants,
    ),
    Indicator(
        key="initiative_groups",
        title="Инициативные группы (команды модуля 1)",
        unit="команд",
        module="m1",
        measure=people.initiative_groups,
    ),
    Indicator(
        key="projects_developed",
        title="Разработанные проекты (концепция сдана и оценена)",
        unit="проектов",
        module="m1",
        measure=work.projects_developed,
    ),
    Indicator(
        key="mentor_feedback",
        title="Обратная связь наставников (проверенные работы с комментарием)",
        unit="отзывов",
        module=None,
        measure=work.mentor_feedback,
    ),
    Indicator(
        key="webinars_held",
        title="Проведённые вебинары",
        unit="вебинаров",
        module="m2",
        measure=events.webinars_held,
    ),
    Indicator(
        key="consultations_held",
        title="Проведённые консультации",
        unit="консультаций",
        module="m2",
        measure=events.consultations_held,
    ),
    Indicator(
        key="projects_presented",
        title="Представленные проекты (презентация сдана)",
        unit="проектов",
        module="m3",
        measure=work.projects_presented,
    ),
    Indicator(
        key="leader_projects",
        title="Проекты-лидеры (три лучшие оценки презентации)",
        unit="проектов",
        module="m3",
        measure=work.leader_projects,
    ),
    Indicator(
        key="funds_raised",
        title="Привлечённые средства (обещания партнёров), руб.",
        unit="руб.",
        module="m3",
        measure=answers.funds_raised,
        shown_as="roubles",
    ),
    Indicator(
        key="votes_cast",
        title="Голоса в народном голосовании",
        unit="голосов",
        module="m3",
        measure=answers.votes_cast,
    ),
    Indicator(
        key="satisfaction",
        title="Удовлетворённость: средняя полезность школы (1–10)",
        unit="балл",
        module="m1",
        measure=answers.satisfaction,
        shown_as="score",
    ),
    Indicator(
        key="ngo_intent",
        title="Доля планирующих НКО или уже зарегистрировавших",
        unit="доля",
        module="m1",
        measure=answers.ngo_intent,
        shown_as="share",
    ),
)

BY_KEY: dict[str, Indicator] = {i.key: i for i in REGISTRY}
INDICATOR_KEYS: tuple[str, ...] = tuple(BY_KEY)  # program.md, in its order
TITLES: dict[str, str] = {i.key: i.title for i in REGISTRY}

"""The grant indicators (program.md), one definition each: key, title and unit (English, marked for the
catalogs, read in the current language through :data:`TITLES` or :func:`title`), the module whose dates its "on
track" expectation follows, how its value reads, and the function that measures it.

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

from i18n import N_, _
from sync.indicators.context import Context
from sync.indicators.measures import answers, events, people, work
from sync.indicators.models import Measurement
from sync.indicators.wording import Translated

#: How a value reads: a plain number, a share shown as a percentage, a mean score, an amount in roubles.
ShownAs = Literal["number", "share", "score", "roubles"]


@dataclass(frozen=True)
class Indicator:
    key: str
    title: str  # as the reports head it: English, marked N_(); shown translated (TITLES, title())
    unit: str  # English, marked N_(); shown translated
    #: The module the indicator's work happens in: its "on track" expectation follows that module's dates
    #: (None: all the cohort's courses).
    module: str | None
    measure: Callable[[Context], Measurement]
    shown_as: ShownAs = "number"


REGISTRY: tuple[Indicator, ...] = (
    Indicator(
        key="participants",
        title=N_("Programme participants"),
        unit=N_("people"),
        module=None,
        measure=people.participants,
    ),
    Indicator(
        key="school_participants",
        title=N_("School participants (module 1) in teams"),
        unit=N_("people"),
        module="m1",
        measure=people.school_participants,
    ),
    Indicator(
        key="initiative_groups",
        title=N_("Initiative groups (module 1 teams)"),
        unit=N_("teams"),
        module="m1",
        measure=people.initiative_groups,
    ),
    Indicator(
        key="projects_developed",
        title=N_("Projects developed (concept submitted and graded)"),
        unit=N_("projects"),
        module="m1",
        measure=work.projects_developed,
    ),
    Indicator(
        key="mentor_feedback",
        title=N_("Mentor feedback (reviewed work with a comment)"),
        unit=N_("reviews"),
        module=None,
        measure=work.mentor_feedback,
    ),
    Indicator(
        key="webinars_held",
        title=N_("Webinars held"),
        unit=N_("webinars"),
        module="m2",
        measure=events.webinars_held,
    ),
    Indicator(
        key="consultations_held",
        title=N_("Consultations held"),
        unit=N_("consultations"),
        module="m2",
        measure=events.consultations_held,
    ),
    Indicator(
        key="projects_presented",
        title=N_("Projects presented (presentation submitted)"),
        unit=N_("projects"),
        module="m3",
        measure=work.projects_presented,
    ),
    Indicator(
        key="leader_projects",
        title=N_("Leader projects (the three best presentation grades)"),
        unit=N_("projects"),
        module="m3",
        measure=work.leader_projects,
    ),
    Indicator(
        key="funds_raised",
        title=N_("Funds raised (partners' pledges), roubles"),
        unit=N_("roubles"),
        module="m3",
        measure=answers.funds_raised,
        shown_as="roubles",
    ),
    Indicator(
        key="votes_cast",
        title=N_("Votes in the public vote"),
        unit=N_("votes"),
        module="m3",
        measure=answers.votes_cast,
    ),
    Indicator(
        key="satisfaction",
        title=N_("Satisfaction: the school's mean usefulness (1–10)"),
        unit=N_("score"),
        module="m1",
        measure=answers.satisfaction,
        shown_as="score",
    ),
    Indicator(
        key="ngo_intent",
        title=N_("Share planning an NGO or already registered"),
        unit=N_("share"),
        module="m1",
        measure=answers.ngo_intent,
        shown_as="share",
    ),
)

BY_KEY: dict[str, Indicator] = {i.key: i for i in REGISTRY}
INDICATOR_KEYS: tuple[str, ...] = tuple(BY_KEY)  # program.md, in its order
#: key -> the indicator's title in the current language (looked up when read)
TITLES: Translated = Translated({i.key: i.title for i in REGISTRY})


def title(indicator: Indicator) -> str:
    """The indicator's title in the current language."""
    return _(indicator.title)


def unit(indicator: Indicator) -> str:
    """The indicator's unit in the current language."""
    return _(indicator.unit)

"""The program's activities (program.md) as the indicators read them: the ID numbers gathering looks for, the
team assignments and their titles, who reviews what, and the answers the surveys and the pledge database are
expected to hold.
"""

from __future__ import annotations

from i18n import N_
from sync.indicators.wording import Translated

# ID number -> (module key, Moodle module type): what gathering looks for in the cohort's courses.
PROGRAM_ACTIVITIES: dict[str, tuple[str, str]] = {
    "m1-intro-forum": ("m1", "forum"),
    "m1-idea": ("m1", "assign"),
    "m1-concept": ("m1", "assign"),
    "m1-fundraising": ("m1", "assign"),
    "m1-survey": ("m1", "feedback"),
    "m2-questions": ("m2", "forum"),
    "m2-consultations": ("m2", "assign"),
    "m2-final-project": ("m2", "assign"),
    "m3-pitch": ("m3", "assign"),
    "m3-vote": ("m3", "choice"),
    "m3-pledges": ("m3", "data"),
    "m3-survey": ("m3", "feedback"),
}
SURVEY_KEYS: tuple[str, ...] = ("m1-survey", "m3-survey")
# Item labels the indicators read from each survey (program.md).
SURVEY_LABELS: dict[str, tuple[str, ...]] = {
    "m1-survey": ("usefulness", "ngo_plan"),
    "m3-survey": ("growth",),
}

# program.md: experts, not mentors, grade the presentations. Their grades count in mentor_feedback as the
# indicator is defined (every graded submission with a comment) but not in any mentor's own figures.
EXPERT_REVIEWED: tuple[str, ...] = ("m3-pitch",)
# Team assignments whose progress the team table shows, in program order.
TEAM_ASSIGNMENTS: tuple[str, ...] = (
    "m1-idea",
    "m1-concept",
    "m2-consultations",
    "m2-final-project",
    "m3-pitch",
)
#: The assignments' titles as the reports' columns head them (in the current language when read).
ASSIGNMENT_TITLES: Translated = Translated(
    {
        "m1-idea": N_("Project idea"),
        "m1-concept": N_("Concept"),
        "m1-fundraising": N_("Fundraising plan"),
        "m2-consultations": N_("Consultation log"),
        "m2-final-project": N_("Revised project"),
        "m3-pitch": N_("Presentation"),
    }
)
# The answers of m1-survey's "ngo_plan" question that count for ngo_intent: what participants chose in the
# Russian survey of the template course (data, not text of accel's: never translated).
NGO_YES: tuple[str, ...] = ("Да", "Уже зарегистрировали")
# The kinds of support of the pledge database's "kind" field (the template's own values); another value gets a
# note.
PLEDGE_KINDS: tuple[str, ...] = ("Деньги", "Товары", "Услуги", "Волонтёры")

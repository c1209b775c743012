"""Reads of the program's other activities: choice (vote), database (pledges), feedback (surveys), forum.

Every ``mod_*_get_*_by_courses`` read returns only courses in which the token's user is enrolled; for other
courses Moodle answers a warning and no data (field note 9). None of these answers carries the activity's ID
number; ``integration.courses.get_course_module(cmid)`` gives it (field note 12), one request per activity.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from integration.transport import MoodleClient

# Page size for database entries: large pages keep the request count low (one page for a cohort).
DATA_PAGE_SIZE = 500


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------------------------ choice


class Choice(_Model):
    id: int
    coursemodule: int
    course: int
    name: str = ""
    allowmultiple: bool = False


class ChoiceOptionResult(_Model):
    id: int
    text: str = ""
    numberofuser: int = 0
    userresponses: list[dict[str, object]] = Field(default_factory=list)


def get_choices(client: MoodleClient, courseids: Sequence[int]) -> list[Choice]:
    """Calls: mod_choice_get_choices_by_courses."""
    if not courseids:
        return []
    answer = client.call("mod_choice_get_choices_by_courses", {"courseids": list(courseids)})
    return [Choice.model_validate(c) for c in (answer or {}).get("choices", [])]


def get_choice_results(client: MoodleClient, choiceid: int) -> list[ChoiceOptionResult]:
    """Per-option answer counts (and the voters, when the choice publishes names).

    Calls: mod_choice_get_choice_results.
    """
    answer = client.call("mod_choice_get_choice_results", {"choiceid": choiceid})
    return [ChoiceOptionResult.model_validate(o) for o in (answer or {}).get("options", [])]


# ---------------------------------------------------------------------------------------------- database


class Database(_Model):
    id: int
    coursemodule: int
    course: int
    name: str = ""


class DataField(_Model):
    id: int
    type: str = ""
    name: str = ""
    description: str = ""


class DataContent(_Model):
    fieldid: int
    content: str | None = None


class DataEntry(_Model):
    id: int
    userid: int = 0
    timecreated: int = 0
    timemodified: int = 0
    approved: bool = True
    contents: list[DataContent] = Field(default_factory=list)


def get_databases(client: MoodleClient, courseids: Sequence[int]) -> list[Database]:
    """Calls: mod_data_get_databases_by_courses."""
    if not courseids:
        return []
    answer = client.call("mod_data_get_databases_by_courses", {"courseids": list(courseids)})
    return [Database.model_validate(d) for d in (answer or {}).get("databases", [])]


def get_data_fields(client: MoodleClient, databaseid: int) -> list[DataField]:
    """Calls: mod_data_get_fields."""
    answer = client.call("mod_data_get_fields", {"databaseid": databaseid})
    return [DataField.model_validate(f) for f in (answer or {}).get("fields", [])]


def get_data_entries(client: MoodleClient, databaseid: int) -> list[DataEntry]:
    """Every entry of a database with its field contents, in pages of DATA_PAGE_SIZE.

    Calls: mod_data_get_entries.
    """
    entries: list[DataEntry] = []
    page = 0
    while True:
        answer = client.call(
            "mod_data_get_entries",
            {
                "databaseid": databaseid,
                "returncontents": 1,
                "groupid": 0,
                "page": page,
                "perpage": DATA_PAGE_SIZE,
            },
        )
        batch = [DataEntry.model_validate(e) for e in (answer or {}).get("entries", [])]
        entries.extend(batch)
        total = int((answer or {}).get("totalcount", len(entries)))
        if not batch or len(entries) >= total:
            return entries
        page += 1


# ---------------------------------------------------------------------------------------------- feedback


class Feedback(_Model):
    id: int
    coursemodule: int
    course: int
    name: str = ""
    anonymous: int = 2  # 1 anonymous, 2 with names


class FeedbackItem(_Model):
    id: int
    name: str = ""
    label: str = ""
    typ: str = ""
    presentation: str = ""
    hasvalue: int = 1


class FeedbackAnswer(_Model):
    id: int  # the item id
    name: str = ""
    printval: str | None = ""
    rawval: str | None = ""


class FeedbackAttempt(_Model):
    id: int
    userid: int | None = None
    timemodified: int = 0
    responses: list[FeedbackAnswer] = Field(default_factory=list)


def get_feedbacks(client: MoodleClient, courseids: Sequence[int]) -> list[Feedback]:
    """Calls: mod_feedback_get_feedbacks_by_courses."""
    if not courseids:
        return []
    answer = client.call("mod_feedback_get_feedbacks_by_courses", {"courseids": list(courseids)})
    return [Feedback.model_validate(f) for f in (answer or {}).get("feedbacks", [])]


def get_feedback_items(client: MoodleClient, feedbackid: int) -> list[FeedbackItem]:
    """Calls: mod_feedback_get_items."""
    answer = client.call("mod_feedback_get_items", {"feedbackid": feedbackid})
    return [FeedbackItem.model_validate(i) for i in (answer or {}).get("items", [])]


def get_feedback_responses(client: MoodleClient, feedbackid: int) -> list[FeedbackAttempt]:
    """Every completed survey with its answers (named and anonymous).

    ``perpage=0`` asks for all answers in one request, so the request count does not grow with the number
    of respondents; should a site still answer in pages, the rest is read page by page.
    Calls: mod_feedback_get_responses_analysis.
    """
    attempts: list[FeedbackAttempt] = []
    page, perpage = 0, 0
    while True:
        answer = client.call(
            "mod_feedback_get_responses_analysis",
            {"feedbackid": feedbackid, "groupid": 0, "page": page, "perpage": perpage},
        )
        answer = answer or {}
        named = [FeedbackAttempt.model_validate(a) for a in answer.get("attempts", [])]
        # Anonymous attempts carry no user id and no time.
        anon = [FeedbackAttempt.model_validate({**a, "userid": None}) for a in answer.get("anonattempts", [])]
        attempts.extend(named + anon)
        total = int(answer.get("totalattempts", 0)) + int(answer.get("totalanonattempts", 0))
        if not (named or anon) or len(attempts) >= total:
            return attempts
        if perpage == 0:
            # The site paged the answer anyway: continue in pages of the size it chose.
            perpage = len(named) + len(anon)
        page += 1


# ------------------------------------------------------------------------------------------------- forum


class Forum(_Model):
    id: int
    cmid: int
    course: int
    name: str = ""
    numdiscussions: int = 0


def get_forums(client: MoodleClient, courseids: Sequence[int]) -> list[Forum]:
    """Calls: mod_forum_get_forums_by_courses."""
    if not courseids:
        return []
    answer = client.call("mod_forum_get_forums_by_courses", {"courseids": list(courseids)})
    return [Forum.model_validate(f) for f in (answer or [])]

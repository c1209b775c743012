"""Fake handlers for assignments, the gradebook, choice, database, feedback and forum reads.

Shapes follow tests/fixtures/recordings (mod_assign_*, gradereport_user_get_grade_items, core_grades_*,
mod_choice_*, mod_data_*, mod_feedback_*, mod_forum_*). Behaviour that matters for gathering:
- ``mod_*_get_*_by_courses`` and ``mod_assign_get_assignments`` answer only courses where the token's user is
  enrolled; other courses give the warning "User is not enrolled or does not have requested capability"
  (field note 9);
- ``mod_assign_get_submissions`` returns the latest attempt per (userid, groupid); team submissions have
  userid 0 and ``gradingstatus`` is computed for user 0 ("notgraded"), as on the real server;
- ``mod_assign_get_grades`` joins grades on the submission's user, so team grades are never returned: the
  answer is the warning "No grades found" (field note 10);
- ``mod_assign_save_grade`` with ``applytoall=1`` grades every member of the given member's team (note 11);
  ``grade`` is required (an empty one is ``invalidparameter``), ``-1`` saves the comment with no grade, and
  on a feedback-only assignment (grade 0) the grade is ignored: only the comment is a review (field note 24);
- ``gradereport_user_get_grade_items(courseid)`` gives every student's items (graderaw, gradedategraded,
  feedback, idnumber, cmid) in one answer. A feedback-only assignment has an item too (a text item:
  ``graderaw`` null, ``gradeformatted`` "", grademax 100); a review without a grade has ``graderaw`` null, a
  ``gradedategraded`` and its comment; a review with neither grade nor comment leaves no date, as on the real
  site (recording ``gradereport_user_get_grade_items__feedback_only``).

State (FakeMoodle fields, keyed by instance id): ``assignments``, ``submissions`` (list), ``grades`` (list),
``choices``, ``choice_answers``, ``databases``, ``data_fields``, ``data_entries``, ``feedbacks``,
``feedback_items``, ``feedback_responses``, ``forums``. The ``add_*`` helpers below build them for tests.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fake_moodle.core import (
    FakeMoodle,
    as_int,
    as_list,
    handler,
    invalid_parameter,
    record_missing,
)

NOT_ENROLLED = "User is not enrolled or does not have requested capability"
STUDENT = 5


# -- helpers for tests ---------------------------------------------------------------------------------------
def _new_module(
    site: FakeMoodle, courseid: int, modname: str, name: str, idnumber: str, section: int = 0
) -> tuple[int, int]:
    """A course module (in section number ``section``) with an instance id unique for its type."""
    cmid = site.next_id("module")
    instance = site.next_instance(modname)
    site.modules[cmid] = {
        "id": cmid,
        "course": courseid,
        "section": (site.sections.get(courseid) or [{"id": 0}])[section]["id"],
        "modname": modname,
        "instance": instance,
        "name": name,
        "idnumber": idnumber,
        "visible": 1,
        "dates": [],
    }
    return cmid, instance


def add_assign(
    site: FakeMoodle,
    courseid: int,
    idnumber: str,
    name: str,
    *,
    team: bool = True,
    grade: int = 100,
    duedate: int = 0,
    section: int = 0,
) -> int:
    """An assignment (team submission by default); returns its instance (assignment) id."""
    cmid, instance = _new_module(site, courseid, "assign", name, idnumber, section)
    if duedate:
        site.modules[cmid]["dates"] = [{"dataid": "duedate", "timestamp": duedate}]
    site.assignments[instance] = {
        "id": instance,
        "cmid": cmid,
        "course": courseid,
        "name": name,
        "grade": grade,
        "teamsubmission": 1 if team else 0,
        "duedate": duedate,
        "submissiondrafts": 1,
    }
    return instance


def submit(
    site: FakeMoodle,
    assignmentid: int,
    *,
    groupid: int = 0,
    userid: int = 0,
    status: str = "submitted",
    when: int | None = None,
    attemptnumber: int = 0,
) -> int:
    """A submission record (team: userid 0 and the groupid; individual: the userid and groupid 0)."""
    sid = site.next_id("submission")
    t = site.now if when is None else when
    site.submissions.append(
        {
            "id": sid,
            "assignment": assignmentid,
            "userid": userid,
            "groupid": groupid,
            "status": status,
            "attemptnumber": attemptnumber,
            "timecreated": t,
            "timemodified": t,
        }
    )
    return sid


def add_choice(
    site: FakeMoodle, courseid: int, idnumber: str, name: str, options: list[str], *, section: int = 0
) -> int:
    cmid, instance = _new_module(site, courseid, "choice", name, idnumber, section)
    site.choices[instance] = {
        "id": instance,
        "coursemodule": cmid,
        "course": courseid,
        "name": name,
        "allowmultiple": False,
        "options": [{"id": site.next_id("choice-option"), "text": text} for text in options],
    }
    return instance


def vote(site: FakeMoodle, choiceid: int, option_index: int, userid: int) -> None:
    option = site.choices[choiceid]["options"][option_index]
    site.choice_answers.append(
        {"choiceid": choiceid, "optionid": option["id"], "userid": userid, "timemodified": site.now}
    )


PLEDGE_FIELDS = [
    ("text", "partner", "Партнёр", ""),
    ("text", "project", "Проект", ""),
    ("number", "amount", "Сумма, руб.", ""),
    ("menu", "kind", "Вид поддержки", "Деньги\nТовары\nУслуги\nВолонтёры"),
]


def add_database(
    site: FakeMoodle,
    courseid: int,
    idnumber: str,
    name: str,
    fields: list[tuple[str, str, str, str]] | None = None,
    *,
    section: int = 0,
) -> int:
    cmid, instance = _new_module(site, courseid, "data", name, idnumber, section)
    site.databases[instance] = {"id": instance, "coursemodule": cmid, "course": courseid, "name": name}
    site.data_fields[instance] = [
        {
            "id": site.next_id("data-field"),
            "dataid": instance,
            "type": t,
            "name": n,
            "description": d,
            "param1": p,
        }
        for t, n, d, p in (PLEDGE_FIELDS if fields is None else fields)
    ]
    return instance


def add_entry(
    site: FakeMoodle, dataid: int, values: dict[str, str], *, userid: int = 2, when: int | None = None
) -> int:
    rid = site.next_id("data-entry")
    t = site.now if when is None else when
    site.data_entries.append(
        {
            "id": rid,
            "dataid": dataid,
            "userid": userid,
            "timecreated": t,
            "timemodified": t,
            "approved": True,
            "values": dict(values),
        }
    )
    return rid


def add_feedback(
    site: FakeMoodle,
    courseid: int,
    idnumber: str,
    name: str,
    items: list[tuple[str, str, str, str]],
    *,
    section: int = 0,
) -> int:
    """A survey; items are (typ, label, name, presentation), e.g. ("numeric", "usefulness", "...", "1|10")."""
    cmid, instance = _new_module(site, courseid, "feedback", name, idnumber, section)
    site.feedbacks[instance] = {
        "id": instance,
        "coursemodule": cmid,
        "course": courseid,
        "name": name,
        "anonymous": 2,
    }
    site.feedback_items[instance] = [
        {
            "id": site.next_id("feedback-item"),
            "feedback": instance,
            "typ": typ,
            "label": label,
            "name": text,
            "presentation": presentation,
        }
        for typ, label, text, presentation in items
    ]
    return instance


def answer_survey(
    site: FakeMoodle, feedbackid: int, userid: int, answers: dict[str, str], *, when: int | None = None
) -> None:
    """A completed survey; answers by item label; a multichoice answer is the option's text."""
    site.feedback_responses.append(
        {
            "id": site.next_id("feedback-completed"),
            "feedbackid": feedbackid,
            "userid": userid,
            "timemodified": site.now if when is None else when,
            "answers": dict(answers),
        }
    )


def add_forum(site: FakeMoodle, courseid: int, idnumber: str, name: str, *, section: int = 0) -> int:
    cmid, instance = _new_module(site, courseid, "forum", name, idnumber, section)
    site.forums[instance] = {"id": instance, "cmid": cmid, "course": courseid, "name": name}
    return instance


# -- shared checks -------------------------------------------------------------------------------------------
def _enrolled_token_user(site: FakeMoodle, courseid: int) -> bool:
    return site.is_enrolled(courseid, site.token_userid)


def _by_courses(
    site: FakeMoodle, params: dict[str, Any], records: dict[int, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records of the asked courses the token's user is enrolled in, and a warning for each other course."""
    courseids = [as_int(c) for c in as_list(params.get("courseids"))]
    warnings = []
    allowed = set()
    for cid in courseids:
        if _enrolled_token_user(site, cid):
            allowed.add(cid)
        else:
            warnings.append({"item": "course", "itemid": cid, "warningcode": "1", "message": NOT_ENROLLED})
    return [r for r in records.values() if r["course"] in allowed], warnings


def _students(site: FakeMoodle, courseid: int) -> list[int]:
    return sorted(
        uid
        for (cid, uid), e in site.enrolments.items()
        if cid == courseid and STUDENT in e["roles"] and not site.users.get(uid, {}).get("deleted")
    )


def _fullname(site: FakeMoodle, userid: int) -> str:
    u = site.users.get(userid, {})
    return f"{u.get('firstname', '')} {u.get('lastname', '')}".strip()


def _team_of(site: FakeMoodle, courseid: int, userid: int) -> int:
    for gid, group in sorted(site.groups.items()):
        if group["courseid"] == courseid and userid in site.group_members.get(gid, set()):
            return gid
    return 0


# -- assignments -----------------------------------------------------------------------------------------------
def _assignment_answer(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"],
        "cmid": a["cmid"],
        "course": a["course"],
        "name": a["name"],
        "nosubmissions": 0,
        "submissiondrafts": a.get("submissiondrafts", 1),
        "duedate": a.get("duedate", 0),
        "allowsubmissionsfromdate": 0,
        "grade": a.get("grade", 100),
        "timemodified": 0,
        "completionsubmit": 0,
        "cutoffdate": 0,
        "gradingduedate": 0,
        "teamsubmission": a.get("teamsubmission", 0),
        "requireallteammemberssubmit": 0,
        "teamsubmissiongroupingid": 0,
        "blindmarking": 0,
        "attemptreopenmethod": "untilpass",
        "maxattempts": 1,
        "markingworkflow": 0,
        "configs": [],
        "intro": "",
        "introformat": 1,
    }


@handler("mod_assign_get_assignments")
def _get_assignments(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    courseids = [as_int(c) for c in as_list(params.get("courseids"))]
    courses, warnings = [], []
    for cid in courseids:
        if not _enrolled_token_user(site, cid):
            warnings.append({"item": "course", "itemid": cid, "warningcode": "2", "message": NOT_ENROLLED})
            continue
        course = site.courses.get(cid)
        if course is None:
            continue
        courses.append(
            {
                "id": cid,
                "fullname": course["fullname"],
                "shortname": course["shortname"],
                "timemodified": course.get("timemodified", 0),
                "assignments": [
                    _assignment_answer(a) for _, a in sorted(site.assignments.items()) if a["course"] == cid
                ],
            }
        )
    return {"courses": courses, "warnings": warnings}


def _latest_submissions(site: FakeMoodle, assignmentid: int) -> list[dict[str, Any]]:
    latest: dict[tuple[int, int], dict[str, Any]] = {}
    for s in site.submissions:
        if s["assignment"] != assignmentid:
            continue
        key = (s["userid"], s["groupid"])
        if key not in latest or s["attemptnumber"] >= latest[key]["attemptnumber"]:
            latest[key] = s
    return sorted(latest.values(), key=lambda s: s["id"])


def _grade_for(site: FakeMoodle, assignmentid: int, userid: int) -> dict[str, Any] | None:
    found = [g for g in site.grades if g["assignment"] == assignmentid and g["userid"] == userid]
    return found[-1] if found else None


@handler("mod_assign_get_submissions")
def _get_submissions(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    ids = [as_int(a) for a in as_list(params.get("assignmentids"))]
    if not ids:
        raise invalid_parameter()
    status = params.get("status", "")
    since = as_int(params.get("since"), 0)
    before = as_int(params.get("before"), 0)
    out, warnings = [], []
    for aid in ids:
        if aid not in site.assignments:
            continue
        subs = []
        for s in _latest_submissions(site, aid):
            if status and s["status"] != status:
                continue
            if s["timemodified"] < since or (before and s["timemodified"] > before):
                continue
            graded = s["userid"] and _grade_for(site, aid, s["userid"]) is not None
            subs.append(
                {
                    "id": s["id"],
                    "userid": s["userid"],
                    "attemptnumber": s["attemptnumber"],
                    "timecreated": s["timecreated"],
                    "timemodified": s["timemodified"],
                    "timestarted": None,
                    "status": s["status"],
                    "groupid": s["groupid"],
                    "plugins": [],
                    # Computed for the submission's user: 0 for a team, so never "graded" (note 10).
                    "gradingstatus": "graded" if graded else "notgraded",
                }
            )
        if not subs:
            warnings.append(
                {"item": "module", "itemid": aid, "warningcode": "3", "message": "No submissions found"}
            )
        out.append({"assignmentid": aid, "submissions": subs})
    return {"assignments": out, "warnings": warnings}


@handler("mod_assign_get_grades")
def _get_grades(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    ids = [as_int(a) for a in as_list(params.get("assignmentids"))]
    if not ids:
        raise invalid_parameter()
    out, warnings = [], []
    for aid in ids:
        # Joined on the submission's own user: a team submission (userid 0) never matches a member's grade.
        own = {s["userid"] for s in _latest_submissions(site, aid) if s["userid"]}
        rows = [g for g in site.grades if g["assignment"] == aid and g["userid"] in own]
        if not rows:
            warnings.append(
                {"item": "assignment", "itemid": aid, "warningcode": "3", "message": "No grades found"}
            )
            continue
        out.append(
            {
                "assignmentid": aid,
                "grades": [
                    {
                        "id": i + 1,
                        "userid": g["userid"],
                        "attemptnumber": g.get("attemptnumber", 0),
                        "timecreated": g["timemodified"],
                        "timemodified": g["timemodified"],
                        "grader": g.get("grader", site.token_userid),
                        "grade": f"{float(g.get('assigngrade', g['grade'])):.5f}",
                    }
                    for i, g in enumerate(rows)
                ],
            }
        )
    return {"assignments": out, "warnings": warnings}


@handler("mod_assign_save_grade")
def _save_grade(site: FakeMoodle, params: dict[str, Any]) -> None:
    aid = as_int(params.get("assignmentid"))
    userid = as_int(params.get("userid"))
    given = params.get("grade")
    # PARAM_FLOAT and required, so a comment without a grade is sent with grade -1 ("no grade").
    if given is None or given == "":
        raise invalid_parameter()
    try:
        value = float(given)
    except ValueError:
        raise invalid_parameter() from None
    assignment = site.assignments.get(aid)
    if assignment is None:
        raise record_missing()
    if not site.is_enrolled(assignment["course"], userid):
        raise invalid_parameter()
    applytoall = bool(as_int(params.get("applytoall"), 0))
    feedback = ((params.get("plugindata") or {}).get("assignfeedbackcomments_editor") or {}).get("text", "")
    grade(site, aid, userid, value, feedback=feedback, applytoall=applytoall)
    return None


def grade(
    site: FakeMoodle,
    assignmentid: int,
    userid: int,
    value: float | None,
    *,
    feedback: str = "",
    when: int | None = None,
    grader: int | None = None,
    applytoall: bool = True,
) -> list[int]:
    """A grade with a feedback comment, as the grading page saves it; returns the users graded.

    For a team assignment with ``applytoall`` every student of ``userid``'s team gets it (field note 11).
    ``value`` None or negative (-1) saves the comment without a grade; on a feedback-only assignment (grade 0)
    the value is ignored and only the comment is kept (field note 24).
    """
    assignment = site.assignments[assignmentid]
    assign_value = -1.0 if value is None else float(value)
    if assignment.get("grade", 100) == 0 or assign_value < 0:
        value = None
    targets = [userid]
    if assignment.get("teamsubmission") and applytoall:
        gid = _team_of(site, assignment["course"], userid)
        if gid:
            targets = sorted(
                u for u in site.group_members.get(gid, set()) if u in _students(site, assignment["course"])
            )
    for uid in targets:
        site.grades.append(
            {
                "assignment": assignmentid,
                "userid": uid,
                "grade": value,  # what the gradebook holds (None: no grade)
                "assigngrade": assign_value,  # what mod_assign keeps (-1: no grade)
                "feedback": feedback,
                "timemodified": site.now if when is None else when,
                "grader": site.token_userid if grader is None else grader,
                "attemptnumber": 0,
            }
        )
    return targets


@handler("mod_assign_list_participants")
def _list_participants(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    aid = as_int(params.get("assignid"))
    groupid = as_int(params.get("groupid"), 0)
    assignment = site.assignments.get(aid)
    if assignment is None:
        raise record_missing()
    cid = assignment["course"]
    out = []
    for uid in _students(site, cid):
        gid = _team_of(site, cid, uid)
        if groupid and gid != groupid:
            continue
        # Looked up by the person's own submission: a team submission is not found (as on the real server).
        own = [s for s in _latest_submissions(site, aid) if s["userid"] == uid]
        submitted = bool(own) and own[0]["status"] == "submitted"
        group = site.groups.get(gid)
        out.append(
            {
                "id": uid,
                "fullname": _fullname(site, uid),
                "idnumber": site.users.get(uid, {}).get("idnumber", ""),
                "groups": [{"id": gid, "name": group["name"], "description": group.get("description", "")}]
                if group
                else [],
                "submitted": submitted,
                "requiregrading": submitted and _grade_for(site, aid, uid) is None,
                "grantedextension": False,
                "submissionstatus": own[0]["status"] if own else "",
                "groupid": gid,
                "groupname": group["name"] if group else None,
            }
        )
    return out


# -- gradebook -----------------------------------------------------------------------------------------------
def _gradebook_assignments(site: FakeMoodle, courseid: int) -> list[dict[str, Any]]:
    # Every assignment has a gradebook item: a feedback-only one (grade 0) a text item, which holds the
    # comments, while its feedback comments plugin is on (the default; ``"feedbackcomments": False`` turns it
    # off, and then Moodle makes the item of type "none", which the report leaves out).
    return [
        a
        for _, a in sorted(site.assignments.items())
        if a["course"] == courseid and (a.get("grade", 100) != 0 or a.get("feedbackcomments", True))
    ]


def _grade_item(
    site: FakeMoodle, courseid: int, a: dict[str, Any], g: dict[str, Any] | None
) -> dict[str, Any]:
    feedback_only = a.get("grade", 100) == 0
    value = g["grade"] if g is not None else None
    comment = g["feedback"] if g is not None else ""
    # Moodle dates a gradebook row that holds a grade or a comment (grade_grade::get_dategraded).
    dated = g is not None and (value is not None or bool(comment))
    cm = site.modules.get(a["cmid"], {})
    return {
        "id": 1000 + a["cmid"],
        "itemname": a["name"],
        "itemtype": "mod",
        "itemmodule": "assign",
        "iteminstance": a["id"],
        "itemnumber": 0,
        "idnumber": cm.get("idnumber", ""),
        "categoryid": courseid,
        "cmid": a["cmid"],
        "graderaw": float(value) if value is not None else None,
        "gradedatesubmitted": None,
        "gradedategraded": g["timemodified"] if g is not None and dated else None,
        "gradehiddenbydate": False,
        "gradeishidden": False,
        "gradeformatted": f"{float(value):.2f}" if value is not None else ("" if feedback_only else "-"),
        "grademin": 0,
        # A text item keeps the default maximum, which means nothing.
        "grademax": 100 if feedback_only else a.get("grade", 100),
        "rangeformatted": "&ndash;" if feedback_only else f"0&ndash;{a.get('grade', 100)}",
        "feedback": comment,
        "feedbackformat": 1 if comment else 2,
    }


@handler("gradereport_user_get_grade_items")
def _grade_items(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    courseid = as_int(params.get("courseid"))
    if courseid not in site.courses:
        raise record_missing()
    only = as_int(params.get("userid"), 0)
    course = site.courses[courseid]
    users = [u for u in _students(site, courseid) if not only or u == only]
    items = _gradebook_assignments(site, courseid)
    usergrades = []
    for uid in users:
        gradeitems = []
        total = 0.0
        for a in items:
            g = _grade_for(site, a["id"], uid)
            if g is not None and g["grade"] is not None:
                total += float(g["grade"])
            gradeitems.append(_grade_item(site, courseid, a, g))
        gradeitems.append(
            {
                "id": 900 + courseid,
                "itemname": None,
                "itemtype": "course",
                "itemmodule": None,
                "iteminstance": courseid,
                "idnumber": None,
                "graderaw": total,
                "gradedategraded": site.now,
                "feedback": "",
                "grademax": sum(a.get("grade", 0) for a in items if a.get("grade", 0) > 0),
            }
        )
        user = site.users.get(uid, {})
        usergrades.append(
            {
                "courseid": courseid,
                "courseidnumber": course.get("idnumber", ""),
                "userid": uid,
                "userfullname": _fullname(site, uid),
                "useridnumber": user.get("idnumber", ""),
                "maxdepth": 2,
                "gradeitems": gradeitems,
            }
        )
    return {"usergrades": usergrades, "warnings": []}


@handler("core_grades_get_gradeitems")
def _gradeitems(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    courseid = as_int(params.get("courseid"))
    course = site.courses.get(courseid)
    if course is None:
        raise record_missing()
    return {
        "gradeItems": [
            {"id": str(1000 + a["cmid"]), "itemname": a["name"], "category": course["fullname"]}
            for a in _gradebook_assignments(site, courseid)
        ],
        "warnings": [],
    }


# -- choice ----------------------------------------------------------------------------------------------------
@handler("mod_choice_get_choices_by_courses")
def _choices(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    records, warnings = _by_courses(site, params, site.choices)
    return {
        "choices": [
            {
                "id": c["id"],
                "coursemodule": c["coursemodule"],
                "course": c["course"],
                "name": c["name"],
                "intro": "",
                "introformat": 1,
                "publish": False,
                "showresults": 3,
                "allowupdate": False,
                "allowmultiple": c.get("allowmultiple", False),
                "timeopen": 0,
                "timeclose": 0,
            }
            for c in records
        ],
        "warnings": warnings,
    }


@handler("mod_choice_get_choice_results")
def _choice_results(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    choice = site.choices.get(as_int(params.get("choiceid")))
    if choice is None:
        raise record_missing()
    answers = [a for a in site.choice_answers if a["choiceid"] == choice["id"]]
    total = len(answers)
    options = []
    for o in choice["options"]:
        n = sum(1 for a in answers if a["optionid"] == o["id"])
        options.append(
            {
                "id": o["id"],
                "text": o["text"],
                "maxanswer": 0,
                # Results are anonymous (publish = false): names are not given, only counts.
                "userresponses": [],
                "numberofuser": n,
                "percentageamount": round(100.0 * n / total, 2) if total else 0,
            }
        )
    return {"options": options, "warnings": []}


# -- database --------------------------------------------------------------------------------------------------
@handler("mod_data_get_databases_by_courses")
def _databases(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    records, warnings = _by_courses(site, params, site.databases)
    return {
        "databases": [
            {
                "id": d["id"],
                "course": d["course"],
                "name": d["name"],
                "coursemodule": d["coursemodule"],
                "approval": False,
            }
            for d in records
        ],
        "warnings": warnings,
    }


@handler("mod_data_get_fields")
def _data_fields(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    dataid = as_int(params.get("databaseid"))
    if dataid not in site.databases:
        raise record_missing()
    return {
        "fields": [
            {
                "id": f["id"],
                "dataid": dataid,
                "type": f["type"],
                "name": f["name"],
                "description": f["description"],
                "required": False,
                "param1": f.get("param1", ""),
            }
            for f in site.data_fields.get(dataid, [])
        ],
        "warnings": [],
    }


@handler("mod_data_get_entries")
def _data_entries(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    dataid = as_int(params.get("databaseid"))
    if dataid not in site.databases:
        raise record_missing()
    page = as_int(params.get("page"), 0)
    perpage = as_int(params.get("perpage"), 0)
    contents = as_int(params.get("returncontents"), 0)
    fields = {f["name"]: f["id"] for f in site.data_fields.get(dataid, [])}
    entries = [e for e in site.data_entries if e["dataid"] == dataid]
    window = entries[page * perpage : (page + 1) * perpage] if perpage else entries
    out = []
    for e in window:
        entry: dict[str, Any] = {
            "id": e["id"],
            "userid": e["userid"],
            "groupid": 0,
            "dataid": dataid,
            "timecreated": e["timecreated"],
            "timemodified": e["timemodified"],
            "approved": e["approved"],
            "canmanageentry": True,
            "fullname": _fullname(site, e["userid"]),
            "tags": [],
        }
        if contents:
            entry["contents"] = [
                {"id": i + 1, "fieldid": fields[name], "recordid": e["id"], "content": value, "files": []}
                for i, (name, value) in enumerate(e["values"].items())
                if name in fields
            ]
        out.append(entry)
    return {"entries": out, "totalcount": len(entries), "totalfilesize": 0, "warnings": []}


# -- feedback --------------------------------------------------------------------------------------------------
@handler("mod_feedback_get_feedbacks_by_courses")
def _feedbacks(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    records, warnings = _by_courses(site, params, site.feedbacks)
    return {
        "feedbacks": [
            {
                "id": f["id"],
                "course": f["course"],
                "name": f["name"],
                "anonymous": f.get("anonymous", 2),
                "coursemodule": f["coursemodule"],
                "timeopen": 0,
                "timeclose": 0,
            }
            for f in records
        ],
        "warnings": warnings,
    }


def _item_answer(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "feedback": item["feedback"],
        "template": 0,
        "name": item["name"],
        "nameformat": 1,
        "label": item["label"],
        "presentation": item["presentation"],
        "typ": item["typ"],
        "hasvalue": 1,
        "position": 1,
        "required": False,
        "dependitem": 0,
        "dependvalue": "",
        "options": "",
    }


def _options(item: dict[str, Any]) -> list[str]:
    presentation = item["presentation"].split(">>>>>", 1)[-1]
    return presentation.split("|")


@handler("mod_feedback_get_items")
def _feedback_items(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    fid = as_int(params.get("feedbackid"))
    if fid not in site.feedbacks:
        raise record_missing()
    return {"items": [_item_answer(i) for i in site.feedback_items.get(fid, [])], "warnings": []}


@handler("mod_feedback_get_analysis")
def _feedback_analysis(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    fid = as_int(params.get("feedbackid"))
    if fid not in site.feedbacks:
        raise record_missing()
    responses = [r for r in site.feedback_responses if r["feedbackid"] == fid]
    itemsdata = []
    for item in site.feedback_items.get(fid, []):
        values = [r["answers"][item["label"]] for r in responses if item["label"] in r["answers"]]
        if item["typ"] == "multichoice":
            data = [
                json.dumps(
                    {
                        "answertext": option,
                        "answercount": values.count(option),
                        "quotient": values.count(option) / len(values) if values else 0,
                    }
                )
                for option in _options(item)
            ]
        else:
            data = values
        itemsdata.append({"item": _item_answer(item), "data": data})
    return {
        "completedcount": len(responses),
        "itemscount": len(itemsdata),
        "itemsdata": itemsdata,
        "warnings": [],
    }


@handler("mod_feedback_get_responses_analysis")
def _feedback_responses(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    fid = as_int(params.get("feedbackid"))
    if fid not in site.feedbacks:
        raise record_missing()
    page = as_int(params.get("page"), 0)
    perpage = as_int(params.get("perpage"), 0)
    items = site.feedback_items.get(fid, [])
    responses = [r for r in site.feedback_responses if r["feedbackid"] == fid]
    window = responses[page * perpage : (page + 1) * perpage] if perpage else responses
    attempts = []
    for r in window:
        answers = []
        for item in items:
            value = r["answers"].get(item["label"])
            if value is None:
                continue
            raw = str(_options(item).index(value) + 1) if item["typ"] == "multichoice" else value
            answers.append(
                {
                    "id": item["id"],
                    "name": f"({item['label']}) {item['name']}",
                    "printval": value,
                    "rawval": raw,
                }
            )
        attempts.append(
            {
                "id": r["id"],
                "courseid": site.feedbacks[fid]["course"],
                "userid": r["userid"],
                "timemodified": r["timemodified"],
                "fullname": _fullname(site, r["userid"]),
                "responses": answers,
            }
        )
    return {
        "attempts": attempts,
        "totalattempts": len(responses),
        "anonattempts": [],
        "totalanonattempts": 0,
        "warnings": [],
    }


# -- forum -----------------------------------------------------------------------------------------------------
@handler("mod_forum_get_forums_by_courses")
def _forums(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    records, _warnings = _by_courses(site, params, site.forums)
    # This function answers a bare list: courses the user cannot see are silently left out.
    return [
        {
            "id": f["id"],
            "course": f["course"],
            "type": "general",
            "name": f["name"],
            "intro": "",
            "introformat": 1,
            "cmid": f["cmid"],
            "numdiscussions": 0,
            "cancreatediscussions": True,
        }
        for f in records
    ]

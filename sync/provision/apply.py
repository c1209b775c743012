"""Provisioning's apply: carries a plan (sync/provision/plan.py) out, in order; the only code that writes.

Each step is one write whose effect the next plan can see, so an apply stopped at any point (a dropped
connection, a Moodle error, Ctrl-C) is finished by running it again: a course copied but not yet given its
ID number is recognised by the next plan by its short name in the cohort category and adopted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from integration.calendar import create_events, delete_events
from integration.courses import (
    Section,
    add_section,
    create_category,
    duplicate_course,
    get_contents,
    rename_section,
    update_courses,
)
from integration.enrol import enrol_users
from integration.transport import MoodleClient
from sync.core.errors import ProblemsFound
from sync.provision.plan import Change, Plan


class ProvisionBlocked(ProblemsFound):
    """Apply refuses a plan with blocking problems."""


Progress = Callable[[int, int, Change], None]


@dataclass
class ApplyResult:
    done: list[Change] = field(default_factory=list)
    created_courses: dict[str, int] = field(default_factory=dict)


def apply_plan(
    client: MoodleClient,
    plan: Plan,
    *,
    progress: Progress | None = None,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Carry the plan out, in order. The only code that writes.

    ``progress`` is told about each step just before it is written; ``result`` (if given) is filled as steps
    finish, so a caller that catches an interruption can say how far it got. Raises ProvisionBlocked when the plan has blocking problems (nothing is written then).
    """
    if plan.blocked:
        raise ProvisionBlocked("; ".join(p.message for p in plan.problems if p.blocking))
    result = result if result is not None else ApplyResult()
    changes = plan.ordered_changes()
    total = len(changes)
    course_ids: dict[str, int] = {k: st.course.id for k, st in plan.courses.items() if st.course is not None}
    category_id = plan.category.id if plan.category else None
    sections_cache: dict[int, list[Section]] = {}

    started = 0

    def start(*steps: Change) -> None:
        # Shown before the write: a copy can take a while, and if it fails the last line says which step.
        nonlocal started
        for change in steps:
            started += 1
            if progress is not None:
                progress(started, total, change)

    def finish(*steps: Change) -> None:
        result.done.extend(steps)

    def courseid_of(change: Change) -> int:
        cid = change.data.get("courseid")
        if cid:
            return int(cid)
        assert change.module is not None
        return course_ids[change.module]

    by_action: dict[str, list[Change]] = {}
    for change in changes:
        by_action.setdefault(change.action, []).append(change)

    for change in by_action.get("create_category", []):
        start(change)
        d = change.data
        category_id = create_category(
            client, name=d["name"], idnumber=d["idnumber"], parent=d["parent"], description=d["description"]
        )
        finish(change)

    # Copy, then set the fields core_course_duplicate_course cannot (ID number, dates...). A copy whose
    # update did not happen is adopted by the next plan (short name, no ID number, cohort category).
    for change in by_action.get("create_course", []):
        assert change.module is not None and category_id is not None
        start(change)
        fields = {**change.data["fields"], "categoryid": category_id}
        new_id = duplicate_course(
            client,
            template_id=change.data["template_id"],
            fullname=fields["fullname"],
            shortname=fields["shortname"],
            categoryid=category_id,
            visible=bool(fields["visible"]),
        )
        course_ids[change.module] = new_id
        result.created_courses[change.module] = new_id
        update_courses(client, [{"id": new_id, **fields}])
        finish(change)

    updates = by_action.get("update_course", [])
    if updates:
        start(*updates)
        payload = []
        for change in updates:
            fields = dict(change.data["fields"])
            if "categoryid" in fields and fields["categoryid"] is None:
                fields["categoryid"] = category_id
            payload.append({"id": change.data["courseid"], **fields})
        update_courses(client, payload)
        finish(*updates)

    for change in by_action.get("add_sections", []):
        start(change)
        cid = courseid_of(change)
        for _ in range(int(change.data["count"])):
            add_section(client, cid)
        sections_cache.pop(cid, None)
        finish(change)

    for change in by_action.get("rename_section", []):
        start(change)
        cid = courseid_of(change)
        section_id = change.data.get("section_id")
        if section_id is None:
            if cid not in sections_cache:
                sections_cache[cid] = get_contents(client, cid)  # a read: the copy's new section ids
            number = int(change.data["number"])
            section_id = next(s.id for s in sections_cache[cid] if s.section == number and not s.component)
        rename_section(
            client, section_id=int(section_id), name=change.data["title"], course_format=change.data["format"]
        )
        finish(change)

    enrolments = by_action.get("enrol_service", [])
    if enrolments:
        start(*enrolments)
        enrol_users(
            client,
            [
                {
                    "roleid": c.data["roleid"],
                    "userid": c.data["userid"],
                    "courseid": courseid_of(c),
                    "suspend": 0,
                }
                for c in enrolments
            ],
        )
        finish(*enrolments)

    deletions = by_action.get("delete_event", [])
    if deletions:
        start(*deletions)
        delete_events(client, [int(c.data["eventid"]) for c in deletions])
        finish(*deletions)

    creations = by_action.get("create_event", [])
    if creations:
        start(*creations)
        create_events(client, [{**c.data["event"], "courseid": courseid_of(c)} for c in creations])
        finish(*creations)
    return result

"""Provisioning, step 3: carry a plan (sync/provision/plan.py) out, in order; the only code that writes.

:class:`ProvisionApplier` has one handler per kind of change (sync/provision/changes.py), called kind by kind
in the plan's order. Each step is one write whose effect the next plan can see, so an apply stopped at any
point (a dropped connection, a Moodle error, Ctrl-C) is finished by running it again: a course copied but not
yet given its ID number is recognised by the next plan by its short name in the cohort category and adopted.

How far it has got is told two ways: a :class:`sync.core.progress.Progress` (a bar on a terminal: the plan's
steps, and under it each course copy while Moodle makes it, the long step), and ``on_step``, told about each
step just before it is written (the command prints it as a line where there is no bar, so the last line of a
log names the step that stopped).
"""

from __future__ import annotations

from collections.abc import Callable

from i18n import _
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
from sync.core.plan import Applier, ApplyResult, Handlers
from sync.core.progress import NO_PROGRESS, Advance, Progress
from sync.provision.changes import (
    AddSections,
    CreateCategory,
    CreateCourse,
    CreateEvent,
    DeleteEvent,
    EnrolService,
    ProvisionChange,
    ProvisionPlan,
    RenameSection,
    UpdateCourse,
)


class ProvisionBlocked(ProblemsFound):
    """Apply refuses a plan with blocking problems."""


#: Told about each step just before it is written: (its number, how many, the change).
StepListener = Callable[[int, int, ProvisionChange], None]


class ProvisionApplier:
    """Provisioning's applier (sync.core.plan.Applier). A Moodle error stops it: the next plan, read from the
    site, finishes the job (there is nothing to isolate: each write is about the cohort as a whole)."""

    def __init__(
        self,
        client: MoodleClient,
        plan: ProvisionPlan,
        *,
        progress: Progress = NO_PROGRESS,
        on_step: StepListener | None = None,
        result: ApplyResult[ProvisionChange] | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.progress = progress
        self.on_step = on_step
        self._advance: Advance | None = None
        self.result: ApplyResult[ProvisionChange] = result if result is not None else ApplyResult()
        self.total = len(plan.changes)
        self.started = 0
        #: module -> its course id: the courses found, then those this apply makes
        self.course_ids = {k: st.course.id for k, st in plan.courses.items() if st.course is not None}
        self.category_id = plan.category.id if plan.category else None
        #: a new course's sections, read once after the copy
        self.sections: dict[int, list[Section]] = {}

    def handlers(self) -> Handlers:
        return (
            Handlers()
            .on(CreateCategory, self._create_category)
            .on(CreateCourse, self._create_course)
            .on(UpdateCourse, self._update_courses)
            .on(AddSections, self._add_sections)
            .on(RenameSection, self._rename_sections)
            .on(EnrolService, self._enrol_service)
            .on(DeleteEvent, self._delete_events)
            .on(CreateEvent, self._create_events)
        )

    def apply(self) -> ApplyResult[ProvisionChange]:
        """Carry the plan out, in order. Raises ProvisionBlocked when the plan has problems (nothing is
        written then); a Moodle error or an interruption propagates, with ``result`` telling how far it got."""
        if self.plan.blocked:
            raise ProvisionBlocked("; ".join(p.message for p in self.plan.problems))
        if not self.total:
            return self.result  # nothing to write, nor to show a bar for
        with self.progress.task(_("Applying the plan"), total=self.total) as advance:
            self._advance = advance
            try:
                self.handlers().run(self.plan.ordered(), self.plan.ORDER)
            finally:
                self._advance = None
        return self.result

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def _start(self, *changes: ProvisionChange) -> None:
        # Shown before the write: a copy can take a while, and if it fails the last line says which step.
        for change in changes:
            self.started += 1
            if self.on_step is not None:
                self.on_step(self.started, self.total, change)

    def _finish(self, *changes: ProvisionChange) -> None:
        self.result.done.extend(changes)
        if self._advance is not None:
            self._advance(len(changes))

    def _courseid(self, courseid: int | None, module: str) -> int:
        """The course of a change: its own id, else the course this apply made for the module."""
        return courseid if courseid else self.course_ids[module]

    # -- the handlers ------------------------------------------------------------------------------------------
    def _create_category(self, changes: list[CreateCategory]) -> None:
        for change in changes:
            self._start(change)
            self.category_id = create_category(
                self.client,
                name=change.name,
                idnumber=change.idnumber,
                parent=change.parent,
                description=change.description,
            )
            self._finish(change)

    def _create_course(self, changes: list[CreateCourse]) -> None:
        # Copy, then set the fields core_course_duplicate_course cannot (ID number, dates...). A copy whose
        # update did not happen is adopted by the next plan (short name, no ID number, cohort category).
        for change in changes:
            assert self.category_id is not None, "the cohort category is made before its courses"
            self._start(change)
            fields = {**change.fields, "categoryid": self.category_id}
            # The copy is one request that can take minutes (Moodle backs the template up and restores it):
            # a task of its own, without a total, shows it is still going and for how long.
            copying = _("Copying the template course into {course}").format(course=fields["shortname"])
            with self.progress.task(copying, total=None):
                new_id = duplicate_course(
                    self.client,
                    template_id=change.template_id,
                    fullname=str(fields["fullname"]),
                    shortname=str(fields["shortname"]),
                    categoryid=self.category_id,
                    visible=bool(fields["visible"]),
                )
            self.course_ids[change.module] = new_id
            self.result.created[change.module] = new_id
            update_courses(self.client, [{"id": new_id, **fields}])
            self._finish(change)

    def _update_courses(self, changes: list[UpdateCourse]) -> None:
        self._start(*changes)
        payload = []
        for change in changes:
            fields = dict(change.fields)
            if "categoryid" in fields and fields["categoryid"] is None:
                fields["categoryid"] = self.category_id  # the cohort category this apply made
            payload.append({"id": change.courseid, **fields})
        update_courses(self.client, payload)
        self._finish(*changes)

    def _add_sections(self, changes: list[AddSections]) -> None:
        for change in changes:
            self._start(change)
            courseid = self._courseid(change.courseid, change.module)
            for _number in range(change.count):
                add_section(self.client, courseid)
            self.sections.pop(courseid, None)
            self._finish(change)

    def _rename_sections(self, changes: list[RenameSection]) -> None:
        for change in changes:
            self._start(change)
            courseid = self._courseid(change.courseid, change.module)
            section_id = change.section_id
            if section_id is None:
                if courseid not in self.sections:
                    self.sections[courseid] = get_contents(self.client, courseid)  # the copy's new sections
                section_id = next(
                    s.id for s in self.sections[courseid] if s.section == change.number and not s.component
                )
            rename_section(self.client, section_id=section_id, name=change.title, course_format=change.format)
            self._finish(change)

    def _enrol_service(self, changes: list[EnrolService]) -> None:
        self._start(*changes)
        enrol_users(
            self.client,
            [
                {
                    "roleid": c.roleid,
                    "userid": c.userid,
                    "courseid": self._courseid(c.courseid, c.module),
                    "suspend": 0,
                }
                for c in changes
            ],
        )
        self._finish(*changes)

    def _delete_events(self, changes: list[DeleteEvent]) -> None:
        self._start(*changes)
        delete_events(self.client, [c.eventid for c in changes])
        self._finish(*changes)

    def _create_events(self, changes: list[CreateEvent]) -> None:
        self._start(*changes)
        create_events(
            self.client,
            [{**c.event.as_dict(), "courseid": self._courseid(c.courseid, c.module)} for c in changes],
        )
        self._finish(*changes)


def apply_plan(
    client: MoodleClient,
    plan: ProvisionPlan,
    *,
    progress: Progress = NO_PROGRESS,
    on_step: StepListener | None = None,
    result: ApplyResult[ProvisionChange] | None = None,
) -> ApplyResult[ProvisionChange]:
    """Carry the plan out (:class:`ProvisionApplier`). ``progress`` shows how far it has got (one unit per
    change); ``on_step`` is told about each step just before it is written; ``result`` (if given) is filled as
    steps finish, so a caller that catches an interruption can say how far it got. Raises ProvisionBlocked when
    the plan has blocking problems (nothing is written then)."""
    applier: Applier[ProvisionChange] = ProvisionApplier(
        client, plan, progress=progress, on_step=on_step, result=result
    )
    return applier.apply()

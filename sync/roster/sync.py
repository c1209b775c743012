"""Roster sync: keep Moodle's users, enrolments, teams (groups) and districts (groupings) in step with the roster.

    read_roster (sync/roster/read/)  ->  read_site (here: batch reads)  ->  build_plan (sync/roster/plan.py)
    ->  the guards (here: EmptyRoster, RemovalShare, Shrink)  ->  RosterApplier (sync/roster/apply.py, the
    only code that writes)

The plan, guards, applier and result speak the shared vocabulary of sync/core/plan.py.

Request budget: reads are batched (users by ID number and by email in chunks under max_input_vars, field note
6; two enrolment reads per course to find suspended enrolments, field note 21; groups and groupings per
course; grouping contents in one call), so their number grows with the roster's size divided by the site's
request limit, never with one call per person.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_templates.courses import module_courses
from i18n import _, ngettext
from integration.courses import get_course_by_field
from integration.enrol import get_enrolled_users
from integration.groups import get_course_groupings, get_course_groups, get_groupings
from integration.transport import MoodleClient
from integration.users import MoodleUser, get_users_by_field
from sync.core.config import AccelConfig
from sync.core.errors import UsageError
from sync.core.plan import Applier, ApplyResult, Problem, run_guards
from sync.core.progress import NO_PROGRESS, Progress
from sync.roster.apply import RosterApplier, write_failure_report
from sync.roster.journal import Journal, last_applied_run
from sync.roster.names import assign_usernames, is_valid_username, username_base, username_candidates
from sync.roster.plan import (
    CourseMember,
    CourseRemovals,
    Match,
    Op,
    Removal,
    Roles,
    RosterPlan,
    SiteCourse,
    SiteGroup,
    SiteGrouping,
    SiteState,
    build_plan,
    match_people,
)
from sync.roster.read import Roster, RosterPerson, RosterProblem, is_valid_email
from sync.roster.read.problems import number, percent, rows_text

#: How many further usernames (name2, name3...) to ask about at once when a plain one is taken.
USERNAME_PROBE = 4


class RosterStop(UsageError):
    """The sync must not go on (missing course, safety guard); the message says why and what to do."""


@dataclass(frozen=True)
class Guards:
    """The guards' thresholds: when an apply stops before writing (unless --force); see :class:`RemovalShare`
    and :class:`Shrink`.

    ``max_suspend_share``: more than this share of a course's active participants would be removed.
    ``max_shrink_share`` and ``shrink_min_people``: the file has more than this share fewer people than the
    last file applied to the same cohort on the same site, and at least this many fewer (so that a small
    cohort losing two people is not held, while a 200-person file read as 150 is).
    """

    max_suspend_share: float = 0.1
    max_shrink_share: float = 0.1
    shrink_min_people: int = 5

    @classmethod
    def from_config(cls, config: AccelConfig | None) -> Guards:
        section = config.roster if config is not None else None
        if section is None:
            return cls()
        return cls(
            max_suspend_share=section.max_suspend_share,
            max_shrink_share=section.max_shrink_share,
            shrink_min_people=section.shrink_min_people,
        )


@dataclass(frozen=True)
class CohortCourse:
    module: int
    shortname: str
    idnumber: str = ""


@dataclass
class SyncOutcome:
    roster: Roster
    plan: RosterPlan
    people: list[RosterPerson]
    skipped_rows: list[int] = field(default_factory=list)
    #: what the guards found: reasons to stop before writing (unless forced)
    blocked: list[str] = field(default_factory=list)
    result: ApplyResult[Op] | None = None
    report: Path | None = None
    run_id: int | None = None
    #: the cohort's code: journalled with the run, for the shrink guard of the next one
    cohort: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.result and not self.result.ok)

    @property
    def problems(self) -> list[str]:
        """What keeps Moodle from matching the roster after this run: failed items and people skipped
        because of a conflict (each of them is a reason for exit status 1)."""
        out = []
        if self.result is not None and self.result.failures:
            failed = len(self.result.failures)
            out.append(
                ngettext("{count} operation failed", "{count} operations failed", failed).format(
                    count=number(failed)
                )
            )
        if self.plan.conflicts:
            conflicts = len(self.plan.conflicts)
            out.append(
                ngettext(
                    "{count} person skipped because of a conflict with a Moodle account (row {rows}): "
                    "Moodle does not match the roster for them until the conflict is resolved",
                    "{count} people skipped because of a conflict with a Moodle account (rows {rows}): "
                    "Moodle does not match the roster for them until the conflicts are resolved",
                    conflicts,
                ).format(count=number(conflicts), rows=rows_text([c.row for c in self.plan.conflicts]))
            )
        return out


# --- reading the site ------------------------------------------------------------------------------------------


def find_courses(client: MoodleClient, courses: Sequence[CohortCourse]) -> dict[int, SiteCourse]:
    """The cohort's module courses on the site, by short name (one value per call: three calls, at once).

    Calls: core_course_get_courses_by_field.
    """
    out: dict[int, SiteCourse] = {}
    missing = []
    answers = client.map(lambda wanted: get_course_by_field(client, "shortname", wanted.shortname), courses)
    for wanted, found in zip(courses, answers, strict=True):
        if found is None:
            missing.append(wanted.shortname)
            continue
        out[wanted.module] = SiteCourse(
            wanted.module, found.id, found.shortname, found.idnumber or wanted.idnumber
        )
    if missing:
        raise RosterStop(
            ngettext(
                "course {courses} not found on the site: create the cohort's courses first "
                "(`accel provision --apply`)",
                "courses {courses} not found on the site: create the cohort's courses first "
                "(`accel provision --apply`)",
                len(missing),
            ).format(courses=", ".join(missing))
        )
    return out


def course_state_reads(client: MoodleClient, course: SiteCourse) -> list[Callable[[], None]]:
    """The reads of one course's members (roles, groups, active or suspended), groups and groupings, as three
    independent tasks that fill ``course`` (the client may run them at once, with other courses' reads).

    Calls: core_enrol_get_enrolled_users (twice: onlyactive=0 and 1, field note 21),
    core_group_get_course_groups, core_group_get_course_groupings.
    """

    def members() -> None:
        everyone = get_enrolled_users(
            client,
            course.id,
            userfields=("id", "username", "fullname", "idnumber", "email", "roles", "groups"),
        )
        # A course nobody is enrolled in has nothing suspended: the second read is not needed.
        active = (
            {u.id for u in get_enrolled_users(client, course.id, onlyactive=True, userfields=("id",))}
            if everyone
            else set()
        )
        course.members = {
            u.id: CourseMember(
                userid=u.id,
                roles=frozenset(u.roleids),
                active=u.id in active,
                groups=frozenset(u.groupids),
                fullname=u.fullname,
                username=u.username,
                email=u.email,
            )
            for u in everyone
        }

    def groups() -> None:
        course.groups = [SiteGroup(g.id, g.name, g.idnumber) for g in get_course_groups(client, course.id)]

    def groupings() -> None:
        course.groupings = [
            SiteGrouping(g.id, g.name, g.idnumber) for g in get_course_groupings(client, course.id)
        ]

    return [members, groups, groupings]


def read_grouping_contents(client: MoodleClient, courses: Sequence[SiteCourse]) -> None:
    """Which groups each grouping holds, for every course at once. Calls: core_group_get_groupings."""
    by_id = {g.id: g for c in courses for g in c.groupings}
    for grouping in get_groupings(client, list(by_id)):
        if grouping.id in by_id:
            by_id[grouping.id].groups = {g.id for g in grouping.groups}


def lookup_accounts(
    client: MoodleClient, people: Sequence[RosterPerson], known_emails: Iterable[str] = ()
) -> dict[int, MoodleUser]:
    """Site accounts of the roster people: by ID number (application number), then by email for the rest.

    Moodle compares emails exactly (the database's comparison: case-sensitive on PostgreSQL), so each email
    is asked as written, in lower case and as spelled by any ``known_emails`` (the accounts enrolled in the
    cohort's courses) that differs only by case: a person whose email was retyped in another case is still
    found, not created again (refused, or a duplicate account where the site allows shared emails) while the
    old account is suspended. Calls: core_user_get_users_by_field.
    """
    site_spelling: dict[str, set[str]] = {}
    for email in known_emails:
        if email:
            site_spelling.setdefault(email.lower(), set()).add(email)
    users: dict[int, MoodleUser] = {}
    applications = [p.application for p in people if p.application]
    for user in get_users_by_field(client, "idnumber", applications):
        users[user.id] = user
    found_ids = {u.idnumber for u in users.values() if u.idnumber}
    emails: list[str] = []
    for p in people:
        if p.application in found_ids or not p.email:
            continue
        emails.extend([p.email, p.email.lower(), *sorted(site_spelling.get(p.email.lower(), ()))])
    # An address PARAM_EMAIL would change fails the whole lookup, so only valid ones are asked.
    asked = [e for e in dict.fromkeys(emails) if is_valid_email(e)]
    for user in get_users_by_field(client, "email", asked):
        users[user.id] = user
    return users


def choose_usernames(
    client: MoodleClient, people: Sequence[RosterPerson], matches: dict[str, Match]
) -> tuple[dict[str, str], list[str]]:
    """Usernames for people who need a new account: the roster's own (Moodle upload files) or
    ``firstname.lastname`` transliterated, made unique against the site and the roster.

    Asked in rounds, each one batched read for every name still short of free usernames: first the plain
    names; then, for a name that is taken or shared by several new people, ``name2``... as many further names
    as it has people and USERNAME_PROBE more; then twice as many each round. So a cohort whose every person
    has a dozen namesakes on the site costs a few more reads, never one per candidate.

    Calls: core_user_get_users_by_field (field=username; one round, more only when names are taken).
    """
    new = [p for p in people if matches.get(p.key, Match()).how == "new"]
    problems: list[str] = []
    if not new:
        return {}, problems
    bases: dict[str, str] = {}
    given: dict[str, str] = {}
    for person in new:
        if person.username and is_valid_username(person.username):
            given[person.key] = person.username
        else:
            bases[person.key] = username_base(person.firstname, person.lastname)
    taken: set[str] = set()
    known: set[str] = set()

    def probe(names: Sequence[str]) -> None:
        ask = [n for n in dict.fromkeys(names) if n not in known]
        if ask:
            taken.update(u.username for u in get_users_by_field(client, "username", ask))
            known.update(ask)

    probe(list(given.values()) + list(bases.values()))
    result: dict[str, str] = {}
    for key, username in given.items():
        if username in taken:
            problems.append(
                _("{person}: username {username} already belongs to another Moodle account").format(
                    person=key, username=username
                )
            )
        else:
            result[key] = username
    reserved = set(result.values())
    counts = Counter(bases.values())
    #: per name: the candidates known so far (1: the plain name, n: name + n), and how many to ask next
    asked = dict.fromkeys(counts, 1)
    width = {base: counts[base] + USERNAME_PROBE for base in counts}
    while short := _short_names(bases, known, taken, reserved):
        names: list[str] = []
        for base in short:
            first = asked[base] + 1
            names.extend(f"{base}{number}" for number in range(first, first + width[base]))
            asked[base] += width[base]
            width[base] *= 2
        probe(names)

    def is_taken(name: str) -> bool:
        if name not in known:
            probe([name])  # not expected: the rounds above asked every name the people need
        return name in taken

    result.update(assign_usernames(bases, is_taken, reserved=reserved))
    return result, problems


def _short_names(bases: dict[str, str], known: set[str], taken: set[str], reserved: set[str]) -> list[str]:
    """The names (bases) whose people cannot all be given a free username among the candidates known yet.

    Gives usernames as :func:`assign_usernames` does (in roster order, each person the first free candidate
    of their name), stopping a name at its first candidate whose owner is not known yet.
    """
    used = set(reserved)
    short: dict[str, None] = {}
    for base in bases.values():
        if base in short:
            continue
        for candidate in username_candidates(base):
            if candidate in used:
                continue
            if candidate not in known:
                short[base] = None
                break
            if candidate not in taken:
                used.add(candidate)
                break
    return list(short)


def read_site(
    client: MoodleClient, courses: Sequence[CohortCourse], people: Sequence[RosterPerson]
) -> tuple[SiteState, dict[str, Match]]:
    """What the plan needs from the site, in three rounds of independent reads, each sent at once (up to the
    client's concurrency; one after another, in this order, with concurrency 1): the courses; their members,
    groups and groupings; the groupings' contents with the people's accounts (whose emails are also asked
    as the courses' members spell them).
    """
    site_courses = find_courses(client, courses)
    client.concurrent([read for c in site_courses.values() for read in course_state_reads(client, c)])
    enrolled_emails = {m.email for c in site_courses.values() for m in c.members.values()}
    users: dict[int, MoodleUser] = {}

    def accounts() -> None:
        users.update(lookup_accounts(client, people, enrolled_emails))

    client.concurrent([lambda: read_grouping_contents(client, list(site_courses.values())), accounts])
    matches = match_people(people, users.values())
    return SiteState(courses=site_courses, users=users), matches


# --- guards ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmptyRoster:
    """Stops an apply of a roster with nobody in it: it would remove everyone from the courses."""

    people: Sequence[RosterPerson]

    def check(self, plan: RosterPlan) -> list[Problem]:
        if self.people:
            return []
        return [
            Problem(
                _(
                    "the roster has nobody in it: applying it would remove everyone from the courses. "
                    "Check the file, or give --force if this is really meant"
                )
            )
        ]


@dataclass(frozen=True)
class RemovalShare:
    """Stops an apply that removes more than ``max_share`` of a course's active participants."""

    max_share: float
    removal: Removal

    def check(self, plan: RosterPlan) -> list[Problem]:
        return [
            Problem(self._message(course), course.course)
            for course in plan.removals
            if course.removing and course.share > self.max_share
        ]

    def _message(self, course: CourseRemovals) -> str:
        if self.removal == "suspend":
            text = ngettext(
                "{course}: would suspend {removing} of {active} active participant ({share}, more than the "
                "allowed {allowed}). Check the roster is complete, or give --force (or a higher "
                "--max-suspend-share) if this is really meant",
                "{course}: would suspend {removing} of {active} active participants ({share}, more than the "
                "allowed {allowed}). Check the roster is complete, or give --force (or a higher "
                "--max-suspend-share) if this is really meant",
                course.active,
            )
        else:
            text = ngettext(
                "{course}: would unenrol {removing} of {active} active participant ({share}, more than the "
                "allowed {allowed}). Check the roster is complete, or give --force (or a higher "
                "--max-suspend-share) if this is really meant",
                "{course}: would unenrol {removing} of {active} active participants ({share}, more than the "
                "allowed {allowed}). Check the roster is complete, or give --force (or a higher "
                "--max-suspend-share) if this is really meant",
                course.active,
            )
        return text.format(
            course=course.course,
            removing=number(course.removing),
            active=number(course.active),
            share=percent(course.share),
            allowed=percent(self.max_share),
        )


@dataclass(frozen=True)
class Shrink:
    """Stops an apply of a file with far fewer people than the last one applied to the cohort.

    The removal share looks at the removals of one run; this one at the file: a spreadsheet cut short
    (a filter left on, a sheet saved half-way, an export that stopped) loses people in every course at once.
    With ``--removal keep`` nobody would be removed, so nothing is checked.
    """

    store: sqlite3.Connection | None
    roster: Roster
    cohort: str
    site: str
    removal: Removal
    guards: Guards

    def check(self, plan: RosterPlan) -> list[Problem]:
        if self.store is None or not self.cohort or self.removal == "keep":
            return []
        last = last_applied_run(self.store, cohort=self.cohort, site=self.site)
        if last is None or last.people <= 0:
            return []
        now = len(self.roster.people)
        fewer = last.people - now
        if fewer < self.guards.shrink_min_people or fewer <= self.guards.max_shrink_share * last.people:
            return []
        return [
            Problem(
                ngettext(
                    "{file} has {now} person, {fewer} fewer than the {last} of the last sync applied to cohort "
                    "{cohort} (journal run {run}, {when}, {last_file}): {share} fewer, more than the allowed "
                    "{allowed}. Check the file is complete (a filter left on, a sheet cut short), or give "
                    "--force if these people really left",
                    "{file} has {now} people, {fewer} fewer than the {last} of the last sync applied to cohort "
                    "{cohort} (journal run {run}, {when}, {last_file}): {share} fewer, more than the allowed "
                    "{allowed}. Check the file is complete (a filter left on, a sheet cut short), or give "
                    "--force if these people really left",
                    now,
                ).format(
                    file=self.roster.path,
                    now=number(now),
                    fewer=number(fewer),
                    last=number(last.people),
                    cohort=self.cohort,
                    run=last.id,
                    when=last.started_at,
                    last_file=last.file,
                    share=percent(fewer / last.people),
                    allowed=percent(self.guards.max_shrink_share),
                )
            )
        ]


def guard_reasons(
    outcome: SyncOutcome,
    *,
    store: sqlite3.Connection | None,
    site: str,
    removal: Removal,
    guards: Guards,
) -> list[str]:
    """Every reason to stop before writing: an empty roster, the per-course removal share, a shrunk file."""
    checks = (
        EmptyRoster(outcome.people),
        RemovalShare(guards.max_suspend_share, removal),
        Shrink(store, outcome.roster, outcome.cohort, site, removal, guards),
    )
    return [problem.message for problem in run_guards(outcome.plan, checks)]


# --- the whole sync -------------------------------------------------------------------------------------------


def invalid_file_message(file: str | Path, errors: int) -> str:
    """Why a roster with invalid rows is not synced, and the two ways on."""
    return ngettext(
        "{file}: {count} error; nothing was written. Fix it, or give --skip-invalid to sync the valid rows only",
        "{file}: {count} errors; nothing was written. Fix them, or give --skip-invalid to sync the valid rows only",
        errors,
    ).format(file=file, count=number(errors))


def plan_sync(
    client: MoodleClient,
    roster: Roster,
    courses: Sequence[CohortCourse],
    *,
    roles: Roles,
    removal: Removal = "suspend",
    skip_invalid: bool = False,
    cohort: str = "",
    progress: Progress = NO_PROGRESS,
) -> SyncOutcome:
    """Read the site and plan. Raises RosterStop for a file with errors unless ``skip_invalid``.
    ``progress`` shows the reading of the site (the longest part of a plan: a request or more per course)."""
    if roster.errors and not skip_invalid:
        raise RosterStop(invalid_file_message(roster.path, len(roster.errors)))
    people = roster.valid_people()
    skipped = sorted(roster.invalid_rows)
    # People of skipped rows are looked up too, so that they are not suspended for being left out.
    skipped_people = [p for p in roster.people if p.row in roster.invalid_rows]
    with progress.task(_("Reading the site")):
        site, matches = read_site(client, courses, [*people, *skipped_people])
        usernames, username_problems = choose_usernames(client, people, matches)
    protected = {m.userid for p in skipped_people if (m := matches.get(p.key)) and m.userid}
    protected |= {uid for p in people if (m := matches.get(p.key)) for uid in m.related}
    plan = build_plan(
        people,
        matches,
        usernames,
        site,
        teams=roster.teams(people),
        roles=roles,
        removal=removal,
        protected_userids=protected,
    )
    for problem in username_problems:
        plan.warn(problem)
    return SyncOutcome(roster=roster, plan=plan, people=people, skipped_rows=skipped, cohort=cohort)


def apply_sync(
    client: MoodleClient,
    outcome: SyncOutcome,
    *,
    store: sqlite3.Connection | None,
    report_path: Path | None,
    removal: Removal,
    progress: Progress = NO_PROGRESS,
) -> SyncOutcome:
    """Carry the plan out (``progress`` shows how many of its changes are done), journal it and write the
    failure report."""
    journal = (
        Journal(
            store,
            file=str(outcome.roster.path),
            site=client.url,
            removal=removal,
            cohort=outcome.cohort,
            people=len(outcome.roster.people),
        )
        if store is not None
        else None
    )
    status = "interrupted"
    try:
        with progress.task(_("Applying the plan"), total=len(outcome.plan.changes)) as advance:
            applier: Applier[Op] = RosterApplier(client, outcome.plan, journal=journal, progress=advance)
            result = applier.apply()
        status = "ok" if result.ok else "failed"
    finally:
        if journal is not None:
            summary: dict[str, Any] = {"planned": outcome.plan.counts()}
            if status != "interrupted":
                summary["done"] = result.counts()
                summary["failed"] = len(result.failures)
            journal.finish(status, summary)
    outcome.result = result
    outcome.run_id = journal.run_id if journal else None
    if report_path is not None:
        write_report(outcome, report_path)
    return outcome


def write_report(outcome: SyncOutcome, path: Path) -> Path | None:
    """The failure report of an applied sync: failed and skipped operations, conflicts, invalid rows.
    Nothing is written when there is nothing to report."""
    names = {p.row: p.fullname for p in outcome.roster.people}
    extra: list[tuple[int | None, str, str]] = [(c.row, c.name, c.message) for c in outcome.plan.conflicts]
    if outcome.skipped_rows:
        for problem in outcome.roster.errors:
            if problem.row in outcome.skipped_rows:
                extra.append(
                    (problem.row, names.get(problem.row, ""), invalid_row_text(problem, skipped=True))
                )
    failures = outcome.result.failures if outcome.result else []
    if not failures and not extra:
        return None
    outcome.report = write_failure_report(path, failures, outcome.roster.people, extra)
    return outcome.report


def invalid_row_text(problem: RosterProblem, *, skipped: bool) -> str:
    """A row's problem as the failure report says it (the row and the name are columns of their own)."""
    if skipped:
        text = (
            _("invalid row, skipped: {column}: {message}")
            if problem.column
            else _("invalid row, skipped: {message}")
        )
    elif problem.column:
        text = _("invalid row, nothing written: {column}: {message}")
    else:
        text = _("invalid row, nothing written: {message}")
    return text.format(column=problem.column, message=problem.message)


def default_report_path(roster_path: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    p = Path(roster_path)
    return p.with_name(f"{p.stem}-failures-{stamp}.csv")


def cohort_courses(config: AccelConfig) -> list[CohortCourse]:
    """The three module courses of the cohort (short names and ID numbers from the configuration)."""
    return [CohortCourse(c.number, c.shortname, c.idnumber) for c in module_courses(config)]


def roles_from(config: AccelConfig) -> Roles:
    return Roles(
        student=config.roles.student,
        mentor=config.roles.mentor,
        expert=config.roles.expert,
        service=config.roles.service,
    )


def sync_roster(
    client: MoodleClient,
    roster: Roster,
    courses: Sequence[CohortCourse],
    *,
    roles: Roles,
    apply: bool,
    store: sqlite3.Connection | None,
    removal: Removal = "suspend",
    force: bool = False,
    skip_invalid: bool = False,
    guards: Guards | None = None,
    cohort: str = "",
    report_path: Path | None = None,
    progress: Progress = NO_PROGRESS,
) -> SyncOutcome:
    """Plan, check the guards and (with ``apply``) carry the plan out: what `accel roster sync` and the
    service's scheduled sync both run. A guard stop leaves ``outcome.blocked`` set and writes nothing
    unless ``force``. Raises RosterStop for an invalid file (without ``skip_invalid``) or a missing course.
    ``cohort`` (the cohort's code) is journalled with the run and enables the shrink guard.
    """
    outcome = plan_sync(
        client,
        roster,
        courses,
        roles=roles,
        removal=removal,
        skip_invalid=skip_invalid,
        cohort=cohort,
        progress=progress,
    )
    outcome.blocked = guard_reasons(
        outcome, store=store, site=client.url, removal=removal, guards=guards or Guards()
    )
    if not apply or (outcome.blocked and not force):
        return outcome
    report = report_path or default_report_path(roster.path)
    if outcome.plan.empty:
        write_report(outcome, report)  # conflicts and skipped rows still need the coordinator's eye
        return outcome
    return apply_sync(client, outcome, store=store, report_path=report, removal=removal, progress=progress)

"""The four jobs of `accel serve`, built on the same functions the commands use.

- roster_sync: when the roster file changed (or at a fixed daily time), plan; apply only when the plan
  passes the roster sync's safety rules; otherwise hold, log why and message the coordinator once. After an
  apply that made groups, the team consultations of the schedule that waited for them are created (the
  events part of `accel provision`, in the same lock).
- snapshot: gather the indicators' data and store a dated snapshot.
- reminders: one Moodle message per mentor about their teams' work waiting too long; never the same
  submission to the same mentor twice in a day.
- report: write the report files of the newest snapshot to a folder (needs no site).

What a job says of its run is a :class:`sync.service.text.Text` (the reader's language on screen, English in
the log). The Moodle messages it sends (the coordinator's notice, the mentors' reminders) are in Russian, the
language of the people who receive them, whatever language the service's operator reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from course_templates.courses import course_modules
from i18n import N_, _, translations
from integration.errors import MoodleError
from integration.messages import fits, message, send_instant_messages
from integration.users import get_users_by_field
from sync.core.config import AccelConfig
from sync.core.lock import exclusive
from sync.indicators.compute import compute
from sync.indicators.gather import gather, gather_and_store
from sync.indicators.pending import pending_submissions
from sync.indicators.report.write import write_cohort_reports
from sync.indicators.snapshot import SnapshotNotFound, find_snapshot
from sync.provision.apply import apply_plan
from sync.provision.plan import compute_events_plan, has_team_events, team_events
from sync.roster.names import is_valid_username
from sync.roster.read import (
    Roster,
    RosterFileError,
    RosterFileUnavailable,
    is_valid_email,
    max_roster_bytes,
    read_file_bytes,
    read_roster,
)
from sync.roster.sync import Guards, RosterStop, SyncOutcome, cohort_courses, roles_from, sync_roster
from sync.service.reminders import day_of, forget_sent, plan_reminders, record_sent, sent_today, split_to_fit
from sync.service.runner import Job, JobContext, JobFailed, JobNotReady, JobResult
from sync.service.text import Catalogs, Text, english, joined, text

log = logging.getLogger("accel.service")


def default_jobs() -> list[Job]:
    return [
        Job("roster_sync", roster_sync_job),
        Job("snapshot", snapshot_job),
        Job("reminders", reminders_job),
        Job("report", report_job, needs_site=False),
    ]


# -- roster sync --------------------------------------------------------------------------------------------


#: the Moodle messages the jobs send are read by Russian-speaking coordinators and mentors
RECIPIENTS_LANGUAGE = "ru"


def _coordinator_ids(context: JobContext, roster: Roster | None) -> tuple[list[int], str | Text]:
    """Who to tell: ``[service] coordinator`` (a username or an email), else the roster's coordinators."""
    client = context.client()
    wanted = (context.config.service.coordinator or "").strip()
    if wanted:
        field: Literal["username", "email"] = "email" if "@" in wanted else "username"
        value = wanted if field == "email" else wanted.lower()
        # A value that PARAM_EMAIL / PARAM_USERNAME would change fails the whole look-up (invalidparameter).
        if not (is_valid_email(value) if field == "email" else is_valid_username(value)):
            return [], text(N_("{name} (not a Moodle username or email)"), name=wanted)
        found = get_users_by_field(client, field, [value])
        return [user.id for user in found], wanted
    coordinators = [p for p in roster.people if p.role == "coordinator"] if roster else []
    ids = {
        u.id
        for u in get_users_by_field(
            client, "idnumber", [p.application for p in coordinators if p.application]
        )
    }
    ids |= {u.id for u in get_users_by_field(client, "email", [p.email for p in coordinators if p.email])}
    return sorted(ids), text(N_("the roster's coordinators"))


def _notice_body(subject: str, lines: list[str]) -> str:
    """The notice as HTML that Moodle accepts: over 4096 bytes a message is refused, so lines before the last
    (the instruction) are left out and counted; all of them are in the service's log."""
    head = [f"<li>{html.escape(line)}</li>" for line in lines[:-1]]
    tail = [f"<li>{html.escape(line)}</li>" for line in lines[-1:]]
    dropped: list[str] = []
    while True:
        more = [f"<li>… и ещё {len(dropped)} (полностью — в журнале службы)</li>"] if dropped else []
        body = f"<p>{html.escape(subject)}</p><ul>" + "".join(head + more + tail) + "</ul>"
        if fits(body) or not head:
            return body
        dropped.append(head.pop())


def _notify_coordinator(context: JobContext, roster: Roster | None, subject: str, lines: list[str]) -> Text:
    """Send the coordinator(s) a Moodle message; returns what happened, for the job's detail."""
    ids, who = _coordinator_ids(context, roster)
    if not ids:
        log.warning("nobody to tell (%s: no Moodle account found) that %s", english(who), subject)
        return text(N_("nobody told: {who} not found on the site (set [service] coordinator)"), who=who)
    if not context.send_messages:
        return text(N_("{who} not told: a rehearsal sends no message (--send sends it)"), who=who)
    body = _notice_body(subject, lines)
    answers = send_instant_messages(context.client(), [message(userid, body) for userid in ids])
    refused = [a.errormessage or _("refused") for a in answers if not a.ok]
    if refused:
        return text(N_("message to {who} refused: {reasons}"), who=who, reasons="; ".join(refused))
    return text(N_("{who} told"), who=who)


def _roster_changes(catalogs: Catalogs, kind: str, count: int) -> str:
    """``count`` changes of one kind of the roster plan, in words («3 suspensions»)."""
    t = catalogs
    forms = {
        "create_user": lambda: t.ngettext("{count} new account", "{count} new accounts", count),
        "update_user": lambda: t.ngettext("{count} account update", "{count} account updates", count),
        "enrol": lambda: t.ngettext("{count} enrolment", "{count} enrolments", count),
        "add_role": lambda: t.ngettext("{count} role given", "{count} roles given", count),
        "reactivate": lambda: t.ngettext("{count} reactivation", "{count} reactivations", count),
        "unassign_role": lambda: t.ngettext("{count} role taken away", "{count} roles taken away", count),
        "create_group": lambda: t.ngettext("{count} new team", "{count} new teams", count),
        "create_grouping": lambda: t.ngettext("{count} new district", "{count} new districts", count),
        "assign_grouping": lambda: t.ngettext(
            "{count} team put into its district", "{count} teams put into their districts", count
        ),
        "unassign_grouping": lambda: t.ngettext(
            "{count} team taken out of a district", "{count} teams taken out of districts", count
        ),
        "remove_member": lambda: t.ngettext(
            "{count} member taken out of a team", "{count} members taken out of teams", count
        ),
        "add_member": lambda: t.ngettext(
            "{count} member added to a team", "{count} members added to teams", count
        ),
        "suspend": lambda: t.ngettext("{count} suspension", "{count} suspensions", count),
        "unenrol": lambda: t.ngettext("{count} unenrolment", "{count} unenrolments", count),
    }
    form = forms.get(kind)
    return form().format(count=count) if form else f"{count} {kind}"


def _applied(counts: dict[str, int]) -> Text:
    return Text(lambda t: ", ".join(_roster_changes(t, kind, n) for kind, n in counts.items()))


def roster_sync_job(context: JobContext) -> JobResult:
    service = context.config.service
    if not service.roster_file:
        return JobResult("nothing", text(N_("no [service] roster_file set")))
    path = context.config.relative_path(service.roster_file)
    max_bytes = max_roster_bytes(context.config)
    try:
        digest = hashlib.sha256(read_file_bytes(path, max_bytes)).hexdigest()
    except RosterFileUnavailable as exc:
        raise JobFailed(text(N_("roster file {reason}"), reason=str(exc))) from None
    except RosterFileError as exc:
        # Not a file to read (a FIFO, a device, too large): held below like a bad file, and told once.
        digest = hashlib.sha256(str(exc).encode("utf-8")).hexdigest()
    if digest == context.get_state("roster_synced_hash") and not context.forced:
        return JobResult("unchanged", text(N_("{file} has not changed since the last sync"), file=path.name))
    already_held = digest == context.get_state("roster_held_hash")
    if already_held and not context.forced:
        return JobResult(
            "held", text(N_("{file} is still held (unchanged since it was held)"), file=path.name)
        )

    def hold(reasons: Sequence[str | Text], roster: Roster | None = None) -> JobResult:
        # The notice is in the coordinator's language, whatever language the service's operator reads.
        russian = translations(RECIPIENTS_LANGUAGE)
        subject = f"Синхронизация списка участников ({path.name}) остановлена и ждёт решения координатора"
        told = (
            text(N_("already told"))
            if already_held
            else _notify_coordinator(
                context,
                roster,
                subject,
                [
                    *(reason.said(russian) if isinstance(reason, Text) else reason for reason in reasons),
                    f"Проверьте файл и запустите вручную: accel roster sync {path} --apply (или --force).",
                ],
            )
        )
        # Recorded once told: if the notice failed, the job's retry holds the file again and tells.
        context.set_state("roster_held_hash", digest)
        log.warning(
            "roster sync held: %s",
            "; ".join(english(reason) for reason in reasons),
            extra={"job": "roster_sync", "outcome": "held"},
        )
        return JobResult("held", text(N_("{reasons} ({told})"), reasons=joined(reasons), told=told))

    courses = course_modules(context.config)
    try:
        roster = read_roster(path, course_modules=courses, max_bytes=max_bytes)
    except RosterFileError as exc:
        return hold([str(exc)])
    if roster.errors:
        count, example = len(roster.errors), str(roster.errors[0])
        invalid = Text(
            lambda t: t.ngettext(
                "{count} invalid row, e.g. {example}", "{count} invalid rows, e.g. {example}", count
            ).format(count=count, example=example)
        )
        return hold([invalid], roster)
    with exclusive(context.lock_path, "accel serve: roster sync"):
        try:
            outcome = sync_roster(
                context.client(),
                roster,
                cohort_courses(context.config),
                roles=roles_from(context.config),
                apply=True,
                store=context.store,
                removal=service.roster_removal,
                guards=Guards.from_config(context.config),
                cohort=context.config.cohort.code,
            )
        except RosterStop as exc:
            return hold([str(exc)], roster)
        events = _team_events_after_sync(context, outcome)
    if outcome.blocked:
        return hold(list(outcome.blocked), roster)
    if outcome.problems:
        # What could be applied was; the rest (failed items, people skipped for a conflict) is retried
        # after the back-off: only what is still missing.
        raise JobFailed(
            text(
                N_("{problems}; see the failure report {report}"),
                problems="; ".join(outcome.problems),
                report=outcome.report,
            )
        )
    context.set_state("roster_synced_hash", digest)
    context.set_state("roster_held_hash", None)
    counts = outcome.plan.counts()
    if not counts:
        return JobResult("ok", joined([text(N_("{file}: Moodle already in step"), file=path.name), events]))
    return JobResult(
        "ok",
        joined([text(N_("{file}: applied {changes}"), file=path.name, changes=_applied(counts)), events]),
    )


def _team_events_after_sync(context: JobContext, outcome: SyncOutcome) -> Text | str:
    """After an apply that made groups, create the team consultations of the schedule that waited for them,
    as `accel provision --apply` would: the events part of the provisioning plan (same planning and apply
    code, inside the caller's lock), of which only the team events are carried out; anything else the
    calendar lacks is left to `accel provision` and said. Returns what was done, for the job's detail.

    Remembered until done: if this step fails, the job's retry (whose roster plan is then empty) still does it.
    """
    made_groups = outcome.result is not None and outcome.result.counts().get("create_group", 0) > 0
    if not has_team_events(context.config) or not (made_groups or context.get_state("team_events_due")):
        return ""
    context.set_state("team_events_due", "1")
    plan = compute_events_plan(context.client(), context.config)
    created = team_events(plan)
    if created:
        apply_plan(context.client(), replace(plan, changes=[*created]))
        for change in created:
            log.info("calendar: created %s (team «%s»)", change.target, change.team)
    context.set_state("team_events_due", None)
    made = len(created)
    others = len(plan.changes) - made
    said: list[Text] = []
    if made:
        said.append(
            Text(
                lambda t: t.ngettext(
                    "calendar: {count} team event created", "calendar: {count} team events created", made
                ).format(count=made)
            )
        )
    if others:
        log.warning("calendar: %d other change(s) of the schedule wait for `accel provision --apply`", others)
        said.append(
            Text(
                lambda t: t.ngettext(
                    "{count} other calendar change waits for `accel provision --apply`",
                    "{count} other calendar changes wait for `accel provision --apply`",
                    others,
                ).format(count=others)
            )
        )
    return joined(said)


# -- snapshot, reminders, report ------------------------------------------------------------------------------


def snapshot_job(context: JobContext) -> JobResult:
    snapshot_id, snapshot = gather_and_store(
        context.client(), context.config, context.store, now=int(context.now.timestamp())
    )
    notes = len(snapshot.notes)
    return JobResult(
        "ok",
        Text(
            lambda t: t.ngettext(
                "snapshot {id} stored ({count} note)", "snapshot {id} stored ({count} notes)", notes
            ).format(id=snapshot_id, count=notes)
        ),
    )


def reminders_job(context: JobContext) -> JobResult:
    client = context.client()
    snapshot = gather(client, context.config, now=int(context.now.timestamp()))
    day = day_of(context.now, context.config.tz)
    reminders = plan_reminders(
        pending_submissions(snapshot),
        threshold_hours=context.config.service.reminder_after_hours,
        already_sent=sent_today(context.store, day),
    )
    if not reminders:
        return JobResult(
            "nothing",
            text(N_("no work waits longer than the reminder threshold for a mentor not yet told today")),
        )
    names = {person.id: person.fullname for person in snapshot.people}
    # Moodle refuses a message over 4096 bytes: a long list goes in several messages.
    reminders = [part for r in reminders for part in split_to_fit(r, names.get(r.mentor, "наставник"))]
    if not context.send_messages:
        # A rehearsal: nothing is sent, so nothing is recorded as sent (a later real run still reminds).
        items = sum(len(r.items) for r in reminders)
        return JobResult("ok", _would_remind(len({r.mentor for r in reminders}), items))
    # Recorded before sending: if the answer is lost, a mentor misses one reminder rather than gets two.
    for reminder in reminders:
        record_sent(context.store, reminder, day, context.now)
    outgoing = [
        message(r.mentor, r.text(names.get(r.mentor, "наставник")), f"accel-reminder-{r.mentor}-{day}")
        for r in reminders
    ]
    try:
        answers = send_instant_messages(client, outgoing)
    except MoodleError as exc:
        # The site refused the call (function not in the service, messaging disabled...) before sending the
        # messages it did not answer: forget them, so that the retry sends them.
        answered = sum(len(answer or []) for answer in exc.completed)
        for reminder in reminders[answered:]:
            forget_sent(context.store, reminder, day)
        raise
    refused = []
    reminded: set[int] = set()
    for reminder, answer in zip(reminders, answers, strict=False):
        if not answer.ok:
            forget_sent(context.store, reminder, day)
            refused.append(
                f"{names.get(reminder.mentor, reminder.mentor)}: {answer.errormessage or _('refused')}"
            )
        else:
            reminded.add(reminder.mentor)
    items = sum(len(r.items) for r in reminders)
    detail = text(
        N_("mentors reminded: {mentors}, submissions listed: {submissions}"),
        mentors=len(reminded),
        submissions=items,
    )
    if refused:
        raise JobFailed(text(N_("{done}; refused: {refusals}"), done=detail, refusals="; ".join(refused)))
    return JobResult("ok", detail)


def _would_remind(mentors: int, items: int) -> Text:
    """What a rehearsal's reminders job says instead of sending: two numbers, each in its own plural form."""
    return Text(
        lambda t: t.ngettext(
            "rehearsal: would remind {count} mentor {about}; not sent (--send sends them)",
            "rehearsal: would remind {count} mentors {about}; not sent (--send sends them)",
            mentors,
        ).format(
            count=mentors,
            about=t.ngettext("of {count} submission", "of {count} submissions", items).format(count=items),
        )
    )


def report_job(context: JobContext) -> JobResult:
    service = context.config.service
    out_dir = context.config.relative_path(service.report_dir)
    try:
        written = write_cohort_reports(
            context.store, context.config, out_dir, service.report_formats, now=int(context.now.timestamp())
        )
    except SnapshotNotFound as exc:
        raise JobNotReady(text(N_("no snapshot to report on yet ({reason})"), reason=str(exc))) from None
    return JobResult("ok", text(N_("wrote {files}"), files=", ".join(str(path) for path in written)))


def latest_indicators(store: sqlite3.Connection, config: AccelConfig) -> dict[str, Any] | None:
    """The newest snapshot's indicator values, for `accel status` (no site needed)."""
    try:
        snapshot_id, snapshot = find_snapshot(store, cohort=config.cohort.code)
    except SnapshotNotFound:
        return None
    report = compute(snapshot, config.targets_for())
    taken = dt.datetime.fromtimestamp(snapshot.taken_at, config.tz).isoformat(timespec="minutes")
    return {
        "snapshot": snapshot_id,
        "taken_at": taken,
        "values": [
            {
                "key": r.key,
                "title": r.title,
                "value": r.value,
                "target": r.target,
                "percent": r.percent,
                "status": r.status_text,
            }
            for r in report.results
        ],
    }

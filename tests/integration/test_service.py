"""The service on a real Moodle: `accel serve --once --now … --send` reminds each mentor in a Moodle message of
their teams' waiting work, never twice the same day (a rehearsal without --send sends nothing); a second apply
is refused (exit 5) while one runs."""

from __future__ import annotations

import datetime as dt
import html
import re
import signal
from zoneinfo import ZoneInfo

from tests.integration.helpers import NON_EMPTY_COMMENT, Activity, BuiltCohort, CohortFactory
from tests.integration.moodle_site import CONSULTATIONS, Site, request_counts, wait_for, write_functions
from tests.integration.roster_data import cohort_people, write_csv

ZONE = ZoneInfo("Asia/Kamchatka")

# Team work of modules 1 and 2 waiting for a review (no grade and no comment saved after its last change),
# with the mentors of the team: the members of the team's group who hold the mentor role in that course.
WAITING_BY_MENTOR = f"""
    select distinct mentor.userid as mentor, g.name as team, a.name as activity
      from mdl_assign_submission sub
      join mdl_assign a on a.id = sub.assignment and a.teamsubmission = 1 and a.course in (:'m1', :'m2')
      join mdl_groups g on g.id = sub.groupid
      join mdl_groups_members mentor on mentor.groupid = g.id
      join mdl_context x on x.contextlevel = 50 and x.instanceid = a.course
      join mdl_role_assignments ra on ra.contextid = x.id and ra.userid = mentor.userid and ra.roleid = 4
     where sub.latest = 1 and sub.userid = 0 and sub.status = 'submitted'
       and not exists (
           select 1 from mdl_assign_grades ag join mdl_groups_members gm on gm.userid = ag.userid
             left join mdl_assignfeedback_comments fc on fc.grade = ag.id
            where ag.assignment = a.id and gm.groupid = g.id and ag.timemodified >= sub.timemodified
              and (ag.grade >= 0 or ({NON_EMPTY_COMMENT.replace("fc.commenttext", "coalesce(fc.commenttext, '')")})))
"""

# Moodle keeps a message sent with core_message_send_instant_messages in mdl_messages, in the individual
# conversation of the sender and the recipient (mdl_notifications holds notifications, not these).
MESSAGES_TO = """
    select m.id, m.useridfrom, cm.userid as useridto, m.fullmessage, m.fullmessagehtml
      from mdl_messages m
      join mdl_message_conversation_members cm on cm.conversationid = m.conversationid and cm.userid <> m.useridfrom
     where cm.userid = :'user' order by m.id
"""


def listed(page: str) -> set[tuple[str, str]]:
    """(team, activity) of each «team: «activity», ждёт …» item of a reminder, which links to its grading page."""
    items = set()
    for item in re.findall(r"<li>(.*?)</li>", page, re.S):
        assert re.search(r'href="[^"]*/mod/assign/view\.php\?id=\d+&amp;action=grader', item), item
        text = html.unescape(re.sub(r"<[^>]+>", "", item))
        found = re.match(r"(.*): «(.*)», ждёт", text)
        assert found, text
        items.add((found.group(1), found.group(2)))
    return items


def token_user(site: Site) -> str:
    return site.sql_value(
        """select t.userid from mdl_external_tokens t join mdl_external_services s on s.id = t.externalserviceid
            where s.shortname = 'accel_full' order by t.id limit 1"""
    )


def test_serve_once_reminds_each_mentor_in_moodle_once_a_day(
    active_cohort: tuple[BuiltCohort, Activity],
) -> None:
    built, _activity = active_cohort
    cohort, site = built.cohort, built.site
    courses = {m: str(i) for m, i in cohort.course_ids().items()}
    users = cohort.user_ids()
    mentors = {users[p.email]: p for p in built.people if p.role == "mentor"}
    waiting: dict[int, set[tuple[str, str]]] = {}
    for row in site.sql(WAITING_BY_MENTOR, **courses):
        waiting.setdefault(int(row["mentor"]), set()).add((row["team"], row["activity"]))
    assert waiting and set(waiting) <= set(mentors)

    # The work was submitted just now; four days later at 09:30 (the reminders are due at 09:00) it has
    # waited longer than reminder_after_hours (72). A rehearsal (--now) sends nothing without --send.
    day = dt.datetime.now(ZONE).date() + dt.timedelta(days=4)
    rehearsal = cohort.accel("--stats", "serve", "--once", "--now", f"{day.isoformat()}T09:30")
    assert rehearsal.returncode == 0, rehearsal.explain()
    assert request_counts(rehearsal.output)[1] == 0, rehearsal.output
    for mentor in mentors:
        assert site.sql(MESSAGES_TO, user=mentor) == []

    day += dt.timedelta(days=1)
    first = cohort.accel("--stats", "serve", "--once", "--now", f"{day.isoformat()}T09:30", "--send")
    assert first.returncode == 0, first.explain()
    assert f"mentors reminded: {len(waiting)}," in first.output, first.output
    assert write_functions(first.output) == {"core_message_send_instant_messages": 1}

    sender = token_user(site)
    for mentor, items in waiting.items():
        messages = site.sql(MESSAGES_TO, user=mentor)
        assert len(messages) == 1, f"{mentors[mentor].email}: {len(messages)} messages"
        message = messages[0]
        assert message["useridfrom"] == sender
        assert listed(message["fullmessagehtml"]) == items, mentors[mentor].email
    for mentor in set(mentors) - set(waiting):
        assert site.sql(MESSAGES_TO, user=mentor) == []

    # Later the same day: nothing is sent again.
    again = cohort.accel(
        "--stats", "serve", "--once", "--now", f"{day.isoformat()}T11:00", "--send", "--job", "reminders"
    )
    assert again.returncode == 0, again.explain()
    assert request_counts(again.output)[1] == 0, again.output
    for mentor in waiting:
        assert len(site.sql(MESSAGES_TO, user=mentor)) == 1
    # The next day the work still waits, and each mentor is reminded once more.
    next_day = (day + dt.timedelta(days=1)).isoformat()
    later = cohort.accel("serve", "--once", "--now", f"{next_day}T09:30", "--send", "--job", "reminders")
    assert later.returncode == 0, later.explain()
    for mentor in waiting:
        assert len(site.sql(MESSAGES_TO, user=mentor)) == 2


def test_a_second_apply_is_refused_with_exit_5_while_one_runs(site: Site, new_cohort: CohortFactory) -> None:
    cohort = new_cohort()
    first = cohort.start("provision", "--apply")
    try:
        # The apply has begun writing (its category is there); freeze it there, holding the lock.
        wait_for(
            lambda: (
                site.sql_int(
                    "select count(*) from mdl_course_categories where idnumber = :'c'", c=cohort.code
                )
                == 1
                or first.process.poll() is not None
            ),
            timeout=120,
            what="the first apply to create its category",
        )
        first.process.send_signal(signal.SIGSTOP)
        assert first.process.poll() is None, "the first apply ended before the second could start"
        second = cohort.accel("provision", "--apply")
        assert second.returncode == 5, second.explain()
        assert "another sync or apply is running" in second.output
        assert f"process {first.process.pid}" in second.output
        waited = cohort.accel("provision", "--apply", "--wait", "1")
        assert waited.returncode == 5, waited.explain()
    finally:
        first.process.send_signal(signal.SIGCONT)
    done = first.finish()
    assert done.returncode == 0, done.explain()
    # The refused applies wrote nothing: one category, one course per module.
    assert (
        site.sql_int("select count(*) from mdl_course_categories where idnumber = :'c'", c=cohort.code) == 1
    )
    assert len(cohort.course_ids()) == 3
    assert (
        site.sql_int(
            "select count(*) from mdl_course where category = (select id from mdl_course_categories where idnumber = :'c')",
            c=cohort.code,
        )
        == 3
    )


def test_the_service_roster_job_makes_the_teams_and_their_waiting_consultations(
    site: Site, new_cohort: CohortFactory
) -> None:
    """The roster job of `accel serve`, after an apply that made the teams' groups, creates the team
    consultations of the schedule itself: nobody has to remember a second `provision --apply`."""
    cohort = new_cohort()
    people = cohort_people(cohort.code)
    write_csv(people, cohort.directory / "roster.csv")
    cohort.config.write_text(
        cohort.config.read_text(encoding="utf-8").replace(
            "[service]\n", '[service]\nroster_file = "roster.csv"\n'
        ),
        encoding="utf-8",
    )
    cohort.accel_ok("provision", "--apply")
    m2 = cohort.course_ids()["m2"]
    team_events = "select count(*) from mdl_event where courseid = :'m2' and eventtype = 'group'"
    assert site.sql_int(team_events, m2=m2) == 0

    run = cohort.accel("serve", "--once", "--job", "roster_sync")
    assert run.returncode == 0, run.explain()
    users = cohort.user_ids()
    assert set(users) == {p.email for p in people}
    stored = site.sql(
        """select e.name, g.name as team from mdl_event e join mdl_groups g on g.id = e.groupid
            where e.courseid = :'m2' and e.eventtype = 'group' order by e.name""",
        m2=m2,
    )
    assert [(e["name"], e["team"]) for e in stored] == sorted(
        (t, team) for t, _s, _d, team in CONSULTATIONS if team
    )
    # Provisioning finds nothing left to do.
    after = cohort.accel("--stats", "provision", "--apply")
    assert after.returncode == 0 and request_counts(after.output)[1] == 0, after.explain()

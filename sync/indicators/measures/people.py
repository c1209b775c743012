"""Indicators of who takes part: participants, school participants in teams, initiative groups."""

from __future__ import annotations

from collections import defaultdict

from i18n import _, ngettext
from sync.indicators.context import Context
from sync.indicators.models import Evidence, Measurement


def participants(ctx: Context) -> Measurement:
    """Distinct people with an active student enrolment in any of the cohort's courses."""
    notes: list[str] = []
    people: dict[int, list[str]] = defaultdict(list)
    breakdown: dict[str, float] = {}
    for c in ctx.snap.courses:
        if c.id is None:
            notes.append(
                _("Course {course} is not on the site: its participants are not counted.").format(
                    course=c.shortname
                )
            )
            continue
        students = ctx.active_students.get(c.id, set())
        breakdown[_("Module {number}").format(number=c.number)] = len(students)
        for uid in students:
            people[uid].append(c.shortname)
    ctx.undated_note(notes)
    evidence = [
        Evidence(label=ctx.name(uid), detail=", ".join(sorted(courses)), url=ctx.links.user(uid))
        for uid, courses in sorted(people.items(), key=lambda kv: ctx.name(kv[0]))
    ]
    return Measurement(float(len(people)), evidence, notes, breakdown)


def school_participants(ctx: Context) -> Measurement:
    """Active students of module 1 who are members of a team there."""
    notes: list[str] = []
    ctx.undated_note(notes)
    cid = ctx.require_course("m1", notes)
    if cid is None:
        return Measurement(None, notes=notes)
    found: dict[int, str] = {}
    for team in ctx.teams_by_course.get(cid, []):
        for uid in ctx.students_of(team):
            found.setdefault(uid, team.name)
    outside = ctx.active_students.get(cid, set()) - set(found)
    if outside:
        notes.append(
            _("Active participants of module 1 outside any team ({count}): {names}").format(
                count=len(outside), names=", ".join(sorted(ctx.name(u) for u in outside))
            )
        )
    evidence = [
        Evidence(label=ctx.name(uid), detail=team, url=ctx.links.user(uid, cid))
        for uid, team in sorted(found.items(), key=lambda kv: (kv[1], ctx.name(kv[0])))
    ]
    return Measurement(float(len(found)), evidence, notes)


def initiative_groups(ctx: Context) -> Measurement:
    """Module 1's groups with at least one active student."""
    notes: list[str] = []
    ctx.undated_note(notes)
    cid = ctx.require_course("m1", notes)
    if cid is None:
        return Measurement(None, notes=notes)
    evidence: list[Evidence] = []
    teams = ctx.teams_by_course.get(cid, [])
    if not teams:
        notes.append(_("The course of module 1 has no groups (teams)."))
    for team in sorted(teams, key=lambda t: t.name):
        students = ctx.students_of(team)
        if not team.member_ids:
            notes.append(_("Team «{team}» has no members: not counted.").format(team=team.name))
        elif not students:
            notes.append(
                _("Team «{team}» has no active participants (students): not counted.").format(team=team.name)
            )
        else:
            evidence.append(
                Evidence(
                    label=team.name,
                    detail=ngettext(
                        "{count} person: {names}", "{count} people: {names}", len(students)
                    ).format(count=len(students), names=", ".join(sorted(ctx.name(u) for u in students))),
                    url=ctx.links.group(cid, team.id),
                    value=float(len(students)),
                )
            )
    return Measurement(float(len(evidence)), evidence, notes)

"""Indicators of who takes part: participants, school participants in teams, initiative groups."""

from __future__ import annotations

from collections import defaultdict

from sync.indicators.context import Context
from sync.indicators.models import Evidence, Measurement


def participants(ctx: Context) -> Measurement:
    """Distinct people with an active student enrolment in any of the cohort's courses."""
    notes: list[str] = []
    people: dict[int, list[str]] = defaultdict(list)
    breakdown: dict[str, float] = {}
    for c in ctx.snap.courses:
        if c.id is None:
            notes.append(f"Курс {c.shortname} не найден: его участники не учтены.")
            continue
        students = ctx.active_students.get(c.id, set())
        breakdown[f"Модуль {c.number}"] = len(students)
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
            f"Активные участники модуля 1 вне команд ({len(outside)}): "
            + ", ".join(sorted(ctx.name(u) for u in outside))
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
        notes.append("В курсе модуля 1 нет ни одной группы (команды).")
    for team in sorted(teams, key=lambda t: t.name):
        students = ctx.students_of(team)
        if not team.member_ids:
            notes.append(f"Команда «{team.name}» не имеет участников: не учтена.")
        elif not students:
            notes.append(f"В команде «{team.name}» нет активных участников (студентов): не учтена.")
        else:
            evidence.append(
                Evidence(
                    label=team.name,
                    detail=f"{len(students)} чел.: " + ", ".join(sorted(ctx.name(u) for u in students)),
                    url=ctx.links.group(cid, team.id),
                    value=float(len(students)),
                )
            )
    return Measurement(float(len(evidence)), evidence, notes)

"""Indicators of what people answered in module 3's and module 1's activities: funds raised (the pledge
database), votes cast (the vote), satisfaction and NGO intent (the school's survey)."""

from __future__ import annotations

import statistics
from collections import Counter

from i18n import _
from sync.indicators.context import Context
from sync.indicators.models import Evidence, Measurement
from sync.indicators.parsing import parse_amount, parse_score
from sync.indicators.program import NGO_YES, PLEDGE_KINDS
from sync.indicators.snapshot import Activity


def funds_raised(ctx: Context) -> Measurement:
    """The partners' pledges (``m3-pledges``) made in the period, in roubles, by kind of support."""
    notes: list[str] = []
    activity = ctx.require("m3-pledges", notes)
    if activity is None:
        return Measurement(None, notes=notes)
    total = 0.0
    breakdown: dict[str, float] = {}
    evidence: list[Evidence] = []
    for p in sorted(ctx.snap.pledges, key=lambda p: (p.timecreated, p.id)):
        if not ctx.period.contains(p.timecreated):
            continue
        amount = parse_amount(p.amount_text)
        if amount is None:
            notes.append(
                _("Entry {id} ({partner}): the amount «{amount}» is not a number, not counted.").format(
                    id=p.id, partner=p.partner or _("no partner"), amount=p.amount_text
                )
            )
            continue
        kind = p.kind or _("not given")
        if p.kind and p.kind not in PLEDGE_KINDS:
            notes.append(_("Entry {id}: an unusual kind of support «{kind}».").format(id=p.id, kind=p.kind))
        total += amount
        breakdown[kind] = breakdown.get(kind, 0.0) + amount
        evidence.append(
            Evidence(
                label=p.partner or _("(partner not given)"),
                detail=(
                    _("{project}; {kind}") if p.approved else _("{project}; {kind}; not approved")
                ).format(project=p.project or _("(project not given)"), kind=kind),
                url=ctx.links.data_entry(p.cmid, p.id),
                when=p.timecreated,
                value=amount,
            )
        )
    if not ctx.snap.pledges:
        notes.append(_("The database of partners' pledges has no entries."))
    return Measurement(round(total, 2), evidence, notes, breakdown)


def votes_cast(ctx: Context) -> Measurement:
    """People who voted in ``m3-vote`` (answers, when the vote allows several and hides the names)."""
    notes: list[str] = []
    activity = ctx.require("m3-vote", notes)
    result = next((c for c in ctx.snap.choices if c.key == "m3-vote"), None)
    if activity is None or result is None:
        if activity is not None:
            notes.append(_("The vote's results were not read."))
        return Measurement(None, notes=notes)
    if result.voter_ids is not None:
        value = len(set(result.voter_ids))
    else:
        value = sum(o.count for o in result.options)
        if result.allowmultiple:
            notes.append(
                _(
                    "The vote allows several answers and Moodle did not name the voters: the number of answers is "
                    "shown, and it may be more than the number of people."
                )
            )
    if not ctx.period.is_whole:
        notes.append(_("Moodle's answer gives no dates for the vote's answers: shown as of the snapshot."))
    if value == 0:
        notes.append(_("Nobody has voted yet."))
    evidence = [
        Evidence(
            label=o.text,
            detail=_("votes: {count}").format(count=o.count),
            url=ctx.links.choice(result.cmid),
            value=float(o.count),
        )
        for o in result.options
    ]
    breakdown = {o.text: float(o.count) for o in result.options}
    return Measurement(float(value), evidence, notes, breakdown)


def _survey(
    ctx: Context, key: str, notes: list[str]
) -> tuple[Activity | None, list[tuple[int | None, int, dict[str, str]]]]:
    """The survey activity `key` and its responses in the period (user id, time, answers by item label)."""
    activity = ctx.require(key, notes)
    survey = next((s for s in ctx.snap.surveys if s.key == key), None)
    if activity is None:
        return None, []
    if survey is None:
        notes.append(_("The answers of survey «{key}» were not read.").format(key=key))
        return activity, []
    rows = [
        (r.userid, r.timemodified, r.answers) for r in survey.responses if ctx.period.contains(r.timemodified)
    ]
    if not survey.responses:
        notes.append(
            _("Nobody has answered survey «{key}» yet: the indicator is not computed.").format(key=key)
        )
    elif not rows:
        notes.append(_("No answers to survey «{key}» in the chosen period.").format(key=key))
    return activity, rows


def satisfaction(ctx: Context) -> Measurement:
    """The mean of the school survey's "usefulness" scores (1–10) answered in the period."""
    notes: list[str] = []
    activity, rows = _survey(ctx, "m1-survey", notes)
    if activity is None:
        return Measurement(None, notes=notes)
    scores: list[float] = []
    evidence: list[Evidence] = []
    skipped = 0
    for uid, when, answers in rows:
        raw = answers.get("usefulness", "")
        score = parse_score(raw) if raw else None
        if score is None:
            skipped += 1
            continue
        scores.append(score)
        evidence.append(
            Evidence(
                label=ctx.name(uid) if uid else _("anonymous answer"),
                detail=_("usefulness {score}").format(score=f"{score:g}"),
                url=ctx.links.feedback(activity.cmid),
                when=when,
                value=score,
            )
        )
    if skipped:
        notes.append(
            _("Surveys without a usefulness score (not in the mean): {count}.").format(count=skipped)
        )
    value = statistics.fmean(scores) if scores else None
    breakdown = {f"{k:g}": float(v) for k, v in sorted(Counter(scores).items())}
    return Measurement(value, evidence, notes, breakdown)


def ngo_intent(ctx: Context) -> Measurement:
    """The share of the school survey's respondents who plan an NGO or have registered one."""
    notes: list[str] = []
    activity, rows = _survey(ctx, "m1-survey", notes)
    if activity is None or not rows:
        return Measurement(None, notes=notes)
    counts: Counter[str] = Counter()
    evidence: list[Evidence] = []
    no_answer = _("no answer")
    for uid, when, answers in rows:
        answer = answers.get("ngo_plan", "").strip()
        counts[answer or no_answer] += 1
        if answer in NGO_YES:
            evidence.append(
                Evidence(
                    label=ctx.name(uid) if uid else _("anonymous answer"),
                    detail=answer,
                    url=ctx.links.feedback(activity.cmid),
                    when=when,
                )
            )
    if counts.get(no_answer):
        notes.append(
            _("Respondents without an answer to the NGO question (in the denominator): {count}.").format(
                count=counts[no_answer]
            )
        )
    value = round(len(evidence) / len(rows), 4)
    breakdown = {k: float(v) for k, v in counts.most_common()}
    breakdown[_("Respondents")] = float(len(rows))
    return Measurement(value, evidence, notes, breakdown)

"""Roster sync, the writing part: carry a plan out, isolate bad items, journal every change.

Moodle's batch writes are all-or-nothing and their error does not say which item was bad (field notes 3
and 5). A failed batch is therefore split in halves and each half retried, down to the single bad items;
everything else is applied. Operations that depend on a failed one (the enrolment of a user who could not be
created, the membership of a group that could not be made) are skipped and reported with the reason.

A write whose outcome is unknown (the connection dropped, :class:`UncertainWrite`) is never resent: created
users are re-read by username to learn what happened; anything else is reported, and the next run, which
plans from the live site, completes what is missing.

Several requests at a time (the client's ``concurrency``): the kinds of change go in stages (:func:`stages`,
from what each kind waits for, ``AFTER`` in sync/roster/plan.py), and the batches of one stage are sent at
once: the users' batches with the groups and groupings, then the enrolments of every course with the groups'
districts, then the memberships. A batch is sent (and split, if refused) by one of the client's threads; what
it found is carried out by the applying thread when the batch is done (:class:`_Batch`): the journal (a SQLite
connection of that thread), the result, the ids of what was made and the progress. With concurrency 1 every
kind is a stage of its own, in OP_ORDER, and the batches go one after another: the order of before.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from i18n import N_, _
from integration.enrol import course_role, enrol_users, unassign_roles, unenrol_users
from integration.errors import AccessDenied, InvalidToken, MoodleError, UncertainWrite
from integration.groups import (
    add_group_members,
    assign_grouping,
    create_groupings,
    create_groups,
    delete_group_members,
    unassign_grouping,
)
from integration.pool import Outcome, results
from integration.transport import MoodleClient
from integration.users import create_users, get_users_by_field, update_users
from sync.core.plan import ApplyResult, Failure, Handlers, Status
from sync.core.private_files import write_private
from sync.core.vocabulary import team_key
from sync.roster.journal import Journal
from sync.roster.plan import (
    AFTER,
    OP_ORDER,
    AddMember,
    AddRole,
    AssignGrouping,
    CreateGroup,
    CreateGrouping,
    CreateUser,
    Enrol,
    Op,
    Reactivate,
    RemoveMember,
    RosterPlan,
    Suspend,
    UnassignGrouping,
    UnassignRole,
    Unenrol,
    UpdateUser,
)
from sync.roster.read import RosterPerson

#: After this many single items of one kind failed in a row with the same errorcode and none succeeded, a
#: failing batch of that kind is no longer split (see Applier._isolate_batch).
GIVE_UP_AFTER = 8

AnyOp = TypeVar("AnyOp", bound=Op)

UNCERTAIN = N_(
    "the connection failed during the write, so Moodle may or may not have applied it; "
    "run the sync again: it reads the site and completes what is missing"
)


#: Moodle's invalidparameter never says which field was wrong (field note 3); the likely causes per operation.
LIKELY_CAUSES = {
    "create_user": N_(
        "often the email already belongs to another account (in any letter case) or the username is taken"
    ),
    "add_member": N_("often the person is not enrolled in the course"),
    "create_group": N_("often a group with this name already exists in the course"),
    "create_grouping": N_("often a grouping with this name already exists in the course"),
}


def _error_text(exc: Exception, kind: str = "") -> str:
    if isinstance(exc, MoodleError):
        # Moodle's own answer stays in Moodle's words; accel's guess at the cause is the reader's language.
        text = f"{exc.errorcode}: {exc.message}"
        if exc.errorcode == "invalidparameter" and kind in LIKELY_CAUSES:
            text = _("{answer} ({cause})").format(answer=text, cause=_(LIKELY_CAUSES[kind]))
        return text
    return str(exc)


def stages(concurrency: int) -> list[tuple[type[Op], ...]]:
    """The kinds of change in the stages of an apply: a stage starts when the one before it is done.

    With one request at a time, every kind is a stage of its own, in OP_ORDER (the order of a plain loop). With
    more, a kind goes in the first stage after every kind it waits for (``AFTER``), so that independent kinds
    (the users, the groups) are sent at once.
    """
    if concurrency <= 1:
        return [(kind,) for kind in OP_ORDER]
    level: dict[type[Op], int] = {}
    for kind in OP_ORDER:  # OP_ORDER keeps every kind after those it waits for (a test checks it)
        level[kind] = 1 + max((level[before] for before in AFTER[kind]), default=-1)
    return [
        tuple(kind for kind in OP_ORDER if level[kind] == number) for number in range(max(level.values()) + 1)
    ]


def conflict_key(op: Op) -> Hashable:
    """What a change writes in the site's database that another change of its kind may write too: the group of
    a membership (its row is updated with each member), the grouping of a group's district, the course of a
    new group or grouping, else the person (an account; an enrolment's role marks the user's access as
    changed, a row per user)."""
    if isinstance(op, AddMember | RemoveMember):
        return ("group", op.module, team_key(op.team))
    if isinstance(op, AssignGrouping | UnassignGrouping):
        return ("grouping", op.module, team_key(op.district))
    if isinstance(op, CreateGroup | CreateGrouping):
        return ("course", op.module)
    return ("person", op.person or op.userid)


class _Batch:
    """One batch of one kind: sent, and split down to its bad items if Moodle refuses it, by whichever thread
    the client's pool gives it; what it found is kept here and carried out by the applying thread
    (:meth:`record`), which alone touches the journal, the result, the ids and the progress."""

    def __init__(self, send: Callable[[_Batch], None]) -> None:
        self._send = send
        self._found: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._recorded = 0

    def send(self) -> None:
        self._send(self)

    def later(self, action: Callable[..., None], *args: Any) -> None:
        """Keep ``action(*args)`` for the applying thread."""
        self._found.append((action, args))

    @property
    def recorded(self) -> bool:
        return self._recorded == len(self._found)

    def record(self) -> None:
        """Carry out what was found and not yet carried out (in the applying thread)."""
        while self._recorded < len(self._found):
            action, args = self._found[self._recorded]
            self._recorded += 1
            action(*args)


class RosterApplier:
    """The roster's applier (sync.core.plan.Applier): one handler per kind of change, each sending its changes
    in batches under the site's request limit and splitting a refused batch down to its bad items.

    The handlers prepare the batches of their kind (in the applying thread: what a change needs, the ids made
    before, is known then); the batches of a stage are then sent together (:meth:`_send`).
    """

    def __init__(
        self,
        client: MoodleClient,
        plan: RosterPlan,
        *,
        journal: Journal | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.journal = journal
        self.progress = progress or (lambda _n: None)
        self.result: ApplyResult[Op] = ApplyResult()
        self.userids: dict[str, int] = dict(plan.userids)
        self.group_ids: dict[tuple[int, str], int] = {}
        self.grouping_ids: dict[tuple[int, str], int] = {}
        self.failed_people: set[str] = set()
        self.failed_enrolments: set[tuple[str, int]] = set()
        self.failed_groups: set[tuple[int, str]] = set()
        self.failed_groupings: set[tuple[int, str]] = set()
        #: (module, team) whose assignment to its district's grouping failed or was skipped
        self.failed_assignments: set[tuple[int, str]] = set()
        #: per kind of operation: how many single items failed in a row with the same error, and that error
        self.single_failures: dict[str, tuple[int, str]] = {}
        self.succeeded: set[str] = set()
        #: single_failures and succeeded are shared by the batches of a kind, sent from several threads
        self._streaks = threading.Lock()
        #: the batches the handlers of the current stage prepared
        self._prepared: list[_Batch] = []

    # -- bookkeeping (the applying thread) ---------------------------------------------------------------------
    def _done(self, ops: Sequence[Op]) -> None:
        self.result.done.extend(ops)
        if self.journal is not None:
            for op in ops:
                self.journal.record(op, "ok")
        self.progress(len(ops))

    def _fail(self, op: Op, error: str, status: Status = "failed") -> None:
        self.result.failures.append(Failure(op, error, status))
        if op.person:
            if isinstance(op, CreateUser):
                self.failed_people.add(op.person)
            elif isinstance(op, Enrol | AddRole | Reactivate) and op.module is not None:
                self.failed_enrolments.add((op.person, op.module))
        if isinstance(op, CreateGroup) and op.module is not None:
            self.failed_groups.add((op.module, team_key(op.team)))
        if isinstance(op, CreateGrouping) and op.module is not None:
            self.failed_groupings.add((op.module, team_key(op.district)))
        if isinstance(op, AssignGrouping) and op.module is not None:
            self.failed_assignments.add((op.module, team_key(op.team)))
        if self.journal is not None:
            self.journal.record(op, status, error)
        self.progress(1)

    def _commit(self) -> None:
        if self.journal is not None:
            self.journal.commit()

    def _userid(self, op: Op) -> int | None:
        if op.userid is not None:
            return op.userid
        return self.userids.get(op.person)

    def _blocked(self, op: Op) -> str | None:
        """Why ``op`` cannot run because something it depends on failed (None: it can run)."""
        if op.person and op.person in self.failed_people:
            return _("skipped: the user account could not be created")
        if isinstance(op, AddMember | RemoveMember) and op.person and op.module is not None:
            if (op.person, op.module) in self.failed_enrolments:
                return _("skipped: the enrolment in this course failed")
        # A role change gives the new role before it takes the old one (field note 22): when giving it failed,
        # the old role stays, or the person would be left enrolled with no role at all.
        if isinstance(op, UnassignRole) and op.person and op.module is not None:
            if (op.person, op.module) in self.failed_enrolments:
                return _("skipped: the enrolment in this course could not be updated, so the old role stays")
        if isinstance(op, AddMember | AssignGrouping) and op.module is not None:
            if (op.module, team_key(op.team)) in self.failed_groups:
                return _("skipped: group «{team}» could not be created").format(team=op.team)
        if isinstance(op, AssignGrouping) and op.module is not None:
            if (op.module, team_key(op.district)) in self.failed_groupings:
                return _("skipped: grouping «{district}» could not be created").format(district=op.district)
        if isinstance(op, UnassignGrouping) and op.module is not None:
            if (op.module, team_key(op.team)) in self.failed_assignments:
                return _(
                    "skipped: group «{team}» could not be put into its new district's grouping «{to}», "
                    "so it stays in this one"
                ).format(team=op.team, to=op.to)
        return None

    # -- batches with isolation -----------------------------------------------------------------------------
    def _run(
        self,
        ops: Sequence[AnyOp],
        item: Callable[[AnyOp], dict[str, Any] | None],
        send: Callable[[list[Any]], Any],
        handle: Callable[[_Batch, list[AnyOp], Any], list[tuple[Op, str]]] | None = None,
        uncertain: Callable[[_Batch, list[AnyOp]], None] | None = None,
    ) -> None:
        """Prepare the batches of ``ops``: as few requests as the limit allows, each split if refused.

        Changes whose prerequisite failed, or whose ids are unknown, are skipped here (and journalled).
        """
        pairs: list[tuple[AnyOp, Any]] = []
        for op in ops:
            why = self._blocked(op)
            if why:
                self._fail(op, why, "skipped")
                continue
            built = item(op)
            if built is None:
                self._fail(op, _("skipped: an id it needs is unknown"), "skipped")
                continue
            pairs.append((op, built))
        if not pairs:
            return
        keys: list[Hashable] | None = None
        if self.client.concurrency > 1:
            # Batches sent at once must not write the same rows of the site's database in orders that cross:
            # the changes are ordered by group (memberships), grouping or person (enrolments, roles, accounts),
            # and each batch holds whole ones where that costs no request (else one is cut only where a batch
            # ends). Measured: memberships of one group spread over two batches at once deadlock in
            # PostgreSQL ("Error writing to database").
            first: dict[Hashable, int] = {}
            for op, _item in pairs:
                first.setdefault(conflict_key(op), len(first))
            pairs.sort(key=lambda pair: first[conflict_key(pair[0])])
            keys = [conflict_key(op) for op, _item in pairs]
        # Sent at once, batches of about the same size finish together: as many requests as the fullest
        # batches, but no stage waits for one big batch after the others are done.
        chunks = self.client.chunks([p[1] for p in pairs], even=self.client.concurrency > 1, keys=keys)
        start = 0
        for chunk in chunks:
            part = pairs[start : start + len(chunk)]
            start += len(chunk)

            def send_part(batch: _Batch, part: list[tuple[AnyOp, Any]] = part) -> None:
                self._isolate_batch(batch, part, send, handle, uncertain)

            self._prepared.append(_Batch(send_part))

    def _send(self) -> None:
        """Send the batches prepared for this stage, ``concurrency`` at a time, each recorded when done.

        A batch's own failures are isolated inside it; what escapes one (a refused token, a stop, the site
        gone) keeps the batches not yet started from starting, the ones in flight finish, and everything that
        was done is recorded before it is raised.
        """
        batches, self._prepared = self._prepared, []
        self._commit()  # the skipped changes, before any request

        def record(outcome: Outcome[None]) -> None:
            batches[outcome.index].record()
            self._commit()

        try:
            outcomes = self.client.outcomes([batch.send for batch in batches], on_done=record)
        finally:
            # What the batches did and is not recorded yet: a batch interrupted in the applying thread itself
            # (Ctrl-C with one request at a time), those in flight when a recording failed.
            self._record_all(batches)
        results(outcomes)  # the first error, or Cancelled if a stop kept batches from starting

    def _record_all(self, batches: Sequence[_Batch]) -> None:
        """Record every batch whole, even if recording one step fails (a Ctrl-C in the progress display): the
        journal must hold all that was done. The first such error is raised once all is recorded."""
        first: BaseException | None = None
        for batch in batches:
            while not batch.recorded:
                try:
                    batch.record()
                except BaseException as exc:
                    first = first or exc
        try:
            self._commit()
        except BaseException as exc:
            first = first or exc
        if first is not None:
            raise first

    def _isolate_batch(
        self,
        batch: _Batch,
        pairs: list[tuple[AnyOp, Any]],
        send: Callable[[list[Any]], Any],
        handle: Callable[[_Batch, list[AnyOp], Any], list[tuple[Op, str]]] | None,
        uncertain: Callable[[_Batch, list[AnyOp]], None] | None,
    ) -> None:
        ops = [p[0] for p in pairs]
        kind = ops[0].kind
        try:
            answer = send([p[1] for p in pairs])
        except (InvalidToken, AccessDenied):
            raise  # not about one item: nothing else would get through either
        except UncertainWrite:
            if uncertain is not None:
                uncertain(batch, ops)
            else:
                for op in ops:
                    batch.later(self._fail, op, _(UNCERTAIN))
            return
        except MoodleError as exc:
            with self._streaks:
                streak = self.single_failures.get(kind)
                give_up = bool(
                    len(pairs) > 1 and streak and streak[0] >= GIVE_UP_AFTER and kind not in self.succeeded
                )
            if give_up and streak:
                # Every item tried alone failed the same way and none went through: perhaps a site-level cause
                # (no manual enrolment instance, a missing capability) rather than bad items. One item of this
                # batch is tried alone: if it fails too, the batch is not split further (that would cost two
                # requests per person and tell nothing new); if it goes through, splitting goes on.
                self._isolate_batch(batch, pairs[-1:], send, handle, uncertain)
                with self._streaks:
                    still_none = kind not in self.succeeded
                if still_none:
                    for op in ops[:-1]:
                        batch.later(
                            self._fail,
                            op,
                            _("{answer} (not split: {count} items alone failed alike)").format(
                                answer=_error_text(exc), count=streak[0] + 1
                            ),
                        )
                    return
                self._isolate_batch(batch, pairs[:-1], send, handle, uncertain)
                return
            if len(pairs) == 1:
                # Compared by errorcode: messages name the user and course, so they differ for every item.
                with self._streaks:
                    count, last = self.single_failures.get(kind, (0, ""))
                    self.single_failures[kind] = (count + 1 if last == exc.errorcode else 1, exc.errorcode)
                batch.later(self._fail, ops[0], _error_text(exc, kind))
                return
            middle = len(pairs) // 2
            self._isolate_batch(batch, pairs[:middle], send, handle, uncertain)
            self._isolate_batch(batch, pairs[middle:], send, handle, uncertain)
            return
        with self._streaks:
            self.succeeded.add(kind)
        refused = handle(batch, ops, answer) if handle is not None else []
        refused_ops = {id(change) for change, _ in refused}
        for change, error in refused:
            batch.later(self._fail, change, error)
        batch.later(self._done, [op for op in ops if id(op) not in refused_ops])

    # -- the operations --------------------------------------------------------------------------------------
    def handlers(self) -> Handlers:
        """One handler per kind; each prepares the batches of its kind for the stage being applied."""
        return (
            Handlers()
            .on(CreateUser, self._apply_create_user)
            .on(UpdateUser, self._apply_update_user)
            .on(Enrol, self._apply_enrol)
            .on(AddRole, self._apply_add_role)
            .on(Reactivate, self._apply_reactivate)
            .on(UnassignRole, self._apply_unassign_role)
            .on(CreateGroup, self._apply_create_group)
            .on(CreateGrouping, self._apply_create_grouping)
            .on(AssignGrouping, self._apply_assign_grouping)
            .on(UnassignGrouping, self._apply_unassign_grouping)
            .on(RemoveMember, self._apply_remove_member)
            .on(AddMember, self._apply_add_member)
            .on(Suspend, self._apply_suspend)
            .on(Unenrol, self._apply_unenrol)
        )

    def apply(self) -> ApplyResult[Op]:
        """Carry the plan out, stage by stage (:func:`stages`); an error that is not about one item (a refused
        token, a stop, the site gone) propagates once what was done is recorded, ``result`` telling how far."""
        handlers = self.handlers()
        handlers.check(self.plan.changes, OP_ORDER)
        for stage in stages(self.client.concurrency):
            handlers.run([change for change in self.plan.changes if type(change) in stage], stage)
            self._send()
        return self.result

    def _created(self, op: CreateUser, userid: int) -> None:
        self.userids[op.person] = userid
        self.result.created[op.person] = userid

    def _apply_create_user(self, ops: list[CreateUser]) -> None:
        def handle(batch: _Batch, chunk: list[CreateUser], created: Any) -> list[tuple[Op, str]]:
            ids = {c.username: c.id for c in created}
            refused: list[tuple[Op, str]] = []
            for op in chunk:
                if op.username in ids:
                    batch.later(self._created, op, ids[op.username])
                else:
                    refused.append((op, _("Moodle did not return the new account")))
            return refused

        def uncertain(batch: _Batch, chunk: list[CreateUser]) -> None:
            # Re-read: the users that exist were created; the rest were not (never resend a write).
            found = {
                u.username: u.id
                for u in get_users_by_field(self.client, "username", [op.username for op in chunk])
            }
            made: list[Op] = []
            for op in chunk:
                if op.username in found:
                    batch.later(self._created, op, found[op.username])
                    made.append(op)
                else:
                    batch.later(self._fail, op, _(UNCERTAIN))
            if made:
                batch.later(self._done, made)

        self._run(
            ops,
            lambda op: dict(op.fields),
            lambda items: create_users(self.client, items),
            handle,
            uncertain,
        )

    def _apply_update_user(self, ops: list[UpdateUser]) -> None:
        def item(op: UpdateUser) -> dict[str, Any]:
            return {"id": op.userid, **{k: v[1] for k, v in op.changes.items()}}

        def handle(batch: _Batch, chunk: list[UpdateUser], warnings: Any) -> list[tuple[Op, str]]:
            # core_user_update_users reports per-user failures only as warnings (field note 8).
            bad = {w.itemid: f"{w.warningcode}: {w.message}" for w in warnings}
            return [(op, bad[op.userid]) for op in chunk if op.userid in bad]

        self._run(ops, item, lambda items: update_users(self.client, items), handle)

    def _enrol_item(self, op: Op, suspend: int | None = None) -> dict[str, Any] | None:
        userid = self._userid(op)
        if userid is None or op.courseid is None or op.roleid is None:
            return None
        out: dict[str, Any] = {"roleid": op.roleid, "userid": userid, "courseid": op.courseid}
        if suspend is not None:
            out["suspend"] = suspend
        return out

    def _apply_enrol(self, ops: list[Enrol]) -> None:
        self._run(ops, self._enrol_item, lambda items: enrol_users(self.client, items))

    def _apply_add_role(self, ops: list[AddRole]) -> None:
        # A different roleid on an existing enrolment ADDS the role (field note 22); suspend=0 reactivates.
        self._run(
            ops,
            lambda op: self._enrol_item(op, 0 if op.reactivate else None),
            lambda items: enrol_users(self.client, items),
        )

    def _apply_reactivate(self, ops: list[Reactivate]) -> None:
        self._run(ops, lambda op: self._enrol_item(op, 0), lambda items: enrol_users(self.client, items))

    def _apply_unassign_role(self, ops: list[UnassignRole]) -> None:
        def item(op: UnassignRole) -> dict[str, Any] | None:
            userid = self._userid(op)
            if userid is None or op.courseid is None or op.roleid is None:
                return None
            return dict(course_role(op.roleid, userid, op.courseid))

        self._run(ops, item, lambda items: unassign_roles(self.client, items))

    def _create_named(
        self,
        ops: list[AnyOp],
        what: str,
        item: Callable[[AnyOp], dict[str, Any]],
        send: Callable[[list[Any]], Any],
        ids: dict[tuple[int, str], int],
    ) -> None:
        """Create groups or groupings; each new id, found in Moodle's answer by (course, name), goes in ``ids``."""

        def handle(batch: _Batch, chunk: list[AnyOp], answer: Any) -> list[tuple[Op, str]]:
            made = {(g.courseid, g.name): g.id for g in answer}
            refused: list[tuple[Op, str]] = []
            for op in chunk:
                name = item(op)["name"]
                newid = made.get((op.courseid or 0, name))
                if newid is None or op.module is None:
                    missing = (
                        _("Moodle did not return the new group")
                        if what == "group"
                        else _("Moodle did not return the new grouping")
                    )
                    refused.append((op, missing))
                else:
                    batch.later(ids.__setitem__, (op.module, team_key(name)), newid)
            return refused

        self._run(ops, item, send, handle)

    def _apply_create_group(self, ops: list[CreateGroup]) -> None:
        def item(op: CreateGroup) -> dict[str, Any]:
            return {
                "courseid": op.courseid,
                "name": op.team,
                "description": op.description,
                "idnumber": op.idnumber,
            }

        self._create_named(
            ops, "group", item, lambda items: create_groups(self.client, items), self.group_ids
        )

    def _apply_create_grouping(self, ops: list[CreateGrouping]) -> None:
        def item(op: CreateGrouping) -> dict[str, Any]:
            return {"courseid": op.courseid, "name": op.district, "description": "", "idnumber": op.idnumber}

        self._create_named(
            ops, "grouping", item, lambda items: create_groupings(self.client, items), self.grouping_ids
        )

    def _groupid(self, op: Op) -> int | None:
        if op.groupid is not None:
            return op.groupid
        if op.module is None:
            return None
        return self.group_ids.get((op.module, team_key(op.team)))

    def _apply_assign_grouping(self, ops: list[AssignGrouping]) -> None:
        def item(op: AssignGrouping) -> dict[str, Any] | None:
            groupid = self._groupid(op)
            groupingid = op.groupingid
            if groupingid is None and op.module is not None:
                groupingid = self.grouping_ids.get((op.module, team_key(op.district)))
            if groupid is None or groupingid is None:
                return None
            return {"groupingid": groupingid, "groupid": groupid}

        self._run(ops, item, lambda items: assign_grouping(self.client, items))

    def _apply_unassign_grouping(self, ops: list[UnassignGrouping]) -> None:
        def item(op: UnassignGrouping) -> dict[str, Any] | None:
            if op.groupid is None or op.groupingid is None:
                return None
            return {"groupingid": op.groupingid, "groupid": op.groupid}

        self._run(ops, item, lambda items: unassign_grouping(self.client, items))

    def _member_item(self, op: Op) -> dict[str, Any] | None:
        userid = self._userid(op)
        groupid = self._groupid(op)
        if userid is None or groupid is None:
            return None
        return {"groupid": groupid, "userid": userid}

    def _apply_remove_member(self, ops: list[RemoveMember]) -> None:
        self._run(ops, self._member_item, lambda items: delete_group_members(self.client, items))

    def _apply_add_member(self, ops: list[AddMember]) -> None:
        self._run(ops, self._member_item, lambda items: add_group_members(self.client, items))

    def _apply_suspend(self, ops: list[Suspend]) -> None:
        self._run(ops, lambda op: self._enrol_item(op, 1), lambda items: enrol_users(self.client, items))

    def _apply_unenrol(self, ops: list[Unenrol]) -> None:
        def item(op: Unenrol) -> dict[str, Any] | None:
            userid = self._userid(op)
            if userid is None or op.courseid is None:
                return None
            return {"userid": userid, "courseid": op.courseid}

        self._run(ops, item, lambda items: unenrol_users(self.client, items))


FAILURE_COLUMNS = ("Строка", "ФИО", "Email", "№ заявки", "Курс", "Действие", "Статус", "Ответ Moodle")

#: What makes a spreadsheet read a CSV cell as a formula (Excel, LibreOffice): "=1+1", "+7 900...", "-2",
#: "@SUM(...)", and a leading tab or carriage return that the program strips before looking again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: object) -> str:
    """A CSV cell that a spreadsheet shows as the text it is: a leading ``'`` keeps ``=HYPERLINK(...)``
    typed in a roster or on the site (a name, Moodle's echo of it) from running as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A CSV a coordinator opens in a spreadsheet (UTF-8 with BOM, ';'), private (0600), whole or not at all,
    every cell neutralised by :func:`spreadsheet_text`."""

    def write(target: Path) -> None:
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow([spreadsheet_text(h) for h in header])
            writer.writerows([spreadsheet_text(cell) for cell in row] for row in rows)

    write_private(path, write)
    return path


def write_failure_report(
    path: Path,
    failures: Sequence[Failure[Op]],
    people: Sequence[RosterPerson],
    extra: Sequence[tuple[int | None, str, str]] = (),
) -> Path:
    """The failure report (see :func:`write_csv_rows`): roster row, person, Moodle's answer.

    ``extra`` adds rows for problems found before writing (row, name, message): conflicts, skipped rows.
    """
    by_key = {p.key: p for p in people}
    rows: list[list[object]] = []
    for row, name, message in extra:
        rows.append([row or "", name, "", "", "", "", "пропущено", message])
    for failure in failures:
        op = failure.change
        person = by_key.get(op.person)
        rows.append(
            [
                op.row or "",
                op.name,
                person.email if person else "",
                person.application if person else "",
                op.course,
                op.describe(),
                "ошибка" if failure.status == "failed" else "пропущено",
                failure.error,
            ]
        )
    return write_csv_rows(path, FAILURE_COLUMNS, rows)

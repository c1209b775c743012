"""Roster sync, the pure part: who is who on the site, and the plan that makes the site match the roster.

Nothing here talks to Moodle. :func:`match_people` pairs roster people with site accounts (application number
= the user's ID number first, then email); :func:`build_plan` compares the roster with a :class:`SiteState`
read beforehand and lists the changes (one dataclass per kind, :class:`Op` and its subclasses), in the order
they must be applied. The plan/apply vocabulary is the shared one of sync/core/plan.py.

Changes refer to people by their roster key and to new groups by (module, team), because ids of users
and groups created during the apply are only known then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from i18n import N_, _
from integration.users import MoodleUser
from sync.core.plan import Change, Plan
from sync.core.vocabulary import idnumber_prefix, team_key
from sync.roster.names import slug
from sync.roster.read import RosterPerson

Removal = Literal["suspend", "keep", "unenrol"]
#: Standard Moodle role ids (field note 14), for people to read in the plan.
ROLE_NAMES = {
    1: N_("manager"),
    2: N_("course creator"),
    3: N_("editing teacher"),
    4: N_("teacher"),
    5: N_("student"),
}

#: The account fields the sync sets, as people call them (the keys are Moodle's field names).
USER_FIELD_TITLES = {
    "firstname": N_("first name"),
    "lastname": N_("surname"),
    "middlename": N_("middle name"),
    "email": N_("email"),
    "idnumber": N_("application number"),
    "city": N_("village"),
    "phone1": N_("phone"),
    "institution": N_("NGO"),
}


def role_name(roleid: int | None) -> str:
    """«student (5)»: the role's standard name and its id (a site may have renamed its roles)."""
    return _("{role} ({id})").format(role=_(ROLE_NAMES.get(roleid or 0, N_("role"))), id=roleid)


@dataclass(frozen=True)
class Roles:
    """Moodle role ids of the program roles (sync/core/config.py [roles]; coordinator: editing teacher)."""

    student: int = 5
    mentor: int = 4
    expert: int = 4
    coordinator: int = 3
    service: int = 1

    def of(self, role: str) -> int:
        return {
            "participant": self.student,
            "mentor": self.mentor,
            "expert": self.expert,
            "coordinator": self.coordinator,
        }[role]

    @property
    def removable(self) -> frozenset[int]:
        """Holders of these roles who are not in the roster are suspended. Coordinators (editing teachers)
        are left alone: course designers and managers hold that role too."""
        return frozenset({self.student, self.mentor, self.expert})


@dataclass(frozen=True)
class CourseMember:
    userid: int
    roles: frozenset[int]
    active: bool
    groups: frozenset[int]
    fullname: str = ""
    username: str = ""
    email: str = ""


@dataclass
class SiteGroup:
    id: int
    name: str
    idnumber: str = ""


@dataclass
class SiteGrouping:
    id: int
    name: str
    idnumber: str = ""
    groups: set[int] = field(default_factory=set)


@dataclass
class SiteCourse:
    module: int
    id: int
    shortname: str
    idnumber: str = ""
    members: dict[int, CourseMember] = field(default_factory=dict)
    groups: list[SiteGroup] = field(default_factory=list)
    groupings: list[SiteGrouping] = field(default_factory=list)

    @property
    def idnumber_prefix(self) -> str:
        return idnumber_prefix(self.idnumber, self.shortname)


@dataclass
class SiteState:
    courses: dict[int, SiteCourse]  # module number -> course
    users: dict[int, MoodleUser] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """How a roster person relates to site accounts."""

    userid: int | None = None
    how: Literal["idnumber", "email", "new", "conflict"] = "new"
    conflict: str = ""
    #: the roster email belongs to another account: the email is not updated (it would fail).
    email_elsewhere: int | None = None
    #: accounts involved in a conflict: never suspended because of it.
    related: tuple[int, ...] = ()


# --- the changes ----------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Op(Change):
    """A roster change: who and where (the fields every kind may use), and what (each kind's own fields).

    The applier isolates bad items and skips what depends on a failed change through these common fields;
    a field a kind does not use stays empty.

    People read a change in one line (:meth:`describe`: the plan's JSON, the journal, the failure report) or
    as a row of the plan's table: the roster row, :meth:`subject` (who or what), the course and
    :meth:`detail` (the rest). Both are in the reader's language, made when asked for.
    """

    person: str = ""  # roster key; "" for accounts that are not in the roster
    row: int | None = None
    name: str = ""
    userid: int | None = None
    module: int | None = None
    courseid: int | None = None
    course: str = ""  # short name, for people to read
    roleid: int | None = None
    team: str = ""
    district: str = ""
    groupid: int | None = None
    groupingid: int | None = None

    @property
    def who(self) -> str:
        if self.name:
            return self.name
        return _("user {id}").format(id=self.userid) if self.userid else self.person

    def subject(self) -> str:
        """Who or what the change is about, for the plan's table (a person; a team or district for theirs)."""
        return self.who

    def detail(self) -> str:
        """What the change does to its subject, beyond its kind and course, for the plan's table."""
        return ""

    def details(self) -> dict[str, Any]:
        """The kind's own fields, for JSON (``data``); none by default."""
        return {}

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "description": self.describe()}
        for key in OP_FIELDS:
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if details := self.details():
            out["data"] = details
        return out


#: The fields of an Op shown in its JSON form (when set), in this order.
OP_FIELDS: tuple[str, ...] = (
    "person", "row", "name", "userid", "module", "courseid", "course", "roleid", "team", "district", "groupid",
    "groupingid",
)  # fmt: skip


def _role_detail(roleid: int | None) -> str:
    return _("role {role}").format(role=role_name(roleid))


@dataclass(kw_only=True)
class CreateUser(Op):
    kind: ClassVar[str] = "create_user"
    username: str
    #: core_user_create_users fields
    fields: dict[str, Any]

    def describe(self) -> str:
        return _("create user {username} ({who})").format(username=self.username, who=self.who)

    def detail(self) -> str:
        return _("username {username}").format(username=self.username)

    def details(self) -> dict[str, Any]:
        return {"fields": self.fields, "username": self.username}


@dataclass(kw_only=True)
class UpdateUser(Op):
    kind: ClassVar[str] = "update_user"
    #: field -> [site value, roster value]
    changes: dict[str, list[str]]

    def describe(self) -> str:
        return _("update {who}: {changes}").format(who=self.who, changes=self.detail())

    def detail(self) -> str:
        return ", ".join(
            _("{field}: «{old}» -> «{new}»").format(
                field=_(USER_FIELD_TITLES[key]) if key in USER_FIELD_TITLES else key, old=old, new=new
            )
            for key, (old, new) in self.changes.items()
        )

    def details(self) -> dict[str, Any]:
        return {"changes": self.changes}


@dataclass(kw_only=True)
class Enrol(Op):
    kind: ClassVar[str] = "enrol"

    def describe(self) -> str:
        return _("enrol {who} in {course} as {role}").format(
            who=self.who, course=self.course, role=role_name(self.roleid)
        )

    def detail(self) -> str:
        return _("as {role}").format(role=role_name(self.roleid))


@dataclass(kw_only=True)
class AddRole(Op):
    kind: ClassVar[str] = "add_role"
    #: the enrolment is suspended too: the same write reactivates it
    reactivate: bool = False

    def describe(self) -> str:
        if self.reactivate:
            text = _("give {who} the role {role} in {course} and reactivate")
        else:
            text = _("give {who} the role {role} in {course}")
        return text.format(who=self.who, role=role_name(self.roleid), course=self.course)

    def detail(self) -> str:
        if self.reactivate:
            return _("role {role}, and the enrolment reactivated").format(role=role_name(self.roleid))
        return _role_detail(self.roleid)

    def details(self) -> dict[str, Any]:
        return {"reactivate": True} if self.reactivate else {}


@dataclass(kw_only=True)
class Reactivate(Op):
    kind: ClassVar[str] = "reactivate"

    def describe(self) -> str:
        return _("reactivate {who} in {course}").format(who=self.who, course=self.course)

    def detail(self) -> str:
        return _role_detail(self.roleid)


@dataclass(kw_only=True)
class UnassignRole(Op):
    kind: ClassVar[str] = "unassign_role"

    def describe(self) -> str:
        return _("take the role {role} from {who} in {course}").format(
            role=role_name(self.roleid), who=self.who, course=self.course
        )

    def detail(self) -> str:
        return _role_detail(self.roleid)


@dataclass(kw_only=True)
class CreateGroup(Op):
    kind: ClassVar[str] = "create_group"
    idnumber: str
    description: str = ""

    def describe(self) -> str:
        return _("create group «{team}» in {course}").format(team=self.team, course=self.course)

    def subject(self) -> str:
        return f"«{self.team}»"

    def detail(self) -> str:
        return _("district «{district}»").format(district=self.district) if self.district else ""

    def details(self) -> dict[str, Any]:
        return {"idnumber": self.idnumber, "description": self.description}


@dataclass(kw_only=True)
class CreateGrouping(Op):
    kind: ClassVar[str] = "create_grouping"
    idnumber: str

    def describe(self) -> str:
        return _("create grouping «{district}» in {course}").format(
            district=self.district, course=self.course
        )

    def subject(self) -> str:
        return f"«{self.district}»"

    def detail(self) -> str:
        return _("ID number {idnumber}").format(idnumber=self.idnumber)

    def details(self) -> dict[str, Any]:
        return {"idnumber": self.idnumber}


@dataclass(kw_only=True)
class AssignGrouping(Op):
    kind: ClassVar[str] = "assign_grouping"

    def describe(self) -> str:
        return _("put group «{team}» into grouping «{district}» in {course}").format(
            team=self.team, district=self.district, course=self.course
        )

    def subject(self) -> str:
        return f"«{self.team}»"

    def detail(self) -> str:
        return _("into «{district}»").format(district=self.district)


@dataclass(kw_only=True)
class UnassignGrouping(Op):
    kind: ClassVar[str] = "unassign_grouping"
    #: the team's district now (it joins that district's grouping first)
    to: str = ""

    def describe(self) -> str:
        if self.to:
            text = _(
                "take group «{team}» out of grouping «{district}» in {course} (the team's district is now «{to}»)"
            )
        else:
            text = _("take group «{team}» out of grouping «{district}» in {course}")
        return text.format(team=self.team, district=self.district, course=self.course, to=self.to)

    def subject(self) -> str:
        return f"«{self.team}»"

    def detail(self) -> str:
        if self.to:
            return _("out of «{district}»; its district is now «{to}»").format(
                district=self.district, to=self.to
            )
        return _("out of «{district}»").format(district=self.district)

    def details(self) -> dict[str, Any]:
        return {"to": self.to}


@dataclass(kw_only=True)
class RemoveMember(Op):
    kind: ClassVar[str] = "remove_member"

    def describe(self) -> str:
        return _("remove {who} from group «{team}» in {course}").format(
            who=self.who, team=self.team, course=self.course
        )

    def detail(self) -> str:
        return _("out of «{team}»").format(team=self.team)


@dataclass(kw_only=True)
class AddMember(Op):
    kind: ClassVar[str] = "add_member"

    def describe(self) -> str:
        return _("add {who} to group «{team}» in {course}").format(
            who=self.who, team=self.team, course=self.course
        )

    def detail(self) -> str:
        return _("into «{team}»").format(team=self.team)


@dataclass(kw_only=True)
class Suspend(Op):
    kind: ClassVar[str] = "suspend"

    def describe(self) -> str:
        return _("suspend {who} in {course}").format(who=self.who, course=self.course)

    def detail(self) -> str:
        return _role_detail(self.roleid)


@dataclass(kw_only=True)
class Unenrol(Op):
    kind: ClassVar[str] = "unenrol"

    def describe(self) -> str:
        return _("unenrol {who} from {course}").format(who=self.who, course=self.course)

    def detail(self) -> str:
        return _role_detail(self.roleid)


#: Apply order: users before enrolments, enrolments before group membership (only enrolled users may join a
#: group, field note 3), groups before groupings' assignments, a team's new district before it leaves the old
#: one (a failed move leaves it in the old district, not in none), removals last so that a guard stop leaves
#: nothing half-suspended.
OP_ORDER: tuple[type[Op], ...] = (
    CreateUser, UpdateUser, Enrol, AddRole, Reactivate, UnassignRole, CreateGroup, CreateGrouping,
    AssignGrouping, UnassignGrouping, RemoveMember, AddMember, Suspend, Unenrol,
)  # fmt: skip

#: What each kind waits for, the reasons of OP_ORDER kind by kind: a change is sent only when every change of
#: these kinds is done (or has failed, which skips the changes that needed it). Kinds that wait for nothing
#: in common go at once when the client sends several requests at a time (sync/roster/apply.py, stages):
#: the users and the groups; then the enrolments and the groups' districts; then the memberships. Each kind
#: waits for those before it in OP_ORDER that it needs, so that OP_ORDER is one order that keeps them all.
AFTER: dict[type[Op], tuple[type[Op], ...]] = {
    CreateUser: (),
    # Never at once with the new accounts: an account's new email may be one a new account is refused for (or
    # the reverse), and which of the two goes first must not depend on which request the site answers first.
    UpdateUser: (CreateUser,),
    Enrol: (CreateUser,),
    AddRole: (CreateUser,),
    Reactivate: (CreateUser,),
    # The new role is given before the old one is taken (field note 22), or the person could be left enrolled
    # with no role at all.
    UnassignRole: (CreateUser, Enrol, AddRole, Reactivate),
    CreateGroup: (),
    CreateGrouping: (),
    AssignGrouping: (CreateGroup, CreateGrouping),
    # A team joins its new district's grouping before it leaves the old one: a failed move leaves it in the
    # old district, not in none.
    UnassignGrouping: (AssignGrouping,),
    # Only enrolled users may join a group (field note 3); a person leaves the old team before joining the new.
    RemoveMember: (CreateUser, Enrol, AddRole, Reactivate),
    AddMember: (CreateUser, Enrol, AddRole, Reactivate, CreateGroup, RemoveMember),
    # Removals last, after everything else, whatever it was.
    Suspend: tuple(k for k in OP_ORDER if k.kind not in ("suspend", "unenrol")),
    Unenrol: tuple(k for k in OP_ORDER if k.kind not in ("suspend", "unenrol")),
}


@dataclass(frozen=True)
class Conflict:
    row: int
    person: str
    name: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "person": self.person, "name": self.name, "message": self.message}


@dataclass
class CourseRemovals:
    """How many of a course's active participants the plan removes: what the removal-share guard checks."""

    module: int
    course: str
    active: int  # active holders of the removable roles before the sync
    removing: int

    @property
    def share(self) -> float:
        return self.removing / self.active if self.active else (1.0 if self.removing else 0.0)


@dataclass
class RosterPlan(Plan[Op]):
    """The roster's plan: the shared plan (changes, problems, warnings) and what the sync shows beside it."""

    #: roster people skipped because their account is ambiguous: never guessed, reported
    conflicts: list[Conflict] = field(default_factory=list)
    removals: list[CourseRemovals] = field(default_factory=list)
    #: roster key -> site user id, for people who already have an account
    userids: dict[str, int] = field(default_factory=dict)

    ORDER: ClassVar[tuple[type[Change], ...]] = OP_ORDER


# --- matching -------------------------------------------------------------------------------------------------


def _account(username: str, userid: int) -> str:
    return _("{username} (id {id})").format(username=username, id=userid)


def match_people(people: Iterable[RosterPerson], users: Iterable[MoodleUser]) -> dict[str, Match]:
    """Pair roster people with site accounts: ID number (= application number) first, then email.

    An account found by email is adopted when it has no ID number (or the roster gives none); one whose
    ID number differs is a conflict: the person is skipped, never guessed.
    """
    by_idnumber: dict[str, MoodleUser] = {}
    by_email: dict[str, list[MoodleUser]] = {}
    for user in users:
        if user.idnumber:
            by_idnumber.setdefault(user.idnumber, user)
        if user.email:
            by_email.setdefault(user.email.lower(), []).append(user)
    out: dict[str, Match] = {}
    for person in people:
        same_email = [u for u in by_email.get(person.email.lower(), [])] if person.email else []
        if person.application and person.application in by_idnumber:
            user = by_idnumber[person.application]
            others = [u.id for u in same_email if u.id != user.id]
            out[person.key] = Match(user.id, "idnumber", email_elsewhere=others[0] if others else None)
            continue
        if len(same_email) > 1:
            ids = ", ".join(_account(u.username, u.id) for u in same_email)
            out[person.key] = Match(
                None,
                "conflict",
                _("several Moodle accounts have email {email}: {accounts}").format(
                    email=person.email, accounts=ids
                ),
            )
            continue
        if same_email:
            user = same_email[0]
            if person.application and user.idnumber and user.idnumber != person.application:
                out[person.key] = Match(
                    None,
                    "conflict",
                    _(
                        "Moodle account {account} has email {email} but ID number {idnumber}, "
                        "not application number {application}"
                    ).format(
                        account=_account(user.username, user.id),
                        email=user.email,
                        idnumber=user.idnumber,
                        application=person.application,
                    ),
                    related=(user.id,),
                )
            else:
                out[person.key] = Match(user.id, "email")
            continue
        out[person.key] = Match(None, "new")
    # One account for two roster people (one by application number, one by the account's old email): the
    # application number wins; the other person is a conflict, not a second owner of the same account.
    by_id: dict[int, str] = {}
    for key, m in sorted(out.items(), key=lambda kv: kv[1].how != "idnumber"):
        if m.userid is None:
            continue
        if m.userid in by_id:
            out[key] = Match(
                None,
                "conflict",
                _(
                    "the Moodle account (id {id}) found by this email already belongs to another roster "
                    "person ({other})"
                ).format(id=m.userid, other=by_id[m.userid]),
                related=(m.userid,),
            )
        else:
            by_id[m.userid] = key
    return out


# --- the plan -------------------------------------------------------------------------------------------------


#: Column sizes of Moodle's user table (lib/db/install.xml). Moodle does not shorten a longer value: PostgreSQL
#: refuses the insert (``dmlwriteexception``), which fails the person's account creation and, until the batch is
#: split, everyone created with them. Two phone numbers in one cell easily pass the 20 of ``phone1``.
USER_FIELD_MAX = {
    "firstname": 100,
    "lastname": 100,
    "middlename": 255,
    "city": 120,
    "phone1": 20,
    "institution": 255,
}


def moodle_phone(phone: str) -> str:
    """A phone that fits ``phone1`` (20 characters): as written if it fits, else its first number, else only
    the digits (and a leading +) of that number, cut to 20."""
    limit = USER_FIELD_MAX["phone1"]
    if len(phone) <= limit:
        return phone
    first = re.split(r"[,;/]|\s+или\s+|\s+or\s+", phone)[0].strip()
    if len(first) <= limit:
        return first
    compact = ("+" if first.startswith("+") else "") + re.sub(r"\D", "", first)
    return compact[:limit]


def _user_fields(person: RosterPerson) -> dict[str, str]:
    """Moodle user fields the roster sets (empty roster cells leave Moodle's value alone), cut to the sizes
    of Moodle's columns."""
    fields = {
        "firstname": person.firstname,
        "lastname": person.lastname,
        "email": person.email,
        "idnumber": person.application,
        "city": person.village,
        "phone1": moodle_phone(person.phone),
        "institution": person.organisation,
    }
    return {k: v[: USER_FIELD_MAX.get(k, len(v))].strip() for k, v in fields.items() if v}


def new_user_fields(person: RosterPerson, username: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"username": username, **_user_fields(person)}
    if person.middlename:
        fields["middlename"] = person.middlename[: USER_FIELD_MAX["middlename"]]
    # Moodle makes a password and emails it with the login details (field note 18).
    fields["createpassword"] = 1
    return fields


def user_changes(person: RosterPerson, user: MoodleUser, *, email_elsewhere: bool) -> dict[str, list[str]]:
    """Fields whose roster value differs from the account. The username never changes; the middle name is
    not compared because core_user_get_users_by_field does not return it."""
    changes: dict[str, list[str]] = {}
    for key, value in _user_fields(person).items():
        current = str(getattr(user, key, "") or "")
        if key == "email":
            if email_elsewhere or current.lower() == value.lower():
                continue
        elif key == "idnumber" and current:
            continue  # a different ID number is a conflict, found by match_people
        if current != value:
            changes[key] = [current, value]
    return changes


def _unique_idnumber(base: str, used: set[str]) -> str:
    candidate, number = base, 2
    while candidate in used:
        candidate = f"{base}-{number}"
        number += 1
    used.add(candidate)
    return candidate


def build_plan(
    people: Sequence[RosterPerson],
    matches: Mapping[str, Match],
    usernames: Mapping[str, str],
    site: SiteState,
    *,
    teams: Mapping[str, str],
    roles: Roles = Roles(),
    removal: Removal = "suspend",
    protected_userids: Iterable[int] = (),
) -> RosterPlan:
    """Everything needed to make the site match ``people``.

    ``teams`` maps each team (group name) to its district; ``usernames`` gives new people their username;
    ``protected_userids`` are accounts of people present in the file but skipped (invalid rows, conflicts):
    they are never suspended because of that.

    The steps: accounts (:func:`_plan_accounts`), then per course its groups (:func:`_plan_groups`), its
    district groupings (:func:`_plan_groupings`), each person's enrolment and groups (:func:`_plan_person`)
    and the removal of those no longer in the roster (:func:`_plan_removals`).
    """
    plan = RosterPlan()
    protected = set(protected_userids)
    active_people = _plan_accounts(plan, people, matches, usernames, site)
    for module in sorted(site.courses):
        course = _Course(site.courses[module], teams)
        _plan_groups(plan, course)
        _plan_groupings(plan, course)
        wanted_here: set[int] = set()
        for person in active_people:
            if module in person.modules:
                _plan_person(plan, course, person, site.users, roles, wanted_here)
        plan.removals.append(_plan_removals(plan, course, wanted_here | protected, roles, removal))
    plan.changes = plan.ordered()
    return plan


def _plan_accounts(
    plan: RosterPlan,
    people: Sequence[RosterPerson],
    matches: Mapping[str, Match],
    usernames: Mapping[str, str],
    site: SiteState,
) -> list[RosterPerson]:
    """New accounts and changed account fields; returns the people the sync goes on with (not in conflict)."""
    active_people: list[RosterPerson] = []
    for person in people:
        m = matches.get(person.key, Match())
        who: dict[str, Any] = {"person": person.key, "row": person.row, "name": person.fullname}
        if m.how == "conflict":
            plan.conflicts.append(Conflict(person.row, person.key, person.fullname, m.conflict))
            continue
        if m.userid is None:
            username = usernames.get(person.key)
            if not username:
                plan.conflicts.append(
                    Conflict(person.row, person.key, person.fullname, _("no free username could be found"))
                )
                continue
            active_people.append(person)
            plan.changes.append(
                CreateUser(username=username, fields=new_user_fields(person, username), **who)
            )
            continue
        active_people.append(person)
        plan.userids[person.key] = m.userid
        if m.email_elsewhere is not None:
            plan.warn(
                _(
                    "row {row}: {name}: email {email} belongs to another Moodle account (id {id}); "
                    "the email is left unchanged"
                ).format(row=person.row, name=person.fullname, email=person.email, id=m.email_elsewhere)
            )
        user = site.users.get(m.userid)
        if user is not None:
            changes = user_changes(person, user, email_elsewhere=m.email_elsewhere is not None)
            if changes:
                plan.changes.append(UpdateUser(changes=changes, userid=m.userid, **who))
    return active_people


class _Course:
    """One course while its part of the plan is made: the site's course, the roster's teams and districts,
    and the groups and groupings found for them (filled by :func:`_plan_groups` and :func:`_plan_groupings`)."""

    def __init__(self, site: SiteCourse, teams: Mapping[str, str]) -> None:
        self.site = site
        self.teams = teams  # team -> district
        #: team_key -> the roster's spelling of the team
        self.team_names = {team_key(t): t for t in teams}
        #: team_key(district) -> the roster's spelling of the district
        self.districts: dict[str, str] = {}
        for district in teams.values():
            if district:
                self.districts.setdefault(team_key(district), district)
        self.group_by_team: dict[str, SiteGroup] = {}
        self.grouping_by_district: dict[str, SiteGrouping] = {}
        #: what every change in this course carries
        self.where: dict[str, Any] = {"module": site.module, "courseid": site.id, "course": site.shortname}

    def idnumber(self, name: str) -> str:
        """The ID number the sync gives a group or grouping named ``name`` in this course."""
        return f"{self.site.idnumber_prefix}-{slug(name)}"

    def made_by_sync(self, idnumber: str) -> bool:
        return idnumber.startswith(self.site.idnumber_prefix + "-")


def _plan_groups(plan: RosterPlan, course: _Course) -> None:
    """One group per team, matched by name (Moodle keeps names unique in a course), else by ID number."""
    groups = course.site.groups
    by_name = {team_key(g.name): g for g in groups}
    by_idnumber = {g.idnumber: g for g in groups if g.idnumber}
    used_idnumbers = set(by_idnumber)
    for team, district in course.teams.items():
        k = team_key(team)
        base = course.idnumber(team)
        group = by_name.get(k)
        if group is None:
            # A group renamed on the site keeps the ID number the sync gave it; a group named after another
            # roster team is that team's, even if the two names make the same slug.
            candidate = by_idnumber.get(base)
            if candidate is not None and team_key(candidate.name) not in course.team_names:
                group = candidate
        if group is not None:
            course.group_by_team[k] = group
            continue
        plan.changes.append(
            CreateGroup(
                team=team,
                district=district,
                idnumber=_unique_idnumber(base, used_idnumbers),
                description=f"Команда акселератора, {district}",
                **course.where,
            )
        )


def _plan_groupings(plan: RosterPlan, course: _Course) -> None:
    """One grouping per district; each team's group in its district's grouping, and out of another district's
    it was in before (the team moved)."""
    groupings = course.site.groupings
    by_name = {team_key(g.name): g for g in groupings}
    by_idnumber = {g.idnumber: g for g in groupings if g.idnumber}
    used_idnumbers = set(by_idnumber)
    for k, district in course.districts.items():
        base = course.idnumber(district)
        grouping = by_name.get(k) or by_idnumber.get(base)
        if grouping is not None:
            course.grouping_by_district[k] = grouping
            continue
        plan.changes.append(
            CreateGrouping(district=district, idnumber=_unique_idnumber(base, used_idnumbers), **course.where)
        )
    for team, district in course.teams.items():
        if not district:
            continue
        group = course.group_by_team.get(team_key(team))
        grouping = course.grouping_by_district.get(team_key(district))
        if group is not None and grouping is not None and group.id in grouping.groups:
            continue
        plan.changes.append(
            AssignGrouping(
                team=team,
                district=district,
                groupid=group.id if group else None,
                groupingid=grouping.id if grouping else None,
                **course.where,
            )
        )
    # A team moved to another district leaves the old district's grouping. Only district groupings are
    # looked at: those the sync made (ID number prefix) and those named after a district of the roster;
    # a grouping that stands for the team's own district (by name or ID number) is never left.
    district_groupings = [
        g for g in groupings if course.made_by_sync(g.idnumber) or team_key(g.name) in course.districts
    ]
    for team, district in course.teams.items():
        group = course.group_by_team.get(team_key(team))
        if not district or group is None:
            continue
        own = course.grouping_by_district.get(team_key(district))
        for grouping in district_groupings:
            if group.id not in grouping.groups or grouping is own:
                continue
            if team_key(grouping.name) == team_key(district) or grouping.idnumber == course.idnumber(
                district
            ):
                continue
            plan.changes.append(
                UnassignGrouping(
                    team=team,
                    district=grouping.name,
                    groupid=group.id,
                    groupingid=grouping.id,
                    to=district,
                    **course.where,
                )
            )


def _plan_person(
    plan: RosterPlan,
    course: _Course,
    person: RosterPerson,
    users: Mapping[int, MoodleUser],
    roles: Roles,
    wanted_here: set[int],
) -> None:
    """One person who takes part in this course: enrolment, role, and the groups of their teams."""
    userid = plan.userids.get(person.key)
    who: dict[str, Any] = {"person": person.key, "row": person.row, "name": person.fullname, **course.where}
    roleid = roles.of(person.role)
    member = course.site.members.get(userid) if userid is not None else None
    if userid is not None:
        wanted_here.add(userid)
    if member is None:
        plan.changes.append(Enrol(userid=userid, roleid=roleid, **who))
    else:
        _plan_enrolment(plan, course, person, member, users.get(member.userid), roleid, roles, who)
    _plan_membership(plan, course, person, member, userid, who)


def _plan_enrolment(
    plan: RosterPlan,
    course: _Course,
    person: RosterPerson,
    member: CourseMember,
    account: MoodleUser | None,
    roleid: int,
    roles: Roles,
    who: dict[str, Any],
) -> None:
    """An enrolled person: the roster's role given (and the enrolment reactivated), the program's other
    roles taken."""
    userid = member.userid
    # A whole account suspended by an administrator also hides the enrolment from onlyactive=1;
    # reactivating the enrolment would not change that, so it is reported instead of retried forever.
    reactivate = not member.active and not (account is not None and account.suspended)
    if not member.active and not reactivate:
        plan.warn(
            _(
                "row {row}: {name}: the Moodle account is suspended on the site; "
                "an administrator must unsuspend it ({course})"
            ).format(row=person.row, name=person.fullname, course=course.site.shortname)
        )
    if roleid not in member.roles:
        plan.changes.append(AddRole(userid=userid, roleid=roleid, reactivate=reactivate, **who))
    elif reactivate:
        plan.changes.append(Reactivate(userid=userid, roleid=roleid, **who))
    # Only the program's own roles are taken away: an editing teacher or manager role given by
    # an administrator (a course designer who is also a mentor) stays.
    for old in sorted((member.roles & roles.removable) - {roleid}):
        plan.changes.append(UnassignRole(userid=userid, roleid=old, **who))


def _plan_membership(
    plan: RosterPlan,
    course: _Course,
    person: RosterPerson,
    member: CourseMember | None,
    userid: int | None,
    who: dict[str, Any],
) -> None:
    """The groups of the person's teams (a participant's own, a mentor's teams or all of them), and out of
    the groups this sync looks after that are no longer theirs."""
    if person.role == "participant":
        wanted_teams = [person.team] if person.team else []
    elif person.role == "mentor":
        wanted_teams = list(person.mentor_teams) or list(course.teams)
    else:
        wanted_teams = []
    wanted_groups: set[int] = set()
    current = member.groups if member else frozenset()
    for team in wanted_teams:
        k = team_key(team)
        group = course.group_by_team.get(k)
        if group is not None:
            wanted_groups.add(group.id)
            if group.id in current:
                continue
        plan.changes.append(
            AddMember(
                userid=userid,
                team=course.team_names.get(k, team),
                groupid=group.id if group else None,
                **who,
            )
        )
    # Groups this sync looks after: the roster's teams and any group it created earlier (ID number prefix).
    managed = {g.id for g in course.group_by_team.values()} | {
        g.id for g in course.site.groups if course.made_by_sync(g.idnumber)
    }
    names = {g.id: g.name for g in course.site.groups}
    for groupid in sorted((current & managed) - wanted_groups):
        plan.changes.append(
            RemoveMember(userid=userid, team=names.get(groupid, str(groupid)), groupid=groupid, **who)
        )


def _plan_removals(
    plan: RosterPlan, course: _Course, keep: set[int], roles: Roles, removal: Removal
) -> CourseRemovals:
    """People enrolled here with a program role who are no longer in the roster for this module (``keep``:
    those who are, and those never removed because of a skipped row or a conflict)."""
    active_before = 0
    removing = 0
    for userid, member in sorted(course.site.members.items()):
        removable = member.roles & roles.removable
        if not removable or roles.service in member.roles:
            continue
        if member.active:
            active_before += 1
        if userid in keep or not member.active or removal == "keep":
            continue
        removing += 1
        kind = Suspend if removal == "suspend" else Unenrol
        plan.changes.append(
            kind(
                userid=userid,
                roleid=max(removable),
                name=member.fullname or member.username,
                **course.where,
            )
        )
    return CourseRemovals(course.site.module, course.site.shortname, active_before, removing)

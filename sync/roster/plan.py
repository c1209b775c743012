"""Roster sync, the pure part: who is who on the site, and the plan that makes the site match the roster.

Nothing here talks to Moodle. :func:`match_people` pairs roster people with site accounts (application number
= the user's ID number first, then email); :func:`build_plan` compares the roster with a :class:`SiteState`
read beforehand and lists the operations, in the order they must be applied.

Operations refer to people by their roster key and to new groups by (module, team), because ids of users
and groups created during the apply are only known then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from integration.users import MoodleUser
from sync.core.vocabulary import idnumber_prefix, team_key
from sync.roster.names import slug
from sync.roster.read import RosterPerson

#: Listed in apply order (OP_ORDER below is this list).
OpKind = Literal[
    "create_user",
    "update_user",
    "enrol",
    "add_role",
    "reactivate",
    "unassign_role",
    "create_group",
    "create_grouping",
    "assign_grouping",
    "unassign_grouping",
    "remove_member",
    "add_member",
    "suspend",
    "unenrol",
]
#: Apply order: users before enrolments, enrolments before group membership (only enrolled users may join a
#: group, field note 3), groups before groupings' assignments, a team's new district before it leaves the old
#: one (a failed move leaves it in the old district, not in none), removals last so that a guard stop leaves
#: nothing half-suspended.
OP_ORDER: tuple[OpKind, ...] = get_args(OpKind)  # OpKind lists the kinds in this order

Removal = Literal["suspend", "keep", "unenrol"]
#: Standard Moodle role ids (field note 14), for people to read in the plan.
ROLE_NAMES = {1: "manager", 2: "course creator", 3: "editing teacher", 4: "teacher", 5: "student"}


def role_name(roleid: int | None) -> str:
    return f"{ROLE_NAMES.get(roleid or 0, 'role')} ({roleid})"


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


@dataclass
class Op:
    kind: OpKind
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
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        who = self.name or (f"user {self.userid}" if self.userid else self.person)
        where = f" in {self.course}" if self.course else ""
        match self.kind:
            case "create_user":
                return f"create user {self.data.get('username', '')} ({who})"
            case "update_user":
                changes = ", ".join(
                    f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in self.data.get("changes", {}).items()
                )
                return f"update {who}: {changes}"
            case "enrol":
                return f"enrol {who}{where} as {role_name(self.roleid)}"
            case "add_role":
                return f"give {who} the role {role_name(self.roleid)}{where}" + (
                    " and reactivate" if self.data.get("reactivate") else ""
                )
            case "reactivate":
                return f"reactivate {who}{where}"
            case "unassign_role":
                return f"take the role {role_name(self.roleid)} from {who}{where}"
            case "create_group":
                return f"create group «{self.team}»{where}"
            case "create_grouping":
                return f"create grouping «{self.district}»{where}"
            case "assign_grouping":
                return f"put group «{self.team}» into grouping «{self.district}»{where}"
            case "unassign_grouping":
                moved = f" (the team's district is now «{self.data['to']}»)" if self.data.get("to") else ""
                return f"take group «{self.team}» out of grouping «{self.district}»{where}{moved}"
            case "remove_member":
                return f"remove {who} from group «{self.team}»{where}"
            case "add_member":
                return f"add {who} to group «{self.team}»{where}"
            case "suspend":
                return f"suspend {who}{where}"
            case "unenrol":
                return f"unenrol {who}{where}"
        return self.kind  # pragma: no cover

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "description": self.describe()}
        for key in OP_FIELDS:
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if self.data:
            out["data"] = self.data
        return out


#: The fields of an Op shown in its JSON form (when set), in this order.
OP_FIELDS: tuple[str, ...] = (
    "person", "row", "name", "userid", "module", "courseid", "course", "roleid", "team", "district", "groupid",
    "groupingid",
)  # fmt: skip


@dataclass(frozen=True)
class Conflict:
    row: int
    person: str
    name: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "person": self.person, "name": self.name, "message": self.message}


@dataclass
class CourseGuard:
    module: int
    course: str
    active: int  # active holders of the removable roles before the sync
    removing: int

    @property
    def share(self) -> float:
        return self.removing / self.active if self.active else (1.0 if self.removing else 0.0)


@dataclass
class Plan:
    ops: list[Op] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guards: list[CourseGuard] = field(default_factory=list)
    #: roster key -> site user id, for people who already have an account
    userids: dict[str, int] = field(default_factory=dict)

    def of(self, kind: OpKind) -> list[Op]:
        return [op for op in self.ops if op.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: n for kind in OP_ORDER if (n := len(self.of(kind)))}

    @property
    def empty(self) -> bool:
        return not self.ops

    def sorted_ops(self) -> list[Op]:
        order = {kind: index for index, kind in enumerate(OP_ORDER)}
        return sorted(self.ops, key=lambda op: order[op.kind])


# --- matching -------------------------------------------------------------------------------------------------


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
            ids = ", ".join(f"{u.username} (id {u.id})" for u in same_email)
            out[person.key] = Match(
                None, "conflict", f"several Moodle accounts have email {person.email}: {ids}"
            )
            continue
        if same_email:
            user = same_email[0]
            if person.application and user.idnumber and user.idnumber != person.application:
                out[person.key] = Match(
                    None,
                    "conflict",
                    f"Moodle account {user.username} (id {user.id}) has email {user.email} but ID number "
                    f"{user.idnumber}, not application number {person.application}",
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
                f"the Moodle account (id {m.userid}) found by this email already belongs to another roster "
                f"person ({by_id[m.userid]})",
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
) -> Plan:
    """Everything needed to make the site match ``people``.

    ``teams`` maps each team (group name) to its district; ``usernames`` gives new people their username;
    ``protected_userids`` are accounts of people present in the file but skipped (invalid rows, conflicts):
    they are never suspended because of that.
    """
    plan = Plan()
    protected = set(protected_userids)
    team_names = {team_key(t): t for t in teams}

    # -- users --------------------------------------------------------------------------------------------
    active_people: list[RosterPerson] = []
    for person in people:
        m = matches.get(person.key, Match())
        if m.how == "conflict":
            plan.conflicts.append(Conflict(person.row, person.key, person.fullname, m.conflict))
            continue
        active_people.append(person)
        if m.userid is None:
            username = usernames.get(person.key)
            if not username:
                plan.conflicts.append(
                    Conflict(person.row, person.key, person.fullname, "no free username could be found")
                )
                active_people.pop()
                continue
            plan.ops.append(
                Op(
                    "create_user",
                    person=person.key,
                    row=person.row,
                    name=person.fullname,
                    data={"fields": new_user_fields(person, username), "username": username},
                )
            )
            continue
        plan.userids[person.key] = m.userid
        user = site.users.get(m.userid)
        if m.email_elsewhere is not None:
            plan.notes.append(
                f"row {person.row}: {person.fullname}: email {person.email} belongs to another Moodle account "
                f"(id {m.email_elsewhere}); the email is left unchanged"
            )
        if user is not None:
            changes = user_changes(person, user, email_elsewhere=m.email_elsewhere is not None)
            if changes:
                plan.ops.append(
                    Op(
                        "update_user",
                        person=person.key,
                        row=person.row,
                        name=person.fullname,
                        userid=m.userid,
                        data={"changes": changes},
                    )
                )

    # -- per course -----------------------------------------------------------------------------------------
    for module in sorted(site.courses):
        course = site.courses[module]
        common: dict[str, Any] = {"module": module, "courseid": course.id, "course": course.shortname}

        # Groups: one per team, matched by name (Moodle keeps names unique in a course), else by ID number.
        group_by_team: dict[str, SiteGroup] = {}
        by_name = {team_key(g.name): g for g in course.groups}
        by_idnumber = {g.idnumber: g for g in course.groups if g.idnumber}
        used_idnumbers = set(by_idnumber)
        for team in teams:
            k = team_key(team)
            base = f"{course.idnumber_prefix}-{slug(team)}"
            group = by_name.get(k)
            if group is None:
                # A group renamed on the site keeps the ID number the sync gave it; a group named after another
                # roster team is that team's, even if the two names make the same slug.
                candidate = by_idnumber.get(base)
                if candidate is not None and team_key(candidate.name) not in team_names:
                    group = candidate
            if group is not None:
                group_by_team[k] = group
                continue
            idnumber = _unique_idnumber(base, used_idnumbers)
            plan.ops.append(
                Op(
                    "create_group",
                    team=team,
                    district=teams[team],
                    data={"idnumber": idnumber, "description": f"Команда акселератора, {teams[team]}"},
                    **common,
                )
            )
        # Groups this sync looks after: the roster's teams and any group it created earlier (ID number prefix).
        managed_groups = {g.id for g in group_by_team.values()} | {
            g.id for g in course.groups if g.idnumber.startswith(course.idnumber_prefix + "-")
        }
        group_name = {g.id: g.name for g in course.groups}

        # Groupings: one per district.
        districts: dict[str, str] = {}
        for district in teams.values():
            if district:
                districts.setdefault(team_key(district), district)
        grouping_by_district: dict[str, SiteGrouping] = {}
        grouping_name = {team_key(g.name): g for g in course.groupings}
        grouping_idnumber = {g.idnumber: g for g in course.groupings if g.idnumber}
        used_grouping_idnumbers = set(grouping_idnumber)
        for k, district in districts.items():
            base = f"{course.idnumber_prefix}-{slug(district)}"
            grouping = grouping_name.get(k) or grouping_idnumber.get(base)
            if grouping is not None:
                grouping_by_district[k] = grouping
                continue
            plan.ops.append(
                Op(
                    "create_grouping",
                    district=district,
                    data={"idnumber": _unique_idnumber(base, used_grouping_idnumbers)},
                    **common,
                )
            )
        for team, district in teams.items():
            if not district:
                continue
            group = group_by_team.get(team_key(team))
            grouping = grouping_by_district.get(team_key(district))
            if group is not None and grouping is not None and group.id in grouping.groups:
                continue
            plan.ops.append(
                Op(
                    "assign_grouping",
                    team=team,
                    district=district,
                    groupid=group.id if group else None,
                    groupingid=grouping.id if grouping else None,
                    **common,
                )
            )
        # A team moved to another district leaves the old district's grouping. Only district groupings are
        # looked at: those the sync made (ID number prefix) and those named after a district of the roster;
        # a grouping that stands for the team's own district (by name or ID number) is never left.
        district_groupings = [
            g
            for g in course.groupings
            if g.idnumber.startswith(course.idnumber_prefix + "-") or team_key(g.name) in districts
        ]
        for team, district in teams.items():
            group = group_by_team.get(team_key(team))
            if not district or group is None:
                continue
            own = grouping_by_district.get(team_key(district))
            own_idnumber = f"{course.idnumber_prefix}-{slug(district)}"
            for grouping in district_groupings:
                if group.id not in grouping.groups or grouping is own:
                    continue
                if team_key(grouping.name) == team_key(district) or grouping.idnumber == own_idnumber:
                    continue
                plan.ops.append(
                    Op(
                        "unassign_grouping",
                        team=team,
                        district=grouping.name,
                        groupid=group.id,
                        groupingid=grouping.id,
                        data={"to": district},
                        **common,
                    )
                )

        # Enrolments and membership of the people who take part in this module.
        wanted_here: set[int] = set()
        for person in active_people:
            if module not in person.modules:
                continue
            userid = plan.userids.get(person.key)
            who: dict[str, Any] = {"person": person.key, "row": person.row, "name": person.fullname}
            roleid = roles.of(person.role)
            member = course.members.get(userid) if userid is not None else None
            if userid is not None:
                wanted_here.add(userid)
            if member is None:
                plan.ops.append(Op("enrol", userid=userid, roleid=roleid, **who, **common))
            else:
                account = site.users.get(userid) if userid is not None else None
                # A whole account suspended by an administrator also hides the enrolment from onlyactive=1;
                # reactivating the enrolment would not change that, so it is reported instead of retried forever.
                reactivate = not member.active and not (account is not None and account.suspended)
                if not member.active and not reactivate:
                    plan.notes.append(
                        f"row {person.row}: {person.fullname}: the Moodle account is suspended on the site; "
                        f"an administrator must unsuspend it ({course.shortname})"
                    )
                if roleid not in member.roles:
                    plan.ops.append(
                        Op(
                            "add_role",
                            userid=userid,
                            roleid=roleid,
                            data={"reactivate": True} if reactivate else {},
                            **who,
                            **common,
                        )
                    )
                elif reactivate:
                    plan.ops.append(Op("reactivate", userid=userid, roleid=roleid, **who, **common))
                # Only the program's own roles are taken away: an editing teacher or manager role given by
                # an administrator (a course designer who is also a mentor) stays.
                for old in sorted((member.roles & roles.removable) - {roleid}):
                    plan.ops.append(Op("unassign_role", userid=userid, roleid=old, **who, **common))

            if person.role == "participant":
                wanted_teams = [person.team] if person.team else []
            elif person.role == "mentor":
                wanted_teams = list(person.mentor_teams) or list(teams)
            else:
                wanted_teams = []
            wanted_groups: set[int] = set()
            current = member.groups if member else frozenset()
            for team in wanted_teams:
                k = team_key(team)
                group = group_by_team.get(k)
                canonical = team_names.get(k, team)
                if group is not None:
                    wanted_groups.add(group.id)
                    if group.id in current:
                        continue
                plan.ops.append(
                    Op(
                        "add_member",
                        userid=userid,
                        team=canonical,
                        groupid=group.id if group else None,
                        **who,
                        **common,
                    )
                )
            for groupid in sorted((current & managed_groups) - wanted_groups):
                plan.ops.append(
                    Op(
                        "remove_member",
                        userid=userid,
                        team=group_name.get(groupid, str(groupid)),
                        groupid=groupid,
                        **who,
                        **common,
                    )
                )

        # People enrolled here who are no longer in the roster for this module.
        active_before = 0
        removing = 0
        for userid, member in sorted(course.members.items()):
            removable = member.roles & roles.removable
            if not removable or roles.service in member.roles:
                continue
            if member.active:
                active_before += 1
            if userid in wanted_here or userid in protected or not member.active:
                continue
            if removal == "keep":
                continue
            removing += 1
            plan.ops.append(
                Op(
                    "suspend" if removal == "suspend" else "unenrol",
                    userid=userid,
                    roleid=max(removable),
                    name=member.fullname or member.username,
                    **common,
                )
            )
        plan.guards.append(CourseGuard(module, course.shortname, active_before, removing))
    plan.ops = plan.sorted_ops()
    return plan

"""Fake handlers for users, enrolments, roles, groups, groupings and instant messages.

Shapes follow tests/fixtures/recordings (core_user_*, core_enrol_*, enrol_manual_*, core_role_*, core_group_*,
core_message_send_instant_messages). Behaviour that matters for roster sync, indicators and reminders:
- core_user_create_users is all-or-nothing (field note 5) and answers ``invalidparameter`` for a taken
  username, a taken email (case-insensitive), an invalid email or a non-lowercase-Latin username (notes 3, 18);
- core_user_update_users reports per-user failures as warnings (field note 8) and applies the others;
- core_user_get_users_by_field matches exactly (as PostgreSQL does) and fails the whole call on a value that
  PARAM_EMAIL would change;
- core_enrol_get_enrolled_users leaves suspended enrolments out only with ``onlyactive=1`` (field note 21) and
  honours ``userfields``, ``limitfrom`` and ``limitnumber``;
- enrol_manual_enrol_users on an existing enrolment updates it: ``suspend`` suspends/reactivates, a different
  role is ADDED (field note 22); an unknown role answers ``wsusercannotassign``;
- core_group_create_groups / core_group_create_groupings refuse a name already used in the course, and
  core_group_add_group_members a user who is not enrolled in the group's course (``invalidparameter``);
- core_group_unassign_grouping fails the whole call on an unknown grouping or group (``invalidrecordunknown``)
  and passes over a group that is not in the grouping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tests.fake_moodle.core import (
    ADMIN_ID,
    FakeMoodle,
    Fault,
    as_int,
    as_list,
    handler,
    invalid_parameter,
    record_missing,
)

ROLE_SHORTNAMES = {1: "manager", 2: "coursecreator", 3: "editingteacher", 4: "teacher", 5: "student"}
PICTURE = "https://moodle.example.org/theme/image.php/boost/core/1/u/f1"
USER_TEXT_FIELDS = (
    "username",
    "firstname",
    "lastname",
    "middlename",
    "alternatename",
    "firstnamephonetic",
    "lastnamephonetic",
    "email",
    "idnumber",
    "city",
    "country",
    "phone1",
    "phone2",
    "institution",
    "department",
    "address",
    "description",
    "interests",
    "lang",
    "timezone",
    "auth",
)
CREATE_KEYS = {*USER_TEXT_FIELDS, "password", "createpassword", "maildisplay", "mailformat", "calendartype"}
CREATE_KEYS |= {"theme", "customfields", "preferences"}
UPDATE_KEYS = (CREATE_KEYS - {"createpassword"}) | {"id", "suspended", "userpicture"}
#: HTML5's pattern, what Moodle's validate_email accepts through PHPMailer.
EMAIL_RE = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
USERNAME_RE = re.compile(r"^[a-z0-9_.@-]+$")
#: Column sizes of mdl_user (lib/db/install.xml); Moodle does not shorten values and PostgreSQL refuses longer ones.
USER_FIELD_MAX = {
    "username": 100,
    "firstname": 100,
    "lastname": 100,
    "middlename": 255,
    "email": 100,
    "idnumber": 255,
    "city": 120,
    "phone1": 20,
    "phone2": 20,
    "institution": 255,
    "department": 255,
    "address": 255,
}


def _too_long(item: dict[str, Any]) -> bool:
    return any(len(str(item.get(key, ""))) > size for key, size in USER_FIELD_MAX.items())


def dml_write_error() -> Fault:
    """What a value too long for its column gives on PostgreSQL: the insert or update fails."""
    return Fault("dmlwriteexception", "Error writing to database", "dml_write_exception")


# -- helpers for tests -------------------------------------------------------------------------------------
def add_user(
    site: FakeMoodle, username: str, firstname: str = "Тест", lastname: str = "Тестов", **fields: Any
) -> int:
    """Put a user on the site directly (as an administrator would have made them)."""
    userid = site.next_id("user")
    site.users[userid] = {
        "id": userid,
        "username": username,
        "firstname": firstname,
        "lastname": lastname,
        "email": fields.pop("email", f"{username}@example.org"),
        "idnumber": fields.pop("idnumber", ""),
        "auth": "manual",
        "suspended": False,
        "deleted": False,
        **fields,
    }
    return userid


def enrol(site: FakeMoodle, courseid: int, userid: int, roleid: int = 5, *, suspended: bool = False) -> None:
    entry = site.enrolments.setdefault(
        (courseid, userid), {"roles": set(), "suspended": suspended, "timecreated": site.now}
    )
    entry["roles"].add(roleid)
    entry["suspended"] = suspended


def add_group(
    site: FakeMoodle, courseid: int, name: str, idnumber: str = "", members: tuple[int, ...] = ()
) -> int:
    groupid = site.next_id("group")
    site.groups[groupid] = _new_group(groupid, courseid, name, idnumber, "")
    site.group_members[groupid] = set(members)
    return groupid


def add_grouping(
    site: FakeMoodle, courseid: int, name: str, idnumber: str = "", groups: tuple[int, ...] = ()
) -> int:
    """Put a grouping on the site directly (as a course designer would have made it)."""
    groupingid = site.next_id("grouping")
    site.groupings[groupingid] = _new_grouping(groupingid, courseid, name, idnumber, "")
    site.grouping_groups[groupingid] = set(groups)
    return groupingid


def grouping_of(site: FakeMoodle, courseid: int, name: str) -> int | None:
    for grouping in site.groupings.values():
        if grouping["courseid"] == courseid and grouping["name"] == name:
            return int(grouping["id"])
    return None


def group_of(site: FakeMoodle, courseid: int, name: str) -> int | None:
    for group in site.groups.values():
        if group["courseid"] == courseid and group["name"] == name:
            return int(group["id"])
    return None


def user_by_email(site: FakeMoodle, email: str) -> dict[str, Any] | None:
    for user in site.users.values():
        if str(user.get("email", "")).lower() == email.lower() and not user.get("deleted"):
            return user
    return None


def _new_group(groupid: int, courseid: int, name: str, idnumber: str, description: str) -> dict[str, Any]:
    return {
        "id": groupid,
        "courseid": courseid,
        "name": name,
        "description": description,
        "descriptionformat": 1,
        "enrolmentkey": None,
        "idnumber": idnumber,
        "visibility": 0,
        "participation": True,
    }


def _new_grouping(
    groupingid: int, courseid: int, name: str, idnumber: str, description: str
) -> dict[str, Any]:
    return {
        "id": groupingid,
        "courseid": courseid,
        "name": name,
        "description": description,
        "idnumber": idnumber,
    }


def _course(site: FakeMoodle, value: Any) -> dict[str, Any]:
    courseid = as_int(value)
    course = site.courses.get(courseid)
    if course is None or courseid == 1:
        raise record_missing()
    return course


def _user(site: FakeMoodle, value: Any) -> dict[str, Any]:
    user = site.users.get(as_int(value))
    if user is None or user.get("deleted"):
        raise record_missing()
    return user


def _roles(roleids: set[int]) -> list[dict[str, Any]]:
    return [
        {"roleid": rid, "name": "", "shortname": ROLE_SHORTNAMES.get(rid, f"role{rid}"), "sortorder": 0}
        for rid in sorted(roleids, reverse=True)
    ]


def _details(site: FakeMoodle, user: dict[str, Any]) -> dict[str, Any]:
    """What user_get_user_details returns for an administrator's token."""
    out: dict[str, Any] = {
        "id": user["id"],
        "username": user["username"],
        "firstname": user.get("firstname", ""),
        "lastname": user.get("lastname", ""),
        "fullname": f"{user.get('firstname', '')} {user.get('lastname', '')}".strip(),
        "email": user.get("email", ""),
        "department": user.get("department", ""),
        "idnumber": user.get("idnumber", ""),
        "firstaccess": 0,
        "lastaccess": 0,
        "auth": user.get("auth", "manual"),
        "suspended": bool(user.get("suspended")),
        "confirmed": True,
        "lang": user.get("lang", "en"),
        "theme": "",
        "timezone": "99",
        "mailformat": 1,
        "trackforums": 0,
        "profileimageurlsmall": PICTURE,
        "profileimageurl": PICTURE,
    }
    for key in ("middlename", "city", "phone1", "institution", "country"):
        if user.get(key):
            out[key] = user[key]
    return out


def _enrolled_courses(site: FakeMoodle, userid: int) -> list[dict[str, Any]]:
    ids = sorted((cid for (cid, uid) in site.enrolments if uid == userid), reverse=True)
    return [
        {"id": cid, "fullname": site.courses[cid]["fullname"], "shortname": site.courses[cid]["shortname"]}
        for cid in ids
        if cid in site.courses
    ]


def _check_keys(item: Any, allowed: set[str]) -> dict[str, Any]:
    """Moodle's validate_parameters: an unexpected key fails the whole call."""
    if not isinstance(item, dict) or set(item) - allowed:
        raise invalid_parameter()
    return item


def _valid_email(email: str) -> bool:
    return bool(EMAIL_RE.match(email)) and "<" not in email and ">" not in email


# -- users ------------------------------------------------------------------------------------------------
@handler("core_user_get_users_by_field")
def _get_users_by_field(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    field = params.get("field", "")
    if field not in ("id", "idnumber", "username", "email"):
        raise invalid_parameter()
    values = [str(v) for v in as_list(params.get("values"))]
    if field == "email" and any(not _valid_email(v) for v in values):
        # clean_param(PARAM_EMAIL) would change the value: the whole call fails.
        raise invalid_parameter()
    if field == "username" and any(not USERNAME_RE.match(v) for v in values):
        # PARAM_USERNAME lowercases and drops anything but [a-z0-9_.@-]: a changed value fails the call too.
        raise invalid_parameter()
    wanted = set(values)
    found = []
    for uid in sorted(site.users):
        user = site.users[uid]
        if user.get("deleted"):
            continue
        value = str(user.get(field, ""))
        if value and value in wanted:
            found.append(_details(site, user))
    return found


@handler("core_user_create_users")
def _create_users(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = [_check_keys(u, CREATE_KEYS) for u in as_list(params.get("users"))]
    if not items:
        raise invalid_parameter()
    usernames = {u["username"] for u in site.users.values() if not u.get("deleted")}
    emails = {str(u.get("email", "")).lower() for u in site.users.values() if not u.get("deleted")}
    for item in items:  # all-or-nothing: validate every item first (field note 5)
        username = item.get("username", "")
        email = item.get("email", "")
        if not username or not USERNAME_RE.match(username) or username in usernames:
            raise invalid_parameter()
        if not item.get("firstname") or not item.get("lastname"):
            raise invalid_parameter()
        if not _valid_email(email) or email.lower() in emails:
            raise invalid_parameter()
        if not item.get("password") and str(item.get("createpassword", "0")) != "1":
            raise invalid_parameter()
        if _too_long(item):
            raise dml_write_error()  # the transaction is rolled back: nobody is created
        usernames.add(username)
        emails.add(email.lower())
    created = []
    for item in items:
        userid = site.next_id("user")
        user = {key: item[key] for key in USER_TEXT_FIELDS if key in item}
        user.update({"id": userid, "suspended": False, "deleted": False})
        user.setdefault("auth", "manual")
        user.setdefault("idnumber", "")
        site.users[userid] = user
        created.append({"id": userid, "username": item["username"]})
    return created


@handler("core_user_update_users")
def _update_users(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    items = [_check_keys(u, UPDATE_KEYS) for u in as_list(params.get("users"))]
    warnings = []
    for item in items:
        userid = as_int(item.get("id"))
        user = site.users.get(userid)

        def warn(code: str, message: str, userid: int = userid) -> None:
            warnings.append({"item": "user", "itemid": userid, "warningcode": code, "message": message})

        if user is None or user.get("deleted"):
            warn("invaliduserid", "Invalid user ID")
            continue
        if "username" in item and not USERNAME_RE.match(item["username"]):
            warn("invalidusername", "Invalid username")
            continue
        email = item.get("email")
        if email is not None and email != user.get("email"):
            if not _valid_email(email):
                warn("useremailinvalid", "Invalid email address")
                continue
            taken = user_by_email(site, email)
            if taken is not None and taken["id"] != userid:
                warn("useremailduplicate", "Duplicate email address")
                continue
        if _too_long(item):
            # update_users catches the exception per user and answers it as a warning.
            warn("dmlwriteexception", "Error writing to database")
            continue
        for key in USER_TEXT_FIELDS:
            if key in item:
                user[key] = item[key]
        if "suspended" in item:
            user["suspended"] = str(item["suspended"]) == "1"
    return {"warnings": warnings}


# -- enrolments and roles -------------------------------------------------------------------------------------
def _option_map(params: dict[str, Any]) -> dict[str, str]:
    options = {}
    for option in as_list(params.get("options")):
        if not isinstance(option, dict) or "name" not in option:
            raise invalid_parameter()
        options[option["name"]] = str(option.get("value", ""))
    return options


@handler("core_enrol_get_enrolled_users")
def _get_enrolled_users(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    course = _course(site, params.get("courseid"))
    options = _option_map(params)
    onlyactive = options.get("onlyactive", "0") in ("1", "true")
    onlysuspended = options.get("onlysuspended", "0") in ("1", "true")
    groupid = int(options.get("groupid", "0") or 0)
    fields = [f.strip() for f in options["userfields"].split(",")] if "userfields" in options else None
    # Group membership of this course, computed once (not per user) so that big cohorts stay fast.
    course_groups = sorted((gid, g) for gid, g in site.groups.items() if g["courseid"] == course["id"])
    groups_of: dict[int, list[dict[str, Any]]] = {}
    for gid, group in course_groups:
        for uid in site.group_members.get(gid, set()):
            groups_of.setdefault(uid, []).append(
                {
                    "id": gid,
                    "name": group["name"],
                    "description": group["description"],
                    "descriptionformat": 1,
                }
            )
    wants = (lambda name: True) if fields is None else (lambda name: name in fields)
    rows = []
    for (cid, uid), enrolment in sorted(site.enrolments.items(), key=lambda kv: kv[0][1]):
        if cid != course["id"]:
            continue
        user = site.users.get(uid)
        if user is None or user.get("deleted"):
            continue
        inactive = enrolment["suspended"] or bool(user.get("suspended"))
        if onlyactive and inactive:
            continue
        if onlysuspended and not inactive:
            continue
        if groupid and uid not in site.group_members.get(groupid, set()):
            continue
        full = _details(site, user)
        full.pop("suspended", None)
        full["roles"] = _roles(enrolment["roles"])
        full["groups"] = groups_of.get(uid, [])
        if wants("enrolledcourses"):
            full["enrolledcourses"] = _enrolled_courses(site, uid)
        if fields is None:
            row = full
        else:
            row = {"id": uid, "fullname": full["fullname"]}
            for name in fields:
                if name in full:
                    row[name] = full[name]
        rows.append(row)
    start = int(options.get("limitfrom", "0") or 0)
    number = int(options.get("limitnumber", "0") or 0)
    return rows[start : start + number] if number else rows[start:]


@handler("core_enrol_get_users_courses")
def _get_users_courses(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    user = _user(site, params.get("userid"))
    out = []
    for entry in _enrolled_courses(site, user["id"]):
        course = site.courses[entry["id"]]
        count = sum(1 for (cid, _uid) in site.enrolments if cid == course["id"])
        out.append(
            {
                "id": course["id"],
                "shortname": course["shortname"],
                "fullname": course["fullname"],
                "displayname": course.get("displayname", course["fullname"]),
                "enrolledusercount": count,
                "idnumber": course.get("idnumber", ""),
                "visible": course.get("visible", 1),
                "summary": course.get("summary", ""),
                "summaryformat": 1,
                "format": course.get("format", "topics"),
                "showgrades": True,
                "lang": "",
                "enablecompletion": True,
                "category": course.get("categoryid", 1),
                "progress": None,
                "completed": False,
                "startdate": course.get("startdate", 0),
                "enddate": course.get("enddate", 0),
                "marker": 0,
                "lastaccess": None,
                "isfavourite": False,
                "hidden": False,
            }
        )
    return out


def _role(value: Any, userid: int, courseid: int) -> int:
    roleid = as_int(value)
    if roleid not in ROLE_SHORTNAMES:
        raise Fault(
            "wsusercannotassign",
            f"You don't have the permission to assign this role ({roleid}) to this user ({userid}) "
            f"in this course ({courseid}).",
        )
    return roleid


@handler("enrol_manual_enrol_users")
def _enrol_users(site: FakeMoodle, params: dict[str, Any]) -> None:
    items = as_list(params.get("enrolments"))
    checked = []
    for item in items:  # validate all first: one transaction on the server
        _check_keys(item, {"roleid", "userid", "courseid", "timestart", "timeend", "suspend"})
        course = _course(site, item.get("courseid"))
        user = _user(site, item.get("userid"))
        roleid = _role(item.get("roleid"), user["id"], course["id"])
        suspend = item.get("suspend")
        checked.append((course["id"], user["id"], roleid, None if suspend is None else as_int(suspend) == 1))
    # The welcome message of each enrolment goes from the course's contact at the time; the real site's first
    # sync (the coordinator enrolled in the same call as everyone) did not fail.
    welcomed_by_contact = site.mail_fails and any(_has_contact(site, c[0]) for c in checked)
    for courseid, userid, roleid, suspend in checked:
        entry = site.enrolments.get((courseid, userid))
        if entry is None:
            entry = {"roles": set(), "suspended": False, "timecreated": site.now}
            site.enrolments[(courseid, userid)] = entry
        entry["roles"].add(roleid)  # a second role is added, not swapped (field note 22)
        if suspend is not None:
            entry["suspended"] = suspend
    if welcomed_by_contact:
        # Copied courses keep the template's "send course welcome message"; Moodle sends it, from the course
        # contact, after committing the enrolments, on every call (suspend and reactivate too), and a failed
        # e-mail becomes the call's answer (recording enrol_manual_enrol_users__welcome_message_not_sent).
        raise Fault("Message was not sent.", "error/Message was not sent.")
    return None


def _has_contact(site: FakeMoodle, courseid: int) -> bool:
    """Moodle's course contact: an editing teacher (role 3) of the course; without one the welcome message
    goes from the no-reply user and the real site does not fail."""
    return any(cid == courseid and 3 in entry["roles"] for (cid, _), entry in site.enrolments.items())


def _drop_memberships(site: FakeMoodle, courseid: int, userid: int) -> None:
    for gid, group in site.groups.items():
        if group["courseid"] == courseid:
            site.group_members.get(gid, set()).discard(userid)


@handler("enrol_manual_unenrol_users")
def _unenrol_users(site: FakeMoodle, params: dict[str, Any]) -> None:
    items = as_list(params.get("enrolments"))
    checked = []
    for item in items:
        _check_keys(item, {"userid", "courseid", "roleid"})
        course = _course(site, item.get("courseid"))
        user = _user(site, item.get("userid"))
        checked.append((course["id"], user["id"]))
    for courseid, userid in checked:
        if site.enrolments.pop((courseid, userid), None) is not None:
            # Unenrolling removes the user's group memberships in the course, as Moodle does.
            _drop_memberships(site, courseid, userid)
    return None


def _role_targets(site: FakeMoodle, params: dict[str, Any], key: str) -> list[tuple[int, int, int]]:
    out = []
    for item in as_list(params.get(key)):
        _check_keys(item, {"roleid", "userid", "contextid", "contextlevel", "instanceid"})
        if item.get("contextlevel") != "course":
            raise invalid_parameter()  # the fake knows course contexts only
        course = _course(site, item.get("instanceid"))
        user = _user(site, item.get("userid"))
        roleid = _role(item.get("roleid"), user["id"], course["id"])
        out.append((course["id"], user["id"], roleid))
    return out


@handler("core_role_assign_roles")
def _assign_roles(site: FakeMoodle, params: dict[str, Any]) -> None:
    targets = _role_targets(site, params, "assignments")
    for courseid, userid, _roleid in targets:
        if (courseid, userid) not in site.enrolments:
            raise invalid_parameter()  # the fake keeps roles on enrolments only
    for courseid, userid, roleid in targets:
        site.enrolments[(courseid, userid)]["roles"].add(roleid)
    return None


@handler("core_role_unassign_roles")
def _unassign_roles(site: FakeMoodle, params: dict[str, Any]) -> None:
    for courseid, userid, roleid in _role_targets(site, params, "unassignments"):
        entry = site.enrolments.get((courseid, userid))
        if entry is not None:
            entry["roles"].discard(roleid)  # the enrolment stays, possibly with no role
    return None


# -- groups and groupings ------------------------------------------------------------------------------------
@handler("core_group_get_course_groups")
def _get_course_groups(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    course = _course(site, params.get("courseid"))
    return [dict(g) for _, g in sorted(site.groups.items()) if g["courseid"] == course["id"]]


def _check_new_named(
    site: FakeMoodle, params: dict[str, Any], key: str, existing: Iterable[dict[str, Any]], allowed: set[str]
) -> list[tuple[int, str, str, str]]:
    """New groups or groupings, all checked before any is made: (course id, name, ID number, description).

    A name already used in the course (or none, or no description) fails the whole call with the generic
    ``invalidparameter`` ("... with the same name already exists in the course"); a taken ID number with
    ``idnumbertaken``."""
    items = as_list(params.get(key))
    if not items:
        raise invalid_parameter()
    what = key.rstrip("s")
    names = {(g["courseid"], g["name"]) for g in existing}
    idnumbers = {(g["courseid"], g["idnumber"]) for g in existing if g["idnumber"]}
    checked = []
    for item in items:
        _check_keys(item, allowed)
        course = _course(site, item.get("courseid"))
        name = item.get("name", "")
        if not name or (course["id"], name) in names or "description" not in item:
            raise invalid_parameter()
        idnumber = item.get("idnumber", "")
        if idnumber and (course["id"], idnumber) in idnumbers:
            raise Fault("idnumbertaken", f"ID number is already used for another {what}")
        names.add((course["id"], name))
        if idnumber:
            idnumbers.add((course["id"], idnumber))
        checked.append((course["id"], name, idnumber, item.get("description", "")))
    return checked


@handler("core_group_create_groups")
def _create_groups(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    allowed = {"courseid", "name", "description", "descriptionformat", "enrolmentkey", "idnumber"}
    allowed |= {"visibility", "participation", "customfields"}
    out = []
    for courseid, name, idnumber, description in _check_new_named(
        site, params, "groups", site.groups.values(), allowed
    ):
        groupid = site.next_id("group")
        group = _new_group(groupid, courseid, name, idnumber, description)
        site.groups[groupid] = group
        site.group_members[groupid] = set()
        out.append(dict(group, enrolmentkey=""))
    return out


def _by_name(record: dict[str, Any]) -> tuple[str, int]:
    return (record["name"], record["id"])


def _grouping_answer(grouping: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": grouping["id"],
        "courseid": grouping["courseid"],
        "name": grouping["name"],
        "description": grouping["description"],
        "descriptionformat": 1,
        "idnumber": grouping["idnumber"],
    }


@handler("core_group_get_course_groupings")
def _get_course_groupings(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    course = _course(site, params.get("courseid"))
    # Ordered by name, as the real server answers (groups_get_all_groupings; the recording lists id 2 first).
    groupings = sorted((g for g in site.groupings.values() if g["courseid"] == course["id"]), key=_by_name)
    return [_grouping_answer(g) for g in groupings]


@handler("core_group_get_groupings")
def _get_groupings(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    returngroups = str(params.get("returngroups", "0")) in ("1", "true")
    out = []
    for value in as_list(params.get("groupingids")):
        grouping = site.groupings.get(as_int(value))
        if grouping is None:
            raise record_missing()
        answer = _grouping_answer(grouping)
        answer["customfields"] = []
        if returngroups:
            answer["groups"] = [
                {**{k: v for k, v in site.groups[gid].items() if k != "visibility" and k != "participation"}}
                | {"customfields": []}
                for gid in sorted(site.grouping_groups.get(grouping["id"], set()))
                if gid in site.groups
            ]
        out.append(answer)
    return out


@handler("core_group_create_groupings")
def _create_groupings(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    allowed = {"courseid", "name", "description", "descriptionformat", "idnumber", "customfields"}
    out = []
    for courseid, name, idnumber, description in _check_new_named(
        site, params, "groupings", site.groupings.values(), allowed
    ):
        groupingid = site.next_id("grouping")
        site.groupings[groupingid] = _new_grouping(groupingid, courseid, name, idnumber, description)
        site.grouping_groups[groupingid] = set()
        out.append(_grouping_answer(site.groupings[groupingid]))
    return out


@handler("core_group_assign_grouping")
def _assign_grouping(site: FakeMoodle, params: dict[str, Any]) -> None:
    checked = []
    for item in as_list(params.get("assignments")):
        _check_keys(item, {"groupingid", "groupid"})
        grouping = site.groupings.get(as_int(item.get("groupingid")))
        group = site.groups.get(as_int(item.get("groupid")))
        if grouping is None or group is None:
            raise record_missing()
        if grouping["courseid"] != group["courseid"]:
            raise invalid_parameter()
        checked.append((grouping["id"], group["id"]))
    for groupingid, groupid in checked:
        site.grouping_groups.setdefault(groupingid, set()).add(groupid)
    return None


@handler("core_group_unassign_grouping")
def _unassign_grouping(site: FakeMoodle, params: dict[str, Any]) -> None:
    """group/externallib.php: both records must exist (``MUST_EXIST``: the whole call fails, one transaction);
    a group that is not in the grouping is passed over silently; no check that both are in one course."""
    checked = []
    for item in as_list(params.get("unassignments")):
        _check_keys(item, {"groupingid", "groupid"})
        grouping = site.groupings.get(as_int(item.get("groupingid")))
        group = site.groups.get(as_int(item.get("groupid")))
        if grouping is None or group is None:
            raise record_missing()
        checked.append((grouping["id"], group["id"]))
    for groupingid, groupid in checked:
        site.grouping_groups.get(groupingid, set()).discard(groupid)
    return None


def _group_members(
    site: FakeMoodle, params: dict[str, Any], *, enrolled: bool = False
) -> list[tuple[int, int]]:
    """(group id, user id) of every item of ``members``, all checked before anything changes (one transaction):
    an unknown group or user fails the whole call, and with ``enrolled`` so does a user not enrolled in the
    group's course ("Only enrolled users may be members of groups", field note 3)."""
    out = []
    for item in as_list(params.get("members")):
        _check_keys(item, {"groupid", "userid"})
        group = site.groups.get(as_int(item.get("groupid")))
        if group is None:
            raise record_missing()
        user = _user(site, item.get("userid"))
        if enrolled and not site.is_enrolled(group["courseid"], user["id"]):
            raise invalid_parameter()
        out.append((group["id"], user["id"]))
    return out


@handler("core_group_add_group_members")
def _add_group_members(site: FakeMoodle, params: dict[str, Any]) -> None:
    for groupid, userid in _group_members(site, params, enrolled=True):
        site.group_members.setdefault(groupid, set()).add(userid)
    return None


@handler("core_group_delete_group_members")
def _delete_group_members(site: FakeMoodle, params: dict[str, Any]) -> None:
    for groupid, userid in _group_members(site, params):
        site.group_members.get(groupid, set()).discard(userid)
    return None


@handler("core_group_get_group_members")
def _get_group_members(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for value in as_list(params.get("groupids")):
        groupid = as_int(value)
        if groupid not in site.groups:
            raise record_missing()
        out.append({"groupid": groupid, "userids": sorted(site.group_members.get(groupid, set()))})
    return out


@handler("core_group_get_course_user_groups")
def _get_course_user_groups(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    courseid = as_int(params.get("courseid", 0), default=0)
    userid = as_int(params.get("userid", ADMIN_ID), default=ADMIN_ID)
    groupingid = as_int(params.get("groupingid", 0), default=0)
    _user(site, userid)
    groups = []
    for gid, group in sorted(site.groups.items()):
        if courseid and group["courseid"] != courseid:
            continue
        if userid not in site.group_members.get(gid, set()):
            continue
        if groupingid and gid not in site.grouping_groups.get(groupingid, set()):
            continue
        groups.append(
            {
                "id": gid,
                "name": group["name"],
                "description": group["description"],
                "descriptionformat": 1,
                "idnumber": group["idnumber"],
                "courseid": group["courseid"],
            }
        )
    return {"groups": groups, "warnings": []}


# -- messages ---------------------------------------------------------------------------------------------------
@handler("core_message_send_instant_messages")
def _send_instant_messages(site: FakeMoodle, params: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in as_list(params.get("messages")):
        _check_keys(item, {"touserid", "text", "textformat", "clientmsgid"})
        touserid = as_int(item.get("touserid"))
        text = item.get("text", "")
        clientmsgid = item.get("clientmsgid", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", clientmsgid):
            raise invalid_parameter()  # PARAM_ALPHANUMEXT would change it: the whole call fails
        user = site.users.get(touserid)
        if user is None or user.get("deleted") or not text:
            # Moodle answers per message: msgid -1 and the reason, the others still go.
            out.append(
                {"msgid": -1, "clientmsgid": clientmsgid, "errormessage": "Invalid user or empty text"}
            )
            continue
        if len(text.encode("utf-8")) > 4096:
            # core_message\api::MESSAGE_MAX_LENGTH, compared with strlen (bytes).
            out.append({"msgid": -1, "clientmsgid": clientmsgid, "errormessage": "The message is too long"})
            continue
        msgid = len(site.messages) + 1
        html = text if text.lstrip().startswith("<") else f"<p>{text}</p>"
        site.messages.append(
            {
                "id": msgid,
                "useridfrom": ADMIN_ID,
                "useridto": touserid,
                "text": html,
                "timecreated": site.now,
                "clientmsgid": clientmsgid,
            }
        )
        out.append(
            {
                "msgid": msgid,
                "clientmsgid": clientmsgid,
                "text": html,
                "timecreated": site.now,
                "conversationid": touserid,
                "useridfrom": ADMIN_ID,
                "candeletemessagesforallusers": True,
            }
        )
    return out

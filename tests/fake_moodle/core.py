"""A stateful fake of a Moodle 5.1 site's REST web services, for end-to-end tests.

It behaves like the recorded server (tests/fixtures/recordings, field notes in the README of the shared
recordings): errors are HTTP 200 with ``{"exception", "errorcode", "message"}``; form variables past
``max_input_vars`` are silently dropped before the handler sees them; an unknown function answers
``invalidrecordunknown``; a function outside the token's service answers ``accessexception``; batch
writes are all-or-nothing (handlers validate every item before changing state).

Handlers live in one module per area (``courses.py``, ``people.py``, ``activities.py``) and register
with :func:`handler`. A handler gets the site and the parameters decoded back from PHP brackets (all
leaf values are strings, as PHP sees them) and returns the JSON answer, or raises :class:`Fault`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import requests
import responses

URL = "https://moodle.example.org"
TOKEN = "0123456789abcdef0123456789abcdef"
ADMIN_ID = 2
RELEASE = "5.1+ (Build: 20251017)"
VERSION = "2025100600.02"

Handler = Callable[["FakeMoodle", dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register a fake implementation of the web-service function ``name``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


class Fault(Exception):
    """A Moodle exception, answered as HTTP 200 JSON like the real server."""

    def __init__(
        self, errorcode: str, message: str, exception: str = "core\\exception\\moodle_exception"
    ) -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.message = message
        self.exception = exception

    def answer(self) -> dict[str, str]:
        return {"exception": self.exception, "errorcode": self.errorcode, "message": self.message}


def invalid_parameter() -> Fault:
    """Moodle's generic parameter error (field note 3): it never says which parameter."""
    return Fault(
        "invalidparameter", "Invalid parameter value detected", "core\\exception\\invalid_parameter_exception"
    )


def record_missing() -> Fault:
    return Fault(
        "invalidrecordunknown", "Can't find data record in database.", "dml_missing_record_exception"
    )


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Rebuild nested parameters from PHP bracket names (``users[0][username]``)."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        keys = re.findall(r"[^\[\]]+", name)
        if not keys:
            continue
        node = root
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


def as_int(value: Any, default: int | None = None) -> int:
    """PHP's PARAM_INT check: a missing or non-integer value is an invalid parameter."""
    if value is None or value == "":
        if default is not None:
            return default
        raise invalid_parameter()
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter() from None


def as_list(value: Any) -> list[Any]:
    """An optional list parameter: PHP sends nothing for an empty list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    raise invalid_parameter()


#: Faults a handler produces itself, halfway through its work (see FakeMoodle.take_fault).
IN_HANDLER = frozenset({"killed-mid-restore"})


@dataclass
class Injected:
    """A failure to produce on a future call of ``wsfunction``."""

    wsfunction: str
    #: "connection", "timeout", "http503", "html", "notice", "drop-after-apply", "invalidresponse-after-apply";
    #: and those a handler produces itself (IN_HANDLER): "killed-mid-restore" (core_course_duplicate_course)
    kind: str
    remaining: int = 1


@dataclass
class FakeMoodle:
    """The site's state, in plain dicts keyed by id, and the request log."""

    url: str = URL
    token: str = TOKEN
    max_input_vars: int = 5000
    sitename: str = "Kamchatka Accelerator"
    now: int = 1_640_000_000
    #: the token was deleted or expired on the site: every call answers invalidtoken.
    token_revoked: bool = False
    #: names the token's service allows; None means every registered handler.
    service_functions: set[str] | None = None
    #: the site cannot send e-mail (no mail server; a bad no-reply address): Moodle's course welcome message on
    #: enrol_manual_enrol_users fails after the enrolments were saved (recording welcome_message_not_sent)
    mail_fails: bool = False

    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    courses: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: course id -> ordered sections {id, section (number), name, summary, visible}
    sections: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: cmid -> {id, course, section (section id), modname, instance, name, idnumber, visible, ...}
    modules: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: (courseid, userid) -> {"roles": set[int], "suspended": bool, "timecreated": int}
    enrolments: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    group_members: dict[int, set[int]] = field(default_factory=dict)
    groupings: dict[int, dict[str, Any]] = field(default_factory=dict)
    grouping_groups: dict[int, set[int]] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: activity data, keyed by instance id of the activity
    assignments: dict[int, dict[str, Any]] = field(default_factory=dict)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    grades: list[dict[str, Any]] = field(default_factory=list)
    choices: dict[int, dict[str, Any]] = field(default_factory=dict)
    choice_answers: list[dict[str, Any]] = field(default_factory=list)
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    data_fields: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    data_entries: list[dict[str, Any]] = field(default_factory=list)
    feedbacks: dict[int, dict[str, Any]] = field(default_factory=dict)
    feedback_items: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    feedback_responses: list[dict[str, Any]] = field(default_factory=list)
    forums: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)

    #: called with the function name just before a handler runs (a test can make an answer slow)
    before_answer: Callable[[str], None] | None = None
    #: every call answered: (wsfunction, params)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    _ids: dict[str, itertools.count[int]] = field(default_factory=dict)
    #: the state is plain dicts and a client may send several requests at once: one answer at a time
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if ADMIN_ID not in self.users:
            self.users[ADMIN_ID] = {
                "id": ADMIN_ID,
                "username": "admin",
                "firstname": "Admin",
                "lastname": "User",
                "email": "admin@example.org",
                "idnumber": "",
                "auth": "manual",
                "suspended": False,
                "deleted": False,
            }
        self.courses.setdefault(
            1,
            {
                "id": 1,
                "shortname": "site",
                "fullname": self.sitename,
                "categoryid": 0,
                "format": "site",
                "idnumber": "",
                "visible": 1,
            },
        )

    # -- ids and time -------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        """A fresh id for ``kind``, above every id already in the state."""
        if kind not in self._ids:
            existing = {
                "user": self.users,
                "category": self.categories,
                "course": self.courses,
                "module": self.modules,
                "group": self.groups,
                "grouping": self.groupings,
                "event": self.events,
            }.get(kind, {})
            start = max(existing, default=0) + 1
            if kind == "user":
                start = max(start, ADMIN_ID + 1)
            self._ids[kind] = itertools.count(start)
        return next(self._ids[kind])

    def next_instance(self, modname: str) -> int:
        """A fresh instance id for an activity of ``modname`` (a new row in that module's own table)."""
        records = {
            "assign": self.assignments,
            "choice": self.choices,
            "data": self.databases,
            "feedback": self.feedbacks,
            "forum": self.forums,
        }.get(modname, {})
        used = max(
            [m["instance"] for m in self.modules.values() if m["modname"] == modname] + list(records),
            default=0,
        )
        instance = self.next_id(f"instance-{modname}")
        while instance <= used:
            instance = self.next_id(f"instance-{modname}")
        return instance

    # -- what a test asks -----------------------------------------------------------------------------
    @property
    def token_userid(self) -> int:
        return ADMIN_ID

    def functions_called(self) -> list[str]:
        return [name for name, _ in self.calls]

    def count(self, wsfunction: str) -> int:
        return sum(1 for name, _ in self.calls if name == wsfunction)

    def inject(self, wsfunction: str, kind: str, times: int = 1) -> None:
        """Make the next ``times`` calls of ``wsfunction`` fail the way ``kind`` says."""
        self.injected.append(Injected(wsfunction, kind, times))

    def take_fault(self, wsfunction: str, kind: str) -> bool:
        """For a handler that produces a fault of its own (IN_HANDLER): whether one is due now (used up)."""
        for fault in self.injected:
            if fault.wsfunction == wsfunction and fault.kind == kind and fault.remaining > 0:
                fault.remaining -= 1
                return True
        return False

    def is_enrolled(self, courseid: int, userid: int, *, active_only: bool = False) -> bool:
        enrolment = self.enrolments.get((courseid, userid))
        return enrolment is not None and not (active_only and enrolment["suspended"])

    # -- HTTP ------------------------------------------------------------------------------------------
    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(
            responses.POST,
            f"{self.url}/webservice/rest/server.php",
            callback=self._answer,
            content_type="application/json",
        )

    def _answer(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        return self.answer_form(body)

    def answer_form(self, body: str) -> tuple[int, dict[str, str], str]:
        """Answer one POSTed form body: (HTTP status, headers, body text).

        ``before_answer`` runs first, outside the state's lock, so that a test can hold several requests in
        flight at once (a barrier) or make one slow without keeping the others out.
        """
        pairs = parse_qsl(body, keep_blank_values=True)
        if self.before_answer is not None:
            self.before_answer(dict(pairs[:3]).get("wsfunction", ""))
        with self._lock:
            return self._answer_pairs(pairs)

    def _answer_pairs(self, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, str], str]:
        # PHP keeps only the first variables and says nothing (field note 6): of a POST body, one more than
        # max_input_vars (add_post_vars counts a variable after keeping it; measured on the real site: 5001 of
        # a 5002-variable request arrive with max_input_vars 5000).
        pairs = pairs[: self.max_input_vars + 1]
        form = dict(pairs[:3])
        wsfunction = form.get("wsfunction", "")
        for fault in self.injected:
            if (
                fault.wsfunction == wsfunction
                and fault.remaining > 0
                and not fault.kind.endswith("-after-apply")
                and fault.kind not in IN_HANDLER
            ):
                fault.remaining -= 1
                return self._injected(fault)
        if form.get("wstoken") != self.token or self.token_revoked:
            return self._json(Fault("invalidtoken", "Invalid token - token not found").answer())
        params = unflatten(
            [(k, v) for k, v in pairs if k not in ("wstoken", "wsfunction", "moodlewsrestformat")]
        )
        fn = HANDLERS.get(wsfunction)
        if fn is None:
            return self._json(record_missing().answer())
        if self.service_functions is not None and wsfunction not in self.service_functions:
            return self._json(
                Fault(
                    "accessexception",
                    "Access control exception",
                    "core\\exception\\webservice_access_exception",
                ).answer()
            )
        self.calls.append((wsfunction, params))
        try:
            answer = fn(self, params)
        except Fault as fault:
            return self._json(fault.answer())
        for fault in self.injected:
            if fault.wsfunction == wsfunction and fault.remaining > 0 and fault.kind == "drop-after-apply":
                # The server did the work but the answer never arrived.
                fault.remaining -= 1
                raise requests.exceptions.ConnectionError("connection reset by peer (injected)")
            if (
                fault.wsfunction == wsfunction
                and fault.remaining > 0
                and fault.kind == "invalidresponse-after-apply"
            ):
                # The function ran and committed; then Moodle's check of its return value failed
                # (external_api::clean_returnvalue throws invalid_response_exception), answered as HTTP 200.
                fault.remaining -= 1
                return self._json(
                    Fault(
                        "invalidresponse",
                        "Invalid response value detected",
                        "core\\exception\\invalid_response_exception",
                    ).answer()
                )
        return self._json(answer)

    @staticmethod
    def _json(answer: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps(answer, ensure_ascii=False)

    @staticmethod
    def _injected(fault: Injected) -> tuple[int, dict[str, str], str]:
        if fault.kind == "connection":
            raise requests.exceptions.ConnectionError("connection refused (injected)")
        if fault.kind == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out (injected)")
        if fault.kind == "http503":
            return 503, {}, "<html><body><h1>Site under maintenance</h1></body></html>"
        if fault.kind == "html":
            return 200, {}, "<!DOCTYPE html><html><body>Maintenance mode</body></html>"
        if fault.kind == "notice":
            return (
                200,
                {},
                "<br />\n<b>Notice</b>: Undefined index: x in /var/www/lib.php on line 3<br />\n[]",
            )
        raise AssertionError(f"unknown injected fault {fault.kind}")


@handler("core_webservice_get_site_info")
def _site_info(site: FakeMoodle, params: dict[str, Any]) -> dict[str, Any]:
    # A full service: everything the fake implements and everything the product calls (field note 20).
    from integration.functions import required_functions

    full = set(HANDLERS) | set(required_functions())
    names = sorted(site.service_functions if site.service_functions is not None else full)
    admin = site.users[ADMIN_ID]
    return {
        "sitename": site.sitename,
        "username": admin["username"],
        "firstname": admin["firstname"],
        "lastname": admin["lastname"],
        "fullname": f"{admin['firstname']} {admin['lastname']}",
        "lang": "en",
        "userid": ADMIN_ID,
        "siteurl": site.url,
        "release": RELEASE,
        "version": VERSION,
        "userissiteadmin": True,
        "functions": [{"name": name, "version": VERSION} for name in names],
    }

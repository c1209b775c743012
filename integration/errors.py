"""Errors raised by the Moodle client.

Moodle answers most failures with HTTP 200 and a JSON body ``{"exception", "errorcode", "message"}``
(field note 2), so the client maps ``errorcode`` to the classes below. Callers catch by type::

    AccelMoodleError                  anything this package raises
    ├── ConfigurationError            bad URL, plain http to a remote host, missing token
    │   └── SiteRedirected            the site answered a redirect (never followed: the token would go along)
    ├── TransportError                no usable answer from the site
    │   ├── MoodleUnreachable         connection refused, DNS, timeout (after retries for reads), 429/503
    │   │   └── TlsFailure            the certificate failed verification (not retried)
    │   ├── UncertainWrite            a write whose outcome is unknown: re-read and reconcile, never resend
    │   │   └── UncertainAnswer       a write ran but Moodle's answer failed its own check (invalidresponse)
    │   └── BadResponse               HTML page, PHP notices, non-JSON body, HTTP 4xx/5xx
    ├── Cancelled                     asked to stop (SIGTERM) between two requests
    ├── RequestTooLarge               one item alone exceeds the site's max_input_vars
    └── MoodleError                   the site answered with an exception (errorcode)
        ├── InvalidToken              invalidtoken
        ├── AccessDenied              accessexception (function not in the token's service), nopermissions, ...
        ├── InvalidParameter          invalidparameter / invalidextparam / missingparam (generic, field note 3)
        ├── InvalidResponse           invalidresponse on a read (on a write: UncertainAnswer)
        ├── MessageNotSent            "Message was not sent.": the change was saved, a notification e-mail failed
        ├── RecordNotFound            invalidrecord / invalidrecordunknown (also: unknown wsfunction, note 4)
        ├── ShortnameTaken            shortnametaken
        ├── CategoryIdnumberTaken     categoryidnumbertaken
        ├── CannotAssignRole          wsusercannotassign
        └── NoCompletionCriteria      nocriteriaset

The token never appears in any message: the client never puts it in an error, and ``redact`` scrubs
it from any text that might have echoed it (a proxy page, a debug message).
"""

from __future__ import annotations

from typing import Any

from i18n import _


class AccelMoodleError(Exception):
    """Base of every error raised by :mod:`integration`."""


class ConfigurationError(AccelMoodleError):
    """The client cannot be built from the given settings (URL, token, limits)."""


class SiteRedirected(ConfigurationError):
    """The site answered a web-service call with a redirect (3xx), which is never followed.

    Following it would send the form, token included, wherever ``Location`` points (a moved site, a proxy,
    someone on the path), even over plain http. Nothing reached Moodle's web-service code, so even a write
    was not applied. ``location`` is where it pointed ("" when the answer named nowhere).
    """

    def __init__(self, message: str, *, location: str, wsfunction: str | None = None) -> None:
        super().__init__(message)
        self.location = location
        self.wsfunction = wsfunction


class TransportError(AccelMoodleError):
    """The site gave no usable answer."""

    def __init__(self, message: str, *, wsfunction: str | None = None) -> None:
        super().__init__(message)
        self.wsfunction = wsfunction


class MoodleUnreachable(TransportError):
    """Connection refused, name resolution, TLS or timeout; reads were retried before this is raised.

    ``retry_after`` is the wait in seconds the site asked for (a 429 or 503 with ``Retry-After``), if any.
    """

    def __init__(
        self, message: str, *, wsfunction: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, wsfunction=wsfunction)
        self.retry_after = retry_after


class TlsFailure(MoodleUnreachable):
    """The site's certificate failed verification (untrusted, expired, or not issued for the host name).

    Raised at the first attempt: nothing was sent (the handshake failed) and asking again gives the same.
    """


class UncertainWrite(TransportError):
    """A write request failed in flight: Moodle may or may not have applied it.

    The client never resends a write. Whoever called it must read the site again and reconcile
    (plan/apply does this naturally: the next plan is computed from the live site).
    """


class UncertainAnswer(UncertainWrite):
    """A write ran, then Moodle's answer failed its own validation (errorcode ``invalidresponse``).

    Moodle checks a function's return value *after* the function has run and committed
    (``external_api::clean_returnvalue``), so the change may well be on the site. It is not a bad item: a
    batch that failed this way must not be split and sent again; read the site and plan afresh.
    """

    def __init__(self, message: str, *, wsfunction: str | None = None, errorcode: str = "") -> None:
        super().__init__(message, wsfunction=wsfunction)
        self.errorcode = errorcode


class BadResponse(TransportError):
    """The answer is not Moodle's JSON: a maintenance page, a proxy error, PHP notices before the JSON."""

    def __init__(self, message: str, *, status: int, excerpt: str, wsfunction: str | None = None) -> None:
        super().__init__(
            _("{message} (HTTP {status}): {excerpt}").format(
                message=message, status=status, excerpt=repr(excerpt)
            ),
            wsfunction=wsfunction,
        )
        self.status = status
        self.excerpt = excerpt


class Cancelled(AccelMoodleError):
    """The process was asked to stop (SIGTERM); no new request is sent after the one in flight."""


class RequestTooLarge(AccelMoodleError):
    """A single item needs more form variables than the site accepts.

    PHP silently drops variables past ``max_input_vars`` and Moodle still answers 200 (field note 6),
    so sending it would corrupt data instead of failing.
    """


class MoodleError(AccelMoodleError):
    """The site answered with an exception.

    ``completed`` and ``chunk_index`` are set by batched calls: the answers of the chunks that went
    through before this one failed, and the index of the failing chunk.
    """

    def __init__(
        self,
        message: str,
        *,
        errorcode: str,
        exception: str = "",
        wsfunction: str | None = None,
        debuginfo: str | None = None,
    ) -> None:
        where = f"{wsfunction}: " if wsfunction else ""
        super().__init__(f"{where}{message} [{errorcode}]")
        self.message = message
        self.errorcode = errorcode
        self.exception = exception
        self.wsfunction = wsfunction
        self.debuginfo = debuginfo
        self.chunk_index: int | None = None
        self.completed: list[Any] = []


class InvalidToken(MoodleError):
    """The token is unknown, expired or restricted to other IP addresses."""


class AccessDenied(MoodleError):
    """The function is not in the token's external service, or the token's user lacks a capability."""


class InvalidParameter(MoodleError):
    """Moodle rejected a parameter. The message is generic (field note 3): it never says which one."""


class InvalidResponse(MoodleError):
    """A read's answer failed Moodle's own validation (``invalidresponse``): a fault of the site's data or code,
    not of the request. On a write the client raises :class:`UncertainAnswer` instead."""


class MessageNotSent(MoodleError):
    """The call did its work, then Moodle failed to send a notification (errorcode "Message was not sent.").

    Seen on ``enrol_manual_enrol_users``: courses copied from a template keep its manual enrolment's "send
    course welcome message", and Moodle sends that message on every enrol call (new enrolments, and also
    suspending or reactivating one) once the course has a contact (an editing teacher). The enrolments are
    committed first and the message is sent after the commit (``core\\message\\manager`` buffers messages
    during the transaction), so when the site cannot send e-mail the call answers this error although every
    enrolment of the call was saved.
    """


class RecordNotFound(MoodleError):
    """A record (course, user, ...) does not exist; an unknown wsfunction also gives this (field note 4)."""


class ShortnameTaken(MoodleError):
    """The course short name belongs to another course."""


class CategoryIdnumberTaken(MoodleError):
    """The category ID number belongs to another category."""


class CannotAssignRole(MoodleError):
    """The token's user may not assign this role (or the role id does not exist)."""


class NoCompletionCriteria(MoodleError):
    """The course has no completion criteria."""


ERRORCODE_CLASSES: dict[str, type[MoodleError]] = {
    "invalidtoken": InvalidToken,
    "invalidtokensession": InvalidToken,
    "accessexception": AccessDenied,
    "nopermissions": AccessDenied,
    "requireloginerror": AccessDenied,
    "servicerequireslogin": AccessDenied,
    "servicenotavailable": AccessDenied,
    "webservicesnotenabled": AccessDenied,
    "restrictedcontextexception": AccessDenied,
    "invalidparameter": InvalidParameter,
    "invalidextparam": InvalidParameter,
    "missingparam": InvalidParameter,
    "invalidresponse": InvalidResponse,
    "Message was not sent.": MessageNotSent,
    "invalidrecord": RecordNotFound,
    "invalidrecordunknown": RecordNotFound,
    "shortnametaken": ShortnameTaken,
    "categoryidnumbertaken": CategoryIdnumberTaken,
    "wsusercannotassign": CannotAssignRole,
    "nocriteriaset": NoCompletionCriteria,
}


#: errorcodes Moodle raises after the function has run: on a write, the change may have been made
MAY_HAVE_RUN = frozenset({"invalidresponse"})


def error_from_answer(answer: dict[str, Any], wsfunction: str | None) -> MoodleError:
    """Build the typed error for a Moodle exception answer."""
    errorcode = str(answer.get("errorcode") or "unknown")
    cls = ERRORCODE_CLASSES.get(errorcode, MoodleError)
    return cls(
        str(answer.get("message") or errorcode),
        errorcode=errorcode,
        exception=str(answer.get("exception") or ""),
        wsfunction=wsfunction,
        debuginfo=answer.get("debuginfo"),
    )


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` in ``text`` with ``***``."""
    if secret:
        return text.replace(secret, "***")
    return text

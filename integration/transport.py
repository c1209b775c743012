"""The one place that talks HTTP to Moodle.

Everything else in the product calls :meth:`MoodleClient.call` or :meth:`MoodleClient.call_batched`.
This module owns: the session, PHP-style encoding, request-size limits, retries (reads only), error
mapping, warning collection, request counts and keeping the token secret.

One client may be used from several threads: requests that do not depend on each other go through
:meth:`MoodleClient.concurrent` / :meth:`MoodleClient.map` (a pool of ``concurrency`` tasks, see
:mod:`integration.pool`), and the client itself keeps at most ``concurrency`` requests in flight whoever
sends them. Counters, warnings and the stop flag are kept under a lock.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import ipaddress
import json
import logging
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter

from i18n import _, ngettext
from integration.encoding import count_vars, flatten
from integration.errors import (
    MAY_HAVE_RUN,
    BadResponse,
    Cancelled,
    ConfigurationError,
    MoodleError,
    MoodleUnreachable,
    RequestTooLarge,
    SiteRedirected,
    TlsFailure,
    UncertainAnswer,
    UncertainWrite,
    error_from_answer,
    redact,
)
from integration.pool import Outcome, results, run_tasks

log = logging.getLogger("accel.moodle")

T = TypeVar("T")
R = TypeVar("R")

REST_PATH = "/webservice/rest/server.php"
#: wstoken, wsfunction and moodlewsrestformat travel beside the parameters and count against the limit.
FIXED_VARS = 3
RETRY_STATUSES = frozenset({502, 503, 504})
#: statuses whose ``Retry-After`` header says when to ask again (RFC 9110 §10.2.3). A read answered 429 (too
#: many requests) is asked again too; a write answered 429 was refused before it ran and is not resent.
RETRY_AFTER_STATUSES = frozenset({429, 503})
USER_AGENT = "accel/0.1 (+Moodle REST client)"
#: requests in flight at once by default: the seed site's PHP runs 4 workers, a small production pool too
DEFAULT_CONCURRENCY = 4
#: seconds between the starts of requests sent at once (MoodleClient._space_start)
DEFAULT_START_SPACING = 0.03
#: more would only queue on the site's side (a PHP-FPM pool is rarely larger) and look like an attack
MAX_CONCURRENCY = 32
#: PHP's own default max_input_vars: a request this small arrives whole on any site, so it needs no check
PHP_DEFAULT_INPUT_VARS = 1000


def parse_concurrency(raw: str | int | None, *, source: str = "MOODLE_CONCURRENCY") -> int:
    """The concurrency named by ``raw`` (a setting's text or a number); None or "" gives the default.

    ``source`` names where the value came from, for the error (an environment variable or an option).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_CONCURRENCY
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if not text.isdigit() or not 1 <= int(text) <= MAX_CONCURRENCY:
        raise ConfigurationError(
            _(
                "{name}={value} must be a whole number from 1 to {most} (requests sent at once; 1 sends them "
                "one after another, default {default})"
            ).format(name=source, value=repr(text), most=MAX_CONCURRENCY, default=DEFAULT_CONCURRENCY)
        )
    return int(text)


#: Warnings that are Moodle's normal answers, not faults: (function, warning code). mod_assign_get_submissions
#: answers an assignment nobody has submitted to yet with warning 3, "No submissions found".
NORMAL_ANSWERS: frozenset[tuple[str, str]] = frozenset({("mod_assign_get_submissions", "3")})


@dataclass(frozen=True)
class MoodleWarning:
    """One entry of a ``warnings`` list in a 200 answer; some calls report failure only this way (note 8)."""

    wsfunction: str
    message: str
    warningcode: str = ""
    item: str = ""
    itemid: int | str | None = None

    @property
    def normal(self) -> bool:
        """Moodle's normal answer rather than a fault (:data:`NORMAL_ANSWERS`): logged at info level only."""
        return (self.wsfunction, self.warningcode) in NORMAL_ANSWERS

    def __str__(self) -> str:
        target = f" ({self.item} {self.itemid})" if self.item else ""
        return f"{self.wsfunction}{target}: {self.message} [{self.warningcode}]"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_for(url: str, *, allow_http: bool = False) -> str:
    """Validate the site URL and return its REST endpoint."""
    if not url:
        raise ConfigurationError(
            _("MOODLE_URL is not set: give the site's address, e.g. https://moodle.example.org")
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            _("MOODLE_URL {url} is not an http(s) address of a Moodle site").format(url=repr(url))
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            _("MOODLE_URL {url} must not carry a query string or fragment").format(url=repr(url))
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_http:
        raise ConfigurationError(
            _(
                "refusing plain http:// to {host}: the token would cross the network unencrypted. Use "
                "https://, or allow it explicitly (--allow-http / MOODLE_ALLOW_HTTP=1) on a trusted network."
            ).format(host=parts.hostname)
        )
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    return base + REST_PATH


def _excerpt(text: str, secret: str | None, limit: int = 200) -> str:
    """A short, readable piece of a non-JSON body: tags stripped, whitespace folded, token removed."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = redact(text, secret)
    return text[:limit] + ("…" if len(text) > limit else "")


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH (the name in MOODLE_URL is not one the certificate covers)
X509_V_ERR_HOSTNAME_MISMATCH = 62


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests wraps urllib3's errors, which wrap the ``ssl`` module's."""
    found: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack.extend(item for item in linked if isinstance(item, BaseException))
    return found


def _certificate_problem(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a TLS error, if that is what it is."""
    for item in _exception_chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            return item
    return None


def _tls_detail(exc: BaseException) -> str:
    """The ``ssl`` module's own words for a TLS failure (e.g. WRONG_VERSION_NUMBER), else the error's name."""
    for item in _exception_chain(exc):
        if isinstance(item, ssl.SSLError):
            return str(item.reason or item.strerror or item)
    return type(exc).__name__


def retry_after_seconds(value: str | None, date: str | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header: a number of seconds or an HTTP date.

    An HTTP date is measured from the answer's own ``Date`` header when it has one (so a skewed local clock
    does not matter), else from now. Unreadable values give None (the usual back-off applies).
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    reference = dt.datetime.now(dt.UTC)
    if date:
        try:
            reference = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            pass
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=dt.UTC)
    return max(0.0, (when - reference).total_seconds())


def _units(
    items: Sequence[Any], sizes: Sequence[int], keys: Sequence[Hashable] | None, budget: int
) -> list[list[int]]:
    """The positions of ``items`` in the runs that stay in one request: one item each without ``keys``, else
    the items of one key (split where one key alone needs more than ``budget``)."""
    if keys is None:
        return [[position] for position in range(len(items))]
    if len(keys) != len(items):
        raise ValueError(f"{len(keys)} keys for {len(items)} items")
    units: list[list[int]] = []
    used = 0
    for position, (key, size) in enumerate(zip(keys, sizes, strict=True)):
        if units and keys[units[-1][0]] == key and used + size <= budget:
            units[-1].append(position)
            used += size
        else:
            units.append([position])
            used = size
    return units


def _fill(items: Sequence[Any], sizes: Sequence[int], budget: int) -> list[list[Any]]:
    """``items`` in lists of at most ``budget`` form variables, each filled before the next starts."""
    chunks: list[list[Any]] = []
    current: list[Any] = []
    used = 0
    for item, size in zip(items, sizes, strict=True):
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(item)
        used += size
    if current:
        chunks.append(current)
    return chunks


class MoodleClient:
    """A Moodle site reached through its REST web services with one token.

    ``max_input_vars`` is the site's PHP limit (default 1000, PHP's own default); every request is kept
    under it because PHP silently drops extra variables and Moodle still answers 200 (field note 6). Once the
    site's real limit is known (:mod:`integration.limits`, :meth:`cap_max_input_vars`), the smaller of the
    two applies. Given ``measure_limit`` (:func:`integration.limits.measured_limit`), the client measures it
    itself before the first request that would be larger than PHP's default (two reads when the configured
    value is right, a few more when it is not).

    ``concurrency`` bounds the requests in flight at once (1: strictly one after another, as a loop sends
    them); :meth:`concurrent`, :meth:`map` and :meth:`outcomes` run independent tasks in that many threads.
    """

    def __init__(
        self,
        url: str,
        token: str | SecretStr,
        *,
        max_input_vars: int = 1000,
        timeout: tuple[float, float] = (10.0, 120.0),
        allow_http: bool = False,
        max_retries: int = 4,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 120.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        cancel_check: Callable[[], bool] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        measure_limit: Callable[[MoodleClient], int] | None = None,
        start_spacing: float = DEFAULT_START_SPACING,
    ) -> None:
        # A SecretStr (pydantic) hides the token from every repr, log line and traceback of the client.
        secret = token if isinstance(token, SecretStr) else SecretStr(token)
        if not secret.get_secret_value().strip():
            raise ConfigurationError(_("no Moodle token: set MOODLE_TOKEN or MOODLE_TOKEN_FILE"))
        if max_input_vars <= FIXED_VARS + 1:
            raise ConfigurationError(
                _("max_input_vars must be more than {least}, got {value}").format(
                    least=FIXED_VARS + 1, value=max_input_vars
                )
            )
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError(
                _("concurrency must be from 1 to {most}, got {value}").format(
                    most=MAX_CONCURRENCY, value=concurrency
                )
            )
        self.url = url.strip().rstrip("/")
        self.endpoint = endpoint_for(url, allow_http=allow_http)
        self._token = SecretStr(secret.get_secret_value().strip())
        #: what the configuration says (MOODLE_MAX_INPUT_VARS, --max-input-vars)
        self.configured_max_input_vars = max_input_vars
        #: what the site was measured to keep (integration.limits), once known
        self.measured_max_input_vars: int | None = None
        #: measures the site's limit (integration.limits.measured_limit), or None: the configured one is trusted
        self.measure_limit = measure_limit
        self._measuring = threading.Lock()
        self._concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        #: the longest Retry-After honoured by waiting inside a call; a longer one fails the call at once
        self.retry_after_cap = retry_after_cap
        self._sleep = sleep
        #: asked before every request; True stops the work between two requests (the service's SIGTERM).
        self.cancel_check = cancel_check
        self._stop_requested = False
        # Counters, warnings and the stop flag: several threads send requests through one client.
        self._lock = threading.Lock()
        #: at most ``concurrency`` requests in flight, whichever threads send them (pools inside pools too)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._in_flight = 0
        #: the most requests this client has had in flight at once
        self.peak_in_flight = 0
        self._site_info_lock = threading.Lock()
        #: seconds between the starts of two requests while others are in flight (see _space_start)
        self.start_spacing = start_spacing
        self._pacing = threading.Lock()
        self._last_start = 0.0
        #: set once the site has answered (anything, even an error): from then on calls go at once
        self._answered = threading.Event()
        #: held by the one call sent before the site has answered
        self._first_call = threading.Lock()
        #: how many such first calls found the site unreachable, and the last one's error
        self._first_failures = 0
        self._first_failure: MoodleUnreachable | None = None
        if session is None:
            session = requests.Session()
            # One connection per request in flight, kept alive between them (requests' default pool keeps 10
            # and discards, with a warning, those opened beyond it).
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(concurrency, 1))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = True  # TLS verification stays on; a private CA goes in REQUESTS_CA_BUNDLE.
        self.stats: Counter[str] = Counter()
        self.write_stats: Counter[str] = Counter()
        self.warnings: list[MoodleWarning] = []
        self._site_info: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"MoodleClient({self.url!r})"

    @property
    def concurrency(self) -> int:
        """Requests in flight at most (fixed when the client is made: its connection pool is sized to it)."""
        return self._concurrency

    # -- counting -----------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        return sum(self.stats.values())

    @property
    def write_count(self) -> int:
        return sum(self.write_stats.values())

    # -- the site's limit ---------------------------------------------------------------------------
    @property
    def max_input_vars(self) -> int:
        """The limit every request is kept under: the configured one, lowered to the measured one if smaller."""
        measured = self.measured_max_input_vars
        configured = self.configured_max_input_vars
        return configured if measured is None else min(configured, measured)

    @max_input_vars.setter
    def max_input_vars(self, value: int) -> None:
        self.configured_max_input_vars = value

    def cap_max_input_vars(self, measured: int) -> None:
        """Keep every request under ``measured`` from now on, whatever the configuration says."""
        if measured <= FIXED_VARS + 1:
            raise ConfigurationError(
                _("a measured max_input_vars of {value} leaves no room for a parameter").format(
                    value=measured
                )
            )
        self.measured_max_input_vars = measured
        if measured < self.configured_max_input_vars:
            log.warning(
                "the site keeps only %d form variables per request (PHP max_input_vars), fewer than the %d "
                "configured: requests are kept to %d; set MOODLE_MAX_INPUT_VARS=%d",
                measured,
                self.configured_max_input_vars,
                measured,
                measured,
            )

    def _ensure_limit_known(self, size: int) -> None:
        """With ``measure_limit``: measure the site's limit before the first request above PHP's default."""
        if self.measure_limit is None or self.measured_max_input_vars is not None:
            return
        if size <= min(PHP_DEFAULT_INPUT_VARS, self.configured_max_input_vars):
            return
        with self._measuring:  # one thread measures; the others wait for its answer
            if self.measured_max_input_vars is not None:
                return
            self.cap_max_input_vars(self.measure_limit(self))

    # -- stopping -----------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """No new request from now on (requests in flight finish); every later call raises Cancelled."""
        with self._lock:
            self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        """True once a stop was asked, here or through ``cancel_check`` (then it stays asked)."""
        if self._stop_requested:
            return True
        if self.cancel_check is not None and self.cancel_check():
            with self._lock:
                self._stop_requested = True
        return self._stop_requested

    # -- independent tasks at once ------------------------------------------------------------------
    def outcomes(
        self,
        tasks: Sequence[Callable[[], R]],
        *,
        on_done: Callable[[Outcome[R]], None] | None = None,
        keep_going: bool = False,
    ) -> list[Outcome[R]]:
        """Run ``tasks`` (each may send requests) ``concurrency`` at a time; one outcome per task, in order.

        Never raises a task's error (it is in its outcome). A failed task keeps the others from starting
        unless ``keep_going``; a stop (``request_stop``, ``cancel_check``, Ctrl-C) keeps every new task from
        starting and every new request from being sent; the tasks in flight finish. ``on_done`` runs in the
        calling thread for each finished task. See :mod:`integration.pool`.
        """
        return run_tasks(
            tasks,
            workers=self.concurrency,
            should_stop=lambda: self.stop_requested,
            on_done=on_done,
            keep_going=keep_going,
            on_interrupt=self.request_stop,
        )

    def concurrent(
        self, tasks: Sequence[Callable[[], R]], *, on_done: Callable[[Outcome[R]], None] | None = None
    ) -> list[R]:
        """The tasks' values in task order, run ``concurrency`` at a time.

        After the first failure no new task starts; once the tasks in flight are done the failure is raised
        (an :class:`UncertainWrite` before any other error, a :class:`Cancelled` last; see
        :func:`integration.pool.first_error`). If a stop kept some tasks from starting, :class:`Cancelled`.
        Whoever must record each finished task (a journal) passes ``on_done`` or uses :meth:`outcomes`.
        """
        return results(self.outcomes(tasks, on_done=on_done))

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_done: Callable[[Outcome[R]], None] | None = None,
    ) -> list[R]:
        """``[fn(item) for item in items]``, ``concurrency`` at a time; errors as :meth:`concurrent`."""

        def task(item: T) -> Callable[[], R]:
            return lambda: fn(item)

        return self.concurrent([task(item) for item in items], on_done=on_done)

    # -- calls --------------------------------------------------------------------------------------
    def call(
        self,
        wsfunction: str,
        params: Mapping[str, Any] | None = None,
        *,
        write: bool = False,
        read_timeout: float | None = None,
    ) -> Any:
        """Call one web-service function and return its decoded JSON answer.

        ``write=True`` marks a call that changes the site: it is never resent after a failure whose
        outcome is unknown (:class:`UncertainWrite`); the caller re-reads and reconciles.
        ``read_timeout`` overrides the client's for a call known to take long (a course copy).
        """
        pairs = flatten(params)
        self._ensure_limit_known(len(pairs) + FIXED_VARS)
        if len(pairs) + FIXED_VARS > self.max_input_vars:
            raise RequestTooLarge(
                _(
                    "{function}: {count} form variables exceed the site's max_input_vars ({limit}); PHP would "
                    "silently drop the rest"
                ).format(function=wsfunction, count=len(pairs) + FIXED_VARS, limit=self.max_input_vars)
            )
        timeout = (
            self.timeout if read_timeout is None else (self.timeout[0], max(self.timeout[1], read_timeout))
        )
        return self._post(wsfunction, pairs, write=write, timeout=timeout)

    def call_beyond_limit(self, wsfunction: str, params: Mapping[str, Any]) -> Any:
        """A read sent whatever its size, for measuring the site's limit (:mod:`integration.limits`) only.

        Everything else goes through :meth:`call`, which never sends more than ``max_input_vars``.
        """
        return self._post(wsfunction, flatten(params), write=False, timeout=self.timeout)

    def call_batched(
        self,
        wsfunction: str,
        list_key: str,
        items: Sequence[Any],
        *,
        write: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Send ``items`` under ``list_key`` in as few requests as the site's limit allows.

        Returns one answer per request, in order; no items send no request. If a chunk fails with a
        :class:`MoodleError`, the error carries ``chunk_index`` and ``completed`` (the answers of the chunks
        before it) and no further chunk is sent: a batch write is all-or-nothing on the server (field note
        5), so the caller can isolate the bad item by splitting that chunk.

        Writes go one chunk after another. The chunks of a read are sent ``concurrency`` at a time (a read
        changes nothing, so chunks in flight when one fails only cost their request).
        """
        chunks = self.chunks(items, extra=extra)

        def send(chunk: list[Any]) -> Any:
            params = dict(extra or {})
            params[list_key] = chunk
            return self.call(wsfunction, params, write=write)

        if write or len(chunks) < 2 or self.concurrency == 1:
            answers: list[Any] = []
            for index, chunk in enumerate(chunks):
                try:
                    answers.append(send(chunk))
                except MoodleError as exc:
                    exc.chunk_index = index
                    exc.completed = answers
                    raise
            return answers
        done = self.outcomes([functools.partial(send, chunk) for chunk in chunks])
        for outcome in done:
            if isinstance(outcome.error, MoodleError):
                outcome.error.chunk_index = outcome.index
                outcome.error.completed = [earlier.value for earlier in done[: outcome.index]]
                break
        return results(done)

    def chunks(
        self,
        items: Sequence[Any],
        *,
        extra: Mapping[str, Any] | None = None,
        even: bool = False,
        keys: Sequence[Hashable] | None = None,
    ) -> list[list[Any]]:
        """Split ``items``, in order, into as few lists as fit under ``max_input_vars`` each.

        By default each list is filled before the next starts (the last one holds what is left). With ``even``,
        the same number of lists hold about as many form variables each: requests sent at once then take
        about as long, and none is left running alone at the end. With ``keys``
        (one per item, equal keys next to each other), a list ends only where the key changes, unless the
        items of one key need more than one request: writes sent at once then touch different rows of the
        site's database (a group's, a user's), so that none waits for another's transaction. Keys never cost a
        request: when whole keys would need more lists than the items alone, a key is cut where a list ends.
        """
        if self.measure_limit is not None and self.measured_max_input_vars is None and items:
            self._ensure_limit_known(FIXED_VARS + count_vars(extra) + count_vars(list(items)))
        budget = self.max_input_vars - FIXED_VARS - count_vars(extra)
        sizes: list[int] = []
        for position, item in enumerate(items):
            size = count_vars(item)
            if size > budget:
                raise RequestTooLarge(
                    _(
                        "item {position} needs {count} form variables, more than the {budget} the site's "
                        "max_input_vars ({limit}) leaves for it"
                    ).format(position=position, count=size, budget=budget, limit=self.max_input_vars)
                )
            sizes.append(size)
        units = _units(list(items), sizes, keys, budget)
        unit_sizes = [sum(sizes[i] for i in unit) for unit in units]
        fullest = _fill(units, unit_sizes, budget)
        if keys is not None and len(fullest) > len(_fill(items, sizes, budget)):
            # Whole keys would cost a request more: as many lists as without keys, a key cut only where a
            # list ends. The items of a key being next to each other, it then spans neighbouring lists only:
            # the later list takes its rows first and the earlier one last, so neither can wait for the
            # other in a cycle (a wait at the end of the earlier list, never a deadlock).
            units = _units(list(items), sizes, None, budget)
            unit_sizes = list(sizes)
            fullest = _fill(units, unit_sizes, budget)
        wanted = len(fullest)
        if even and wanted >= 2:
            # The smallest cap under which filling still needs no more lists: the largest list is then as
            # small as it can be (filling is the fewest lists for a cap, so the search is exact).
            low, high = max(max(unit_sizes), -(-sum(unit_sizes) // wanted)), budget
            while low < high:
                cap = (low + high) // 2
                if len(_fill(units, unit_sizes, cap)) <= wanted:
                    high = cap
                else:
                    low = cap + 1
            fullest = _fill(units, unit_sizes, low)
        return [[items[i] for unit in chunk for i in unit] for chunk in fullest]

    def site_info(self) -> dict[str, Any]:
        """The token's site information, cached. Calls: core_webservice_get_site_info."""
        with self._site_info_lock:  # threads asking at once share one request
            if self._site_info is None:
                answer = self.call("core_webservice_get_site_info")
                if not isinstance(answer, dict):
                    raise BadResponse(_("site info is not an object"), status=200, excerpt=str(answer)[:200])
                self._site_info = answer
            return self._site_info

    def site_userid(self) -> int:
        """The id of the token's own user (the service account)."""
        return int(self.site_info()["userid"])

    # -- HTTP ---------------------------------------------------------------------------------------
    def _post(
        self, wsfunction: str, pairs: list[tuple[str, str]], *, write: bool, timeout: tuple[float, float]
    ) -> Any:
        """One call, its retries included. Until the site has answered once, one call at a time (see
        ``_answered``): a site that is down costs one request and its retries, not that many per request in
        flight; the calls that waited meanwhile fail with the first one's error, unsent."""
        if self._answered.is_set():
            return self._post_retrying(wsfunction, pairs, write=write, timeout=timeout)
        failures = self._first_failures
        with self._first_call:
            if self._answered.is_set():
                pass
            elif self._first_failures != failures and self._first_failure is not None:
                raise MoodleUnreachable(
                    _("{function}: not sent, the site did not answer the request before it: {error}").format(
                        function=wsfunction, error=self._first_failure
                    ),
                    wsfunction=wsfunction,
                ) from None
            else:
                try:
                    answer = self._post_retrying(wsfunction, pairs, write=write, timeout=timeout)
                except MoodleUnreachable as exc:
                    self._first_failure = exc
                    self._first_failures += 1
                    raise
                except (BadResponse, MoodleError):
                    self._answered.set()  # the site is there, whatever it said
                    raise
                self._answered.set()
                return answer
        return self._post_retrying(wsfunction, pairs, write=write, timeout=timeout)

    def _post_retrying(
        self, wsfunction: str, pairs: list[tuple[str, str]], *, write: bool, timeout: tuple[float, float]
    ) -> Any:
        data = [
            ("wstoken", self._token.get_secret_value()),
            ("wsfunction", wsfunction),
            ("moodlewsrestformat", "json"),
            *pairs,
        ]
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._send(wsfunction, data, write=write, timeout=timeout)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                reason = type(exc).__name__
                if isinstance(exc, requests.exceptions.SSLError):
                    verification = _certificate_problem(exc)
                    if verification is not None:
                        # Nothing was sent (the handshake failed) and asking again gives the same answer.
                        raise TlsFailure(
                            self._tls_message(wsfunction, verification), wsfunction=wsfunction
                        ) from None
                    reason = f"TLS error: {_tls_detail(exc)}"
                # A connect timeout means nothing reached the server, so even a write may be sent again.
                if write and not isinstance(exc, requests.exceptions.ConnectTimeout):
                    raise UncertainWrite(
                        _(
                            "{function}: the connection failed during a write ({reason}); it may or may not "
                            "have been applied. Read the site again before retrying."
                        ).format(function=wsfunction, reason=reason),
                        wsfunction=wsfunction,
                    ) from None
                if attempt > self.max_retries:
                    raise MoodleUnreachable(
                        ngettext(
                            "{function}: {url} did not answer after {count} attempt ({reason})",
                            "{function}: {url} did not answer after {count} attempts ({reason})",
                            attempt,
                        ).format(function=wsfunction, url=self.url, count=attempt, reason=reason),
                        wsfunction=wsfunction,
                    ) from None
                self._wait(wsfunction, attempt, reason)
                continue
            except requests.exceptions.RequestException as exc:
                raise MoodleUnreachable(
                    _("{function}: request to {url} failed ({reason})").format(
                        function=wsfunction, url=self.url, reason=type(exc).__name__
                    ),
                    wsfunction=wsfunction,
                ) from None
            elapsed = time.monotonic() - started
            log.debug(
                "%s: HTTP %s, %d vars, %.2fs",
                wsfunction,
                response.status_code,
                len(pairs) + FIXED_VARS,
                elapsed,
            )
            status = response.status_code
            if 300 <= status < 400:
                raise self._redirected(wsfunction, response)
            if status in RETRY_STATUSES or (status == 429 and not write):
                if write:
                    raise UncertainWrite(
                        _(
                            "{function}: the site answered HTTP {status} to a write; it may or may not have "
                            "been applied. Read the site again before retrying."
                        ).format(function=wsfunction, status=status),
                        wsfunction=wsfunction,
                    )
                asked = (
                    retry_after_seconds(response.headers.get("Retry-After"), response.headers.get("Date"))
                    if status in RETRY_AFTER_STATUSES
                    else None
                )
                if asked is not None and asked > self.retry_after_cap:
                    raise MoodleUnreachable(
                        _(
                            "{function}: {url} answered HTTP {status} and asks to be called again in "
                            "{seconds}s (Retry-After), longer than accel waits within one run ({most}s); try "
                            "again later"
                        ).format(
                            function=wsfunction,
                            url=self.url,
                            status=status,
                            seconds=f"{asked:.0f}",
                            most=f"{self.retry_after_cap:.0f}",
                        ),
                        wsfunction=wsfunction,
                        retry_after=asked,
                    )
                if attempt <= self.max_retries:
                    self._wait(wsfunction, attempt, f"HTTP {status}", at_least=asked or 0.0)
                    continue
                raise MoodleUnreachable(
                    ngettext(
                        "{function}: {url} answered HTTP {status} after {count} attempt: {excerpt}",
                        "{function}: {url} answered HTTP {status} after {count} attempts: {excerpt}",
                        attempt,
                    ).format(
                        function=wsfunction,
                        url=self.url,
                        status=status,
                        count=attempt,
                        excerpt=repr(_excerpt(response.text, self._token.get_secret_value())),
                    ),
                    wsfunction=wsfunction,
                    retry_after=asked,
                )
            return self._decode(wsfunction, response, write=write)

    def _send(
        self, wsfunction: str, data: list[tuple[str, str]], *, write: bool, timeout: tuple[float, float]
    ) -> requests.Response:
        """One HTTP exchange in one of the ``concurrency`` slots; none starts once a stop was asked."""
        with self._slots:
            self._space_start()
            # Asked after the slot is taken: a request that waited for one while the stop came is not sent.
            if self.stop_requested:
                raise Cancelled(
                    _("{function}: stopped before sending (shutdown requested)").format(function=wsfunction)
                )
            with self._lock:
                self.stats[wsfunction] += 1
                if write:
                    self.write_stats[wsfunction] += 1
                self._in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            try:
                # Never follow a redirect: requests would resend the form, token included, to wherever the
                # Location points (307/308 keep the body), even to another host over plain http.
                return self.session.post(self.endpoint, data=data, timeout=timeout, allow_redirects=False)
            finally:
                with self._lock:
                    self._in_flight -= 1

    def _space_start(self) -> None:
        """Start a request no sooner than ``start_spacing`` after the one before it, while others are in flight.

        A server whose workers race to accept connections can give two that arrive together to the same
        worker, which then answers them one after the other while another worker idles: PHP's built-in
        server does (measured on the seed site: 3 batch writes sent at once used 2 of its 4 workers in 2 runs
        of 6; started 30 ms apart, 3 in 6 of 6). A few hundredths of a second are nothing next to a batch
        write of seconds, and a request sent while none is in flight never waits.
        """
        if self.start_spacing <= 0:
            return
        with self._pacing:
            with self._lock:
                others = self._in_flight > 0
            wait = self._last_start + self.start_spacing - time.monotonic()
            if others and wait > 0:
                self._sleep(wait)
            self._last_start = time.monotonic()

    def _redirected(self, wsfunction: str, response: requests.Response) -> SiteRedirected:
        """The error for a 3xx answer: where it pointed, and what MOODLE_URL should probably say."""
        secret = self._token.get_secret_value()
        location = response.headers.get("Location", "").strip()
        status = response.status_code
        if not location:
            return SiteRedirected(
                _(
                    "{function}: {endpoint} answered HTTP {status} (a redirect without a Location). accel "
                    "never follows a redirect. Check that MOODLE_URL ({url}) is the site's own address, as its "
                    "config.php wwwroot names it."
                ).format(function=wsfunction, endpoint=self.endpoint, status=status, url=self.url),
                location="",
                wsfunction=wsfunction,
            )
        target = redact(urljoin(self.endpoint, location), secret)
        parts = urlsplit(target)
        advice: str
        if parts.path.rstrip("/").endswith(REST_PATH) and parts.scheme in ("http", "https"):
            suggested = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')[: -len(REST_PATH)]}"
            if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
                advice = _(
                    "If that is the site's address (it moved, or its config.php names it so), set "
                    "MOODLE_URL={url} (plain http: the token would cross the network unencrypted)."
                ).format(url=suggested)
            else:
                advice = _(
                    "If that is the site's address (it moved, or its config.php names it so), set "
                    "MOODLE_URL={url}."
                ).format(url=suggested)
        else:
            advice = _(
                "That is not a web-service address (a login page, a proxy or another site?): check that "
                "MOODLE_URL ({url}) is the site's own address, as its config.php wwwroot names it."
            ).format(url=self.url)
        return SiteRedirected(
            _(
                "{function}: {endpoint} answered HTTP {status}, a redirect to {target}. accel never follows a "
                "redirect: the token would go with the request. {advice}"
            ).format(
                function=wsfunction, endpoint=self.endpoint, status=status, target=target, advice=advice
            ),
            location=target,
            wsfunction=wsfunction,
        )

    def _tls_message(self, wsfunction: str, problem: ssl.SSLCertVerificationError) -> str:
        host = urlsplit(self.endpoint).hostname or self.url
        why = str(problem.verify_message or problem.reason or problem).strip().rstrip(".")
        if problem.verify_code == X509_V_ERR_HOSTNAME_MISMATCH or "mismatch" in why.lower():
            return _(
                "{function}: TLS failed: the certificate of {host} is not valid for that name ({reason}). Set "
                "MOODLE_URL to the name the certificate was issued for, or have the certificate fixed on the "
                "server. Not retried."
            ).format(function=wsfunction, host=host, reason=why)
        return _(
            "{function}: TLS failed: the certificate of {host} could not be verified ({reason}). If the site "
            "uses a private certificate authority, put its certificate in REQUESTS_CA_BUNDLE; otherwise the "
            "certificate must be fixed on the server (or something on the way intercepts the connection). "
            "Not retried."
        ).format(function=wsfunction, host=host, reason=why)

    def _wait(self, wsfunction: str, attempt: int, reason: str, *, at_least: float = 0.0) -> None:
        delay = min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: many clients must not retry in step
        delay = max(delay, at_least)  # the site's own Retry-After, when it gave one
        log.warning(
            "%s: %s, retrying in %.1fs (attempt %d of %d)",
            wsfunction,
            reason,
            delay,
            attempt,
            self.max_retries + 1,
        )
        self._sleep(delay)

    def _decode(self, wsfunction: str, response: requests.Response, *, write: bool = False) -> Any:
        secret = self._token.get_secret_value()
        # Moodle always answers in UTF-8; a proxy that drops the charset would make requests guess
        # ISO-8859-1 and garble every Russian name, so the body is decoded explicitly.
        text = response.content.decode("utf-8", errors="replace")
        if response.status_code != 200:
            raise BadResponse(
                _("{function}: unexpected answer from {url}").format(function=wsfunction, url=self.url),
                status=response.status_code,
                excerpt=_excerpt(text, secret),
                wsfunction=wsfunction,
            )
        try:
            answer = json.loads(text)
        except ValueError:
            stripped = text.lstrip()
            if re.search(
                r"(Notice|Warning|Deprecated|Fatal error)</b>|^(PHP )?(Notice|Warning|Deprecated)\b",
                stripped[:500],
            ):
                what = _(
                    "{function}: {url} sent PHP messages in front of the JSON (the site prints debugging "
                    "output)"
                )
            elif stripped.startswith("<"):
                what = _(
                    "{function}: {url} sent an HTML page instead of JSON (maintenance mode, a login page or a "
                    "proxy error?)"
                )
            else:
                what = _("{function}: {url} sent an answer that is not JSON")
            raise BadResponse(
                what.format(function=wsfunction, url=self.url),
                status=response.status_code,
                excerpt=_excerpt(text, secret),
                wsfunction=wsfunction,
            ) from None
        if isinstance(answer, dict) and "exception" in answer and "errorcode" in answer:
            error = error_from_answer(answer, wsfunction)
            error.message = redact(error.message, secret)
            error.args = tuple(redact(str(arg), secret) for arg in error.args)
            if write and error.errorcode in MAY_HAVE_RUN:
                # The function ran (and committed) before Moodle checked its own answer: not a bad item.
                raise UncertainAnswer(
                    _(
                        "{function}: Moodle ran the write but its answer failed validation ([{code}] {message}); "
                        "it may have been applied. Read the site again before retrying."
                    ).format(function=wsfunction, code=error.errorcode, message=error.message),
                    wsfunction=wsfunction,
                    errorcode=error.errorcode,
                ) from None
            raise error
        if isinstance(answer, dict):
            self._collect_warnings(wsfunction, answer.get("warnings"))
        return answer

    def _collect_warnings(self, wsfunction: str, warnings: Any) -> None:
        if not isinstance(warnings, list):
            return
        for entry in warnings:
            if not isinstance(entry, dict):
                continue
            warning = MoodleWarning(
                wsfunction=wsfunction,
                message=str(entry.get("message", "")),
                warningcode=str(entry.get("warningcode", "")),
                item=str(entry.get("item", "")),
                itemid=entry.get("itemid"),
            )
            with self._lock:
                self.warnings.append(warning)
            log.log(logging.INFO if warning.normal else logging.WARNING, "Moodle warning: %s", warning)

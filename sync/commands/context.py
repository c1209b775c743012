"""What every command shares: the application context, exit codes, the CLI's error classes and the one
mapping of errors to them, token reading, logging set-up and the options several commands take.

The command modules beside this one (doctor, provision, roster, indicators, service) import it at the top;
``sync/commands/__init__.py`` assembles them under the ``main`` group. Exit codes (documented in the README):

    0  all well
    1  problems found or some items failed (details printed)
    2  usage or configuration error
    3  the site is unreachable or gave an answer that is not Moodle's JSON
    4  the token is invalid or its service lacks access
    5  another sync or apply holds the lock, or another process kept the store locked

Errors become exit codes in one place: :func:`cli_error`, called by every group of the command line
(:class:`sync.commands.frame.AccelGroup`) for whatever a command lets through, so no command shows a traceback for them and none translates them
itself. The application's tree (sync/core/errors.py) maps by category, the wire's (integration/errors.py)
by class:

    UsageError (ConfigError, TemplateError, RosterFileError, ...)    -> UsageProblem    exit 2
    ProblemsFound (ProvisionBlocked), any other AccelError           -> Problems        exit 1
    Busy (LockBusy, StoreBusy)                                       -> Locked          exit 5
    InvalidToken, AccessDenied                                       -> AuthProblem     exit 4
    ConfigurationError (SiteRedirected, a bad URL, plain http)       -> UsageProblem    exit 2
    UncertainAnswer (the site answered, badly, after a write)        -> Problems        exit 1
    TransportError (MoodleUnreachable, BadResponse, UncertainWrite)  -> SiteUnreachable exit 3
    MoodleError, RequestTooLarge, Cancelled                          -> Problems        exit 1

A command raises the CLI's classes itself only for what is its own: an option, an environment variable, a
file it writes.

What people read here is translated (``_()``, the ``commands`` catalog); logs stay English.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from pythonjsonlogger.json import JsonFormatter

from i18n import N_, _, ngettext
from integration.errors import (
    AccelMoodleError,
    AccessDenied,
    ConfigurationError,
    InvalidToken,
    TransportError,
    UncertainAnswer,
)
from integration.limits import measured_limit
from integration.transport import MoodleClient
from sync.core.config import AccelConfig, load_config
from sync.core.errors import AccelError, Busy, ProblemsFound, UsageError
from sync.core.lock import LockHolder, lock_path_for
from sync.core.lock import exclusive as take_lock

# Re-exported: the bound of --max-input-vars (sync/commands/__init__.py), the same as the variable's.
from sync.core.settings import MIN_INPUT_VARS as MIN_INPUT_VARS
from sync.core.settings import AccelSettings, MoodleSettings
from sync.core.store import default_store_path, open_store

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_LOCKED = 5

DEFAULT_CONFIG = "accelerator.toml"

#: The Moodle releases accel was tested against (recorded answers, the fake site, the integration suite):
#: shown by ``accel --version`` and by ``accel doctor`` next to the site's release.
TESTED_MOODLE_RELEASES = ("5.1",)


def release_tested(release: str | None) -> bool:
    """Whether a site's release string (``5.1+ (Build: 20251017)``) is one of :data:`TESTED_MOODLE_RELEASES`."""
    if not release:
        return False
    head = release.strip()
    return any(
        head == tested or (head.startswith(tested) and not head[len(tested)].isdigit())
        for tested in TESTED_MOODLE_RELEASES
    )


class UsageProblem(click.ClickException):
    """A usage or configuration error the user can fix (exit 2)."""

    exit_code = EXIT_USAGE


class SiteUnreachable(click.ClickException):
    """The site is unreachable or answered with something that is not Moodle's JSON (exit 3)."""

    exit_code = EXIT_UNREACHABLE


class AuthProblem(click.ClickException):
    """The token is refused, or its service lacks a function or capability (exit 4)."""

    exit_code = EXIT_AUTH


class Locked(click.ClickException):
    """Another sync or apply holds the lock (exit 5)."""

    exit_code = EXIT_LOCKED


class Problems(click.ClickException):
    """The command ran but found problems or some items failed (exit 1)."""

    exit_code = EXIT_PROBLEMS


#: the attributes every log record has; anything else on a record came from ``extra=``
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _RedactingFilter(logging.Filter):
    """Scrubs the token from every log record, whoever logs it (defence in depth): its message and any text
    passed in ``extra=`` (a JSON log line writes those too)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        if self.secret in record.getMessage():
            record.msg = record.getMessage().replace(self.secret, "***")
            record.args = None
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and isinstance(value, str) and self.secret in value:
                setattr(record, key, value.replace(self.secret, "***"))
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line, for journald and log shippers (python-json-logger).

    Fields: ``time``, ``level`` (lower case), ``logger``, ``message``, whatever the call passed in ``extra=``
    (``job``, ``outcome``, ``duration``, ``wsfunction``, ...), and ``error``, the last line of an exception's
    traceback (its type and message), when one is logged.
    """

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = str(log_data["level"]).lower()
        trace = log_data.pop("exc_info", None)
        if trace:
            lines = trace if isinstance(trace, list) else str(trace).splitlines()
            log_data["error"] = lines[-1]
        return log_data


def configure_logging(verbosity: int, log_format: str) -> None:
    """Logs on stderr, in English (operators grep them): text, or one JSON object per line (``json``)."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.set_name("accel")
    root = logging.getLogger()
    # Replace only our own handler, so repeated runs in one process don't stack them and others stay.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "accel"] + [handler]
    root.setLevel(level)
    # urllib3 at DEBUG prints every request line; useful, and it never sees the token (it is in the body).
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


class AppContext:
    """Shared, lazily built objects for the commands (``ctx.obj``)."""

    def __init__(
        self,
        *,
        config_path: str | None,
        verbosity: int = 0,
        show_stats: bool = False,
        allow_http: bool = False,
        max_input_vars: int | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.config_path = config_path
        self.verbosity = verbosity
        self.show_stats = show_stats
        self.allow_http = allow_http
        self.max_input_vars = max_input_vars
        #: --concurrency (None: MOODLE_CONCURRENCY, else the client's default)
        self.concurrency = concurrency
        self._client: MoodleClient | None = None
        self._config: AccelConfig | None = None
        self._store: sqlite3.Connection | None = None
        #: a store used instead of the configured one (a rehearsal's, see `serve --once --now`)
        self.store_override: Path | None = None
        # Tests inject a factory here to build the client around a fake site.
        self.client_factory: Callable[[], MoodleClient] | None = None

    def resolved_config_path(self) -> Path:
        return Path(self.config_path or AccelSettings.read().config or DEFAULT_CONFIG)

    def config(self) -> AccelConfig:
        if self._config is None:
            path = self.resolved_config_path()
            if not path.exists():
                raise UsageProblem(
                    _(
                        "cohort configuration {path} not found: pass --config FILE or set ACCEL_CONFIG "
                        "(example: examples/kamchatka-2021.toml)"
                    ).format(path=path)
                )
            self._config = load_config(path)  # a ConfigError: exit 2 (cli_error)
        return self._config

    def client(self) -> MoodleClient:
        if self._client is None:
            if self.client_factory is not None:
                self._client = self.client_factory()
            else:
                # The MOODLE_* settings (sync/core/settings.py); a missing or bad one is exit 2 (cli_error).
                settings = MoodleSettings.read()
                url = settings.site_url()
                token = settings.secret_token()  # a SecretStr: no repr or log line shows it
                secret = token.get_secret_value()
                logging.getLogger().addFilter(_RedactingFilter(secret))
                for handler in logging.getLogger().handlers:
                    handler.addFilter(_RedactingFilter(secret))
                # A bad URL or plain http to a remote host: a ConfigurationError, exit 2 (cli_error).
                self._client = MoodleClient(
                    url,
                    token,
                    max_input_vars=self.max_input_vars or settings.max_input_vars,
                    timeout=settings.timeout,
                    allow_http=self.allow_http or settings.allow_http,
                    concurrency=self.concurrency or settings.concurrency,
                    # Whatever the setting says, no request goes over the site's real limit: it is measured
                    # (two reads when the setting is right) before the first request PHP's default would cut.
                    measure_limit=measured_limit,
                )
        return self._client

    def has_client(self) -> bool:
        return self._client is not None

    def store_path(self) -> Path:
        """The store named by the configuration's [store] path, else $ACCEL_STORE or the default."""
        if self.store_override is not None:
            return self.store_override
        if self.resolved_config_path().exists():
            configured = self.config().store_path()
            if configured is not None:
                return configured
        return default_store_path()

    def store(self) -> sqlite3.Connection:
        if self._store is None:
            path = self.store_path()
            try:
                self._store = open_store(path)
            except (OSError, sqlite3.Error) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise UsageProblem(
                    _(
                        "store {path}: cannot open it ({reason}); set ACCEL_STORE or [store] path to a "
                        "writable file"
                    ).format(path=path, reason=reason)
                ) from None
        return self._store

    def lock_path(self) -> Path:
        """The one-writer lock of this cohort on this site (sync/core/lock.py), the same whoever runs accel."""
        return lock_path_for(self.client().url, self.config().cohort.code)

    @contextlib.contextmanager
    def exclusive(self, purpose: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the cohort's one-writer lock while a sync or apply runs; exit 5 if it is busy (LockBusy), 2 if
        the lock file cannot be made (LockUnavailable)."""

        def tell(holder: LockHolder | None) -> None:
            who = holder.describe() if holder else _("another process")
            click.echo(
                _("Waiting up to {seconds}s for another sync or apply to finish: {holder}").format(
                    seconds=f"{wait:g}", holder=who
                ),
                err=True,
            )

        path = self.lock_path()
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(take_lock(path, purpose, wait=wait, on_wait=tell))
            except OSError as exc:
                raise UsageProblem(
                    _("lock file {path}: {reason}").format(path=path, reason=exc.strerror or exc)
                ) from None
            yield

    def print_stats(self) -> None:
        if self._client is None:
            return
        client = self._client
        lines = [
            ngettext(
                "requests: {count} ({writes} write)",
                "requests: {count} ({writes} writes)",
                client.write_count,
            ).format(count=client.request_count, writes=client.write_count)
        ]
        for name, count in sorted(client.stats.items()):
            writes = client.write_stats.get(name, 0)
            line = f"  {name}: {count}"
            if writes:
                line += " " + ngettext("({writes} write)", "({writes} writes)", writes).format(writes=writes)
            lines.append(line)
        click.echo("\n".join(lines), err=True)


def token_refused(exc: InvalidToken) -> str:
    return _(
        "the site refused the token ({reason}). Check MOODLE_TOKEN / MOODLE_TOKEN_FILE, the token's "
        "validity date and its IP restriction (Site administration > Server > Web services > Manage tokens)."
    ).format(reason=exc.message)


#: The application's error categories (sync/core/errors.py) and the CLI error of each; any other AccelError
#: (JobNotReady, the store's base StoreError) is a Problems (exit 1).
CATEGORY_ERRORS: tuple[tuple[type[AccelError], type[click.ClickException]], ...] = (
    (UsageError, UsageProblem),
    (ProblemsFound, Problems),
    (Busy, Locked),
)


def cli_error(exc: AccelError | AccelMoodleError) -> click.ClickException:
    """The CLI error, and so the exit code and the message, for an error of the application or of the wire.

    The one mapping (drawn in this module's docstring); the message is the error's own, except for a refused
    token or access, where it says what to check.
    """
    if isinstance(exc, AccelError):
        for category, cli_class in CATEGORY_ERRORS:
            if isinstance(exc, category):
                return cli_class(str(exc))
        return Problems(str(exc))
    if isinstance(exc, InvalidToken):
        return AuthProblem(token_refused(exc))
    if isinstance(exc, AccessDenied):
        return AuthProblem(
            _(
                "access denied: {reason}. Run `accel doctor` to see which functions the token's service lacks."
            ).format(reason=exc)
        )
    if isinstance(exc, ConfigurationError):
        return UsageProblem(str(exc))
    if isinstance(exc, UncertainAnswer):
        return Problems(str(exc))  # the site answered: not "unreachable"
    if isinstance(exc, TransportError):
        return SiteUnreachable(str(exc))
    return Problems(str(exc))  # MoodleError, RequestTooLarge, Cancelled


#: Every command that applies a plan takes the one-writer lock (sync/core/lock.py) and may wait for it.
wait_for_lock = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help=N_("Wait this long for another sync or apply to finish (default: do not wait)."),
)

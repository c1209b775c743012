"""`accel`: the command line of the accelerator's Moodle companion.

Thin by design: parse options, call one function in ``sync``/``integration``, render the result, map
errors to exit codes. This module holds the ``main`` group, ``AppContext``, the error classes, logging
and ``doctor``; the other command groups live beside their logic (sync/provision_cli.py,
sync/roster_cli.py, sync/indicators_cli.py, sync/service_cli.py). Exit codes (documented in the README):

    0  all well
    1  problems found or some items failed (details printed)
    2  usage or configuration error
    3  the site is unreachable or gave an answer that is not Moodle's JSON
    4  the token is invalid or its service lacks access
    5  another sync or apply holds the lock
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from integration.errors import (
    AccelMoodleError,
    AccessDenied,
    BadResponse,
    ConfigurationError,
    InvalidToken,
    MoodleError,
    MoodleUnreachable,
    RequestTooLarge,
    TransportError,
    UncertainAnswer,
)
from integration.transport import MoodleClient
from sync.core.store import StoreBusy, StoreError

if TYPE_CHECKING:
    from sync.core.config import AccelConfig

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_LOCKED = 5

DEFAULT_CONFIG = "accelerator.toml"
#: the smallest max_input_vars accepted (--max-input-vars or MOODLE_MAX_INPUT_VARS)
MIN_INPUT_VARS = 10


class UsageProblem(click.ClickException):
    """A usage or configuration error the user can fix (exit 2)."""

    exit_code = EXIT_USAGE


class SiteUnreachable(click.ClickException):
    exit_code = EXIT_UNREACHABLE


class AuthProblem(click.ClickException):
    exit_code = EXIT_AUTH


class Locked(click.ClickException):
    """Another sync or apply holds the lock (exit 5)."""

    exit_code = EXIT_LOCKED


class Problems(click.ClickException):
    """The command ran but found problems or some items failed (exit 1)."""

    exit_code = EXIT_PROBLEMS


class _RedactingFilter(logging.Filter):
    """Scrubs the token from every log record, whoever logs it (defence in depth)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret and self.secret in record.getMessage():
            record.msg = record.getMessage().replace(self.secret, "***")
            record.args = None
        return True


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, for journald and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("job", "outcome", "duration", "wsfunction"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(verbosity: int, log_format: str) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.set_name("accel")
    root = logging.getLogger()
    # Replace only our own handler, so repeated runs in one process don't stack them and others stay.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "accel"] + [handler]
    root.setLevel(level)
    # urllib3 at DEBUG prints every request line; useful, and it never sees the token (it is in the body).
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)


def read_token() -> str:
    """The token from MOODLE_TOKEN or the file named by MOODLE_TOKEN_FILE."""
    token = os.environ.get("MOODLE_TOKEN", "").strip()
    token_file = os.environ.get("MOODLE_TOKEN_FILE", "").strip()
    if token and token_file:
        raise UsageProblem("set MOODLE_TOKEN or MOODLE_TOKEN_FILE, not both")
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
            mode = path.stat().st_mode
        except OSError as exc:
            raise UsageProblem(f"MOODLE_TOKEN_FILE {path}: cannot read it ({exc.strerror})") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            logging.getLogger("accel").warning(
                "MOODLE_TOKEN_FILE %s is readable by other users; run: chmod 600 %s", path, path
            )
        if not token:
            raise UsageProblem(f"MOODLE_TOKEN_FILE {path} is empty")
    if not token:
        raise UsageProblem(
            "no Moodle token: set MOODLE_TOKEN, or MOODLE_TOKEN_FILE to a file holding it (see README, 'Set-up')"
        )
    return token


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageProblem(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise UsageProblem(f"{name}={raw!r} must be positive")
    return value


def _env_max_input_vars() -> int:
    """MOODLE_MAX_INPUT_VARS, held to the bound of --max-input-vars: a whole number, at least 10."""
    raw = os.environ.get("MOODLE_MAX_INPUT_VARS", "").strip()
    if not raw:
        return 1000
    if not raw.isdigit() or int(raw) < MIN_INPUT_VARS:
        raise UsageProblem(
            f"MOODLE_MAX_INPUT_VARS={raw!r} must be a whole number of at least {MIN_INPUT_VARS} "
            "(the site's PHP max_input_vars: php -i | grep max_input_vars)"
        )
    return int(raw)


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
    ) -> None:
        self.config_path = config_path
        self.verbosity = verbosity
        self.show_stats = show_stats
        self.allow_http = allow_http
        self.max_input_vars = max_input_vars
        self._client: MoodleClient | None = None
        self._config: AccelConfig | None = None
        self._store: sqlite3.Connection | None = None
        #: a store used instead of the configured one (a rehearsal's, see `serve --once --now`)
        self.store_override: Path | None = None
        # Tests inject a factory here to build the client around a fake site.
        self.client_factory: Callable[[], MoodleClient] | None = None

    def resolved_config_path(self) -> Path:
        return Path(self.config_path or os.environ.get("ACCEL_CONFIG") or DEFAULT_CONFIG)

    def config(self) -> AccelConfig:
        if self._config is None:
            from sync.core.config import ConfigError, load_config

            path = self.resolved_config_path()
            if not path.exists():
                raise UsageProblem(
                    f"cohort configuration {path} not found: pass --config FILE or set ACCEL_CONFIG "
                    "(example: examples/kamchatka-2021.toml)"
                )
            try:
                self._config = load_config(path)
            except ConfigError as exc:
                raise UsageProblem(str(exc)) from None
        return self._config

    def client(self) -> MoodleClient:
        if self._client is None:
            if self.client_factory is not None:
                self._client = self.client_factory()
            else:
                url = os.environ.get("MOODLE_URL", "").strip()
                if not url:
                    raise UsageProblem(
                        "MOODLE_URL is not set: give the site's address (e.g. https://moodle.example.org) and the "
                        "token in MOODLE_TOKEN or MOODLE_TOKEN_FILE (see README, 'Connecting to Moodle')"
                    )
                token = read_token()
                logging.getLogger().addFilter(_RedactingFilter(token))
                for handler in logging.getLogger().handlers:
                    handler.addFilter(_RedactingFilter(token))
                allow_http = self.allow_http or os.environ.get("MOODLE_ALLOW_HTTP", "") in (
                    "1",
                    "yes",
                    "true",
                )
                max_vars = self.max_input_vars or _env_max_input_vars()
                timeout = (
                    _env_number("MOODLE_CONNECT_TIMEOUT", 10.0),
                    _env_number("MOODLE_READ_TIMEOUT", 120.0),
                )
                try:
                    self._client = MoodleClient(
                        url, token, max_input_vars=max_vars, timeout=timeout, allow_http=allow_http
                    )
                except ConfigurationError as exc:
                    raise UsageProblem(str(exc)) from None
        return self._client

    def has_client(self) -> bool:
        return self._client is not None

    def store_path(self) -> Path:
        """The store named by the configuration's [store] path, else $ACCEL_STORE or the default."""
        from sync.core.store import default_store_path

        if self.store_override is not None:
            return self.store_override
        if self.resolved_config_path().exists():
            configured = self.config().store_path()
            if configured is not None:
                return configured
        return default_store_path()

    def store(self) -> sqlite3.Connection:
        if self._store is None:
            from sync.core.store import open_store

            path = self.store_path()
            try:
                self._store = open_store(path)
            except (OSError, sqlite3.Error) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise UsageProblem(
                    f"store {path}: cannot open it ({reason}); set ACCEL_STORE or [store] path to a writable file"
                ) from None
        return self._store

    def lock_path(self) -> Path:
        """The one-writer lock of this cohort on this site (sync/core/lock.py), the same whoever runs accel."""
        from sync.core.lock import lock_path_for

        return lock_path_for(self.client().url, self.config().cohort.code)

    @contextlib.contextmanager
    def exclusive(self, purpose: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the cohort's one-writer lock while a sync or apply runs; exit 5 if it is busy."""
        from sync.core.lock import LockBusy, LockHolder, LockUnavailable, exclusive

        def tell(holder: LockHolder | None) -> None:
            who = holder.describe() if holder else "another process"
            click.echo(f"Waiting up to {wait:g}s for another sync or apply to finish: {who}", err=True)

        path = self.lock_path()
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(exclusive(path, purpose, wait=wait, on_wait=tell))
            except LockBusy as exc:
                raise Locked(str(exc)) from None
            except LockUnavailable as exc:
                raise UsageProblem(str(exc)) from None
            except OSError as exc:
                raise UsageProblem(f"lock file {path}: {exc.strerror or exc}") from None
            yield

    def print_stats(self) -> None:
        if self._client is None:
            return
        client = self._client
        lines = [f"requests: {client.request_count} ({client.write_count} writes)"]
        for name, count in sorted(client.stats.items()):
            writes = client.write_stats.get(name, 0)
            lines.append(f"  {name}: {count}" + (f" ({writes} writes)" if writes else ""))
        click.echo("\n".join(lines), err=True)


def token_refused(exc: InvalidToken) -> str:
    return (
        f"the site refused the token ({exc.message}). Check MOODLE_TOKEN / MOODLE_TOKEN_FILE, the token's "
        "validity date and its IP restriction (Site administration > Server > Web services > Manage tokens)."
    )


def raise_for_site_error(exc: AccelMoodleError) -> NoReturn:
    """Turn an integration error into the CLI error with the right exit code."""
    if isinstance(exc, InvalidToken):
        raise AuthProblem(token_refused(exc)) from None
    if isinstance(exc, AccessDenied):
        raise AuthProblem(
            f"access denied: {exc}. Run `accel doctor` to see which functions the token's service lacks."
        ) from None
    if isinstance(exc, ConfigurationError):
        raise UsageProblem(str(exc)) from None
    if isinstance(exc, UncertainAnswer):
        raise Problems(str(exc)) from None  # the site answered: not "unreachable"
    if isinstance(exc, MoodleUnreachable | BadResponse | TransportError):
        raise SiteUnreachable(str(exc)) from None
    if isinstance(exc, RequestTooLarge | MoodleError):
        raise Problems(str(exc)) from None
    raise Problems(str(exc)) from None


class AccelGroup(click.Group):
    """Maps errors from the Moodle client to exit codes, so no command shows a traceback for them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AccelMoodleError as exc:
            raise_for_site_error(exc)
        except StoreError as exc:
            # Busy past the timeout: like the one-writer lock (exit 5); a store of a newer format: exit 2.
            raise (Locked if isinstance(exc, StoreBusy) else UsageProblem)(str(exc)) from None


@click.group(cls=AccelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help=f"Cohort configuration (TOML). Default: $ACCEL_CONFIG or ./{DEFAULT_CONFIG}.",
)
@click.option(
    "-v", "--verbose", count=True, help="More log output (-v info, -vv debug); also prints request counts."
)
@click.option("--stats", is_flag=True, help="Print the number of requests made, per Moodle function.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json writes one JSON object per log line (journald).",
)
@click.option(
    "--allow-http", is_flag=True, help="Allow plain http:// to a non-loopback site (not recommended)."
)
@click.option(
    "--max-input-vars",
    type=click.IntRange(min=MIN_INPUT_VARS),
    default=None,
    metavar="N",
    help="The site's PHP max_input_vars (default $MOODLE_MAX_INPUT_VARS or 1000).",
)
@click.version_option(package_name="accel")
@click.pass_context
def main(
    ctx: click.Context,
    config_path: str | None,
    verbose: int,
    stats: bool,
    log_format: str,
    allow_http: bool,
    max_input_vars: int | None,
) -> None:
    """Moodle companion for the rural social-project accelerator.

    Connects to Moodle through its REST web services, using MOODLE_URL and MOODLE_TOKEN (or
    MOODLE_TOKEN_FILE). Start with `accel doctor`.
    """
    configure_logging(verbose, log_format)
    # Tests pass a ready AppContext (with a client factory for the fake site) as ``obj``.
    app = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext(config_path=config_path)
    app.config_path = config_path or app.config_path
    app.verbosity = verbose
    app.show_stats = stats or verbose > 0
    app.allow_http = allow_http
    app.max_input_vars = max_input_vars
    ctx.obj = app
    if app.show_stats:
        ctx.call_on_close(app.print_stats)


# -- doctor ------------------------------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the connection, the token and the functions of its service.

    Exit 0 when all is well, 1 when functions are missing, 2 on a usage or configuration error,
    3 when the site is unreachable, 4 when the token is invalid or its service lacks access.
    """
    from integration.site import check_service

    try:
        client = app.client()
        result = check_service(client)
    except InvalidToken as exc:
        _doctor_fail(as_json, "invalid_token", EXIT_AUTH, exc)
    except (TransportError, MoodleUnreachable, BadResponse) as exc:
        _doctor_fail(as_json, "unreachable", EXIT_UNREACHABLE, exc)
    except AccessDenied as exc:
        _doctor_fail(as_json, "access_denied", EXIT_AUTH, exc)
    except UsageProblem as exc:
        _doctor_fail(as_json, "configuration", EXIT_USAGE, exc)
    site = result.site
    if as_json:
        payload = {
            "status": "ok" if result.ok else "missing_functions",
            "site": {
                "name": site.sitename,
                "url": site.siteurl or client.url,
                "release": site.release,
                "version": site.version,
            },
            "user": {
                "id": site.userid,
                "username": site.username,
                "fullname": site.fullname,
                "site_admin": site.userissiteadmin,
            },
            "functions_available": len(site.functions),
            "missing_functions": [m.model_dump() for m in result.missing],
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Site:    {site.sitename} ({site.siteurl or client.url})")
        click.echo(f"Moodle:  {site.release or 'unknown release'} (version {site.version or '?'})")
        admin = ", site administrator" if site.userissiteadmin else ""
        click.echo(f"Token:   user {site.username} (id {site.userid}, {site.fullname}{admin})")
        if result.ok:
            click.echo(f"Service: all {len(_required())} functions the product uses are available.")
        else:
            click.echo(f"Service: {len(result.missing)} of {len(_required())} functions are missing:")
            for missing in result.missing:
                click.echo(f"  - {missing.name}  (needed by: {'; '.join(missing.needed_by)})")
            click.echo(
                "Add them in Site administration > Server > Web services > External services > "
                "(your service) > Functions > Add functions, then run `accel doctor` again."
            )
    sys.exit(EXIT_OK if result.ok else EXIT_PROBLEMS)


def _required() -> list[str]:
    from integration.functions import required_functions

    return required_functions()


def _doctor_fail(as_json: bool, status: str, code: int, exc: Exception) -> NoReturn:
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if isinstance(exc, InvalidToken):
        message = token_refused(exc)
    if as_json:
        click.echo(json.dumps({"status": status, "error": message}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


# -- the command groups (each lives beside its logic in sync/) ---------------------------------------------

from sync.indicators_cli import indicators, report_command  # noqa: E402
from sync.provision_cli import provision, templates  # noqa: E402
from sync.roster_cli import roster  # noqa: E402
from sync.service_cli import serve, status  # noqa: E402

for _command in (templates, provision, roster, indicators, report_command, serve, status):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="accel")  # `python -m cli` (the service's tests) speaks as the installed command

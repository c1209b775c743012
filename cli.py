"""`accel`: the command line of the accelerator's Moodle companion.

Thin by design: parse options, call one function in ``sync``/``integration``, render the result, map
errors to exit codes. Exit codes (documented in the README):

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
)
from integration.transport import MoodleClient

if TYPE_CHECKING:
    from sync.config import AccelConfig

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_LOCKED = 5

DEFAULT_CONFIG = "accelerator.toml"


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
        # Tests inject a factory here to build the client around a fake site.
        self.client_factory: Callable[[], MoodleClient] | None = None

    def resolved_config_path(self) -> Path:
        return Path(self.config_path or os.environ.get("ACCEL_CONFIG") or DEFAULT_CONFIG)

    def config(self) -> AccelConfig:
        if self._config is None:
            from sync.config import ConfigError, load_config

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
                max_vars = self.max_input_vars or int(_env_number("MOODLE_MAX_INPUT_VARS", 1000))
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
        from sync.store import default_store_path

        if self.resolved_config_path().exists():
            configured = self.config().store_path()
            if configured is not None:
                return configured
        return default_store_path()

    def store(self) -> sqlite3.Connection:
        if self._store is None:
            from sync.store import open_store

            self._store = open_store(self.store_path())
        return self._store

    @contextlib.contextmanager
    def exclusive(self, purpose: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the one-writer lock (beside the store) while a sync or apply runs; exit 5 if it is busy."""
        from sync.lock import LockBusy, exclusive, lock_path_for

        def tell(holder: object) -> None:
            click.echo(f"Waiting up to {wait:.0f}s for another sync or apply to finish: {holder}", err=True)

        try:
            with exclusive(lock_path_for(self.store_path()), purpose, wait=wait, on_wait=tell):
                yield
        except LockBusy as exc:
            raise Locked(str(exc)) from None

    def print_stats(self) -> None:
        if self._client is None:
            return
        client = self._client
        lines = [f"requests: {client.request_count} ({client.write_count} writes)"]
        for name, count in sorted(client.stats.items()):
            writes = client.write_stats.get(name, 0)
            lines.append(f"  {name}: {count}" + (f" ({writes} writes)" if writes else ""))
        click.echo("\n".join(lines), err=True)


def raise_for_site_error(exc: AccelMoodleError) -> NoReturn:
    """Turn an integration error into the CLI error with the right exit code."""
    if isinstance(exc, InvalidToken):
        raise AuthProblem(
            f"the site refused the token ({exc.message}). Check MOODLE_TOKEN / MOODLE_TOKEN_FILE, the token's "
            "validity date and its IP restriction (Site administration > Server > Web services > Manage tokens)."
        ) from None
    if isinstance(exc, AccessDenied):
        raise AuthProblem(
            f"access denied: {exc}. Run `accel doctor` to see which functions the token's service lacks."
        ) from None
    if isinstance(exc, ConfigurationError):
        raise UsageProblem(str(exc)) from None
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
    type=click.IntRange(min=10),
    default=None,
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
    3 when the site is unreachable, 4 when the token is invalid.
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
        message = (
            f"the site refused the token ({exc.message}). Check MOODLE_TOKEN / MOODLE_TOKEN_FILE, its validity "
            "date and IP restriction (Site administration > Server > Web services > Manage tokens)."
        )
    if as_json:
        click.echo(json.dumps({"status": status, "error": message}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


# -- serve and status -----------------------------------------------------------------------------------


def _parse_now(value: str | None, tz: Any) -> Any:
    import datetime as dt

    if value is None:
        return dt.datetime.now(tz)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageProblem(f"--now {value!r} is not an ISO date-time such as 2021-11-03T09:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _build_runner(app: AppContext, stop_requested: Callable[[], bool]) -> Any:
    from sync.lock import lock_path_for
    from sync.service import ServiceRunner
    from sync.service_jobs import default_jobs

    config = app.config()

    def client_factory() -> MoodleClient:
        client = app.client()
        client.cancel_check = stop_requested
        return client

    return ServiceRunner(
        config,
        app.store(),
        client_factory,
        default_jobs(),
        lock_path=lock_path_for(app.store_path()),
        stop_requested=stop_requested,
    )


@main.command()
@click.option(
    "--once", is_flag=True, help="Run whatever is due now, then exit (for cron or a systemd timer)."
)
@click.option(
    "--now",
    "now_text",
    metavar="DATETIME",
    help="Pretend it is this time (ISO, cohort time zone unless an offset is given): rehearse a timetable.",
)
@click.option(
    "--job",
    "only_job",
    type=click.Choice(["roster_sync", "snapshot", "reminders", "report"]),
    help="With --once: run this job now, whatever the timetable says.",
)
@click.option(
    "--tick", default=60, show_default=True, type=click.IntRange(min=1), help="Seconds between rounds."
)
@click.pass_obj
def serve(app: AppContext, once: bool, now_text: str | None, only_job: str | None, tick: int) -> None:
    """Run the jobs of the [service] timetable: roster sync, snapshots, mentor reminders, reports.

    Without --once it runs until stopped; SIGTERM (or Ctrl-C) lets the request in flight finish and exits
    cleanly. What ran, and how, is kept in the store: see `accel status`.
    """
    import signal
    import threading

    from sync.service import serve_forever

    config = app.config()
    if (now_text or only_job) and not once:
        raise UsageProblem("--now and --job go with --once")
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        logging.getLogger("accel.service").info(
            "signal %d: finishing the request in flight, then stopping", signum
        )
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner = _build_runner(app, stop.is_set)
        if once:
            now = _parse_now(now_text, config.tz)
            records = [runner.run_now(only_job, now)] if only_job else runner.tick(now)
            if not records:
                click.echo(f"Nothing is due at {now.isoformat(timespec='minutes')}.")
            for record in records:
                detail = f": {record.detail}" if record.detail else ""
                click.echo(
                    f"{record.job}: {record.outcome} ({record.duration:.1f}s, {record.requests} requests){detail}"
                )
            if any(record.outcome in ("failed", "site-down", "busy") for record in records):
                sys.exit(EXIT_PROBLEMS)
            return
        import datetime as dt

        logging.getLogger("accel.service").info("service started (a round every %ds)", tick)
        serve_forever(runner, stop=stop, clock=lambda: dt.datetime.now(config.tz), tick_seconds=tick)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--now", "now_text", metavar="DATETIME", help="Compute next runs as if it were this time.")
@click.pass_obj
def status(app: AppContext, as_json: bool, now_text: str | None) -> None:
    """Show each job's last run, outcome, duration and next run, and the last indicator values.

    Read from the store only: it needs no site.
    """
    from sync.service_jobs import latest_indicators

    config = app.config()
    now = _parse_now(now_text, config.tz)
    runner = _build_runner(app, lambda: False)
    jobs = runner.status(now)
    indicators = latest_indicators(app.store(), config)
    if as_json:
        payload = {
            "now": now.isoformat(timespec="seconds"),
            "jobs": [job.__dict__ for job in jobs],
            "indicators": indicators,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{'job':<12} {'last run':<26} {'outcome':<12} {'took':>7}  next run")
    for job in jobs:
        took = f"{job.last_duration:.1f}s" if job.last_duration is not None else "—"
        click.echo(
            f"{job.job:<12} {job.last_run or 'never':<26} {job.last_outcome or '—':<12} {took:>7}  {job.next_run or '—'}"
        )
        if job.last_detail and job.last_outcome not in ("ok",):
            click.echo(f"{'':<12} {job.last_detail}")
    if indicators is None:
        click.echo(
            "\nNo indicator snapshot yet (run `accel indicators gather` or wait for the nightly snapshot)."
        )
    else:
        click.echo(f"\nIndicators (snapshot of {indicators['taken_at']}):")
        for row in indicators["values"]:
            target = f" / {row['target']:g}" if row["target"] is not None else ""
            value = f"{row['value']:g}" if row["value"] is not None else "—"
            click.echo(f"  {row['title']:<52} {value}{target}  {row['status'] or ''}")


# -- templates check, provision (course provisioning) -------------------------------------------------------


def _module_templates(app: AppContext) -> Any:
    """The module templates (the configuration's [templates] dir, else the bundled ones); exit 2 if bad."""
    from course_templates.loader import TemplateError, load_templates

    directory = app.config().templates_dir() if app.resolved_config_path().exists() else None
    try:
        return load_templates(directory)
    except TemplateError as exc:
        raise UsageProblem("bad module template:\n" + "\n".join(exc.problems)) from None


@main.group()
def templates() -> None:
    """Module templates (course_templates/m1.yaml, m2.yaml, m3.yaml) and the template courses on the site."""


@templates.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def templates_check(app: AppContext, as_json: bool) -> None:
    """Compare each module's template course on the site with its template file.

    Reports missing or extra activities (by ID number), wrong activity types, sections, and the survey
    item labels and database fields the indicators read. Exit 1 when a
    template course or a required activity is missing (or has the wrong type), 2 when a template file is bad.
    The template courses are found by short name: [modules.mN] template in the configuration if there is
    one, else the file's template_shortname (ACCEL-TPL-M1...).
    """
    from sync.provision_report import render_template_checks
    from sync.provision_templates import CANNOT_CREATE_ACTIVITIES, check_templates, template_shortnames

    module_templates = _module_templates(app)
    config = app.config() if app.resolved_config_path().exists() else None
    checks = check_templates(app.client(), module_templates, template_shortnames(module_templates, config))
    ok = all(check.ok for check in checks)
    if as_json:
        payload = {"ok": ok, "modules": [c.as_dict() for c in checks], "note": CANNOT_CREATE_ACTIVITIES}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(render_template_checks(checks))
    sys.exit(EXIT_OK if ok else EXIT_PROBLEMS)


@main.command()
@click.option("--apply", "do_apply", is_flag=True, help="Carry the plan out (default: only print it).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (progress goes to stderr).")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait this long for another sync or apply to finish (default: do not wait).",
)
@click.pass_obj
def provision(app: AppContext, do_apply: bool, as_json: bool, wait: float) -> None:
    """Create or update the cohort's category, three module courses and calendar.

    Without --apply it prints the plan, computed from the site, and writes nothing. With --apply it carries
    the plan out; running it again changes nothing, and an interrupted apply is finished by running it again.
    Exit 0 when done (or nothing to do), 1 when the plan has problems or a step failed.
    """
    from sync.provision import ApplyResult, ProvisionBlocked, apply_plan, compute_plan
    from sync.provision_report import render_plan, render_progress

    config = app.config()
    module_templates = _module_templates(app)
    client = app.client()
    # With --apply the lock is taken before planning, so no other apply can change the site in between.
    lock = app.exclusive("provision --apply", wait=wait) if do_apply else contextlib.nullcontext()
    with lock:
        plan = compute_plan(client, config, module_templates)
        if not do_apply:
            if as_json:
                click.echo(
                    json.dumps({"applied": False, "plan": plan.as_dict()}, ensure_ascii=False, indent=2)
                )
            else:
                click.echo(render_plan(plan))
            sys.exit(EXIT_PROBLEMS if plan.blocked else EXIT_OK)
        if not as_json:
            click.echo(render_plan(plan, apply_hint=False))
        if plan.blocked:
            if as_json:
                click.echo(
                    json.dumps({"applied": False, "plan": plan.as_dict()}, ensure_ascii=False, indent=2)
                )
            raise Problems("the plan has problems (listed above); nothing was written")
        result = ApplyResult()
        total = len(plan.changes)

        def show(done: int, count: int, change: Any) -> None:
            click.echo(render_progress(done, count, change), err=as_json)

        if total and not as_json:
            click.echo("\nApplying:")
        try:
            apply_plan(client, plan, progress=show, result=result)
        except ProvisionBlocked as exc:
            raise Problems(str(exc)) from None
        except (AccelMoodleError, KeyboardInterrupt) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {exc}"
            click.echo(
                f"\nApply {why} after {len(result.done)} of {total} step(s). Nothing is lost: run "
                "`accel provision --apply` again. The plan is computed from the site, so finished steps are not "
                "repeated and a half-made course is completed, not duplicated.",
                err=True,
            )
            if isinstance(exc, KeyboardInterrupt):
                sys.exit(130)
            raise
        # Check the result from the site itself (skipped when there was nothing to do).
        after = compute_plan(client, config, module_templates) if plan.changes else plan
    if as_json:
        payload = {
            "applied": True,
            "plan": plan.as_dict(),
            "done": len(result.done),
            "created_courses": result.created_courses,
            "remaining": after.as_dict(),
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    elif after.empty:
        click.echo(f"\nDone: {len(result.done)} change(s) applied. A new plan is empty: the site matches.")
    else:
        click.echo(f"\nDone: {len(result.done)} change(s) applied, but a new plan still has changes:")
        click.echo(render_plan(after))
    sys.exit(EXIT_OK if after.empty else EXIT_PROBLEMS)


# -- roster (the commands live in sync/roster_cli.py) ------------------------------------------------

from sync.roster_cli import roster as _roster_commands  # noqa: E402  (needs the classes above)

main.add_command(_roster_commands)


# -- indicators and reports (logic in sync/gather.py, sync/indicators.py, sync/pending.py, sync/report*.py) --


def _period_option(app: AppContext, date_from: str | None, date_to: str | None) -> Any:
    from sync.report import parse_period

    try:
        return parse_period(date_from, date_to, app.config().tz)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def _stored_snapshot(app: AppContext, snapshot_id: int | None) -> Any:
    from sync.snapshot import SnapshotNotFound, find_snapshot

    cohort = None if snapshot_id is not None else app.config().cohort.code
    try:
        return find_snapshot(app.store(), snapshot_id, cohort)
    except SnapshotNotFound as exc:
        raise UsageProblem(str(exc)) from None


def _report_for(app: AppContext, snapshot_id: int | None, date_from: str | None, date_to: str | None) -> Any:
    import time as _time

    from sync.report import build_report
    from sync.snapshot import load_all_snapshots

    config = app.config()
    period = _period_option(app, date_from, date_to)
    sid, snapshot = _stored_snapshot(app, snapshot_id)
    return build_report(
        snapshot,
        targets=config.targets_for(),
        period=period,
        cohort_name=config.cohort.name,
        timezone=config.cohort.timezone,
        snapshot_id=sid,
        history=load_all_snapshots(app.store(), snapshot.cohort),
        now=int(_time.time()),
    )


_FROM = click.option(
    "--from", "date_from", metavar="DATE", help="Start of the period (YYYY-MM-DD, inclusive)."
)
_TO = click.option("--to", "date_to", metavar="DATE", help="End of the period (YYYY-MM-DD, inclusive).")
_SNAPSHOT = click.option(
    "--snapshot", "snapshot_id", type=int, metavar="ID", help="A stored snapshot (default: the newest)."
)


@main.group()
def indicators() -> None:
    """Grant indicators: gather a snapshot from Moodle, show the indicators, list work waiting for a grade."""


@indicators.command("gather")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def indicators_gather(app: AppContext, as_json: bool) -> None:
    """Read the cohort's courses from Moodle and store a dated snapshot in the local store.

    Reads enrolments, teams, assignments, submissions, gradebook grades and feedback, events, votes,
    pledges and survey answers with batch reads only (the request count does not grow with people).
    Nothing is written to the site. Exit 0 when stored (notes and Moodle warnings are printed).
    """
    from sync.gather import gather
    from sync.snapshot import save_snapshot

    config = app.config()
    snapshot = gather(app.client(), config)
    sid = save_snapshot(app.store(), snapshot)
    warnings = [n.text for n in snapshot.notes if n.kind == "moodle_warning"]
    notes = [n.text for n in snapshot.notes if n.kind != "moodle_warning"]
    if as_json:
        payload = {
            "snapshot_id": sid,
            "cohort": snapshot.cohort,
            "taken_at": snapshot.taken_at,
            "requests": snapshot.request_count,
            "courses": [c.model_dump() for c in snapshot.courses],
            "activities": sorted(a.key for a in snapshot.activities),
            "notes": notes,
            "warnings": warnings,
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    found = sum(1 for c in snapshot.courses if c.id is not None)
    click.echo(
        f"Snapshot {sid} stored: cohort {snapshot.cohort}, {found} of {len(snapshot.courses)} courses, "
        f"{len(snapshot.activities)} activities, {len(snapshot.people)} people, {snapshot.request_count} requests."
    )
    for text in notes:
        click.echo(f"  note: {text}")
    for text in warnings:
        click.echo(f"  Moodle warning: {text}")


@indicators.command("show")
@_FROM
@_TO
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (the JSON report).")
@click.pass_obj
def indicators_show(
    app: AppContext, date_from: str | None, date_to: str | None, snapshot_id: int | None, as_json: bool
) -> None:
    """Show every grant indicator against its target, from a stored snapshot (no site needed).

    --from/--to limit the counts to what happened in the period (for a quarterly report); without them the
    whole grant period is counted.
    """
    from sync.report import render_indicators_text, report_json

    report = _report_for(app, snapshot_id, date_from, date_to)
    if as_json:
        click.echo(json.dumps(report_json(report), ensure_ascii=False, indent=2))
    else:
        click.echo(render_indicators_text(report))


@indicators.command("pending")
@_SNAPSHOT
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def indicators_pending(app: AppContext, snapshot_id: int | None, as_json: bool) -> None:
    """List team submissions waiting for a mentor's grade, oldest first, with how long each has waited."""
    from sync.pending import pending_submissions, render_pending

    _sid, snapshot = _stored_snapshot(app, snapshot_id)
    items = pending_submissions(snapshot)
    if as_json:
        payload = {"taken_at": snapshot.taken_at, "pending": [i.model_dump() for i in items]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        click.echo(render_pending(items, app.config().tz))


@main.command("report")
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "html", "json"]), required=True, help="Report format."
)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True, help="File to write.")
@_FROM
@_TO
@_SNAPSHOT
@click.pass_obj
def report_command(
    app: AppContext, fmt: str, out: str, date_from: str | None, date_to: str | None, snapshot_id: int | None
) -> None:
    """Write the indicators report (Russian) from a stored snapshot: XLSX workbook, HTML page with charts,
    or JSON. The file is written whole or not at all."""
    from sync.report import write_report

    report = _report_for(app, snapshot_id, date_from, date_to)
    try:
        write_report(report, fmt, Path(out))
    except OSError as exc:
        raise UsageProblem(f"{out}: cannot write the report ({exc.strerror or exc})") from None
    click.echo(f"Report written: {out}")


if __name__ == "__main__":  # pragma: no cover
    main()

"""`accel doctor`: the connection, the token, the functions of its service and the site's request-size limit."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import NoReturn

import click

from i18n import N_, _, ngettext
from integration.errors import (
    AccelMoodleError,
    AccessDenied,
    ConfigurationError,
    InvalidToken,
    TransportError,
)
from integration.functions import required_functions
from integration.limits import FUNCTION as LIMIT_FUNCTION
from integration.limits import InputVarsLimit, advice, measure_max_input_vars
from integration.site import ServiceCheck, check_service
from integration.transport import MoodleClient
from sync.commands.context import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    TESTED_MOODLE_RELEASES,
    AppContext,
    UsageProblem,
    release_tested,
    token_refused,
)


@click.command(
    help=N_(
        "Check the connection, the token, the functions of its service and the site's request-size limit "
        "(PHP max_input_vars, measured).\n\n"
        "Exit 0 when all is well, 1 when functions are missing, 2 on a usage or configuration error, "
        "3 when the site is unreachable, 4 when the token is invalid or its service lacks access."
    )
)
@click.option("--json", "as_json", is_flag=True, help=N_("Machine-readable output."))
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    try:
        client = app.client()
        result = check_service(client)
    except InvalidToken as exc:
        _doctor_fail(as_json, "invalid_token", EXIT_AUTH, exc)
    except TransportError as exc:  # MoodleUnreachable, BadResponse: the doctor only reads
        _doctor_fail(as_json, "unreachable", EXIT_UNREACHABLE, exc)
    except AccessDenied as exc:
        _doctor_fail(as_json, "access_denied", EXIT_AUTH, exc)
    except (UsageProblem, ConfigurationError) as exc:  # no MOODLE_URL, a bad URL, plain http, a redirect
        _doctor_fail(as_json, "configuration", EXIT_USAGE, exc)
    site = result.site
    limit = _measure_limit(client, result)
    setting = "--max-input-vars" if app.max_input_vars else "MOODLE_MAX_INPUT_VARS"
    configured = client.configured_max_input_vars
    told = advice(limit.found, configured, setting=setting) if limit.found is not None else None
    if as_json:
        payload = {
            "status": "ok" if result.ok else "missing_functions",
            "site": {
                "name": site.sitename,
                "url": site.siteurl or client.url,
                "release": site.release,
                "version": site.version,
                "release_tested": release_tested(site.release),
            },
            "tested_releases": list(TESTED_MOODLE_RELEASES),
            "user": {
                "id": site.userid,
                "username": site.username,
                "fullname": site.fullname,
                "site_admin": site.userissiteadmin,
            },
            "functions_available": len(site.functions),
            "missing_functions": [m.model_dump() for m in result.missing],
            "max_input_vars": {
                "site": limit.found.max_input_vars if limit.found else None,
                "exact": limit.found.exact if limit.found else None,
                "configured": configured,
                "setting": setting,
                "advice": told,
                "not_measured": limit.why_not,
            },
        }
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        _print_report(result, client.url)
        _print_limit(limit, configured, setting, told)
    sys.exit(EXIT_OK if result.ok else EXIT_PROBLEMS)


@dataclass(frozen=True)
class _Limit:
    """The site's max_input_vars as measured, or why it was not."""

    found: InputVarsLimit | None = None
    why_not: str | None = None


def _measure_limit(client: MoodleClient, result: ServiceCheck) -> _Limit:
    """Measure the site's max_input_vars (integration/limits.py: a few reads whose answer tells whether the
    whole request arrived). Not measured when the token's service lacks the function it reads, or the site
    refuses the probes: said, and the doctor's verdict stays the functions'."""
    if any(missing.name == LIMIT_FUNCTION for missing in result.missing):
        return _Limit(why_not=_("the token's service lacks {function}").format(function=LIMIT_FUNCTION))
    try:
        return _Limit(found=measure_max_input_vars(client, expected=client.configured_max_input_vars))
    except AccelMoodleError as exc:
        return _Limit(why_not=str(exc))


def _print_limit(limit: _Limit, configured: int, setting: str, told: str | None) -> None:
    if limit.found is None:
        click.echo(_("Limit:   max_input_vars not measured: {why}").format(why=limit.why_not))
        return
    if limit.found.exact:
        line = _("Limit:   the site keeps {limit} form variables per request (PHP max_input_vars)")
    else:
        line = _("Limit:   the site keeps at least {limit} form variables per request (PHP max_input_vars)")
    click.echo(line.format(limit=limit.found.max_input_vars))
    if told:
        click.echo("         " + told)
    elif configured == limit.found.max_input_vars:
        click.echo(
            _("         {setting} is {configured}: right for this site.").format(
                setting=setting, configured=configured
            )
        )
    else:  # under a limit known only from below: safe; more would make fewer, larger requests
        click.echo(
            _("         {setting} is {configured}: safe for this site (it accepts more).").format(
                setting=setting, configured=configured
            )
        )


def _print_report(result: ServiceCheck, url: str) -> None:
    site = result.site
    total = len(required_functions())
    click.echo(_("Site:    {name} ({url})").format(name=site.sitename, url=site.siteurl or url))
    click.echo(
        _("Moodle:  {release} (version {version})").format(
            release=site.release or _("unknown release"), version=site.version or "?"
        )
    )
    if not release_tested(site.release):
        click.echo(
            _(
                "         accel was tested with Moodle {releases}; this release may answer differently."
            ).format(releases=", ".join(TESTED_MOODLE_RELEASES))
        )
    who = {"username": site.username, "id": site.userid, "fullname": site.fullname}
    if site.userissiteadmin:
        click.echo(_("Token:   user {username} (id {id}, {fullname}, site administrator)").format(**who))
    else:
        click.echo(_("Token:   user {username} (id {id}, {fullname})").format(**who))
    if result.ok:
        click.echo(
            ngettext(
                "Service: the {total} function the product uses is available.",
                "Service: all {total} functions the product uses are available.",
                total,
            ).format(total=total)
        )
        return
    missing = len(result.missing)
    click.echo(
        ngettext(
            "Service: {missing} of {total} functions is missing:",
            "Service: {missing} of {total} functions are missing:",
            missing,
        ).format(missing=missing, total=total)
    )
    for function in result.missing:
        # The features' names are integration.functions' keys: shown in the reader's language where their
        # catalog has them (JSON keeps them as they are).
        needed_by = "; ".join(_(feature) for feature in function.needed_by)
        click.echo(
            _("  - {function}  (needed by: {features})").format(function=function.name, features=needed_by)
        )
    click.echo(
        _(
            "Add them in Site administration > Server > Web services > External services > "
            "(your service) > Functions > Add functions, then run `accel doctor` again."
        )
    )


def _doctor_fail(as_json: bool, status: str, code: int, exc: Exception) -> NoReturn:
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if isinstance(exc, InvalidToken):
        message = token_refused(exc)
    if as_json:
        click.echo(json.dumps({"status": status, "error": message}, ensure_ascii=False, indent=2))
    else:
        click.echo(_("Error: {message}").format(message=message), err=True)
    sys.exit(code)

"""`accel doctor`: the connection, the token and the functions of its service."""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from integration.errors import AccessDenied, ConfigurationError, InvalidToken, TransportError
from integration.functions import required_functions
from integration.site import check_service
from sync.commands.context import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    AppContext,
    UsageProblem,
    token_refused,
)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the connection, the token and the functions of its service.

    Exit 0 when all is well, 1 when functions are missing, 2 on a usage or configuration error,
    3 when the site is unreachable, 4 when the token is invalid or its service lacks access.
    """
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
            click.echo(f"Service: all {len(required_functions())} functions the product uses are available.")
        else:
            click.echo(
                f"Service: {len(result.missing)} of {len(required_functions())} functions are missing:"
            )
            for missing in result.missing:
                click.echo(f"  - {missing.name}  (needed by: {'; '.join(missing.needed_by)})")
            click.echo(
                "Add them in Site administration > Server > Web services > External services > "
                "(your service) > Functions > Add functions, then run `accel doctor` again."
            )
    sys.exit(EXIT_OK if result.ok else EXIT_PROBLEMS)


def _doctor_fail(as_json: bool, status: str, code: int, exc: Exception) -> NoReturn:
    message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    if isinstance(exc, InvalidToken):
        message = token_refused(exc)
    if as_json:
        click.echo(json.dumps({"status": status, "error": message}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)

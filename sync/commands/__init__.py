"""The command line, `accel`: the ``main`` group and its global options, and every command registered.

Thin by design: a command parses its options, calls the wings' functions and renders the result; the ``main``
group turns the errors it lets through into exit codes, in one place (sync/commands/context.py: cli_error).
One module per command group: ``doctor``, ``provision`` (``templates`` and ``provision``), ``roster``,
``indicators`` (``indicators`` and ``report``), ``service`` (``serve`` and ``status``). Nothing below the commands imports them; ``cli.py`` only calls :func:`main`.
"""

from __future__ import annotations

import click

from sync.commands.context import DEFAULT_CONFIG, MIN_INPUT_VARS, AccelGroup, AppContext, configure_logging
from sync.commands.doctor import doctor
from sync.commands.indicators import indicators, report_command
from sync.commands.provision import provision, templates
from sync.commands.roster import roster
from sync.commands.service import serve, status


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


for _command in (doctor, templates, provision, roster, indicators, report_command, serve, status):
    main.add_command(_command)

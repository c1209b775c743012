"""The command line, `accel`: the ``main`` group and its global options, and every command registered.

Thin by design: a command parses its options, calls the wings' functions and renders the result; the groups
turn the errors a command lets through into exit codes, in one place (sync/commands/context.py: cli_error).
The frame (sync/commands/frame.py) shows help in the reader's language, picks the language before click
shows anything, and takes global options typed after the command. One module per command group: ``doctor``,
``provision`` (``templates`` and ``provision``), ``roster``, ``indicators`` (``indicators`` and ``report``),
``service`` (``serve`` and ``status``). Nothing below the commands imports them; ``cli.py`` only calls
:func:`main`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import click

from i18n import LANGUAGES, N_, _
from integration.transport import MAX_CONCURRENCY
from sync.commands.context import (
    MIN_INPUT_VARS,
    TESTED_MOODLE_RELEASES,
    AppContext,
    configure_logging,
)
from sync.commands.doctor import doctor
from sync.commands.frame import AccelGroup
from sync.commands.indicators import indicators, report_command
from sync.commands.provision import provision, templates
from sync.commands.roster import roster
from sync.commands.service import serve, status


def version_text() -> str:
    """What `accel --version` prints: accel's version and the Moodle releases it was tested against."""
    try:
        installed = package_version("accel")
    except PackageNotFoundError:  # a source tree that was never installed
        installed = _("(not installed)")
    return _("accel {version}, tested with Moodle {releases}").format(
        version=installed, releases=", ".join(TESTED_MOODLE_RELEASES)
    )


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit()


@click.group(
    "accel",
    cls=AccelGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=N_(
        "Moodle companion for the rural social-project accelerator.\n\n"
        "Connects to Moodle through its REST web services, using MOODLE_URL and MOODLE_TOKEN (or "
        "MOODLE_TOKEN_FILE). Start with `accel doctor`.\n\n"
        "Global options may also be given after the command: `accel roster sync FILE -v`."
    ),
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help=N_("Cohort configuration (TOML). Default: $ACCEL_CONFIG or ./accelerator.toml."),
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help=N_("More log output (-v info, -vv debug); also prints request counts."),
)
@click.option("--stats", is_flag=True, help=N_("Print the number of requests made, per Moodle function."))
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help=N_("json writes one JSON object per log line (journald)."),
)
@click.option(
    "--allow-http",
    is_flag=True,
    help=N_("Allow plain http:// to a non-loopback site (not recommended)."),
)
@click.option(
    "--max-input-vars",
    type=click.IntRange(min=MIN_INPUT_VARS),
    default=None,
    metavar="N",
    help=N_("The site's PHP max_input_vars (default $MOODLE_MAX_INPUT_VARS or 1000)."),
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=None,
    metavar="N",
    help=N_(
        "Requests sent to Moodle at once, 1 to 32 (default $MOODLE_CONCURRENCY or 4; 1 sends them one after "
        "another, in order)."
    ),
)
@click.option(
    "--lang",
    metavar="[" + "|".join(LANGUAGES) + "]",
    expose_value=False,  # read by the frame before click parses (AccelGroup.parse_args)
    help=N_("Language of messages and help. Default: $ACCEL_LANG, else the locale, else ru."),
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help=N_("Show the version and the Moodle releases it was tested against, and exit."),
)
@click.pass_context
def main(
    ctx: click.Context,
    config_path: str | None,
    verbose: int,
    stats: bool,
    log_format: str,
    allow_http: bool,
    max_input_vars: int | None,
    concurrency: int | None,
) -> None:
    configure_logging(verbose, log_format)
    # Tests pass a ready AppContext (with a client factory for the fake site) as ``obj``.
    app = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext(config_path=config_path)
    app.config_path = config_path or app.config_path
    app.verbosity = verbose
    app.show_stats = stats or verbose > 0
    app.allow_http = allow_http
    app.max_input_vars = max_input_vars
    app.concurrency = concurrency or app.concurrency
    ctx.obj = app
    if app.show_stats:
        ctx.call_on_close(app.print_stats)


for _command in (doctor, templates, provision, roster, indicators, report_command, serve, status):
    main.add_command(_command)

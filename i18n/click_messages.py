"""click's own messages that accel users meet, marked so that they land in the ``commands`` catalog.

click looks its messages up with the stdlib's ``gettext``; :func:`sync.commands.context.translate_click`
points those lookups at accel's catalogs, and this list makes the extractor see them. The texts must be
exactly click's (click 8.x).
"""

from __future__ import annotations

from i18n import N_, ngettext

CLICK_MESSAGES = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("Error"),
    N_("Try '{command} {option}' for help."),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing argument '{param_hint}'."),
    N_("Missing option '{param_hint}'."),
    N_("Missing parameter: {param_name}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("No such option: {name}"),
    N_("No such command {name!r}."),
    N_("{value!r} is not a valid integer."),
    N_("{value!r} is not one of {choices}."),
    N_("{value!r} is not {choice}."),
    N_("Aborted!"),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
)


def _plural_messages(n: int) -> tuple[str, ...]:
    # click's plural messages; never called, here for the extractor.
    return (
        ngettext("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", n),
        ngettext("Did you mean {possibility}?", "(Possible options: {possibilities})", n),
        ngettext("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", n),
    )

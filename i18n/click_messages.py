"""click's own messages that accel users can meet, marked so that they land in the ``commands`` catalog.

click looks its messages up with the stdlib's ``gettext``; :func:`sync.commands.frame.translate_click` points
those lookups at accel's catalogs, and this list makes the extractor see them. The texts are exactly those of
the installed click (8.5); ``tests/test_cli_language.py`` reads click's source and fails when a message here
is not click's any more, or when click has a message that is neither here nor in :data:`NOT_SHOWN` (so an
upgrade of click that rewords a message is caught, not silently shown in English).
"""

from __future__ import annotations

from i18n import N_, ngettext

CLICK_MESSAGES = (
    # help
    N_("Usage:"),
    N_("Options"),
    N_("Positional arguments"),
    N_("Commands"),
    N_("Show this message and exit."),
    N_("default: {default}"),
    N_("env var: {var}"),
    N_("required"),
    N_("(dynamic)"),
    # usage errors
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Missing command."),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing {param_type}"),
    N_("Missing parameter: {param_name}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Option {name!r} does not take a value."),
    N_("Aborted!"),
    # values of the parameter types accel uses (Choice, IntRange, FloatRange, Path)
    N_("Choose from:\n\t{choices}"),
    N_("{value} is not in the range {range}."),
    N_("{value!r} is not a valid {number_type}."),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("{name} {filename!r} is not executable."),
    # shell completion (_ACCEL_COMPLETE=bash_source accel)
    N_("Shell completion is not supported for Bash versions older than 4.4."),
    N_("Couldn't detect Bash version, shell completion is not supported."),
)


def _plural_messages(n: int) -> tuple[str, ...]:
    # click's plural messages; never called, here for the extractor.
    return (
        ngettext("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", n),
        ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", n),
        ngettext("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", n),
        ngettext("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", n),
    )


#: click's messages that accel users do not meet, and why (not translated; the test above reads this)
NOT_SHOWN: dict[str, str] = {
    # errors in a command's declaration: found by the tests, never by a user
    "Value must be an iterable.": "a default or callback value that is not a list",
    "Could not determine name for option with declarations {decls!r}": "a declaration error",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? "
    "Did you mean to pass '--{name}'?": "a declaration error",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.": "a declaration error",
    "Name '{name}' defined twice": "a declaration error",
    "Boolean option {decl!r} cannot use the same flag for true/false.": "a declaration error",
    "Invalid start character for option ({option})": "a declaration error",
    "Unknown color {colour!r}": "a programming error",
    "Unknown standard stream '{name}'": "a programming error",
    "Choice({choices})": "the repr of a Choice, for developers",
    # features accel does not use
    "deprecated": "no command or option is deprecated",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": "no command is deprecated",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": "no option is deprecated",
    "Show the version and exit.": "accel's --version is its own (with the tested Moodle releases)",
    "%(prog)s, version %(version)s": "accel's --version is its own",
    "Do you want to continue?": "accel never prompts (a plan is applied with --apply)",
    "Confirm the action without prompting.": "accel never prompts",
    "Press any key to continue...": "accel never prompts",
    "Repeat for confirmation": "accel never prompts",
    "Error: The two entered values do not match.": "accel never prompts",
    "Error: invalid input": "accel never prompts",
    "{editor}: Editing failed": "accel never opens an editor",
    "{editor}: Editing failed: {e}": "accel never opens an editor",
    "d": "the day in click's progress bar's ETA: accel draws progress with rich (sync/commands/terminal.py)",
    "Windows error: {error}": "Windows' console only",
    "unknown error": "click.File is not used",
    "Could not open file {filename!r}: {message}": "click.File is not used",
    "{value!r} is not a valid boolean. Recognized values: {states}": "no option takes a yes/no value",
    "{value!r} is not a valid UUID.": "no UUID parameter",
    "{value!r} does not match the format {format}.": "no DateTime parameter (--now is parsed by accel)",
    "{value!r} does not match the formats {formats}.": "no DateTime parameter",
    "Takes {nargs} values but 1 was given.": "no parameter takes several values",
    "Takes {nargs} values but {len} were given.": "no parameter takes several values",
    "Argument {name!r} takes {nargs} values.": "no parameter takes several values",
    "{len_type} values are required, but {len_value} was given.": "no Tuple parameter",
    "{len_type} values are required, but {len_value} were given.": "no Tuple parameter",
    # made when the command modules are imported, before --lang is read, and shown as metavars (FILE):
    # they stay English, and the Russian path messages above leave {name} out
    "file": "a Path's name (its metavar)",
    "directory": "a Path's name (its metavar)",
    "path": "a Path's name (its metavar)",
}

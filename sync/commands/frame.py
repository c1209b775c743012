"""The command line's frame: the click classes every ``accel`` command is made of, its language, and global
options wherever they are typed.

- :class:`AccelGroup` (the ``main`` group, and every group added under it) and :class:`AccelCommand` show
  help texts in the reader's language. A command's ``help``/``short_help`` and an option's ``help`` are
  English msgids marked ``N_()`` where they are declared (at import time, before the language is known) and
  translated here, when the help is shown.
- Before the root group parses anything it picks the language (``--lang``, ``ACCEL_LANG``, the locale,
  else Russian: :func:`i18n.choose_language`), so ``--help`` of any command and click's own errors come out
  in it; :func:`translate_click` makes click look its own messages up in accel's catalogs.
- Global options (the ``main`` group's: ``--config``, ``-v``, ``--lang``, ...) are accepted after the
  command too, as people type them (``accel roster sync f.csv -v --lang en``): :func:`hoist_global_options`
  moves them in front of the command name before click parses.
- An error of the application or the wire that a command lets through becomes its CLI error and exit code
  here (:func:`sync.commands.context.cli_error`), so no command shows a traceback for them.
"""

from __future__ import annotations

import contextlib
import gettext
import importlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import click

import i18n
from i18n import LANGUAGES, N_, _, choose_language, normalize_language, set_language
from integration.errors import AccelMoodleError
from sync.commands.context import cli_error
from sync.core.errors import AccelError

#: click's modules that look messages up with the stdlib's gettext (``from gettext import gettext as _``)
CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.shell_completion",
    "click.termui",
    "click.types",
    "click.utils",
    "click._termui_impl",
)


def translate_click() -> None:
    """Make click's own messages ("Usage:", "Error: ...", "No such option ...") speak accel's language.

    click marks its messages for gettext but looks them up in the stdlib's global domain ("messages"), which
    accel does not use: its catalogs are per part of the tree and chosen by ``--lang`` (:mod:`i18n`). Each
    click module imported ``gettext``/``ngettext`` under its own name, so the lookup is re-pointed module by
    module; click's messages are listed in :mod:`i18n.click_messages` and translated in the ``commands``
    catalog. Idempotent; anything else a module might have called ``_`` is left alone.
    """
    for name in CLICK_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "_", None) is gettext.gettext:
            module._ = i18n._  # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is gettext.ngettext:
            module.ngettext = i18n.ngettext  # type: ignore[attr-defined]


@contextlib.contextmanager
def _in_language(command: click.Command, params: Sequence[click.Parameter] = ()) -> Iterator[None]:
    """While help is being formatted, the command's and its parameters' help texts in the current language.

    The texts are English msgids (declared at import time); click reads them from these attributes while it
    formats, so they are swapped for their translations and put back after (a CLI formats help once, on one
    thread). An unmarked text has no catalog entry and stays as it is.
    """
    saved: list[tuple[Any, str, str]] = []
    for owner, names in [(command, ("help", "short_help", "epilog")), *((p, ("help",)) for p in params)]:
        for name in names:
            text = getattr(owner, name, None)
            if isinstance(text, str) and text:
                saved.append((owner, name, text))
    try:
        for owner, name, text in saved:
            setattr(owner, name, _(text))
        yield
    finally:
        for owner, name, text in saved:
            setattr(owner, name, text)


#: the help option's text, as a msgid (see AccelCommand.get_help_option)
SHOW_HELP = N_("Show this message and exit.")


class AccelCommand(click.Command):
    """A command whose help is shown in the reader's language."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _in_language(self, self.get_params(ctx)):
            super().format_help(ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        # The parent group's list of commands, and shell completion's descriptions, read this.
        with _in_language(self):
            return super().get_short_help_str(limit)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # click makes the --help option once per command, with its text translated then, and keeps it: the
        # text is made again in the language of now (a test process shows help in both languages).
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = _(SHOW_HELP)
        return option


class AccelGroup(AccelCommand, click.Group):
    """A group of commands (the ``main`` group is one): help in the reader's language, and the application's
    errors turned into exit codes. As the root it also picks the language and takes global options typed
    after the command (see the module's docstring)."""

    command_class = AccelCommand
    group_class = type  # a group made with @group.group() is an AccelGroup too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(adopt(cmd), name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        translate_click()
        return super().main(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(self, ctx, args)
            self._choose_language(ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AccelError, AccelMoodleError) as exc:
            raise cli_error(exc) from None

    def _choose_language(self, ctx: click.Context, args: list[str]) -> None:
        """Speak the language asked for before click shows anything (help, usage errors); a language accel
        does not speak is a usage error (exit 2), said in the language the rest of the settings give."""
        lang_option = next((p for p in self.params if p.name == "lang"), None)
        explicit = _last_value(args, self, lang_option) if isinstance(lang_option, click.Option) else None
        environ = dict(os.environ)
        from_env = environ.pop("ACCEL_LANG", "")
        set_language(choose_language(None, environ))  # the locale, else Russian
        languages = ", ".join(LANGUAGES)
        if explicit is not None:
            code = normalize_language(explicit)
            if code is None:
                if normalize_language(from_env):
                    set_language(from_env)
                if ctx.resilient_parsing:  # shell completion: never an error
                    return
                raise click.BadParameter(
                    _("{value!r} is not a language accel speaks (choose one of: {languages}).").format(
                        value=explicit, languages=languages
                    ),
                    ctx=ctx,
                    param=lang_option,
                )
            set_language(code)
            return
        if from_env:
            code = normalize_language(from_env)
            if code is None:
                if ctx.resilient_parsing:
                    return
                raise click.UsageError(
                    _(
                        "ACCEL_LANG={value!r} is not a language accel speaks (choose one of: {languages})."
                    ).format(value=from_env, languages=languages),
                    ctx=ctx,
                )
            set_language(code)


def adopt(command: click.Command) -> click.Command:
    """``command`` (and, for a group, its commands) as an Accel class, so that its help is translated.

    The command modules declare plain ``@click.command()``/``@click.group()``; rather than have every module
    remember ``cls=``, the group they are added to re-classes a plain click command in place (the Accel
    classes add behaviour only, no state). A command of any other class is left as it is.
    """
    if type(command) is click.Command:
        command.__class__ = AccelCommand
    elif type(command) is click.Group:
        command.__class__ = AccelGroup
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            adopt(sub)
    return command


# -- global options after the command -----------------------------------------------------------------------


def _is_option(token: str) -> bool:
    return token.startswith("-") and token not in ("-", "--")


def _options(params: Sequence[click.Parameter]) -> dict[str, click.Option]:
    return {
        name: param
        for param in params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _match(args: Sequence[str], i: int, options: dict[str, click.Option]) -> tuple[click.Option, int] | None:
    """The option ``args[i]`` is one of ``options``, and how many tokens it spans (with its value), or None.

    ``--name value``, ``--name=value``, a short flag ``-v``, a cluster of short flags ``-vv``, a short
    option with its value attached ``-n5``.
    """
    token = args[i]
    if token.startswith("--"):
        name, has_value, _value = token.partition("=")
        option = options.get(name)
        if option is None:
            return None
        return option, 1 if has_value or not _takes_value(option) else 1 + option.nargs
    option = options.get(token[:2])
    if option is None:
        return None
    if _takes_value(option):
        return option, 1 if len(token) > 2 else 1 + option.nargs
    cluster = [options.get(f"-{letter}") for letter in token[1:]]
    if all(o is not None and not _takes_value(o) for o in cluster):
        return option, 1
    return None


def hoist_global_options(root: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the root group's options that follow the command name moved in front of it.

    The commands are followed down (``roster`` then ``sync``) so that each one's own options, with their
    values, stay where they are: a command's option wins over a global option of the same name, and the
    value of an option is never taken for an option. ``--`` ends the options: what follows stays. Generic: any
    option declared on the root group is global.
    """
    globals_ = _options(root.params)
    front: list[str] = []
    i = 0
    while i < len(args) and _is_option(args[i]):  # the root's own options, where they belong already
        found = _match(args, i, globals_)
        width = found[1] if found else 1
        front += args[i : i + width]
        i += width
    hoisted: list[str] = []
    kept: list[str] = []
    command: click.Command = root
    own: dict[str, click.Option] = {}
    wants_command = True  # the next word after a group's options names one of its commands
    while i < len(args):
        token = args[i]
        if token == "--":
            kept += args[i:]
            break
        if not _is_option(token):
            kept.append(token)
            i += 1
            if wants_command:
                sub = command.get_command(ctx, token) if isinstance(command, click.Group) else None
                if sub is None:  # not a command: click says so, with everything as typed
                    kept += args[i:]
                    break
                command, own = sub, _options(sub.get_params(ctx))
                wants_command = isinstance(sub, click.Group)
            continue
        mine = _match(args, i, own)
        if mine is not None:
            kept += args[i : i + mine[1]]
            i += mine[1]
            continue
        global_ = _match(args, i, globals_)
        if global_ is not None and command is not root:
            hoisted += args[i : i + global_[1]]
            i += global_[1]
            continue
        kept.append(token)  # unknown: click says so
        i += 1
    return front + hoisted + kept


def _last_value(args: Sequence[str], root: click.Group, option: click.Option) -> str | None:
    """The value given to ``option`` among the root group's options at the head of ``args`` (the last one
    wins, as click has it), or None."""
    globals_ = _options(root.params)
    value = None
    i = 0
    while i < len(args) and _is_option(args[i]):
        found = _match(args, i, globals_)
        if found is None:
            i += 1
            continue
        matched, width = found
        if matched is option:
            token = args[i]
            if "=" in token and token.startswith("--"):
                value = token.partition("=")[2]
            elif width > 1 and i + 1 < len(args):
                value = args[i + 1]
            elif len(token) > 2 and not token.startswith("--"):
                value = token[2:]
        i += width
    return value

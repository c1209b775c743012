"""Output made for people, through rich: aligned tables, progress bars, colour only where it belongs.

- Colour and bars only on a terminal; never with ``NO_COLOR`` set (https://no-color.org, which rich honours)
  or ``TERM=dumb``. Piped or redirected output is plain text, so scripts and ``grep`` keep working.
- Tables and messages go to stdout; progress bars to stderr, so they never mix with what a script reads.
- ``--json`` output does not come through here: it is printed as is (click.echo).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sync.core.progress import NO_PROGRESS, Advance
from sync.core.progress import Progress as ProgressProtocol

#: The width of output that is not a terminal: wide enough that a table's row is never folded (grep, scripts
#: and files read a row as one line).
PIPE_WIDTH = 10_000


def stdout_console() -> Console:
    # Built per call: click's CliRunner swaps sys.stdout per invocation, and tests read what it captured.
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True, no_color=_no_color() or None)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


def _no_color() -> bool:
    return "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != ""


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> None:
    """Print ``rows`` under ``headers`` as an aligned table (plain text, no box, when not a terminal)."""
    console = stdout_console()
    grid = Table(
        title=title, show_header=True, header_style="bold", box=None, pad_edge=False, title_justify="left"
    )
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    console.print(grid)


def say(message: str, *, style: str | None = None) -> None:
    """One line to stdout, styled only on a terminal (never parsed as markup: user data may hold brackets)."""
    stdout_console().print(Text(message, style=style or ""))


class TerminalProgress:
    """A :class:`sync.core.progress.Progress` that draws rich bars on stderr, one per task, while it runs."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @contextlib.contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[Advance]:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=self._console, transient=True) as bars:
            task_id = bars.add_task(description, total=total)

            def advance(n: int = 1) -> None:
                bars.advance(task_id, n)

            yield advance


def progress(enabled: bool = True) -> ProgressProtocol:
    """Bars on stderr when it is a terminal (and ``enabled``: not for ``--json``); otherwise nothing."""
    console = Console(file=sys.stderr, no_color=_no_color() or None)
    if not enabled or not console.is_terminal or console.is_dumb_terminal:
        return NO_PROGRESS
    return TerminalProgress(console)

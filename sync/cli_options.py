"""Options shared by several command groups (kept out of cli.py, which imports the groups)."""

from __future__ import annotations

import click

#: Every command that applies a plan takes the one-writer lock (sync/core/lock.py) and may wait for it.
wait_for_lock = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait this long for another sync or apply to finish (default: do not wait).",
)

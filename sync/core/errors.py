"""The application's errors: one tree for everything ``sync/`` and ``course_templates/`` raise.

Every class derives from :class:`AccelError` through one category, and the category alone decides the exit
code (the mapping is in one place, ``sync/commands/context.py``: :func:`~sync.commands.context.cli_error`;
the wire's own tree, ``integration/errors.py``, is mapped there too). Each error's message names the file,
row, key or holder and says what to do; the command line prints it as it is. Callers catch by type::

    AccelError                        anything the application raises                          exit 1
    ├── UsageError                    the user can fix it: a file, a setting, the store        exit 2
    │   ├── ConfigError               the cohort configuration (core/config.py: file + key path)
    │   ├── StoreFormatError          the store was written by a newer accel (core/store.py)
    │   ├── LockUnavailable           the lock file cannot be created or opened (core/lock.py)
    │   ├── TemplateError             a bad module template (course_templates/loader.py: file:line)
    │   ├── RosterFileError           the roster file is not a table at all (roster/read/files.py)
    │   │   └── RosterFileUnavailable     missing or cannot be opened (perhaps for a moment: being saved)
    │   ├── RosterStop                the sync must not go on: a missing course, a file with errors (roster/sync.py)
    │   └── SnapshotNotFound          no stored snapshot matches (indicators/snapshot.py)
    │       └── SnapshotFormatError       a stored snapshot of another snapshot format: refused, never guessed
    ├── ProblemsFound                 the command ran and found problems; nothing half-written  exit 1
    │   └── ProvisionBlocked          apply refuses a plan with blocking problems (provision/apply.py)
    ├── Busy                          another process holds what this one needs; try again     exit 5
    │   ├── LockBusy                  another sync or apply holds the cohort's lock (core/lock.py)
    │   └── StoreBusy                 another process kept the store locked past its timeout (core/store.py)
    ├── StoreError                    the store cannot be used (core/store.py): the base of StoreFormatError
    │                                 (a UsageError too) and StoreBusy (a Busy too), caught together
    └── JobNotReady                   not a failure: a service job's input is not there yet, the job is due
                                      again next round (service/runner.py; the runner catches it, never the CLI)

Exit codes 3 (the site is unreachable) and 4 (the token is refused) come from the wire's tree only.

The classes live beside the code that raises them (a wing's error stays in its wing); only the categories
are here, so ``course_templates`` and every wing can derive from them without importing one another.
"""

from __future__ import annotations


class AccelError(Exception):
    """Base of every error the application raises (not the wire's: ``integration.errors.AccelMoodleError``)."""


class UsageError(AccelError):
    """Something the user can fix: a file, a setting, an option, the store's format (exit 2)."""


class ProblemsFound(AccelError):
    """The command ran but found problems or refused to write; the message lists them (exit 1)."""


class Busy(AccelError):
    """Another process holds what this one needs (the lock, the store); try again when it is done (exit 5)."""

"""The application's errors: one tree for everything ``sync/`` and ``course_templates/`` raise.

Every class derives from :class:`AccelError`, and nearly all through one category (never two): the category
decides the exit code. The mapping is in one place, :func:`sync.commands.context.cli_error`, which maps the
wire's own tree (``integration/errors.py``) too. Each error's message names the file, row, key or holder and
says what to do; the command line prints it as it is. Callers catch by type::

    AccelError                      anything the application raises; without a category: exit 1
    ├── UsageError                  the user can fix it (a file, a setting, the store)    exit 2
    │   ├── ConfigError             the cohort configuration: file + key path (core/config.py)
    │   ├── SettingsError           an environment variable (MOODLE_*, ACCEL_*): its name and value
    │   │                           (core/settings.py)
    │   ├── StoreFormatError        the store was written by a newer accel (core/store.py)
    │   ├── LockUnavailable         the lock file cannot be created or opened (core/lock.py)
    │   ├── TemplateError           a bad module template: file:line (course_templates/loader.py)
    │   ├── RosterFileError         the roster file is not a table at all (roster/read/files.py)
    │   │   └── RosterFileUnavailable   missing or cannot be opened (perhaps for a moment: being saved)
    │   ├── RosterStop              the sync must not go on: a missing course, a file with errors
    │   │                           (roster/sync.py)
    │   └── SnapshotNotFound        no stored snapshot matches (indicators/snapshot.py)
    │       └── SnapshotFormatError     a stored snapshot of another format: refused, never guessed
    ├── ProblemsFound               the command ran and found problems                    exit 1
    │   └── ProvisionBlocked        apply refuses a plan with blocking problems (provision/apply.py)
    ├── Busy                        another process holds what this one needs; try again  exit 5
    │   ├── LockBusy                another sync or apply holds the cohort's lock (core/lock.py)
    │   └── StoreBusy               another process kept the store locked past its timeout (core/store.py)
    ├── StoreError                  the store cannot be used (core/store.py): no category of its own, the
    │                               base of StoreFormatError (a UsageError) and StoreBusy (a Busy)
    ├── JobNotReady                 not a failure: a service job's input is not there yet, the job is due
    │                               again next round (service/runner.py; the runner catches it)
    └── JobFailed                   a service job could not do all its work, for a reason it says: retried
                                    after the back-off (service/runner.py; the runner catches it)

Exit codes 3 (the site is unreachable) and 4 (the token is refused) come from the wire's tree only.

The classes live beside the code that raises them (a wing's error stays in its wing); only the categories
are here, so ``course_templates`` and every wing can derive from them without importing one another.
tests/test_error_tree.py checks that every exception class under sync/ and course_templates/ is drawn here.
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

"""One sync or apply at a time per cohort on a site, between the service and people using the CLI.

The lock is an advisory ``flock`` on a file named after the site and the cohort (never after the store: a
coordinator running the CLI as themselves, with their own default store, must be excluded by the service
and the other way round). The file lives in one folder every user of the machine reaches: ``ACCEL_LOCK_DIR``,
else ``/run/lock/accel`` (outside ``/tmp``, which a systemd unit with ``PrivateTmp=`` sees privately).

The kernel releases the lock when the holding process ends in any way (even ``kill -9``), so a killed
process never leaves a lock that blocks forever; the file's content (who, what, since when) is only there to
tell a waiting person who holds it. Lock files are made 0664 whatever the umask (a unit's ``UMask=0077``
included): they hold no personal data, and the other members of the folder's group (``accel``) must be able
to open them. Someone outside the group can still take the lock through a read-only handle; they just cannot
write their name in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from i18n import _
from sync.core.errors import Busy, UsageError


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    purpose: str
    since: float
    user: str = ""

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        if self.user:
            return _("{purpose} (process {pid} of user {user} on {host}, since {since})").format(
                purpose=self.purpose, pid=self.pid, user=self.user, host=self.host, since=started
            )
        return _("{purpose} (process {pid} on {host}, since {since})").format(
            purpose=self.purpose, pid=self.pid, host=self.host, since=started
        )


def _user_name() -> str:
    try:
        import pwd  # not on every platform: the ImportError below

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


class LockBusy(Busy):
    """Another sync or apply holds the lock."""

    def __init__(self, path: Path, holder: LockHolder | None, waited: float) -> None:
        who = holder.describe() if holder else _("another process")
        if waited >= 1:
            message = _(
                "another sync or apply is running after waiting {seconds}s: {holder}. Try again when it has "
                "finished (lock file {path}), or pass --wait SECONDS to wait for it."
            )
        else:
            message = _(
                "another sync or apply is running: {holder}. Try again when it has finished (lock file "
                "{path}), or pass --wait SECONDS to wait for it."
            )
        super().__init__(message.format(seconds=f"{waited:.0f}", holder=who, path=path))
        self.path = path
        self.holder = holder


#: the machine-wide folder of the lock files (FHS: /run/lock); ACCEL_LOCK_DIR overrides it
DEFAULT_LOCK_DIR = Path("/run/lock/accel")
#: lock files: no personal data; the group (accel) may write its holder's name in them
LOCK_FILE_MODE = 0o664
#: a lock folder accel makes itself: like /run/lock, anyone may add a file and only its owner may remove it
LOCK_DIR_MODE = 0o1777


class LockUnavailable(UsageError):
    """The lock file cannot be created or opened (permissions, a read-only folder); the message says why."""


def lock_dir() -> Path:
    """``$ACCEL_LOCK_DIR``, else ``/run/lock/accel`` (the same for every user of the machine)."""
    # Imported here, not at the top: taking a lock needs only the standard library (and i18n), so another
    # account's plain python3 can hold one (tests/test_lock_shared.py); only finding the folder reads settings.
    from sync.core.settings import AccelSettings

    explicit = AccelSettings.read().lock_dir
    return explicit.expanduser() if explicit is not None else DEFAULT_LOCK_DIR


def site_key(url: str) -> str:
    """The site as the lock knows it: host (lower case), port unless the default, and path; not the scheme.

    http:// and https:// of one host are one site, and so are ``moodle.example.org/`` and
    ``MOODLE.example.org``.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return netloc + parts.path.rstrip("/")


def lock_path_for(site_url: str, cohort: str, directory: Path | None = None) -> Path:
    """The lock file of ``cohort`` on the site at ``site_url``: readable name, plus a hash that keeps it unique."""
    key = f"{site_key(site_url)}|{cohort}"
    readable = re.sub(r"[^a-z0-9.]+", "-", f"{site_key(site_url)}-{cohort}".lower()).strip("-.")[:80]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return (directory or lock_dir()) / f"{readable}-{digest}.lock"


def _make_lock_dir(directory: Path) -> None:
    if directory.is_dir():
        return

    def cannot(why: str) -> LockUnavailable:
        return LockUnavailable(
            _(
                "lock folder {path}: cannot create it ({reason}). Create it for everyone who runs accel "
                "(deploy/tmpfiles.d/accel.conf, see README), or set ACCEL_LOCK_DIR to a folder they share"
            ).format(path=directory, reason=why)
        )

    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir()
    except FileExistsError:
        if directory.is_dir():
            return  # made by someone else in the meantime
        raise cannot(_("something that is not a folder is in its way")) from None
    except NotADirectoryError:
        raise cannot(_("something that is not a folder is in its way")) from None
    except OSError as exc:
        raise cannot(exc.strerror or str(exc)) from None
    os.chmod(directory, LOCK_DIR_MODE)  # mkdir's mode is cut by the umask; this one is meant for everyone


def _open_lock_file(path: Path) -> tuple[IO[str], bool]:
    """Open (creating if needed) the lock file; returns the handle and whether it is writable."""
    _make_lock_dir(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, LOCK_FILE_MODE)
        os.fchmod(fd, LOCK_FILE_MODE)  # whatever the umask
    except FileExistsError:
        fd = -1
    except OSError as exc:
        raise LockUnavailable(
            _("lock file {path}: cannot create it ({reason})").format(path=path, reason=exc.strerror)
        ) from None
    if fd < 0:
        try:
            info = path.lstat()
        except OSError as exc:
            raise LockUnavailable(
                _("lock file {path}: cannot read it ({reason})").format(path=path, reason=exc.strerror)
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise LockUnavailable(
                _("lock file {path}: cannot create it ({reason})").format(
                    path=path, reason=_("something else is in its way")
                )
            )
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except PermissionError:
            try:
                # flock needs no write access: the lock still excludes; only the holder's name is not written.
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                raise LockUnavailable(
                    _(
                        "lock file {path}: cannot open it ({reason}); it belongs to another user: join the "
                        "group of its folder (accel) or ask its owner"
                    ).format(path=path, reason=exc.strerror)
                ) from None
            return os.fdopen(fd, "r", encoding="utf-8"), False
        except OSError as exc:
            raise LockUnavailable(
                _("lock file {path}: cannot open it ({reason})").format(path=path, reason=exc.strerror)
            ) from None
    return os.fdopen(fd, "r+", encoding="utf-8"), True


def read_holder(handle: IO[str]) -> LockHolder | None:
    try:
        handle.seek(0)
        data: dict[str, Any] = json.loads(handle.read() or "{}")
        return LockHolder(
            int(data["pid"]),
            str(data["host"]),
            str(data["purpose"]),
            float(data["since"]),
            str(data.get("user", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def exclusive(
    path: Path,
    purpose: str,
    *,
    wait: float = 0.0,
    poll: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[LockHolder | None], None] | None = None,
) -> Iterator[None]:
    """Hold the lock at ``path`` for the block; wait up to ``wait`` seconds for it, else raise LockBusy.

    Raises :class:`LockUnavailable` (a usage error: exit 2) when the lock file cannot be created or opened.
    """
    handle, writable = _open_lock_file(path)
    try:
        started = clock()
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(handle)
                waited = clock() - started
                if waited >= wait:
                    raise LockBusy(path, holder, waited) from None
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                sleep(min(poll, max(wait - waited, 0.01)))
        if writable:
            handle.seek(0)
            handle.truncate()
            json.dump(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "user": _user_name(),
                    "purpose": purpose,
                    "since": time.time(),
                },
                handle,
            )
            handle.flush()
        try:
            yield
        finally:
            if writable:
                handle.seek(0)
                handle.truncate()
                handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()

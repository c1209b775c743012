"""Files that hold personal data: created readable by their owner only, and written whole or not at all.

The store, the roster failure reports and the indicator reports carry names, emails, grades and mentors'
comments. Whatever the process's umask, accel creates such files 0600 and the folders it creates for them
0700. A folder that already exists is the user's (a shared "reports" folder, their home): it is left as it
is. Writes go to a temporary file in the same folder (``mkstemp`` makes it 0600) that is renamed over the
target only once complete, so a crash, a full disk or Ctrl-C never leaves a half-written report.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` and any missing parents with mode 0700; existing folders are not touched."""
    directory = directory.expanduser()
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass  # made by someone else in the meantime: theirs, left as it is


def write_private(path: Path, write: Callable[[Path], object], *, make_dirs: bool = True) -> None:
    """Write ``path`` (mode 0600) through ``write(temporary_path)``, then rename it into place.

    ``write`` gets the path of an empty private file in the same folder and may reopen it as it likes (a
    library's ``save(path)``). Missing folders are created 0700 (with ``make_dirs=False`` a missing folder
    is a FileNotFoundError instead). On any failure the temporary file is removed and ``path`` is left as
    it was.
    """
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    if make_dirs:
        ensure_private_dir(directory)
    elif not directory.is_dir():
        raise FileNotFoundError(2, "No such file or directory", str(directory))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # A writer that replaced the file instead of writing into it may have left the umask's mode.
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened for fsync
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists as an owner-only file (before a library such as SQLite opens it).

    SQLite creates a database 0644 (less the umask) and gives its journal and WAL files the database's
    mode, so creating the database first, 0600, keeps all of them private. An existing file that others
    may read is narrowed to 0600: it is accel's own file and holds personal data.
    """
    path = path.expanduser()
    ensure_private_dir(path.parent if str(path.parent) else Path("."))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        narrow(path)
        return
    os.close(fd)


def narrow(path: Path) -> None:
    """Take the group's and others' access away from an existing file of ours (nothing if it is missing)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, FILE_MODE)

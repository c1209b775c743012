"""One writer per cohort on a site, whoever runs accel: the lock is named after the site and the cohort, lives
in one folder of the machine, and excludes people with other stores and other user accounts."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from sync.commands.context import AppContext
from sync.core.config import load_config
from sync.core.lock import LockBusy, LockUnavailable, exclusive, lock_dir, lock_path_for, site_key
from tests.fake_moodle import FakeMoodle
from tests.helpers import make_client

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"
ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"
Run = Callable[..., Result]


def test_the_key_is_the_site_and_the_cohort_not_the_scheme_or_the_spelling() -> None:
    assert site_key("https://Moodle.Example.org/") == "moodle.example.org"
    assert site_key("http://moodle.example.org:80") == "moodle.example.org"
    assert site_key("https://example.org:8443/lms/") == "example.org:8443/lms"
    same = {
        lock_path_for(url, "kam21")
        for url in (
            "https://moodle.example.org",
            "http://MOODLE.example.org/",
            "https://moodle.example.org:443",
        )
    }
    assert len(same) == 1
    assert lock_path_for("https://moodle.example.org", "kam22") not in same
    assert lock_path_for("https://other.example.org", "kam21") not in same
    assert lock_path_for("https://example.org/a", "kam21") != lock_path_for("https://example.org/b", "kam21")
    assert next(iter(same)).name.startswith("moodle.example.org-kam21-")


def test_the_lock_folder_is_machine_wide_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCEL_LOCK_DIR")
    assert lock_dir() == Path("/run/lock/accel")  # outside /tmp, which a unit with PrivateTmp sees privately
    monkeypatch.setenv("ACCEL_LOCK_DIR", "/srv/locks")
    assert lock_dir() == Path("/srv/locks")


def test_two_stores_one_cohort_exclude_each_other(
    fake_moodle: FakeMoodle, run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's store and a coordinator's default store: one lock, and the busy message names the holder."""
    service = AppContext(config_path=str(EXAMPLE))
    service.client_factory = lambda: make_client(fake_moodle)
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "service" / "accel.sqlite3"))
    service_lock = service.lock_path()
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "home" / "accel.sqlite3"))
    with service.exclusive("accel serve: roster sync"):
        result = run_cli("roster", "sync", str(ROSTER), "--apply", config=EXAMPLE)
    assert result.exit_code == 5, result.output
    assert "accel serve: roster sync" in result.output
    assert f"process {os.getpid()} of user {pwd.getpwuid(os.getuid()).pw_name}" in result.output
    assert str(service_lock) in result.output
    assert not service_lock.is_relative_to(tmp_path / "service")


def test_the_lock_file_is_shared_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "made-by-accel"
    path = lock_path_for("https://moodle.example.org", "kam21", folder)
    previous = os.umask(0o077)  # as under the units' UMask=0077
    try:
        with exclusive(path, "roster sync --apply"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777  # like /run/lock: anyone adds, owners remove


def test_a_symlink_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    path = tmp_path / "locks" / "x.lock"
    path.parent.mkdir()
    path.symlink_to(victim)
    with pytest.raises(LockUnavailable, match="in its way"):
        with exclusive(path, "roster sync --apply"):
            pass
    assert victim.read_text(encoding="utf-8") == "precious"


def test_a_lock_folder_that_cannot_be_made_says_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(LockUnavailable, match="ACCEL_LOCK_DIR"):
        with exclusive(blocker / "accel" / "x.lock", "roster sync --apply"):
            pass


# -- another user account (needs root to switch user) --------------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from sync.core.lock import LockBusy, exclusive
    try:
        with exclusive(Path({path!r}), "roster sync --apply (coordinator)"):
            print("locked", flush=True)
            time.sleep(float({hold!r}))
    except LockBusy as exc:
        print("busy:", exc, flush=True)
    """
)


@contextlib.contextmanager
def as_other_user(path: Path, *, groups: list[int], hold: float = 60) -> Iterator[subprocess.Popen[str]]:
    nobody = pwd.getpwnam("nobody")
    # Popen's own user/group switches (not a preexec_fn, which is unsafe with the test run's threads).
    process = subprocess.Popen(
        [SYSTEM_PYTHON, "-c", HOLD.format(root=str(ROOT), path=str(path), hold=hold)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        user=nobody.pw_uid,
        group=groups[0] if groups else nobody.pw_gid,
        extra_groups=groups,
        umask=0o077,
        cwd="/",
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


#: an interpreter another account may run (the venv's may live in root's home); sync/core/lock.py needs only stdlib
SYSTEM_PYTHON = "/usr/bin/python3"
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists(),
    reason="switching to another user needs root (and a system python3 that user may run)",
)


@pytest.fixture
def shared_folder(tmp_path: Path) -> Path:
    """A lock folder as deploy/tmpfiles.d/accel.conf makes it: group-owned, setgid, 2775."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:  # pytest's base temp folder is private to its user
        if parent == Path("/tmp") or parent == Path("/"):
            break
        os.chmod(parent, stat.S_IMODE(parent.stat().st_mode) | 0o011)
    folder = tmp_path / "locks"
    folder.mkdir()
    os.chown(folder, 0, grp.getgrnam("users").gr_gid)
    os.chmod(folder, 0o2775)
    return folder


@needs_root
def test_another_user_in_the_group_is_excluded_and_named(shared_folder: Path) -> None:
    users = grp.getgrnam("users").gr_gid
    path = lock_path_for("https://moodle.example.org", "kam21", shared_folder)
    # The service (here: this process, umask 0077) holds the lock; the coordinator is told who.
    previous = os.umask(0o077)
    try:
        with exclusive(path, "accel serve: roster sync"):
            with as_other_user(path, groups=[users]) as other:
                out, err = other.communicate(timeout=30)
    finally:
        os.umask(previous)
    assert out.startswith("busy:"), out + err
    assert "accel serve: roster sync" in out and f"process {os.getpid()}" in out
    assert path.stat().st_gid == users  # setgid folder: the group can open the file
    # And the other way round: the coordinator holds it and writes their name in it.
    with as_other_user(path, groups=[users]) as other:
        assert other.stdout is not None and other.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, "accel serve: roster sync"):
                pass
    assert "roster sync --apply (coordinator)" in str(caught.value)
    assert "of user nobody" in str(caught.value)


@needs_root
def test_another_user_outside_the_group_is_still_excluded(shared_folder: Path) -> None:
    path = lock_path_for("https://moodle.example.org", "kam21", shared_folder)
    with exclusive(path, "accel serve: roster sync"):
        pass  # the file now exists, 0664, owned by root
    with as_other_user(path, groups=[]) as other:
        assert other.stdout is not None and other.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, "accel serve: roster sync"):
                pass
    # A read-only handle holds the lock but cannot write its holder's name.
    assert "another process" in str(caught.value)


def test_status_needs_no_site_for_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock is named after the site, so only a job that takes it asks for the site."""
    from click.testing import CliRunner

    from sync.commands import main

    for name in ("MOODLE_URL", "MOODLE_TOKEN", "MOODLE_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    result = CliRunner().invoke(main, ["--config", str(EXAMPLE), "status"])
    assert result.exit_code == 0, result.output
    assert load_config(EXAMPLE).cohort.code == "kam21"

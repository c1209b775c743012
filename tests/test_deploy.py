"""The systemd units in deploy/ agree with the product and the README: what they hand over (token, paths,
exit codes) is what accel reads. `.ci/systemd-check` runs `systemd-analyze verify` and the security score."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from sync.commands.context import EXIT_AUTH, EXIT_USAGE
from sync.core.lock import DEFAULT_LOCK_DIR
from sync.core.settings import MoodleSettings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SERVICES = ["accel.service", "accel-once.service"]


def unit(name: str) -> dict[str, list[str]]:
    """A unit file's settings, each key with every value it is given (systemd allows repeats)."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / "systemd" / "accel.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_the_token_comes_as_a_credential_under_the_name_accel_reads(name: str) -> None:
    settings = unit(name)
    [credential] = settings["LoadCredential"]
    credential_name, _, source = credential.partition(":")
    assert source == "/etc/accel/token"
    assert f"MOODLE_TOKEN_FILE=%d/{credential_name}" in settings["Environment"]
    # EnvironmentFile= overrides Environment=: the example must not name the token another way.
    assert "MOODLE_TOKEN_FILE" not in env_example() and "MOODLE_TOKEN" not in env_example()


@pytest.mark.parametrize("name", SERVICES)
def test_the_units_write_only_where_accel_writes(name: str) -> None:
    settings = unit(name)
    assert settings["StateDirectory"] == ["accel"]
    assert settings["ProtectSystem"] == ["strict"]
    assert settings["UMask"] == ["0077"]
    assert env_example()["ACCEL_STORE"].startswith("/var/lib/accel/")
    assert settings["WorkingDirectory"] == ["/var/lib/accel"]
    # The locks are shared with the command line: outside /tmp (PrivateTmp=) and writable in the sandbox.
    assert settings["PrivateTmp"] == ["yes"]
    assert f"-{DEFAULT_LOCK_DIR}" in " ".join(settings["ReadWritePaths"]).split()
    assert not any(path.lstrip("-").startswith("/opt") for path in settings["ReadWritePaths"])


def test_the_lock_folder_is_made_for_the_group_accel() -> None:
    lines = [
        line.split()
        for line in (DEPLOY / "tmpfiles.d" / "accel.conf").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ["d", str(DEFAULT_LOCK_DIR), "2775", "accel", "accel", "-"] in lines


def test_a_configuration_or_token_error_does_not_restart_forever() -> None:
    settings = unit("accel.service")
    assert settings["Restart"] == ["on-failure"]
    assert set(settings["RestartPreventExitStatus"][0].split()) == {str(EXIT_USAGE), str(EXIT_AUTH)}


def test_the_timer_catches_up_after_downtime() -> None:
    settings = unit("accel-once.timer")
    assert settings["Persistent"] == ["true"]
    # Persistent= only acts on OnCalendar= (a monotonic OnUnitActiveSec= timer forgets missed runs).
    assert settings["OnCalendar"] == ["*:0/5"]
    assert "OnUnitActiveSec" not in settings and "OnBootSec" not in settings


def test_a_credential_file_is_read_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What systemd hands over: $CREDENTIALS_DIRECTORY/moodle-token, 0400, the service user's."""
    credentials = tmp_path / "credentials" / "accel.service"
    credentials.mkdir(parents=True)
    token = credentials / "moodle-token"
    token.write_text("0123456789abcdef\n", encoding="utf-8")
    token.chmod(0o400)
    monkeypatch.delenv("MOODLE_TOKEN", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.setenv("MOODLE_TOKEN_FILE", str(credentials / "moodle-token"))  # %d/moodle-token
    assert MoodleSettings.read().secret_token().get_secret_value() == "0123456789abcdef"
    assert "readable by other users" not in caplog.text
    assert stat.S_IMODE(token.stat().st_mode) == 0o400


def test_the_readme_installs_the_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("#### Running as a service") : readme.index("### Exit codes")]
    for path in re.findall(r"deploy/[\w./*-]+", section):
        assert list(ROOT.glob(path)), path
    assert "RestartPreventExitStatus=2 4" in section
    assert str(DEFAULT_LOCK_DIR) in section


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_ci_check_of_the_units_passes() -> None:
    result = subprocess.run(
        [str(ROOT / ".ci" / "systemd-check")], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    scores = re.findall(r"exposure level for (\S+): ([0-9.]+)", result.stdout)
    assert {name for name, _ in scores} == set(SERVICES)
    assert all(float(score) <= 3.5 for _, score in scores)

"""The environment accel reads, through pydantic-settings (sync/core/settings.py): each variable's value or
default, the token as a SecretStr that nothing prints, and errors that name the variable and its value."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from integration.transport import MoodleClient
from sync.core.lock import DEFAULT_LOCK_DIR, lock_dir
from sync.core.settings import AccelSettings, MoodleSettings, SettingsError
from sync.core.store import default_store_path

TOKEN = "0123456789abcdef0123456789abcdef"
MOODLE = (
    "MOODLE_URL",
    "MOODLE_TOKEN",
    "MOODLE_TOKEN_FILE",
    "MOODLE_MAX_INPUT_VARS",
    "MOODLE_CONNECT_TIMEOUT",
    "MOODLE_READ_TIMEOUT",
    "MOODLE_ALLOW_HTTP",
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        *MOODLE,
        "ACCEL_CONFIG",
        "ACCEL_STORE",
        "ACCEL_LOCK_DIR",
        "ACCEL_ROSTER_MAX_MB",
        "XDG_DATA_HOME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = MoodleSettings.read()
    assert (settings.url, settings.max_input_vars, settings.timeout, settings.allow_http) == (
        "",
        1000,
        (10.0, 120.0),
        False,
    )
    monkeypatch.setenv("MOODLE_URL", "  https://moodle.example.org  ")
    monkeypatch.setenv("MOODLE_MAX_INPUT_VARS", "5000")
    monkeypatch.setenv("MOODLE_READ_TIMEOUT", "300")
    monkeypatch.setenv("MOODLE_CONNECT_TIMEOUT", "")  # empty is unset: the default
    monkeypatch.setenv("MOODLE_ALLOW_HTTP", "yes")
    settings = MoodleSettings.read()
    assert settings.site_url() == "https://moodle.example.org"
    assert (settings.max_input_vars, settings.timeout, settings.allow_http) == (5000, (10.0, 300.0), True)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        (
            "MOODLE_MAX_INPUT_VARS",
            "1000.7",
            "MOODLE_MAX_INPUT_VARS='1000.7' must be a whole number of at least 10",
        ),
        ("MOODLE_MAX_INPUT_VARS", "9", "MOODLE_MAX_INPUT_VARS='9' must be a whole number of at least 10"),
        (
            "MOODLE_CONNECT_TIMEOUT",
            "0",
            "MOODLE_CONNECT_TIMEOUT='0' is not a number of seconds greater than zero",
        ),
        (
            "MOODLE_READ_TIMEOUT",
            "soon",
            "MOODLE_READ_TIMEOUT='soon' is not a number of seconds greater than zero",
        ),
        ("MOODLE_ALLOW_HTTP", "maybe", "MOODLE_ALLOW_HTTP='maybe' must be 1 or 0 (or yes/no, true/false)"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        MoodleSettings.read()
    assert str(caught.value).startswith(said)


def test_the_url_must_be_set() -> None:
    with pytest.raises(SettingsError, match="MOODLE_URL is not set"):
        MoodleSettings.read().site_url()


def test_the_token_is_a_secret_nothing_prints(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MOODLE_TOKEN", f"  {TOKEN}\n")
    settings = MoodleSettings.read()
    token = settings.secret_token()
    assert isinstance(token, SecretStr) and token.get_secret_value() == TOKEN
    for shown in (repr(settings), str(settings), repr(token), str(token), f"{settings.model_dump()}"):
        assert TOKEN not in shown
    client = MoodleClient("https://moodle.example.org", token)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("accel").debug("client %r, settings %s", client, settings)
    assert TOKEN not in repr(client) + repr(vars(client)) + caplog.text


def test_the_token_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    path.chmod(0o644)
    monkeypatch.setenv("MOODLE_TOKEN_FILE", str(path))
    assert MoodleSettings.read().secret_token().get_secret_value() == TOKEN
    assert "readable by other users; run: chmod 600" in caplog.text and TOKEN not in caplog.text
    monkeypatch.setenv("MOODLE_TOKEN", TOKEN)
    with pytest.raises(SettingsError, match="set MOODLE_TOKEN or MOODLE_TOKEN_FILE, not both"):
        MoodleSettings.read().secret_token()
    monkeypatch.delenv("MOODLE_TOKEN")
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=f"MOODLE_TOKEN_FILE {path} is empty"):
        MoodleSettings.read().secret_token()
    monkeypatch.setenv("MOODLE_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="cannot read it"):
        MoodleSettings.read().secret_token()
    monkeypatch.delenv("MOODLE_TOKEN_FILE")
    with pytest.raises(SettingsError, match="no Moodle token"):
        MoodleSettings.read().secret_token()


def test_accels_own_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert AccelSettings.read() == AccelSettings()
    assert lock_dir() == DEFAULT_LOCK_DIR
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "accel" / "accel.sqlite3"
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "store.sqlite3"))
    monkeypatch.setenv("ACCEL_LOCK_DIR", f" {tmp_path / 'locks'} ")
    monkeypatch.setenv("ACCEL_CONFIG", "cohort.toml")
    monkeypatch.setenv("ACCEL_ROSTER_MAX_MB", "0.5")
    settings = AccelSettings.read()
    assert (settings.config, settings.roster_max_mb) == (Path("cohort.toml"), 0.5)
    assert default_store_path() == tmp_path / "store.sqlite3"
    assert lock_dir() == tmp_path / "locks"
    monkeypatch.setenv("ACCEL_ROSTER_MAX_MB", "lots")
    with pytest.raises(
        SettingsError, match=r"ACCEL_ROSTER_MAX_MB='lots': expected a number of megabytes such as 50"
    ):
        AccelSettings.read()

"""The settings accel reads from the environment, declared once with ``pydantic-settings``.

Two groups, each read when it is needed (a command that never talks to the site does not fail on a bad
``MOODLE_READ_TIMEOUT``):

- :class:`MoodleSettings` (``MOODLE_*``): how to reach the site. The token is a pydantic ``SecretStr`` from
  ``MOODLE_TOKEN`` or the file named by ``MOODLE_TOKEN_FILE``: its ``repr`` and ``str`` hide it, so no log
  line, traceback or error can show it; only the client asks for its value, to put it in a request's body.
- :class:`AccelSettings` (``ACCEL_*``): where accel keeps its files (the cohort configuration, the store, the
  lock folder) and the roster size cap.

A variable set to an empty string counts as not set. A value that does not fit is an error naming the
variable, the value and what was expected (:class:`SettingsError`, a usage error: exit 2), one line per
variable. ``ACCEL_LANG`` is not here: the language is chosen before anything else, by :mod:`i18n` (the bottom
layer, which imports nothing of the project).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from i18n import N_, _
from integration.transport import DEFAULT_CONCURRENCY, MAX_CONCURRENCY
from sync.core.errors import UsageError

#: the smallest max_input_vars accepted (MOODLE_MAX_INPUT_VARS or --max-input-vars)
MIN_INPUT_VARS = 10


class SettingsError(UsageError):
    """An environment variable accel reads is missing or holds a value it cannot use; the message names it."""


class _Settings(BaseSettings):
    """What both groups share: empty means unset, surrounding blanks are dropped, other variables ignored."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    #: field name -> what a bad value gets told (``{name}`` the variable, ``{value}`` its value, quoted)
    expected: ClassVar[dict[str, str]] = {}
    #: further placeholders of those messages
    limits: ClassVar[dict[str, object]] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value and info.field_name is not None:
                # Blank after stripping is "not set", as an empty value is (env_ignore_empty).
                return cls.model_fields[info.field_name].default
        return value

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of ``field`` (``MOODLE_`` + ``read_timeout`` = ``MOODLE_READ_TIMEOUT``)."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def read(cls) -> Any:
        """The settings from the environment now; :class:`SettingsError` naming each bad variable."""
        try:
            return cls()
        except ValidationError as exc:
            lines: dict[str, str] = {}
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                if field in lines or field not in cls.model_fields:
                    continue
                template = cls.expected.get(field, N_("{name}={value}: not a value accel can use"))
                lines[field] = _(template).format(
                    name=cls.variable(field), value=repr(error.get("input")), **cls.limits
                )
            raise SettingsError("\n".join(lines.values())) from None


class MoodleSettings(_Settings):
    """``MOODLE_*``: the site's address, the token, the request-size limit, the requests sent at once, timeouts,
    plain http."""

    model_config = SettingsConfigDict(env_prefix="MOODLE_")

    expected: ClassVar[dict[str, str]] = {
        "max_input_vars": N_(
            "{name}={value} must be a whole number of at least {minimum} (the site's PHP max_input_vars: "
            "php -i | grep max_input_vars)"
        ),
        "connect_timeout": N_("{name}={value} is not a number of seconds greater than zero"),
        "read_timeout": N_("{name}={value} is not a number of seconds greater than zero"),
        "allow_http": N_("{name}={value} must be 1 or 0 (or yes/no, true/false)"),
        "concurrency": N_(
            "{name}={value} must be a whole number from 1 to {maximum} (requests sent at once; 1 sends them "
            "one after another)"
        ),
    }
    limits: ClassVar[dict[str, object]] = {"minimum": MIN_INPUT_VARS, "maximum": MAX_CONCURRENCY}

    url: str = ""
    token: SecretStr | None = None
    token_file: Path | None = None
    max_input_vars: int = Field(default=1000, ge=MIN_INPUT_VARS)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0)
    allow_http: bool = False
    #: requests in flight at once (1: one after another, in the order of a plain loop)
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)

    @classmethod
    def read(cls) -> MoodleSettings:
        settings: MoodleSettings = super().read()
        return settings

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds, as ``requests`` takes them."""
        return (self.connect_timeout, self.read_timeout)

    def site_url(self) -> str:
        """``MOODLE_URL``; :class:`SettingsError` when it is not set."""
        if not self.url:
            raise SettingsError(
                _(
                    "MOODLE_URL is not set: give the site's address (e.g. https://moodle.example.org) and the "
                    "token in MOODLE_TOKEN or MOODLE_TOKEN_FILE (see README, 'Connecting to Moodle')"
                )
            )
        return self.url

    def secret_token(self) -> SecretStr:
        """The token from ``MOODLE_TOKEN`` or the file ``MOODLE_TOKEN_FILE`` names (never both)."""
        if self.token is not None and self.token_file is not None:
            raise SettingsError(_("set MOODLE_TOKEN or MOODLE_TOKEN_FILE, not both"))
        if self.token_file is not None:
            return _token_from_file(self.token_file.expanduser())
        if self.token is None or not self.token.get_secret_value().strip():
            raise SettingsError(
                _(
                    "no Moodle token: set MOODLE_TOKEN, or MOODLE_TOKEN_FILE to a file holding it (see README, "
                    "'Set-up')"
                )
            )
        return SecretStr(self.token.get_secret_value().strip())


def _token_from_file(path: Path) -> SecretStr:
    try:
        token = path.read_text(encoding="utf-8").strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise SettingsError(
            _("MOODLE_TOKEN_FILE {path}: cannot read it ({reason})").format(
                path=path, reason=exc.strerror or exc
            )
        ) from None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logging.getLogger("accel").warning(
            "MOODLE_TOKEN_FILE %s is readable by other users; run: chmod 600 %s", path, path
        )
    if not token:
        raise SettingsError(_("MOODLE_TOKEN_FILE {path} is empty").format(path=path))
    return SecretStr(token)


class AccelSettings(_Settings):
    """``ACCEL_*``: the cohort configuration, the store, the lock folder, the roster size cap."""

    model_config = SettingsConfigDict(env_prefix="ACCEL_")

    expected: ClassVar[dict[str, str]] = {
        "roster_max_mb": N_("{name}={value}: expected a number of megabytes such as 50"),
    }

    config: Path | None = None
    store: Path | None = None
    lock_dir: Path | None = None
    roster_max_mb: float | None = Field(default=None, gt=0)
    #: the XDG base directory of user data (the default store is under it); not accel's own variable
    data_home: Path | None = Field(default=None, validation_alias="XDG_DATA_HOME")

    @classmethod
    def read(cls) -> AccelSettings:
        settings: AccelSettings = super().read()
        return settings

"""Shared fixtures: recorded answers and the stateful fake site."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from i18n import set_language
from integration.transport import MoodleClient
from sync.commands import main
from sync.commands.context import AppContext
from sync.core.config import load_config
from tests.fake_moodle import FakeMoodle
from tests.helpers import EXAMPLE, build_recorded_cohort, make_client


@pytest.fixture(autouse=True, scope="session")
def _session_lock_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fixtures wider than a test (a site provisioned once per module) lock in a folder of the session's."""
    previous = os.environ.get("ACCEL_LOCK_DIR")
    os.environ["ACCEL_LOCK_DIR"] = str(tmp_path_factory.mktemp("session-locks"))
    yield
    if previous is None:
        os.environ.pop("ACCEL_LOCK_DIR", None)
    else:
        os.environ["ACCEL_LOCK_DIR"] = previous


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests read accel's English by default; the tests of the Russian text ask for it (set_language("ru")).

    ACCEL_LANG also reaches the ``accel`` processes that tests start.
    """
    monkeypatch.setenv("ACCEL_LANG", "en")
    set_language("en")
    yield
    set_language("en")


@pytest.fixture(autouse=True)
def _lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's one-writer locks go in a folder of its own, never in the machine's /run/lock/accel."""
    folder = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv("ACCEL_LOCK_DIR", str(folder))
    return folder


@pytest.fixture
def fake_moodle() -> Iterator[FakeMoodle]:
    """A fresh fake site answering on ``FakeMoodle.url`` for the duration of the test."""
    site = FakeMoodle()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        site.install(mock)
        yield site


@pytest.fixture
def client(fake_moodle: FakeMoodle) -> MoodleClient:
    return make_client(fake_moodle)


@pytest.fixture
def run_cli(fake_moodle: FakeMoodle) -> Callable[..., Result]:
    """Run ``accel`` against the fake site: ``run_cli("doctor", "--json")``.

    Keyword ``client_options`` go to the client (e.g. ``max_input_vars``); ``config`` is a path.
    """

    def run(
        *args: str,
        config: str | Path | None = None,
        client_options: dict[str, Any] | None = None,
        input: str | None = None,
    ) -> Result:
        app = AppContext(config_path=str(config) if config else None)
        app.client_factory = lambda: make_client(fake_moodle, **(client_options or {}))
        return CliRunner().invoke(main, list(args), obj=app, input=input, catch_exceptions=False)

    return run


@pytest.fixture
def cohort_site(fake_moodle: FakeMoodle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMoodle:
    """The fake site holding the recorded cohort (tests.helpers.build_recorded_cohort), with a fresh store."""
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "store.sqlite3"))
    build_recorded_cohort(fake_moodle, load_config(EXAMPLE))
    return fake_moodle

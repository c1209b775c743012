"""Shared fixtures: recorded answers and the stateful fake site."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from integration.transport import MoodleClient
from sync.commands import main
from sync.commands.context import AppContext
from tests.fake_moodle import FakeMoodle

RECORDINGS = Path(__file__).parent / "fixtures" / "recordings"


def recording(name: str) -> dict[str, Any]:
    """One recorded exchange of the real Moodle 5.1 site (``<wsfunction>__<case>``)."""
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


def all_recordings() -> list[Path]:
    return sorted(RECORDINGS.glob("*.json"))


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


def make_client(site: FakeMoodle, **options: Any) -> MoodleClient:
    """A client for ``site`` that never really sleeps between retries."""
    options.setdefault("max_input_vars", site.max_input_vars)
    options.setdefault("sleep", lambda _seconds: None)
    return MoodleClient(site.url, site.token, **options)


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

"""One error tree for the application (sync/core/errors.py) and one mapping of errors to exit codes
(sync/commands/context.py: cli_error), as the README's "Exit codes" table says."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import course_templates
import sync
import sync.core.errors
from course_templates.loader import BUNDLED_DIR, TemplateError
from integration.errors import (
    AccelMoodleError,
    AccessDenied,
    BadResponse,
    Cancelled,
    InvalidParameter,
    InvalidToken,
    MoodleError,
    MoodleUnreachable,
    RequestTooLarge,
    SiteRedirected,
    UncertainAnswer,
    UncertainWrite,
)
from sync.commands import main
from sync.commands.context import (
    EXIT_AUTH,
    EXIT_LOCKED,
    EXIT_PROBLEMS,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    cli_error,
)
from sync.core.config import ConfigError
from sync.core.errors import AccelError, Busy, ProblemsFound, UsageError
from sync.core.lock import LockBusy, LockUnavailable
from sync.core.store import StoreBusy, StoreError, StoreFormatError
from sync.indicators.snapshot import SnapshotFormatError, SnapshotNotFound
from sync.provision.apply import ProvisionBlocked
from sync.roster.read import RosterFileError, RosterFileUnavailable
from sync.roster.sync import RosterStop
from sync.service.runner import JobNotReady

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kamchatka-2021.toml"
ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"


def application_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of sync/ or course_templates/, by name."""
    found: dict[str, type[BaseException]] = {}
    for package in (sync, course_templates):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                ):
                    found[name] = value
    return found


def test_every_exception_of_the_application_is_in_the_tree_and_drawn_in_its_docstring() -> None:
    classes = application_exceptions()
    assert "RosterStop" in classes and "TemplateError" in classes  # the walk found the wings
    drawn = sync.core.errors.__doc__ or ""
    for name, cls in classes.items():
        if issubclass(cls, click.ClickException):
            # The CLI's own error classes (sync/commands/context.py): what the mapping turns errors into.
            assert cls.__module__ == "sync.commands.context", name
            continue
        assert issubclass(cls, AccelError), f"{cls.__module__}.{name} is not an AccelError"
        assert re.search(rf"\b{name}\b", drawn), f"{name} is not drawn in sync/core/errors.py"
    # Each class in at most one category, so the exit code is never a matter of order.
    for name, cls in classes.items():
        categories = [c for c in (UsageError, ProblemsFound, Busy) if issubclass(cls, c)]
        assert len(categories) <= 1, (name, categories)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("accelerator.toml", "cohort.code: required"), EXIT_USAGE),
        (StoreFormatError("store s.sqlite3: written by a newer accel"), EXIT_USAGE),
        (LockUnavailable("lock file x.lock: cannot create it"), EXIT_USAGE),
        (TemplateError(["m1.yaml:1: the file is empty"]), EXIT_USAGE),
        (RosterFileError("roster.csv: the file is empty"), EXIT_USAGE),
        (RosterFileUnavailable("roster.csv: no such file"), EXIT_USAGE),
        (RosterStop("course KAM21-M1 not found"), EXIT_USAGE),
        (SnapshotNotFound("no stored snapshot with id 7"), EXIT_USAGE),
        (SnapshotFormatError("stored snapshot 7: format 9"), EXIT_USAGE),
        (ProvisionBlocked("template course ACCEL-TPL-M2 not found"), EXIT_PROBLEMS),
        (JobNotReady("no snapshot yet"), EXIT_PROBLEMS),
        (StoreError("store s.sqlite3: cannot be used"), EXIT_PROBLEMS),
        (LockBusy(Path("x.lock"), None, 0.0), EXIT_LOCKED),
        (StoreBusy("store s.sqlite3: busy"), EXIT_LOCKED),
        (InvalidToken("Invalid token", errorcode="invalidtoken"), EXIT_AUTH),
        (AccessDenied("Access control exception", errorcode="accessexception"), EXIT_AUTH),
        (SiteRedirected("the site redirects", location="https://elsewhere"), EXIT_USAGE),
        (MoodleUnreachable("connection refused"), EXIT_UNREACHABLE),
        (BadResponse("not JSON", status=503, excerpt="<html>"), EXIT_UNREACHABLE),
        (UncertainWrite("timed out after sending"), EXIT_UNREACHABLE),
        (UncertainAnswer("invalid response", errorcode="invalidresponse"), EXIT_PROBLEMS),
        (InvalidParameter("Invalid parameter value detected", errorcode="invalidparameter"), EXIT_PROBLEMS),
        (MoodleError("something", errorcode="unknown"), EXIT_PROBLEMS),
        (RequestTooLarge("one item needs 1200 variables"), EXIT_PROBLEMS),
        (Cancelled("stopped"), EXIT_PROBLEMS),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_each_error_has_the_exit_code_of_its_category(
    error: AccelError | AccelMoodleError, code: int
) -> None:
    mapped = cli_error(error)
    assert mapped.exit_code == code
    if not isinstance(error, InvalidToken | AccessDenied):
        assert mapped.format_message() == str(error)  # the error's own message, as it is


def test_the_readme_table_has_every_exit_code_the_mapping_gives() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {int(m.group(1)) for m in re.finditer(r"^\| (\d) \|", table, re.MULTILINE)}
    assert rows == {0, EXIT_PROBLEMS, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_AUTH, EXIT_LOCKED}


def test_a_bad_module_template_stops_roster_commands_with_exit_2_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The roster reads course names from the templates; a bad one was a traceback there, now exit 2."""
    monkeypatch.setenv("ACCEL_STORE", str(tmp_path / "accel.sqlite3"))
    templates = tmp_path / "shablony"
    shutil.copytree(BUNDLED_DIR, templates)
    (templates / "m2.yaml").write_text("", encoding="utf-8")
    config = tmp_path / "accelerator.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + f'\n[templates]\ndir = "{templates}"\n', "utf-8")
    for command in (["roster", "check", str(ROSTER)], ["templates", "check"]):
        result = CliRunner().invoke(main, ["--config", str(config), *command], catch_exceptions=False)
        assert result.exit_code == EXIT_USAGE, result.output
        assert result.output.startswith("Error: bad module template:\n"), result.output
        assert f"{templates / 'm2.yaml'}:1: the file is empty" in result.output
        assert "Traceback" not in result.output

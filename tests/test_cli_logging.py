"""Logs: English text, or one JSON object per line (python-json-logger) with the fields operators and the
service's tests read; the token scrubbed from both, whoever logs it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from i18n import set_language
from sync.commands.context import _RedactingFilter, configure_logging

SECRET = "tok-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, filters = root.handlers[:], root.level, root.filters[:]
    yield
    root.handlers[:], root.filters[:] = handlers, filters
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_log_lines_carry_the_fields_operators_read(capsys: pytest.CaptureFixture[str]) -> None:
    set_language("ru")  # logs stay English whatever the language of the run
    configure_logging(1, "json")
    log = logging.getLogger("sync.service.runner")
    log.info("snapshot done in %.1fs", 2.5, extra={"job": "snapshot", "outcome": "ok", "duration": 2.5})
    try:
        raise RuntimeError("the site went away")
    except RuntimeError:
        log.error("report failed", exc_info=True, extra={"job": "report", "outcome": "failed"})
    logging.getLogger("integration.transport").debug("not shown at -v")
    first, second = json_lines(capsys.readouterr().err)
    assert first["level"] == "info" and first["logger"] == "sync.service.runner"
    assert first["message"] == "snapshot done in 2.5s"
    assert (first["job"], first["outcome"], first["duration"]) == ("snapshot", "ok", 2.5)
    assert isinstance(first["time"], str) and first["time"][:2] == "20" and "T" in first["time"]
    assert set(first) == {"time", "level", "logger", "message", "job", "outcome", "duration"}
    assert second["level"] == "error" and second["error"] == "RuntimeError: the site went away"
    assert "exc_info" not in second and "Traceback" not in json.dumps(second)


def test_text_logs_are_one_english_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0, "text")
    logging.getLogger("accel").warning("MOODLE_TOKEN_FILE %s is readable by other users", "/x")
    assert capsys.readouterr().err == "WARNING accel: MOODLE_TOKEN_FILE /x is readable by other users\n"


def test_the_token_is_scrubbed_from_the_message_and_from_extra_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(0, "json")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactingFilter(SECRET))
    logging.getLogger("careless").warning(
        "posted wstoken=%s", SECRET, extra={"wsfunction": "core_x", "body": f"wstoken={SECRET}&x=1"}
    )
    text = capsys.readouterr().err
    assert SECRET not in text
    (entry,) = json_lines(text)
    assert entry["message"] == "posted wstoken=***" and entry["body"] == "wstoken=***&x=1"
    assert entry["wsfunction"] == "core_x"


def test_configuring_again_replaces_accels_handler_and_keeps_others() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    configure_logging(0, "text")
    configure_logging(2, "json")
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count("accel") == 1 and other in logging.getLogger().handlers
    assert logging.getLogger().level == logging.DEBUG

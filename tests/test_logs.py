"""`enigma.logs`: redaction, the run context and the JSON line, on a real logger."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from enigma.logs import JsonFormatter, RedactSecrets, RunContext, bind_run, redact
from enigma.settings import Settings


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines through Enigma's filters into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    handler.addFilter(RunContext())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("enigma.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def test_redact_hides_every_secret_parameter_and_keeps_the_rest() -> None:
    line = "GET /x?limit=2&TOKEN=a1&access_token=b2&Api_Key=c3&key=d4&secret=e5;password=f6"
    assert redact(line + "&sig=g7&signature=h8#frag") == (
        "GET /x?limit=2&TOKEN=***&access_token=***&Api_Key=***&key=***&secret=***;password=***"
        "&sig=***&signature=***#frag"
    )
    # names that merely end like a secret one are left alone
    assert redact("/x?monkey=1&tokens=2&keyboard=3") == "/x?monkey=1&tokens=2&keyboard=3"


def test_a_json_line_names_its_run_and_hides_secrets_in_arguments(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = captured
    logger.info("outside a run")
    with bind_run("run-123"):
        logger.info('%s - "%s %s"', "127.0.0.1:1", "GET", "/api/runs?token=s3cr3t")
        logger.info("step done", extra={"step": "plan_release", "repo": "web-app"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [set(line) for line in lines] == [
        {"time", "level", "logger", "message"},
        {"time", "level", "logger", "message", "run_id"},
        {"time", "level", "logger", "message", "run_id", "step", "repo"},
    ]
    assert lines[1]["message"] == '127.0.0.1:1 - "GET /api/runs?token=***"'
    assert (lines[2]["run_id"], lines[2]["step"], lines[2]["level"]) == (
        "run-123",
        "plan_release",
        "INFO",
    )
    assert "s3cr3t" not in out.getvalue()


def test_log_settings_take_any_case_and_refuse_unknown_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENIGMA_LOG_LEVEL", "debug")
    monkeypatch.setenv("ENIGMA_LOG_FORMAT", "JSON")
    settings = Settings()
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    monkeypatch.setenv("ENIGMA_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()

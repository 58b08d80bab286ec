"""Logging of `enigma serve` and the CLI: level, text or JSON lines, run context, redaction.

`ENIGMA_LOG_LEVEL` sets Enigma's own loggers and uvicorn's (its access log included); other
libraries keep to warnings and above, so `INFO` does not mean every HTTP request httpx makes.
`ENIGMA_LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, and
`run_id` / `step` where there is one) for log shippers; the default is one line of text.

The run a line belongs to comes from a context variable the run's execution sets
(`bind_run`); the step from the config LangGraph binds while a node runs (its own context
variable, copied into the I/O threads by `run_blocking`), so a git command a node runs is
logged with both without any node passing them along.

Secrets in query strings (`?token=`, `access_token`, `api_key`, `key`, `secret`, `password`,
`sig`, `signature`, any case) are written as `***` by every handler installed here, uvicorn's
access log included: a client that puts its token in the URL does not put it in the log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "SECRET_PARAMETERS",
    "JsonFormatter",
    "RedactSecrets",
    "RunContext",
    "bind_run",
    "configure_logging",
    "redact",
]

SECRET_PARAMETERS = (
    "token",
    "access_token",
    "api_key",
    "key",
    "secret",
    "password",
    "sig",
    "signature",
)
_IN_QUERY = re.compile(
    r"(?i)([?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;#\s\"']*",
)
RUN_ID: ContextVar[str | None] = ContextVar("enigma_run_id", default=None)
"""The run whose execution is on this task or thread (None: none)."""

_TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_CONTEXT = ("run_id", "step", "repo")
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def redact(text: str) -> str:
    """`text` with the values of secret-looking query parameters replaced by `***`."""
    return _IN_QUERY.sub(r"\1***", text) if "=" in text else text


@contextlib.contextmanager
def bind_run(run_id: str) -> Iterator[None]:
    """Log lines written inside (and in tasks and threads started inside) name the run."""
    token = RUN_ID.set(run_id)
    try:
        yield
    finally:
        RUN_ID.reset(token)


def current_step() -> str | None:
    """The graph node running on this task or thread, from LangGraph's bound config."""
    config_module = sys.modules.get("langchain_core.runnables.config")
    if config_module is None:  # no graph was ever loaded here: no node runs
        return None
    config = config_module.var_child_runnable_config.get()
    if not config:
        return None
    node = (config.get("metadata") or {}).get("langgraph_node")
    return str(node) if node and not str(node).startswith("__") else None


class RedactSecrets(logging.Filter):
    """Write secret query parameters as `***` in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


class RunContext(logging.Filter):
    """Put `run_id` and `step` on the record (None when the line belongs to no run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate, never drop."""
        if getattr(record, "run_id", None) is None:
            record.run_id = RUN_ID.get()
        if getattr(record, "step", None) is None:
            record.step = current_step()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, run_id, step, repo, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (newlines in the message stay escaped)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """A line of text, with `[run ... step ...]` when the line belongs to a run."""

    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        """The usual text line plus the run context."""
        text = super().format(record)
        found = [(n, getattr(record, n, None)) for n in _CONTEXT]
        parts = [f"{name}={value}" for name, value in found if value]
        if not parts:
            return text
        head, _, rest = text.partition("\n")  # the context goes on the line, not the traceback
        return f"{head} [{' '.join(parts)}]" + (f"\n{rest}" if rest else "")


class _Stderr(logging.StreamHandler[TextIO]):
    """Write to whatever `sys.stderr` is now (rich's live display swaps it to print above)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "text", *, access_log: bool = False) -> None:
    """Send Enigma's and uvicorn's logs (at `level`) to stderr as text or JSON lines.

    uvicorn's loggers hand their records to the root handler installed here, so run
    uvicorn with `log_config=None` (it would otherwise install its own formatters).
    `access_log` is for `enigma serve`: uvicorn logs requests when its access logger has a
    handler, and a CLI command's in-process sandbox would otherwise log every peer request.
    """
    handler = _Stderr()
    handler.addFilter(RedactSecrets())
    handler.addFilter(RunContext())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("enigma").setLevel(level)
    for name in _UVICORN:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(level)
    if not access_log:
        logging.getLogger("uvicorn.access").propagate = False
    logging.captureWarnings(True)

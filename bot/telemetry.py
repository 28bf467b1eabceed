"""Logging: structlog, JSON in production and pretty on a terminal; secret values never logged."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import structlog

REDACTED = "[REDACTED]"


def _redactor(secrets: list[str]) -> Any:
    def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                for secret in secrets:
                    value = value.replace(secret, REDACTED)
                event[key] = value
        return event

    return redact


def configure(
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    log_file: Path | None = None,
) -> None:
    """Log to stderr, or to `log_file` when the terminal belongs to a live view (`run`, `demo`)."""
    stream: TextIO = sys.stderr
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        stream = log_file.open("a", encoding="utf-8")
    json_logs = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redactor([s for s in secrets if len(s) >= 4]),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.getLogger("dbos").setLevel(logging.WARNING)

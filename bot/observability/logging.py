"""Logging: structlog, JSON when not on a terminal (pretty on one), every line of a run carrying its
`run_id`, and no secret value in any line.

One pipeline serves structlog's own lines and the standard library's (uvicorn, DBOS, slack-bolt …),
so a library's warning is JSON too and passes the same redaction. Exceptions are rendered to text
before redaction, so a secret inside an exception message or a traceback is hidden as well. The
redaction replaces every known secret value (the process's SecretStr settings and what agents'
configs pull from the environment, and every variable whose name looks like a secret, e.g.
`OTEL_EXPORTER_OTLP_HEADERS`: `bot.observability.secret_names`) and the `user:password@` of any URL.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast

import structlog
from structlog.typing import EventDict, Processor

from bot.config.base import ConfigError
from bot.config.env_refs import referenced_secrets
from bot.config.models import BatonFile, load_baton_file
from bot.config.settings import Settings
from bot.observability.redaction import strip_url_credentials
from bot.observability.secret_names import environ_secrets

REDACTED = "[REDACTED]"
F = TypeVar("F", bound=Callable[..., Any])
_HANDLER_MARK = "_baton_handler"
_DBOS_CONSOLE = "__dbos_console_log_handler__"


class Redactor:
    """Replaces secret values (at least `min_length` long) and URL credentials in text and in any
    nested str/dict/list/tuple value."""

    def __init__(self, secrets: Iterable[str], min_length: int = 4) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= min_length}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return strip_url_credentials(value) if "@" in value else value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event: EventDict) -> EventDict:
        return {key: self.value(value) for key, value in event.items()}


def process_secrets(settings: Settings, config: BatonFile | None = None) -> list[str]:
    """Every secret value this process may hold: its SecretStr settings, its environment's
    secret-named variables (`*_HEADERS`, `*_TOKEN` …) and what the agents' configs pull in from the
    environment (`${NAME}`); `config` is read from BATON_CONFIG if None."""
    values = settings.secret_values() + environ_secrets(os.environ)
    if config is None:
        try:
            config = load_baton_file(settings.config)
        except ConfigError:
            return values  # the command reports the broken file; its secrets are all in settings then
    for agent in config.agents:
        values += referenced_secrets(agent.env)
    return values


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
    renderer: Processor = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Exceptions become text first, so the redactor sees their messages and tracebacks.
    finish: list[Processor] = [structlog.processors.format_exc_info, Redactor(secrets), renderer]
    structlog.configure(
        processors=[*shared, *finish],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(stream, [*shared, structlog.stdlib.ExtraAdder()], finish)
    logging.getLogger("dbos").setLevel(logging.WARNING)


def _route_standard_logging(stream: TextIO, pre_chain: list[Processor], finish: list[Processor]) -> None:
    """The standard library's records (WARNING and up) through the same processors, to the same
    stream; replaces the handler an earlier `configure` installed and leaves others alone."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[_add_logger_name, structlog.stdlib.ProcessorFormatter.remove_processors_meta, *finish],
    )
    for name in ("", "dbos"):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_MARK, True)
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False) or h.name == _DBOS_CONSOLE]:
            logger.removeHandler(old)
        logger.addHandler(handler)
    # DBOS logs to its own console handler unless its logger has one already: this one, instead.
    logging.getLogger("dbos").propagate = False


def _add_logger_name(_logger: Any, _name: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        event.setdefault("logger", record.name)
    return event


def binds_run_id(fn: F) -> F:
    """For a method `(self, run_id, ...)`, e.g. a workflow: every log line inside it, however deep,
    carries `run_id`. Bound in structlog's contextvars for the call and unbound after it: DBOS runs
    workflows in pool threads, which keep their context from one task to the next."""

    @functools.wraps(fn)
    def bound(self: Any, run_id: str, *args: Any, **kwargs: Any) -> Any:
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            return fn(self, run_id, *args, **kwargs)

    return cast(F, bound)

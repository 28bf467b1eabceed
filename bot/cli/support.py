"""What every `baton` command shares: the console, errors printed as they are, the settings (the
global --config/--home have already set BATON_CONFIG/BATON_HOME), where runs are kept, and the
Runtime built for a command (invalid config: exit 2 with the reason).

Like bot/cli/main.py, only the standard library and typer load at import; the rest when a command runs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from bot.app import Runtime
    from bot.config.settings import Settings
    from bot.store.store import Store


@cache
def console() -> Console:
    from rich.console import Console

    return Console()


def error(label: str, text: str) -> None:
    """`label: text` with the label in red; the text is printed as is (`repos[api]` is no markup)."""
    from rich.markup import escape

    console().print(f"[red]{escape(label)}:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def load_settings() -> Settings:
    from bot.config.settings import Settings

    return Settings()


def where_runs_are(settings: Settings) -> str:
    from bot.config.home import where

    return where(settings.home, settings.database_url)


def build_runtime(
    settings: Settings | None = None, launch: bool = False, log_to_file: bool = False, migrate: bool = True
) -> Runtime:
    """`log_to_file`: the terminal shows a live view, so logs go to `<home>/baton.log`."""
    from bot.app import Runtime
    from bot.config.base import ConfigError
    from bot.observability.logging import configure

    settings = settings or load_settings()
    log_file = settings.home / "baton.log" if log_to_file else None
    configure(settings.log_format, secrets_of(settings), log_file=log_file)
    try:
        runtime = Runtime(settings, migrate=migrate)
    except ConfigError as err:
        error("configuration error", str(err))
        raise typer.Exit(2) from None
    if launch:
        runtime.launch()
    return runtime


def read_store(settings: Settings) -> Store:
    """The store alone, for commands that only read runs (`runs list`): no runtime, so no DBOS
    import and no executor's setup; what it shows is redacted as a runtime's store would."""
    from bot.observability.logging import Redactor, configure, process_secrets
    from bot.store.store import Store, make_engine, migrate

    configure(settings.log_format, secrets_of(settings))
    db = make_engine(settings.store_url)
    migrate(db)
    return Store(db, Redactor(process_secrets(settings)))


def config_or_exit(settings: Settings) -> None:
    """Exit 2 with the reason when baton.yml is invalid (as every command that builds a runtime does)."""
    from bot.config.base import ConfigError
    from bot.config.models import load_baton_file

    try:
        load_baton_file(settings.config)
    except ConfigError as err:
        error("configuration error", str(err))
        raise typer.Exit(2) from None


def parking_settings() -> Settings:
    """`serve` and `worker`: a run waiting for a person parks (unless BATON_PARK_WAITS=0); their
    scheduler (serve's) expires parked runs."""
    settings = load_settings()
    return settings if settings.park_waits is not None else settings.model_copy(update={"park_waits": True})


def secrets_of(settings: Settings) -> list[str]:
    from bot.observability.logging import process_secrets

    return process_secrets(settings)

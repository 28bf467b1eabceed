"""Process settings from the environment (`BATON_*` and the services' own names): where things live,
the services' secrets (an unset secret turns its source off) and the executor's knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic import model_validator as _model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config.home import find_config, home_for


class Settings(BaseSettings):
    """Process settings: where things live and the services' secrets (unset secret = source off)."""

    model_config = SettingsConfigDict(env_prefix="BATON_", extra="ignore")

    config: Path = Path("baton.yml")
    home: Path = Path(".baton")
    database_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    log_format: Literal["auto", "json", "console"] = "auto"
    # Idle CPU of one process, measured here: 0.05 s → 9.9% of a core, 0.1 s → 6.1%, 0.2 s → 3.5%;
    # a repo waits on average half of it before it starts.
    queue_polling_s: float = 0.1
    # While no workflow is pending or enqueued anywhere (for `queue_idle_after_s`), the queues are
    # polled this slowly instead (bot/engine/pace.py); equal to queue_polling_s: never slowed.
    # Unset: 2 s on SQLite; on PostgreSQL never slowed (a run handed from `serve` to a worker
    # after a quiet spell would wait up to one slow poll: DBOS cannot wake a sleeping poller).
    queue_idle_polling_s: float | None = None
    queue_idle_after_s: float = 10.0
    notification_polling_s: float = 0.05
    # Threads are created lazily, so a high cap costs nothing until work needs them. A run waiting
    # for a person holds one only when it blocks (`park_waits` off), in `recv`.
    executor_threads: int = 512
    # Whether a run waiting for a person parks (its workflow ends and holds no thread; a message
    # starts a continuation; expiry comes from the scheduler) or blocks in `recv` until a message or
    # its deadline. Unset: `baton serve` and `baton worker` park, `baton run`/`demo` (no scheduler) block.
    park_waits: bool | None = None
    # The dashboard (`/`, `/runs/<id>`): with a token, asked of every client (Bearer header, or
    # `?token=` once, which sets a cookie); without one, answered only to loopback clients.
    dashboard_token: SecretStr | None = None

    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    github_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_WEBHOOK_SECRET")
    )
    github_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("GITHUB_TOKEN"))
    # Read here too (the GitHub forge has its own credentials model) so redaction knows the key.
    github_app_id: str | None = Field(default=None, validation_alias=AliasChoices("GITHUB_APP_ID"))
    github_app_private_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_APP_PRIVATE_KEY")
    )
    github_api_url: str = Field(default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL"))
    linear_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LINEAR_WEBHOOK_SECRET")
    )
    linear_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("LINEAR_API_KEY"))
    linear_api_url: str = Field(
        default="https://api.linear.app/graphql", validation_alias=AliasChoices("LINEAR_API_URL")
    )

    @_model_validator(mode="after")
    def _home_beside_config(self) -> Settings:
        """Unset, the config is the nearest `baton.yml` and the home the `.baton` beside it (config/home.py)."""
        if "config" not in self.model_fields_set:
            self.config = find_config(Path.cwd())
        if "home" not in self.model_fields_set:
            self.home = home_for(self.config)
        return self

    def secret_values(self) -> list[str]:
        """Every secret this process holds (each SecretStr setting), for redaction."""
        values = [getattr(self, name) for name in type(self).model_fields]
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'baton.db').resolve()}"

    @property
    def system_database_url(self) -> str:
        """DBOS's own database: beside ours on SQLite, the same server on PostgreSQL."""
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url
        return f"sqlite:///{(self.home / 'dbos.db').resolve()}"

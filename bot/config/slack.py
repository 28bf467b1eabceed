"""The `slack:` section of baton.yml: the one workspace Baton answers (`team_id`), which channels map
to which repos, who may start runs, which user groups may approve, and how often a status card may be
edited. `github_logins` is the older spelling of `people:` (Slack user → GitHub login); it still folds
into `people`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: str | None = Field(default=None, pattern=r"^[TE][A-Z0-9]+$")
    """The only workspace (or Enterprise Grid org) whose requests count; unset: the one `auth.test` names at start."""
    channel_repos: dict[str, list[str]] = Field(default_factory=dict)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_usergroups: list[str] = Field(default_factory=list)
    approver_usergroups: list[str] = Field(default_factory=list)
    github_logins: dict[str, str] = Field(default_factory=dict)
    """Deprecated: `people:` says the same (and more); read and folded into it."""
    card_edit_interval_s: float = Field(default=1.0, ge=0)
    usergroup_cache_s: float = Field(default=60.0, ge=0)

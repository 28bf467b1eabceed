"""The `slack:` section of baton.yml: which channels map to which repos, and who may start runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_repos: dict[str, list[str]] = Field(default_factory=dict)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_usergroups: list[str] = Field(default_factory=list)

"""The `linear:` section of baton.yml: the trigger label, team → repos mapping, and who may start runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LinearConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "baton"
    team_repos: dict[str, list[str]] = Field(default_factory=dict)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_teams: list[str] = Field(default_factory=list)

"""The `linear:` section of baton.yml: the trigger label, team → repos mapping, who may start runs,
how Baton is addressed in comments, and which workflow states the issue moves through."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LinearConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "baton"
    team_repos: dict[str, list[str]] = Field(default_factory=dict)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_teams: list[str] = Field(default_factory=list)
    mention: str = "@baton"
    move_states: bool = True
    review_state: str = "In Review"

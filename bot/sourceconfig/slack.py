"""The `slack:` section of baton.yml: which channels map to which repos, who may start runs, which
user groups may approve (and which GitHub login each approver is, for runs on GitHub repos), and how
often a status card may be edited."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_repos: dict[str, list[str]] = Field(default_factory=dict)
    allowed_users: list[str] = Field(default_factory=list)
    allowed_usergroups: list[str] = Field(default_factory=list)
    approver_usergroups: list[str] = Field(default_factory=list)
    github_logins: dict[str, str] = Field(default_factory=dict)
    card_edit_interval_s: float = Field(default=1.0, ge=0)
    usergroup_cache_s: float = Field(default=60.0, ge=0)

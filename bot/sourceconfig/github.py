"""The `github:` section of baton.yml: how Baton is triggered on GitHub and how it merges there."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Permission = Literal["read", "triage", "write", "maintain", "admin"]


class GitHubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mention: str = "@baton"
    label: str = "baton"
    trigger_permission: Permission = "write"
    approve_permission: Permission = "maintain"
    merge_method: Literal["merge", "squash", "rebase"] = "squash"
    draft_until_checks: bool = True

"""The `github:` section of baton.yml: how Baton is triggered on GitHub and how it merges there."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Permission = Literal["read", "triage", "write", "maintain", "admin"]
PERMISSIONS: tuple[Permission, ...] = ("read", "triage", "write", "maintain", "admin")


class GitHubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mention: str = "@baton"
    label: str = "baton"
    trigger_permission: Permission = "write"
    approve_permission: Permission = "maintain"
    merge_method: Literal["merge", "squash", "rebase"] = "squash"
    draft_until_checks: bool = True
    delete_branch_after_merge: bool = True
    require_checks: bool = True
    """With no check run or status on a PR's head yet, checks count as pending (not passed)."""
    bot_login: str | None = None
    """Comments by this account never trigger (default: the token's own account, and every bot)."""
    api_retries: int = Field(default=4, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0)
    secondary_rate_wait_s: float = Field(default=60.0, ge=0)
    max_rate_limit_wait_s: float = Field(default=900.0, ge=0)
    # Optional least gaps (0 = none): the pace otherwise follows GitHub's answers (services/github/pacing.py).
    seconds_between_requests: float = Field(default=0.0, ge=0)
    seconds_between_writes: float = Field(default=0.0, ge=0)
    timeout_s: float = Field(default=15.0, gt=0)
    mergeable_poll_attempts: int = Field(default=10, ge=0)
    mergeable_poll_interval_s: float = Field(default=1.0, ge=0)
    webhook_answer_s: float = Field(default=5.0, gt=0, le=9)
    """No longer used (webhooks are stored and answered at once, their work done after); kept so
    existing baton.yml files load."""
    checks_poll_interval_s: float = Field(default=60.0, ge=0)
    """How often runs waiting on checks are re-read from GitHub when no webhook came (0 = never)."""

    def at_least(self, role: str | None, needed: Permission) -> bool:
        """Whether GitHub role `role` (read … admin; unknown or none = no access) reaches `needed`."""
        return role in PERMISSIONS and PERMISSIONS.index(role) >= PERMISSIONS.index(needed)

"""Who may do what from GitHub, by their permission on the repo (the collaborator-permission API):
start a run or ask for more (`github.trigger_permission`, default write), and approve or reject
(`github.approve_permission`, default maintain, on every GitHub repo of the run)."""

from __future__ import annotations

import structlog

from bot.config.github import Permission
from bot.config.models import BatonFile
from bot.domain.models import Actor, Source
from bot.domain.ports import ForgeError
from bot.domain.records import Run
from bot.engine.approvals import github_repos
from bot.services.github.issues import GitHubIssues

log = structlog.get_logger(__name__)


class GitHubAccess:
    def __init__(self, issues: GitHubIssues, config: BatonFile) -> None:
        self.issues = issues
        self.config = config

    def refusal(self, full: str, login: str, needed: Permission, doing: str) -> str | None:
        """Why `login` may not do `doing` on `full`, or None when their role suffices."""
        try:
            role = self.issues.role(full, login)
        except ForgeError as err:
            log.warning("github.permission_unknown", repo=full, login=login, error=str(err)[:200])
            return f"I could not check @{login}'s permission on {full} just now, so I did not {doing}; try again"
        if self.config.github.at_least(role, needed):
            return None
        has = f"{role} access" if role else "no access"
        return f"@{login} has {has} to {full}; to {doing} you need {needed} access or more"

    def may_trigger(self, full: str, login: str, doing: str = "start a run") -> str | None:
        return self.refusal(full, login, self.config.github.trigger_permission, doing)

    def approver_refusal(self, actor: Actor, run: Run) -> str | None:
        """Why the GitHub user `actor` (or the login a person is mapped to) may not approve `run`:
        their permission on each GitHub repo of the run (the approval service asks, see `ApprovalService.github`)."""
        if actor.source is not Source.github:
            return None
        needed = self.config.github.approve_permission
        for full in github_repos(self.config, run):
            refusal = self.refusal(full, actor.id, needed, "approve or reject this run")
            if refusal:
                return refusal
        return None

"""Who may do what from GitHub, by their permission on the repo (the collaborator-permission API):
start a run or ask for more (`github.trigger_permission`, default write), and approve or reject
(`github.approve_permission`, default maintain, on every GitHub repo of the run)."""

from __future__ import annotations

import structlog

from bot.config import BatonFile
from bot.domain import Actor, Run, Source
from bot.ports import ForgeError
from bot.scm.github_issues import GitHubIssues
from bot.sourceconfig.github import Permission

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

    def github_repos(self, run: Run) -> list[str]:
        """The run's repos on GitHub (`owner/name`), or its issue's repo when none is."""
        names = {r.name: r.github for r in self.config.repos if r.forge == "github" and r.github}
        fulls = [names[r] for r in run.spec.repos if r in names]
        reply = run.spec.trigger.reply_to
        if not fulls and reply.source is Source.github and reply.repo:
            fulls = [reply.repo]
        return fulls

    def approver_refusal(self, actor: Actor, run: Run) -> str | None:
        """The per-source check the approval service runs for GitHub actors (see `authorizers`)."""
        if actor.source is not Source.github:
            return None
        needed = self.config.github.approve_permission
        for full in self.github_repos(run):
            refusal = self.refusal(full, actor.id, needed, "approve or reject this run")
            if refusal:
                return refusal
        return None

"""One Forge for the engine, many behind it: each repo's PRs go to the forge its config names
(`repos[].forge`), the local forge unless said otherwise."""

from __future__ import annotations

from bot.config.models import BatonFile
from bot.domain.diffs import ChangeDiff, DiffLimits
from bot.domain.models import ChangeSet, CheckOutcome, Readiness
from bot.domain.ports import Forge, ForgeError


class ForgeRouter:
    name = "router"

    def __init__(self, config: BatonFile, local: Forge) -> None:
        self.config = config
        self._forges: dict[str, Forge] = {"local": local}

    def add(self, kind: str, forge: Forge) -> None:
        self._forges[kind] = forge

    def has(self, kind: str) -> bool:
        return kind in self._forges

    def for_repo(self, repo: str) -> Forge:
        known = {r.name: r.forge for r in self.config.repos}
        kind = known.get(repo, "local")
        forge = self._forges.get(kind)
        if forge is None:
            raise ForgeError(f"repo {repo} uses forge '{kind}', which is not configured here")
        return forge

    def find_pr(self, repo: str, branch: str) -> ChangeSet | None:
        return self.for_repo(repo).find_pr(repo, branch)

    def open_pr(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        return self.for_repo(repo).open_pr(run_id, repo, branch, title, body, order)

    def refresh(self, change: ChangeSet) -> ChangeSet:
        return self.for_repo(change.repo).refresh(change)

    def run_checks(self, change: ChangeSet, known: CheckOutcome | None = None) -> CheckOutcome:
        return self.for_repo(change.repo).run_checks(change, known)

    def readiness(self, change: ChangeSet) -> Readiness:
        return self.for_repo(change.repo).readiness(change)

    def merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        return self.for_repo(change.repo).merge(change, expected_sha)

    def close(self, change: ChangeSet) -> ChangeSet:
        return self.for_repo(change.repo).close(change)

    def diff(self, change: ChangeSet, limits: DiffLimits) -> ChangeDiff:
        return self.for_repo(change.repo).diff(change, limits)

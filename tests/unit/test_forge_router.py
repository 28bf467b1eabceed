"""Each repo's PRs go to the forge its configuration names."""

from __future__ import annotations

import pytest

from bot.config.models import parse_baton_file
from bot.domain.models import ChangeSet, CheckOutcome, Readiness
from bot.domain.ports import ForgeError
from bot.scm.router import ForgeRouter


class NamedForge:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[tuple[str, str]] = []

    def find_pr(self, repo: str, branch: str) -> ChangeSet | None:
        self.calls.append(("find_pr", repo))
        return None

    def open_pr(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        self.calls.append(("open_pr", repo))
        return ChangeSet(run_id=run_id, repo=repo, branch=branch, base="main", number=1, url="u", head_sha="s")

    def refresh(self, change: ChangeSet) -> ChangeSet:
        self.calls.append(("refresh", change.repo))
        return change

    def run_checks(self, change: ChangeSet) -> CheckOutcome:
        self.calls.append(("run_checks", change.repo))
        return CheckOutcome(passed=True)

    def readiness(self, change: ChangeSet) -> Readiness:
        self.calls.append(("readiness", change.repo))
        return Readiness()

    def merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        self.calls.append(("merge", change.repo))
        return change

    def close(self, change: ChangeSet) -> ChangeSet:
        self.calls.append(("close", change.repo))
        return change


CONFIG = parse_baton_file(
    {
        "repos": [
            {"name": "api", "url": "/r/api", "forge": "github", "github": "acme/api"},
            {"name": "web", "url": "/r/web"},
        ]
    }
)


def test_a_github_repo_goes_to_the_github_forge_and_the_rest_stay_local() -> None:
    local, github = NamedForge("local"), NamedForge("github")
    router = ForgeRouter(CONFIG, local)
    router.add("github", github)

    change = router.open_pr("r1", "api", "b", "t", "body", 0)
    router.merge(change, "s")
    router.close(change)
    router.find_pr("web", "b")

    assert github.calls == [("open_pr", "api"), ("merge", "api"), ("close", "api")]
    assert local.calls == [("find_pr", "web")]


def test_a_repo_whose_forge_is_not_configured_fails_with_a_message() -> None:
    router = ForgeRouter(CONFIG, NamedForge("local"))

    with pytest.raises(ForgeError, match="forge 'github', which is not configured"):
        router.find_pr("api", "b")

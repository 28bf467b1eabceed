"""Marking Baton's draft PRs ready for review, against the fake GitHub (real HTTP, real bare repos).

REST cannot un-draft a PR: Baton calls GitHub's GraphQL API, at the GraphQL address of
`GITHUB_API_URL` (`/graphql`, or `/api/graphql` on Enterprise Server). Being a draft is cosmetic
until the merge: a GraphQL failure while the checks are read is a warning, never a checks failure;
at the merge it is tried again, and a PR that stays a draft is refused for what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import ChangeSet, ChangeState
from bot.domain.ports import MergeRefused
from bot.scm.github import GitHubForge
from bot.services.github.client import graphql_url
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import api_for, baton_config, start_fake
from tests.gitutil import commit_to_remote, read_file_on

BRANCH = "baton/r1/rename-items"
World = tuple[FakeGitHub, dict[str, Path]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake, remotes = start_fake(tmp_path, ["api"])
    yield fake, remotes
    fake.stop()


@pytest.fixture
def enterprise(tmp_path: Path) -> Iterator[World]:
    fake, remotes = start_fake(tmp_path, ["api"], enterprise=True)
    yield fake, remotes
    fake.stop()


def _green_draft(world: World) -> tuple[FakeGitHub, GitHubForge, ChangeSet]:
    """A forge on the default config (drafts until checks pass) and its draft PR on api, whose head
    has a passing check run."""
    fake, remotes = world
    config = baton_config(remotes)
    forge = GitHubForge(api_for(fake, config), config)
    commit_to_remote(remotes["api"], BRANCH, {"README.md": "# api\nuse /v2/items\n"}, "rename /items")
    change = forge.open_pr("r1", "api", BRANCH, "[baton] rename /items", "Requested by alice", 0)
    fake.add_check_run("acme/api", change.head_sha, "test", "success")
    return fake, forge, change


def test_graphql_is_beside_the_rest_api_on_github_and_at_api_graphql_on_enterprise_server() -> None:
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert graphql_url("https://github.example.com/api/v3") == "https://github.example.com/api/graphql"
    assert graphql_url("https://github.example.com/api/v3/") == "https://github.example.com/api/graphql"


def test_a_404_from_graphql_leaves_green_checks_passed_with_a_warning(world: World) -> None:
    fake, forge, change = _green_draft(world)
    fake.graphql_status = 404

    outcome = forge.run_checks(change)

    assert (outcome.passed, outcome.pending) == (True, False)
    [warning] = outcome.warnings
    assert f"acme/api#{change.number}" in warning
    assert "ready for review" in warning
    assert f"{fake.url}/graphql" in warning and "404" in warning
    assert fake.pulls("acme/api")[0].draft is True


def test_green_checks_without_a_graphql_failure_carry_no_warning(world: World) -> None:
    fake, forge, change = _green_draft(world)

    outcome = forge.run_checks(change)

    assert outcome.passed and outcome.warnings == []
    assert fake.pulls("acme/api")[0].draft is False


def test_on_enterprise_server_the_draft_is_marked_ready_through_api_graphql(enterprise: World) -> None:
    fake, forge, change = _green_draft(enterprise)

    outcome = forge.run_checks(change)

    assert outcome.passed and outcome.warnings == []
    assert fake.pulls("acme/api")[0].draft is False
    assert [r.status for r in fake.calls("POST", r"^/api/graphql$")] == [200]
    assert fake.calls("POST", r"^/graphql$") == []


def test_a_draft_left_by_a_graphql_failure_is_marked_ready_at_the_merge_after_retries(world: World) -> None:
    fake, forge, change = _green_draft(world)
    fake.graphql_status = 404
    forge.run_checks(change)
    fake.graphql_status = None
    fake.fail("POST", r"^/graphql$", 404, times=2)  # still failing twice more, then it answers

    merged = forge.merge(change, change.head_sha)

    assert merged.state is ChangeState.merged
    assert [r.status for r in fake.calls("POST", r"^/graphql$")] == [404, 404, 404, 200]
    assert "use /v2/items" in read_file_on(world[1]["api"], "main", "README.md")


def test_a_draft_graphql_never_undrafts_is_refused_at_the_merge_naming_graphql(world: World) -> None:
    fake, forge, change = _green_draft(world)
    fake.graphql_status = 404

    with pytest.raises(MergeRefused) as refused:
        forge.merge(change, change.head_sha)

    message = str(refused.value)
    assert "ready for review" in message and f"{fake.url}/graphql" in message and "404" in message
    assert fake.calls("PUT", r"/merge$") == []
    assert fake.pulls("acme/api")[0].draft is True

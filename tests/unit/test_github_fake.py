"""The fake GitHub answers in GitHub's own shapes: every body has the fields of the response
PyGithub recorded from api.github.com, every URL in it points back at the fake, and lists page
with Link headers as GitHub's do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_bodies import recorded
from tests.fakes.github_setup import BOT, api_for, baton_config, start_fake
from tests.gitutil import commit_to_remote

PR_RECORDING = ("PullRequest.setUp.txt", "GET", "/repos/austinsasko/PyGithub/pulls/21")
REPO_RECORDING = ("PullRequest.setUp.txt", "GET", "/repos/austinsasko/PyGithub")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, dict[str, Path]]]:
    fake, remotes = start_fake(tmp_path, ["api"])
    commit_to_remote(remotes["api"], "feature", {"a.txt": "a\n"}, "add a")
    yield fake, remotes
    fake.stop()


@pytest.fixture
def fake(world: tuple[FakeGitHub, dict[str, Path]]) -> FakeGitHub:
    return world[0]


def _get(fake: FakeGitHub, method: str, path: str, body: Any = None) -> Any:
    return fake.routes.dispatch(method, path, {}, body, BOT).body


def _urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [u for v in value.values() for u in _urls(v)]
    if isinstance(value, list):
        return [u for v in value for u in _urls(v)]
    return [value] if isinstance(value, str) and value.startswith(("http://", "https://")) else []


def _open_pr(fake: FakeGitHub) -> dict[str, Any]:
    body: dict[str, Any] = _get(
        fake, "POST", "/repos/acme/api/pulls", {"title": "T", "head": "feature", "base": "main"}
    )
    return body


def test_a_pull_request_has_every_field_github_recorded(fake: FakeGitHub) -> None:
    pull = _open_pr(fake)
    assert set(recorded(*PR_RECORDING)) - {"auto_merge"} <= set(pull)
    assert set(recorded(*PR_RECORDING)["head"]) == set(pull["head"])


def test_a_repository_has_every_field_github_recorded(fake: FakeGitHub) -> None:
    repo = _get(fake, "GET", "/repos/acme/api")
    assert set(recorded(*REPO_RECORDING)) - {"parent", "source"} <= set(repo)


def test_every_url_in_a_body_points_at_the_fake(fake: FakeGitHub) -> None:
    pull = _open_pr(fake)
    urls = _urls(pull) + _urls(_get(fake, "GET", "/repos/acme/api"))
    foreign = [u for u in urls if not u.startswith(fake.url) and "githubusercontent.com" not in u]
    assert foreign == [] and len(urls) > 50


def test_comments_check_runs_statuses_and_merges_have_githubs_fields(fake: FakeGitHub) -> None:
    number = fake.open_issue("acme/api", "Bug", "text", "carol")
    comment = _get(fake, "POST", f"/repos/acme/api/issues/{number}/comments", {"body": "hi"})
    created = recorded("Issue.testCreateComment.txt", "POST", "/repos/PyGithub/PyGithub/issues/28/comments")
    assert set(created) <= set(comment)

    sha = _open_pr(fake)["head"]["sha"]
    fake.add_check_run("acme/api", sha, "test", "success")
    runs = _get(fake, "GET", f"/repos/acme/api/commits/{sha}/check-runs")
    path = "/repos/PyGithub/PyGithub/commits/10a7135a04f71e6101f8b013aded8a662d08fd1f/check-runs"
    assert set(recorded("CheckRun.testGetCheckRunsForRef.txt", "GET", path)["check_runs"][0]) <= set(
        runs["check_runs"][0]
    )

    status = _get(fake, "GET", f"/repos/acme/api/commits/{sha}/status")
    path = "/repos/edx/edx-platform/commits/74e70119a23fa3ffb3db19d4590eccfebd72b659/status"
    assert set(recorded("CommitCombinedStatus.setUp.txt", "GET", path)) <= set(status)
    assert (status["state"], status["total_count"]) == ("pending", 0)  # GitHub's answer with no statuses


def test_lists_page_with_link_headers_and_pygithub_follows_them(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    number = fake.open_issue("acme/api", "Busy issue", "text", "carol")
    for i in range(35):
        fake.add_comment("acme/api", number, f"comment {i}", "carol")
    api = api_for(fake, baton_config(remotes))
    issue = api.repo("acme/api").get_issue(number)

    assert [c.body for c in issue.get_comments()] == [f"comment {i}" for i in range(35)]
    pages = fake.calls("GET", rf"/issues/{number}/comments$")
    assert [r.query.get("page", "1") for r in pages] == ["1", "2"]


def test_a_moved_head_is_a_409_and_a_conflict_a_405(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    pull = _open_pr(fake)
    commit_to_remote(remotes["api"], "feature", {"a.txt": "b\n"}, "moved")
    moved = fake.routes.dispatch("PUT", "/repos/acme/api/pulls/1/merge", {}, {"sha": pull["head"]["sha"]}, BOT)
    assert (moved.status, moved.body["message"]) == (409, "Head branch was modified. Review and try the merge again.")

    commit_to_remote(remotes["api"], "main", {"a.txt": "c\n"}, "conflicting")
    conflict = fake.routes.dispatch("PUT", "/repos/acme/api/pulls/1/merge", {}, {}, BOT)
    assert (conflict.status, conflict.body["message"]) == (405, "Pull Request is not mergeable")

"""How fast Baton's GitHub requests go (bot/services/github/pacing.py), against the stand-in:
writes of one token go one at a time, nothing waits when GitHub asks for nothing, a secondary limit
with Retry-After is waited out and the write retried (taking effect once), a rate limit holds the
token's later requests too, and a spent quota is waited out before GitHub has to refuse."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from github import GithubException

from bot.config.models import BatonFile
from bot.scm.github import GitHubForge
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.services.github.issues import GitHubIssues
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, baton_config, start_fake
from tests.gitutil import commit_to_remote

COMMENTS = r"^/repos/acme/api/issues/1/comments$"
BRANCH = "baton/r1/rename-items"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, dict[str, Path]]]:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.open_issue("acme/api", "Rename /items", "Please rename it.", "alice")
    yield fake, remotes
    fake.stop()


class Sleeps:
    """Baton's waits, in order (and really waited)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds)


def _api(fake: FakeGitHub, config: BatonFile, sleeps: Sleeps) -> GitHubApi:
    return GitHubApi(GitHubCredentials(token=TOKEN, api_url=fake.url), config.github, sleep=sleeps)


def _comment(api: GitHubApi, text: str) -> None:
    api.call("comment on acme/api#1", lambda: api.repo("acme/api").get_issue(1).create_comment(text))


def test_writes_of_one_token_go_one_at_a_time(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    api = _api(fake, baton_config(remotes), Sleeps())
    fake.slow("POST", COMMENTS, delay_s=0.2, times=6)  # long enough for six at once to overlap

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: _comment(api, f"note {i}"), range(6)))

    assert fake.limits.most_writes_in_flight == 1


def test_requests_waiting_their_turn_are_sent_as_each_thread_made_them(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, remotes = world
    api = _api(fake, baton_config(remotes), Sleeps())
    fake.slow("POST", COMMENTS, delay_s=0.2, times=6)  # the others wait for their turn meanwhile

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: _comment(api, f"note {i}"), range(6)))

    assert sorted(c.body for c in fake.comments_on("acme/api", 1)) == [f"note {i}" for i in range(6)]


def test_nothing_waits_when_github_asks_for_no_pause(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    sleeps = Sleeps()
    api = _api(fake, baton_config(remotes, seconds_between_writes=0, seconds_between_requests=0), sleeps)

    for i in range(3):
        _comment(api, f"note {i}")

    assert len(fake.comments_on("acme/api", 1)) == 3
    assert sleeps.asked == []


def test_seconds_between_writes_stays_an_optional_least_gap(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    sleeps = Sleeps()
    api = _api(fake, baton_config(remotes, seconds_between_writes=0.2), sleeps)

    _comment(api, "first")
    _comment(api, "second")

    assert len(sleeps.asked) == 1


def test_a_secondary_limit_on_opening_a_pr_is_waited_out_and_the_pr_opened_once(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, remotes = world
    commit_to_remote(remotes["api"], BRANCH, {"README.md": "# api\nuse /v2/items\n"}, "rename /items")
    fake.rate_limit("POST", r"^/repos/acme/api/pulls$", "secondary", retry_after_s=1)
    config = baton_config(remotes)
    forge = GitHubForge(_api(fake, config, Sleeps()), config)

    change = forge.open_pr("r1", "api", BRANCH, "[baton] rename /items", "Requested by alice", 0)

    assert [c.status for c in fake.calls("POST", r"^/repos/acme/api/pulls$")] == [403, 201]
    assert [p.number for p in fake.pulls("acme/api")] == [change.number]


def test_a_secondary_limit_holds_the_tokens_next_request(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    sleeps = Sleeps()
    api = _api(fake, baton_config(remotes), sleeps)
    fake.rate_limit("POST", COMMENTS, "secondary", retry_after_s=1)
    with pytest.raises(GithubException):  # outside `call`: refused, not retried
        api.repo("acme/api").get_issue(1).create_comment("refused")

    GitHubIssues(api).issue_text("acme/api", 1)  # another request of the same token

    assert len(sleeps.asked) == 1
    assert [c.status for c in fake.calls("POST", COMMENTS)] == [403]


def test_a_spent_quota_is_waited_out_before_github_must_refuse(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    api = _api(fake, baton_config(remotes), Sleeps())
    fake.limits.set_quota(requests=2, window_s=1)

    for i in range(5):
        _comment(api, f"note {i}")

    assert len(fake.comments_on("acme/api", 1)) == 5
    assert fake.limits.refused_for_quota == 0


def test_a_secondary_limit_naming_no_time_holds_the_tokens_next_request(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, remotes = world
    sleeps = Sleeps()
    api = _api(fake, baton_config(remotes, secondary_rate_wait_s=1), sleeps)
    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    fake.fail("POST", COMMENTS, 403, body=fake.bodies.error(message))
    with pytest.raises(GithubException):  # outside `call`: refused, not retried
        api.repo("acme/api").get_issue(1).create_comment("refused")

    GitHubIssues(api).issue_text("acme/api", 1)

    assert len(sleeps.asked) == 1

"""How Baton talks to GitHub when GitHub pushes back: rate limits are waited out as GitHub says,
5xx and lost connections are retried a bounded number of times, other refusals are not retried,
and a GitHub App's installation token is minted with a signed JWT and renewed before it expires."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.config.models import BatonFile
from bot.domain.ports import ForgeError
from bot.scm.github import GitHubForge
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.services.github.issues import GitHubIssues
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import api_for, baton_config, start_fake

ISSUE_PATH = r"^/repos/acme/api/issues/1$"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, BatonFile]]:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.open_issue("acme/api", "Rename /items", "Please rename it.", "alice")
    yield fake, baton_config(remotes, secondary_rate_wait_s=1)
    fake.stop()


def _read_issue(fake: FakeGitHub, config: BatonFile) -> str:
    return GitHubIssues(api_for(fake, config)).issue_text("acme/api", 1).title


def _statuses_reading_through(world: tuple[FakeGitHub, BatonFile], kind: str) -> list[int]:
    """Reads the issue through one rate limit of `kind` (1 s); GitHub's answers to the reads, in order."""
    fake, config = world
    fake.rate_limit("GET", ISSUE_PATH, kind, retry_after_s=1)
    assert _read_issue(fake, config) == "Rename /items"
    return [c.status for c in fake.calls("GET", ISSUE_PATH)]


def _gap(fake: FakeGitHub) -> float:
    first, second = fake.calls("GET", ISSUE_PATH)
    return second.at - first.at


def test_a_secondary_rate_limit_is_retried_after_retry_after(world: tuple[FakeGitHub, BatonFile]) -> None:
    assert _statuses_reading_through(world, "secondary") == [403, 200]
    assert _gap(world[0]) >= 1.0


def test_a_spent_primary_quota_waits_for_its_reset(world: tuple[FakeGitHub, BatonFile]) -> None:
    assert _statuses_reading_through(world, "primary") == [403, 200]
    assert _gap(world[0]) >= 1.0


def test_a_429_is_retried_after_retry_after(world: tuple[FakeGitHub, BatonFile]) -> None:
    assert _statuses_reading_through(world, "429") == [429, 200]


def test_a_rate_limit_longer_than_allowed_fails_at_once_with_a_reason(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    config.github.max_rate_limit_wait_s = 5
    fake.rate_limit("GET", ISSUE_PATH, "secondary", retry_after_s=3600)

    with pytest.raises(ForgeError, match="asks to wait 3600s"):
        _read_issue(fake, config)
    assert len(fake.calls("GET", ISSUE_PATH)) == 1


def test_5xx_is_retried_a_bounded_number_of_times(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    config.github.api_retries = 2
    fake.fail("GET", ISSUE_PATH, 503, times=10)

    with pytest.raises(ForgeError, match="503, still after 3 attempts"):
        _read_issue(fake, config)
    assert len(fake.calls("GET", ISSUE_PATH)) == 3


def test_a_plain_403_is_not_retried(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    fake.fail("GET", ISSUE_PATH, 403, body={"message": "Resource not accessible by integration"})

    with pytest.raises(Exception, match="Resource not accessible"):
        _read_issue(fake, config)
    assert len(fake.calls("GET", ISSUE_PATH)) == 1


def test_a_response_slower_than_the_timeout_is_retried(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    config.github.timeout_s = 1
    fake.slow("GET", ISSUE_PATH, delay_s=1.5)

    assert _read_issue(fake, config) == "Rename /items"
    assert len(fake.calls("GET", ISSUE_PATH)) == 2


def _app(fake: FakeGitHub, config: BatonFile, lifetime_s: int) -> GitHubApi:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fake.app_keys[4242] = public.decode()
    fake.installations["acme/api"] = 777
    fake.token_lifetime_s = lifetime_s
    credentials = GitHubCredentials(token=None, app_id="4242", app_private_key=pem.decode(), api_url=fake.url)
    return GitHubApi(credentials, config.github)


def test_a_github_app_acts_with_an_installation_token_minted_by_jwt(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    api = _app(fake, config, lifetime_s=3600)

    GitHubIssues(api).issue_text("acme/api", 1)
    GitHubIssues(api).issue_text("acme/api", 1)

    assert [c.login for c in fake.calls("GET", r"/repos/acme/api/installation$")] == ["app:4242"]
    assert len(fake.calls("POST", r"^/app/installations/777/access_tokens$")) == 1
    assert [c.login for c in fake.calls("GET", ISSUE_PATH)] == ["baton-app[bot]", "baton-app[bot]"]


def test_an_installation_token_near_its_expiry_is_renewed_before_use(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    api = _app(fake, config, lifetime_s=10)  # inside PyGithub's 20 s renewal margin: renewed every use

    GitHubIssues(api).issue_text("acme/api", 1)
    GitHubIssues(api).issue_text("acme/api", 1)

    assert len(fake.calls("POST", r"^/app/installations/777/access_tokens$")) == 2
    assert [c.status for c in fake.calls("GET", ISSUE_PATH)] == [200, 200]


def test_credentials_are_required_to_talk_to_github(world: tuple[FakeGitHub, BatonFile]) -> None:
    fake, config = world
    with pytest.raises(ForgeError, match="set GITHUB_TOKEN, or GITHUB_APP_ID"):
        GitHubForge(GitHubApi(GitHubCredentials(token=None, app_id=None, api_url=fake.url), config.github), config)

"""Outbound rate limits: one token bucket per service in the store, shared by every process that
opens the same database, enforced where each API client sends its requests. Time is a hand-moved
clock, so the tests count tokens and waits, never measure them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from bot.config.models import RateLimit
from bot.config.settings import Settings
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.services.github.issues import GitHubIssues
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient, published_schema
from bot.store.ratelimit import TokenBucket
from bot.store.store import make_engine, migrate
from bot.surfaces.slack.surface import web_client
from tests.e2e.postgres_support import fresh_database
from tests.fakes.github_setup import TOKEN, baton_config, start_fake
from tests.fakes.linear_api import FakeLinear
from tests.fakes.slack_api import FakeSlack


class Clock:
    """Wall time that moves only when told to (or when the throttle sleeps)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _engines(url: str, count: int) -> list[Engine]:
    """`count` separate engines on one database: as many processes' connections to it."""
    engines = [make_engine(url) for _ in range(count)]
    migrate(engines[0])
    return engines


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'baton.db'}"


def _bucket(engine: Engine, clock: Clock, calls: int = 3, per_s: float = 1.0) -> TokenBucket:
    return TokenBucket(engine, "github", RateLimit(calls=calls, per_s=per_s), clock=clock, sleep=clock.sleep)


def test_a_bucket_gives_its_calls_then_says_when_the_next_is_due(sqlite_url: str) -> None:
    (engine,) = _engines(sqlite_url, 1)
    clock = Clock()
    bucket = _bucket(engine, clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(1 / 3)
    clock.now += 1 / 3
    assert [bucket.take(), bucket.take()] == [0.0, pytest.approx(1 / 3)]


def test_two_processes_draw_from_one_bucket(sqlite_url: str) -> None:
    first, second = _engines(sqlite_url, 2)
    clock = Clock()
    one, other = _bucket(first, clock), _bucket(second, clock)
    assert [one.take(), one.take(), other.take()] == [0.0, 0.0, 0.0]
    assert other.take() > 0 and one.take() > 0


def test_the_throttle_waits_until_a_token_is_due(sqlite_url: str) -> None:
    (engine,) = _engines(sqlite_url, 1)
    clock = Clock()
    bucket = _bucket(engine, clock, calls=2, per_s=1.0)
    for _ in range(4):
        bucket()
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.5)]


def test_buckets_of_different_services_are_apart(sqlite_url: str) -> None:
    (engine,) = _engines(sqlite_url, 1)
    clock = Clock()
    github = _bucket(engine, clock, calls=1)
    slack = TokenBucket(engine, "slack", RateLimit(calls=1, per_s=1), clock=clock, sleep=clock.sleep)
    assert [github.take(), slack.take()] == [0.0, 0.0]


@pytest.mark.postgres
def test_concurrent_draws_from_many_connections_on_postgres_take_exactly_the_limit() -> None:
    with fresh_database() as url:
        engines = _engines(url, 4)
        clock = Clock()  # frozen: no refill, so exactly `calls` draws can succeed
        buckets = [_bucket(engine, clock, calls=10) for engine in engines]
        try:
            with ThreadPoolExecutor(8) as pool:
                waits = list(pool.map(lambda n: buckets[n % 4].take(), range(40)))
        finally:
            for engine in engines:
                engine.dispose()
    assert waits.count(0.0) == 10


def test_github_requests_wait_for_the_shared_limit(sqlite_url: str, tmp_path: Path) -> None:
    fake, remotes = start_fake(tmp_path, ["api"])
    try:
        fake.open_issue("acme/api", "Rename /items", "Please rename it.", "alice")
        (engine,) = _engines(sqlite_url, 1)
        clock = Clock()
        credentials = GitHubCredentials(token=TOKEN, api_url=fake.url)
        api = GitHubApi(credentials, baton_config(remotes).github, throttle=_bucket(engine, clock, calls=2))
        titles = [GitHubIssues(api).issue_text("acme/api", 1).title for _ in range(3)]
        reads = fake.calls("GET", r"^/repos/acme/api/issues/1$")
    finally:
        fake.stop()
    assert titles == ["Rename /items"] * 3
    assert len(reads) == 3
    assert clock.slept == [pytest.approx(0.5)]


def test_slack_calls_wait_for_the_shared_limit(sqlite_url: str, tmp_path: Path) -> None:
    (engine,) = _engines(sqlite_url, 1)
    clock = Clock()
    bucket = TokenBucket(engine, "slack", RateLimit(calls=2, per_s=1), clock=clock, sleep=clock.sleep)
    with FakeSlack() as slack:
        settings = Settings(home=tmp_path, SLACK_BOT_TOKEN=SecretStr(slack.token), SLACK_API_URL=slack.api_url)
        client = web_client(settings, throttle=bucket)
        for n in range(3):
            client.chat_postMessage(channel="C1", text=f"message {n}")
        posted = slack.calls_to("chat.postMessage")
    assert len(posted) == 3
    assert clock.slept == [pytest.approx(0.5)]


def test_linear_requests_wait_for_the_shared_limit(sqlite_url: str) -> None:
    (engine,) = _engines(sqlite_url, 1)
    clock = Clock()
    bucket = TokenBucket(engine, "linear", RateLimit(calls=2, per_s=1), clock=clock, sleep=clock.sleep)
    with FakeLinear(api_key="lin_api_limits") as linear:
        client = LinearClient(linear.url, "lin_api_limits", schema=published_schema(), throttle=bucket)
        for _ in range(3):
            client.execute(docs.VIEWER)
        calls = list(linear.calls)
    assert len(calls) == 3
    assert clock.slept == [pytest.approx(0.5)]

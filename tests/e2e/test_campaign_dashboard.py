"""The dashboard's per-repo table of a 1,000-repo campaign, over HTTP from a real store: a page of
100 repos at a time in plan order, filtered by state, with links to the next and previous pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import ChangeSet, ChangeState, ChecksState
from bot.engine.campaign_plan import CAMPAIGN_FACT, CampaignState
from bot.web import create_web_app
from tests.fakes.run_steps import spec_for
from tests.fakes.served_app import serve

REPOS = [f"svc{i:04d}" for i in range(1000)]


def seed(runtime: Runtime) -> None:
    """A campaign run: every 5th repo has a merged PR, one in 40 failed, the rest queued."""
    store = runtime.store
    store.create_run(spec_for(REPOS))
    status = {r: ("done" if i % 5 == 0 else "failed" if i % 40 == 1 else "queued") for i, r in enumerate(REPOS)}
    reasons = {r: f"{r}: tests failed" for r, s in status.items() if s == "failed"}
    for i, repo in enumerate(REPOS[::5]):
        store.save_change(
            ChangeSet(
                run_id="run1", repo=repo, branch="baton/x", base="main", number=1, url=f"local://{repo}/pull/1",
                head_sha="b" * 40, order=i, state=ChangeState.merged, checks=ChecksState.passed,
            )
        )  # fmt: skip
    state = CampaignState(order=REPOS, canary=REPOS[:3], deps={}, status=status, reasons=reasons)
    store.put_fact("run1", CAMPAIGN_FACT, state.model_dump(mode="json"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
    runtime = Runtime(settings, parse_baton_file({}))
    seed(runtime)
    try:
        with serve(create_web_app(runtime)) as url:
            yield url
    finally:
        runtime.shutdown()


def repos_on(url: str, query: str = "") -> tuple[list[str], str]:
    response = httpx.get(f"{url}/runs/run1/repos{query}", timeout=30)
    assert response.status_code == 200, response.text
    return re.findall(r'<tr class="repo [a-z_]+"><td>\d+</td><td>(svc\d+)</td>', response.text), response.text


def test_the_first_page_shows_the_first_100_repos_and_links_to_the_next(served: str) -> None:
    repos, page = repos_on(served)
    assert repos == REPOS[:100]
    assert 'rel="next" href="?page=2"' in page
    assert 'rel="prev"' not in page


def test_the_last_page_shows_the_last_repos_and_no_next_link(served: str) -> None:
    repos, page = repos_on(served, "?page=10")
    assert repos == REPOS[900:]
    assert 'rel="prev" href="?page=9"' in page
    assert 'rel="next"' not in page


def test_a_state_filter_shows_only_the_repos_in_that_state_with_their_reason(served: str) -> None:
    repos, page = repos_on(served, "?phase=failed")
    assert repos == [r for i, r in enumerate(REPOS) if i % 40 == 1]
    assert "svc0001: tests failed" in page


def test_the_burndown_above_the_table_counts_every_repo(served: str) -> None:
    _, page = repos_on(served)
    assert "1000 repos: queued 775" in page
    assert "merged 200" in page and "failed 25" in page


def test_an_unknown_state_filter_is_refused(served: str) -> None:
    assert httpx.get(f"{served}/runs/run1/repos?phase=sideways", timeout=10).status_code == 400

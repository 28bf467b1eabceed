"""The dashboard as a person reads it, in headless Chromium: each state in its colour with an icon,
times relative ("3 min ago", the exact time on hover), costs rounded to cents (exact on hover), a
failed run saying why and where with the output's tail, a waiting run saying how to approve it
from every surface, and the merge train counted from 1. The screenshots of the runs list and of a
waiting run's page are kept in tests/artifacts/ (docs/images/ holds copies for the README)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from bot.domain.models import RunState
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, approve_until_merged, make_repos, repo_entries, submit, wait_for
from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM_ARGS
from tests.fakes.served_app import serve

TOKEN = "looks-test-token-9a1e"
USAGE = json.dumps({"tokens_in": 1200, "tokens_out": 300, "cost_usd": 0.01234})
LOUD_CHECKS = "test ! -e BROKEN || { echo 'BROKEN is still here: remove it'; exit 1; }"
RELATIVE = re.compile(r"^(just now|\d+ s ago|\d+ min ago)$")


def _runs(tmp_path: Path, start_runtime: RuntimeFactory) -> tuple[Any, dict[str, str]]:
    remotes = make_repos(tmp_path, ["api", "web", "docs"])
    repos = [{**entry, "checks": LOUD_CHECKS} for entry in repo_entries(remotes, {"web": ["api"]})]
    coder = agent("coder", "--append", "README.md", "v2", "--usage", USAGE, "--summary", "renamed the endpoint")
    breaker = agent("breaker", "--append", "BROKEN", "oops", "--summary", "left BROKEN behind")
    runtime = start_runtime({"repos": repos, "agents": [coder, breaker], "routing": {"default_agent": "coder"}})
    merged = submit(runtime, "Rename /v1/items to /v1/products", ["api", "web"])
    wait_for(runtime, merged, RunState.awaiting_approval, timeout=60)
    approve_until_merged(runtime, merged)
    failed = submit(runtime, "Update the docs for the rename", ["docs"], agent="breaker")
    wait_for(runtime, failed, RunState.failed, timeout=60)
    waiting = submit(runtime, "Add a changelog entry for /v1/products", ["api", "web"])
    wait_for(runtime, waiting, RunState.awaiting_approval, timeout=60)
    return runtime, {"merged": merged, "failed": failed, "waiting": waiting}


def _texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


@pytest.fixture
def browser_pages(tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every page the tests read, visited once in Chromium (screenshots taken on the way)."""
    monkeypatch.setenv("BATON_DASHBOARD_TOKEN", TOKEN)
    runtime, ids = _runs(tmp_path, start_runtime)
    ARTIFACTS.mkdir(exist_ok=True)
    seen: dict[str, Any] = {"ids": ids}
    with serve(create_web_app(runtime)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 480})
            page.goto(f"{base}/?token={TOKEN}")
            seen["list_states"] = _texts(page, "tr.run .badge .state")
            seen["list_icons"] = _texts(page, "tr.run .badge .icon")
            seen["list_times"] = _texts(page, "tr.run time")
            seen["list_time_titles"] = [t.get_attribute("title") for t in page.locator("tr.run time").all()]
            seen["list_why"] = _texts(page, "tr.run .why")
            seen["colours"] = {
                state: page.locator(f".badge.s-{state}").first.evaluate("e => getComputedStyle(e).backgroundColor")
                for state in ("merged", "failed", "awaiting_approval")
            }
            costs = page.locator("tr.run td[title^='$']")
            seen["list_costs"] = [(c.inner_text().strip(), c.get_attribute("title")) for c in costs.all()]
            page.screenshot(path=str(ARTIFACTS / "runs.png"), full_page=True)
            page.goto(f"{base}/runs/{ids['failed']}")
            seen["failure_reason"] = page.locator("#failure .reason").inner_text()
            seen["failure_where"] = _texts(page, "#failure h3")
            seen["failure_tails"] = _texts(page, "#failure pre")
            page.screenshot(path=str(ARTIFACTS / "run-failed.png"), full_page=True)
            page.goto(f"{base}/runs/{ids['waiting']}")
            seen["approve_ways"] = _texts(page, "#approve li")
            seen["merge_order"] = _texts(page, "#prs tr td:first-child")
            page.screenshot(path=str(ARTIFACTS / "run.png"), full_page=True)
        finally:
            browser.close()
    return seen


def test_each_state_has_its_icon_and_colour(browser_pages: dict[str, Any]) -> None:
    assert browser_pages["list_states"] == ["awaiting approval", "failed", "merged"]
    assert browser_pages["list_icons"] == ["‖", "✗", "✓"]
    colours = browser_pages["colours"]
    assert len(set(colours.values())) == 3
    assert "rgba(0, 0, 0, 0)" not in colours.values()


def test_times_are_relative_with_the_exact_time_on_hover(browser_pages: dict[str, Any]) -> None:
    assert [bool(RELATIVE.match(t)) for t in browser_pages["list_times"]] == [True, True, True]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", t or "") for t in browser_pages["list_time_titles"])


def test_costs_are_rounded_to_cents_with_the_exact_figure_on_hover(browser_pages: dict[str, Any]) -> None:
    # The merged run's two agent steps reported $0.01234 each.
    assert ("$0.02", "$0.0247") in browser_pages["list_costs"]
    assert ("$0", "$0.0000") in browser_pages["list_costs"]


def test_a_failed_run_says_why_in_the_list_and_why_and_where_on_its_page(browser_pages: dict[str, Any]) -> None:
    assert browser_pages["list_why"] == ["docs: checks still failing after 2 attempt(s)"]
    assert browser_pages["failure_reason"] == "docs: checks still failing after 2 attempt(s)"
    assert browser_pages["failure_where"] == ["Where: step checks in docs"]  # its last attempt
    assert browser_pages["failure_tails"] == ["BROKEN is still here: remove it"]


def test_a_waiting_run_says_how_to_approve_it_from_every_surface(browser_pages: dict[str, Any]) -> None:
    run_id = browser_pages["ids"]["waiting"]
    ways = browser_pages["approve_ways"]
    assert [w.split(":")[0] for w in ways] == ["Terminal", "Slack", "GitHub", "Linear"]
    assert ways[0].startswith(f"Terminal: baton approve {run_id}")
    assert ways[1] == "Slack: not here: the run has no Slack card (it was not asked in Slack)"


def test_the_merge_train_is_counted_from_one(browser_pages: dict[str, Any]) -> None:
    assert browser_pages["merge_order"] == ["1", "2"]  # api, then web (which depends on it)

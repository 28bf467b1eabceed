"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright; no browser
is downloaded): Baton serves a finished run over HTTP behind a token, the browser opens the runs
list with the token once (the cookie carries it on), clicks through to the run's page and sees its
steps; a screenshot of the page is kept as a test artifact in tests/artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.domain.models import RunState
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, approve_until_merged, make_repos, repo_entries, submit, wait_for
from tests.fakes.served_app import serve

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-token-5d2c"


def test_a_browser_opens_the_runs_list_and_clicks_through_to_a_finished_runs_steps(
    tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_DASHBOARD_TOKEN", TOKEN)
    remotes = make_repos(tmp_path, ["api", "web"])
    coder = agent("coder", "--append", "README.md", "v2", "--summary", "renamed the endpoint")
    runtime = start_runtime({"repos": repo_entries(remotes, {"web": ["api"]}), "agents": [coder]})
    run_id = submit(runtime, "rename the endpoint", ["api", "web"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    approve_until_merged(runtime, run_id)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-run-page.png"

    with serve(create_web_app(runtime)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/?token={TOKEN}")
            assert page.url == f"{base}/"
            assert page.locator("tr.run").count() == 1
            page.click(f"a[href='runs/{run_id}']")
            page.wait_for_url(f"{base}/runs/{run_id}")
            steps = page.locator("#steps tr.step")
            step_rows = [steps.nth(i).locator("td").all_inner_texts() for i in range(steps.count())]
            state = page.locator("h1 .state").inner_text()
            audit_kinds = page.locator("#audit tr td:nth-child(2)").all_inner_texts()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    print(f"dashboard screenshot: {shot}")
    assert state == "merged"
    assert [tuple(row[1:4]) for row in step_rows] == [
        ("coder", "api", "coder"),
        ("checks", "api", ""),
        ("coder", "web", "coder"),
        ("checks", "web", ""),
    ]
    assert all(row[0] == "✓" for row in step_rows)
    assert audit_kinds == ["trigger", "approval", "merge", "merge"]
    assert shot.stat().st_size > 0

"""The pages `baton serve` shows: the runs table links each run to its own page, which says what
happened (steps, PRs, approvals, events); unknown runs and disabled sources answer 404."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.app import Runtime
from bot.domain import RunState
from bot.surfaces.dashboard import run_page_url
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, submit, wait_for


def _runtime(tmp_path: Path, start_runtime: RuntimeFactory) -> Runtime:
    remotes = make_repos(tmp_path, ["api"])
    return start_runtime({"repos": repo_entries(remotes), "agents": [agent("coder", "--append", "README.md", "v2")]})


async def _get(runtime: Runtime, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_web_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://baton") as client:
        return await client.get(path)


async def test_the_runs_table_links_to_each_runs_page(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    page = await _get(runtime, "/")

    assert f'href="runs/{run_id}"' in page.text


async def test_a_runs_page_shows_its_steps_prs_and_events(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    page = await _get(runtime, f"/runs/{run_id}")

    assert page.status_code == 200
    assert "rename the endpoint" in page.text
    assert "coder" in page.text
    assert view.changes[0].url in page.text
    assert "approval_requested" in page.text


async def test_an_unknown_runs_page_is_404(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    assert (await _get(runtime, "/runs/rdoesnotexist")).status_code == 404


async def test_request_text_is_escaped_on_the_page(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "<script>alert(1)</script>", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    page = await _get(runtime, f"/runs/{run_id}")

    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_a_runs_page_url_is_under_the_public_url() -> None:
    assert run_page_url("https://baton.example.com/", "r1") == "https://baton.example.com/runs/r1"

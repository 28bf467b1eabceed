"""The pages `baton serve` shows: the runs table links each run to its own page, which says what
happened (steps, PRs, approvals, the audit trail, events); the table filters by state, repo and
requester a page at a time; unknown runs answer 404; text is escaped and secrets never shown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import Actor, ReplyTo, RunState, Source, Trigger
from bot.engine.intake import build_spec
from bot.surfaces.dashboard.pages import PAGE_SIZE
from bot.surfaces.links import run_page_url
from bot.web import create_web_app
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    approve_until_merged,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)


def _runtime(tmp_path: Path, start_runtime: RuntimeFactory, *args: str) -> Runtime:
    remotes = make_repos(tmp_path, ["api"])
    coder = agent("coder", "--append", "README.md", "v2", *args)
    return start_runtime({"repos": repo_entries(remotes), "agents": [coder]})


async def _get(runtime: Runtime, path: str, **options: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_web_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        return await client.get(path, **options)  # type: ignore[arg-type]


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime that only reads (no executor), on repos api and web; runs are recorded directly."""
    remotes = make_repos(tmp_path, ["api", "web"])
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
    runtime = Runtime(settings, parse_baton_file({"repos": repo_entries(remotes)}))
    yield runtime
    runtime.shutdown()


def _record(runtime: Runtime, request: str, repo: str, who: str, state: RunState = RunState.queued) -> str:
    trigger = Trigger(
        source=Source.slack,
        actor=Actor(source=Source.slack, id=who, display=who.lower()),
        request=request,
        reply_to=ReplyTo(source=Source.slack, channel="C1", thread_ts="1.2"),
        delivery_id=f"{request}-{who}",
    )
    spec = build_spec(trigger, runtime.config, repos=[repo])
    runtime.store.create_run(spec)
    if state is not RunState.queued:
        runtime.store.set_state(spec.run_id, state)
    return spec.run_id


def _listed(page: httpx.Response) -> list[str]:
    return [line.split('"')[1].removeprefix("runs/") for line in page.text.splitlines() if 'href="runs/' in line]


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
    assert '<td class="agent">coder</td>' in page.text
    assert view.changes[0].url in page.text
    assert view.changes[0].head_sha[:7] in page.text
    assert "approval_requested" in page.text


async def test_a_merged_runs_page_shows_its_approval_and_audit_trail_with_shas(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    head = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30).changes[0].head_sha
    # DBOS's send refuses to run on an event loop's thread: approve from another one.
    merged = (await asyncio.to_thread(approve_until_merged, runtime, run_id)).changes[0].merge_sha
    assert merged is not None

    page = await _get(runtime, f"/runs/{run_id}")

    audit = page.text.split('<table id="audit">')[1].split("</table>")[0]
    rows = [row for row in audit.split("<tr")[2:]]
    assert [row.split("<td>")[2].split("<")[0] for row in rows] == ["trigger", "approval", "merge"]
    assert f"api@{head[:7]}" in rows[1]
    assert APPROVER.key in rows[1]
    assert f"api@{merged[:7]}" in rows[2]
    assert f"approve by {APPROVER.display}" in page.text


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


async def test_a_secret_in_the_request_and_the_agents_output_shows_as_redacted(
    tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "xoxb-dashboard-test-7f3a9c2e51"
    monkeypatch.setenv("SLACK_BOT_TOKEN", secret)
    runtime = _runtime(tmp_path, start_runtime, "--summary", f"used {secret} to call the API")
    run_id = submit(runtime, f"rotate the token {secret} please", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert secret in view.run.spec.trigger.request  # stored as said; only the page hides it

    pages = [await _get(runtime, "/"), await _get(runtime, f"/runs/{run_id}")]

    assert [secret in p.text for p in pages] == [False, False]
    assert "rotate the token [REDACTED] please" in pages[1].text
    assert "[REDACTED]" in pages[0].text


async def test_the_runs_table_filters_by_state(reader: Runtime) -> None:
    _record(reader, "one", "api", "U1", RunState.failed)
    merged = _record(reader, "two", "api", "U1", RunState.merged)

    page = await _get(reader, "/?state=merged")

    assert _listed(page) == [merged]


async def test_the_runs_table_filters_by_repo(reader: Runtime) -> None:
    on_web = _record(reader, "one", "web", "U1")
    _record(reader, "two", "api", "U1")

    page = await _get(reader, "/?repo=web")

    assert _listed(page) == [on_web]


async def test_the_runs_table_filters_by_requester(reader: Runtime) -> None:
    first = _record(reader, "one", "api", "UALICE")
    _record(reader, "two", "api", "UBOB")
    third = _record(reader, "three", "web", "UALICE")

    page = await _get(reader, "/?requester=alice")

    assert _listed(page) == [third, first]


async def test_a_state_filter_that_is_no_state_is_400(reader: Runtime) -> None:
    page = await _get(reader, "/?state=sleeping")

    assert (page.status_code, page.text) == (400, "bad filter: state")


async def test_the_runs_table_shows_a_page_at_a_time_newest_first(reader: Runtime) -> None:
    ids = [_record(reader, f"run {i}", "api", "U1") for i in range(PAGE_SIZE + 1)]

    first, second = await _get(reader, "/"), await _get(reader, "/?page=2")

    assert _listed(first) == ids[::-1][:PAGE_SIZE]
    assert 'rel="next" href="?page=2"' in first.text
    assert _listed(second) == [ids[0]]
    assert 'rel="next"' not in second.text


def test_a_runs_page_url_is_under_the_public_url() -> None:
    assert run_page_url("https://baton.example.com/", "r1") == "https://baton.example.com/runs/r1"

"""The real opencode CLI (pinned, from the tools cache) in full Baton runs against a scripted
Anthropic-style model server: it reads and edits the code and runs the tests, Baton commits,
checks, opens the PR and records opencode's own cost; when its endpoint answers 500, the adapter
stops its endless retries and the fallback agent finishes."""

from __future__ import annotations

from pathlib import Path

from bot.domain import ChecksState, RunState
from tests.e2e.agent_cli_support import (
    FIXED,
    SUMMARY,
    agent_clis,
    calc_config,
    calc_repo,
    changed_files,
    codex_agent,
    codex_turns,
    model_servers,
    opencode_agent,
    opencode_turns,
    serve,
)
from tests.e2e.conftest import RuntimeFactory, approve_until_merged, submit, wait_for
from tests.fakes.model_server import ModelServer
from tests.gitutil import read_file_on

__all__ = ["agent_clis", "model_servers"]  # fixtures used by the tests below


def test_opencode_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    server = serve(model_servers, opencode_turns())
    remotes = calc_repo(tmp_path)
    runtime = start_runtime(calc_config(remotes, [opencode_agent(agent_clis["opencode"], server)]))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    (step,) = [s for s in view.steps if s.agent]
    assert (step.agent, step.state.value, step.detail) == ("opencode", "succeeded", SUMMARY)
    # Four scripted turns of 100 in / 20 out, priced by opencode itself (no price table is set).
    assert (step.usage.tokens_in, step.usage.tokens_out) == (400, 80)
    assert step.usage.cost_usd > 0
    (change,) = view.changes
    assert change.checks is ChecksState.passed
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
    assert any("1 passed" in r for r in server.tool_results())
    # The four scripted turns, plus opencode's tool-less side query for the session title.
    assert [bool(r.body.get("tools")) for r in server.posts("/messages")].count(True) == 4
    approve_until_merged(runtime, run_id, timeout=30)
    assert read_file_on(remotes["calc"], "main", "calc.py") == FIXED


def test_an_opencode_endpoint_answering_500_fails_the_step_and_codex_finishes(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    dead = serve(model_servers, [], fail_status=500)
    alive = serve(model_servers, codex_turns())
    remotes = calc_repo(tmp_path)
    agents = [
        opencode_agent(agent_clis["opencode"], dead, max_retries=0, timeout_s=10),
        codex_agent(agent_clis["codex"], alive),
    ]
    runtime = start_runtime(calc_config(remotes, agents))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [("opencode", "failed"), ("codex", "succeeded")]
    failed = next(s for s in view.steps if s.agent == "opencode")
    # Stopped by the retry cap, well before its 10 s timeout would have killed it.
    assert failed.detail == "endpoint still failing after 0 retries: AI_APICallError: scripted 500"
    (change,) = view.changes
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED

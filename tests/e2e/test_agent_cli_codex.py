"""The real Codex CLI (pinned, from the tools cache) in full Baton runs against a scripted model
server: it patches the code and runs the tests, Baton commits, checks, opens the PR and records
tokens and cost; when its endpoint answers 500, its step fails and the fallback agent finishes."""

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
from tests.e2e.pattern_support import events_of
from tests.fakes.model_server import ModelServer
from tests.gitutil import read_file_on

__all__ = ["agent_clis", "model_servers"]  # fixtures used by the tests below


def test_codex_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    server = serve(model_servers, codex_turns())
    remotes = calc_repo(tmp_path)
    runtime = start_runtime(calc_config(remotes, [codex_agent(agent_clis["codex"], server)]))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    (step,) = [s for s in view.steps if s.agent]
    assert (step.agent, step.state.value, step.detail) == ("codex", "succeeded", SUMMARY)
    assert (step.usage.tokens_in, step.usage.tokens_out) == (200, 40)
    assert step.usage.cost_usd == round((200 * 1.25 + 40 * 10.0) / 1_000_000, 6)
    (change,) = view.changes
    assert change.checks is ChecksState.passed
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
    # Codex really ran the tests: their output went back to the model as the tool's result.
    assert any("1 passed" in r for r in server.tool_results())
    assert [r.path for r in server.requests] == ["/v1/responses", "/v1/responses"]
    # Live progress reached the run's events while codex worked (coalesced: the first is its patch).
    progress = events_of(runtime, run_id, "agent_progress")
    assert (progress[0].data["kind"], progress[0].data["tool"]) == ("tool", "apply_patch")
    approve_until_merged(runtime, run_id, timeout=30)
    assert read_file_on(remotes["calc"], "main", "calc.py") == FIXED


def test_a_codex_endpoint_answering_500_fails_the_step_and_opencode_finishes(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    dead = serve(model_servers, [], fail_status=500)
    alive = serve(model_servers, opencode_turns())
    remotes = calc_repo(tmp_path)
    agents = [
        codex_agent(agent_clis["codex"], dead, max_retries=0, timeout_s=10),
        opencode_agent(agent_clis["opencode"], alive),
    ]
    runtime = start_runtime(calc_config(remotes, agents))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [("codex", "failed"), ("opencode", "succeeded")]
    failed = view.steps[[s.agent for s in view.steps].index("codex")]
    # It failed on its own, from the API error, well before its 10 s timeout would have killed it.
    assert "codex reported an error" in failed.detail and "timed out" not in failed.detail
    assert len(dead.posts("/responses")) == 1  # max_retries: 0 — no retry at all
    (change,) = view.changes
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]

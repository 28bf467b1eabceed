"""The real Claude Code CLI in full Baton runs against a scripted Anthropic Messages server.

Claude Code is proprietary, so this tier is opt-in: with BATON_TEST_CLAUDE=1 the pinned
`@anthropic-ai/claude-code` is installed from npm into the tools cache at test time (never
vendored) and these tests exist; without it the module defines no tests, and the recorded streams
(tests/unit/test_agent_claude_code.py) cover the adapter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.domain import ChecksState, RunState
from tests.agent_tools import ToolInstallError, install
from tests.e2e.agent_cli_support import (
    FIXED,
    SUMMARY,
    agent_clis,
    calc_config,
    calc_repo,
    changed_files,
    claude_agent,
    claude_turns,
    codex_agent,
    codex_turns,
    model_servers,
    serve,
)
from tests.e2e.conftest import RuntimeFactory, submit, wait_for
from tests.fakes.model_server import ModelServer
from tests.gitutil import read_file_on

__all__ = ["agent_clis", "model_servers"]  # fixtures used by the tests below

OPTED_IN = os.environ.get("BATON_TEST_CLAUDE") == "1"


@pytest.fixture(scope="session")
def claude_cli() -> list[str]:
    try:
        return install("claude")
    except ToolInstallError as err:
        pytest.fail(f"BATON_TEST_CLAUDE=1 but Claude Code cannot be installed: {err}", pytrace=False)


if OPTED_IN:

    def test_claude_code_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(
        tmp_path: Path, start_runtime: RuntimeFactory, claude_cli: list[str], model_servers: list[ModelServer]
    ) -> None:
        server = serve(model_servers, claude_turns())
        remotes = calc_repo(tmp_path)
        runtime = start_runtime(calc_config(remotes, [claude_agent(claude_cli, server)]))
        run_id = submit(runtime, "make add() add", ["calc"])
        view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

        (step,) = [s for s in view.steps if s.agent]
        assert (step.agent, step.state.value, step.detail) == ("claude", "succeeded", SUMMARY)
        assert (step.usage.tokens_in, step.usage.tokens_out) == (300, 60)
        assert step.usage.cost_usd > 0  # Claude Code's own total_cost_usd
        (change,) = view.changes
        assert change.checks is ChecksState.passed
        assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
        assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
        assert any("1 passed" in r for r in server.tool_results())

    def test_a_claude_endpoint_answering_500_fails_the_step_and_codex_finishes(
        tmp_path: Path,
        start_runtime: RuntimeFactory,
        claude_cli: list[str],
        agent_clis: dict[str, list[str]],
        model_servers: list[ModelServer],
    ) -> None:
        dead = serve(model_servers, [], fail_status=500)
        alive = serve(model_servers, codex_turns())
        remotes = calc_repo(tmp_path)
        agents = [claude_agent(claude_cli, dead, max_retries=1, timeout_s=10), codex_agent(agent_clis["codex"], alive)]
        runtime = start_runtime(calc_config(remotes, agents))
        run_id = submit(runtime, "make add() add", ["calc"])
        view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

        assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [
            ("claude", "failed"),
            ("codex", "succeeded"),
        ]
        failed = next(s for s in view.steps if s.agent == "claude")
        assert "API error 500" in failed.detail and "timed out" not in failed.detail
        (change,) = view.changes
        assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED

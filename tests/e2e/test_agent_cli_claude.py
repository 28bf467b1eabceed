"""The real Claude Code CLI in full Baton runs against a scripted Anthropic Messages server.

Claude Code is proprietary, so this tier is opt-in: with BATON_TEST_CLAUDE=1 the pinned
`@anthropic-ai/claude-code` is installed from npm into the tools cache at test time (never
vendored) and these tests exist; without it the module defines no tests, and the recorded streams
(tests/unit/test_agent_claude_code.py) cover the adapter.
"""

from __future__ import annotations

import os

import pytest

from bot.domain.models import ChecksState
from tests.agent_tools import ToolInstallError, install
from tests.e2e.agent_cli_support import (
    RealTier,
    agent_clis,
    claude_agent,
    claude_turns,
    codex_turns,
    model_servers,
    real,
)

__all__ = ["agent_clis", "model_servers", "real"]  # fixtures used by the tests below

OPTED_IN = os.environ.get("BATON_TEST_CLAUDE") == "1"


@pytest.fixture(scope="session")
def claude_cli() -> list[str]:
    try:
        return install("claude")
    except ToolInstallError as err:
        pytest.fail(f"BATON_TEST_CLAUDE=1 but Claude Code cannot be installed: {err}", pytrace=False)


if OPTED_IN:

    def test_claude_code_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(
        real: RealTier, claude_cli: list[str]
    ) -> None:
        server = real.serve(claude_turns())
        run = real.fix_calc([claude_agent(claude_cli, server)])

        step = run.assert_sole_step_succeeded("claude", tokens=(300, 60))
        assert step.usage.cost_usd > 0  # Claude Code's own total_cost_usd
        assert run.assert_pr_fixes_calc().checks is ChecksState.passed
        assert any("1 passed" in r for r in server.tool_results())

    def test_a_claude_endpoint_answering_500_fails_the_step_and_codex_finishes(
        real: RealTier, claude_cli: list[str]
    ) -> None:
        dead, alive = real.dead_endpoint(), real.serve(codex_turns())
        run = real.fix_calc([claude_agent(claude_cli, dead, max_retries=1, timeout_s=60), real.agent("codex", alive)])

        assert [(s.agent, s.state.value) for s in run.agent_steps()] == [("claude", "failed"), ("codex", "succeeded")]
        detail = run.step_of("claude").detail
        assert "API error 500" in detail and "timed out" not in detail
        run.assert_pr_fixes_calc()

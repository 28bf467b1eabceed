"""The real opencode CLI (pinned, from the tools cache) in full Baton runs against a scripted
Anthropic-style model server: it reads and edits the code and runs the tests, Baton commits,
checks, opens the PR and records opencode's own cost; when its endpoint answers 500, the adapter
stops its endless retries and the fallback agent finishes."""

from __future__ import annotations

from bot.domain.models import ChecksState
from tests.e2e.agent_cli_support import RealTier, agent_clis, codex_turns, model_servers, opencode_turns, real

__all__ = ["agent_clis", "model_servers", "real"]  # fixtures used by the tests below


def test_opencode_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(real: RealTier) -> None:
    server = real.serve(opencode_turns())
    run = real.fix_calc([real.agent("opencode", server)])

    # Four scripted turns of 100 in / 20 out, priced by opencode itself (no price table is set).
    step = run.assert_sole_step_succeeded("opencode", tokens=(400, 80))
    assert step.usage.cost_usd > 0
    assert run.assert_pr_fixes_calc().checks is ChecksState.passed
    assert any("1 passed" in r for r in server.tool_results())
    # The four scripted turns, plus opencode's tool-less side query for the session title.
    assert [bool(r.body.get("tools")) for r in server.posts("/messages")].count(True) == 4
    run.approve_and_assert_merged()


def test_an_opencode_endpoint_answering_500_fails_the_step_and_codex_finishes(real: RealTier) -> None:
    dead, alive = real.dead_endpoint(), real.serve(codex_turns())
    run = real.fix_calc([real.agent("opencode", dead, max_retries=0, timeout_s=60), real.agent("codex", alive)])

    assert [(s.agent, s.state.value) for s in run.agent_steps()] == [("opencode", "failed"), ("codex", "succeeded")]
    # Stopped by the retry cap, not the timeout (how fast is a benchmark figure, not a test).
    assert run.step_of("opencode").detail == "endpoint still failing after 0 retries: AI_APICallError: scripted 500"
    run.assert_pr_fixes_calc()
